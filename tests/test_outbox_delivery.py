"""The outbox against the real local VTN: per-VEN order through failures and backoff, 400s set aside,
no duplicate after an unknown outcome, nothing sent while that cannot be checked."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from venclient.engine.outbox import Outbox
from venclient.engine.report import build_reports, payload_specs
from fixtures.run import report_start, vtn_reports
from fixtures.vtn import ContractTransport, json_body, make_config
from venclient.plugins.local_vtn import DEMO_EVENT, DEMO_PROGRAM
from venclient.plugins.openadr_http import HttpVtnTransport

import numpy as np

pytestmark = pytest.mark.both_vtn_shapes  # end to end: against the plain VTN and one with every quirk

START = datetime(2025, 1, 15, 13, 0, tzinfo=timezone.utc)
VENS = ("Aalborg", "Herning")


class FakeClock:
    """Seconds that only move when the test says so."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def ids(state) -> tuple[str, str]:
    program_id = state.programs.id_for_name(DEMO_PROGRAM)
    event_id = next(e["id"] for e in state.events if e["eventName"] == DEMO_EVENT)
    return program_id, event_id


def tick_reports(state, tick: int) -> list[dict[str, Any]]:
    """One small report per VEN for tick ``tick``."""
    program_id, event_id = ids(state)
    specs = payload_specs([{"payloadType": "USAGE", "units": "KWH"}], 15)
    out = []
    for ven in VENS:
        out += build_reports(ven=ven, program_id=program_id, event_id=event_id, specs=specs,
                             start=START + timedelta(hours=tick), interval_seconds=15,
                             names=np.array([f"{ven}-r1_load_0", f"{ven}-r2_load_0"], dtype=object),
                             power_w=np.array([100.0 + tick, 200.0 + tick]))
    return out


def starts(state, ven: str) -> list[str]:
    return [report_start(r) for r in vtn_reports(state, ven=ven)]


def expected_starts(ticks) -> list[str]:
    return [(START + timedelta(hours=t)).isoformat().replace("+00:00", "Z") for t in ticks]


@pytest.fixture
async def vtn(faulty_vtn):
    """The VTN behind a fault injector and a VEN transport to it (not spec-checked: injected faults are off-spec)."""
    server, injector = faulty_vtn
    async with HttpVtnTransport(make_config(server.url)) as transport:
        yield server, injector, transport


async def test_all_reports_sent_in_order_and_deleted(store, local_vtn, contract):
    server = local_vtn
    outbox = Outbox(store)
    for tick in range(3):
        await outbox.put(tick_reports(server.state, tick), tick_ms=tick)
    assert store.outbox_counts()["pending"] == 6
    async with HttpVtnTransport(make_config(server.url), http_transport=ContractTransport(contract)) as transport:
        result = await outbox.flush(transport)
    assert (result.sent, result.deferred, result.rejected) == (6, 0, 0)
    assert contract.checked >= 6  # every POST /reports (and the token request) conformed
    assert store.outbox_counts() == {"pending": 0, "rejected": 0}
    for ven in VENS:
        assert starts(server.state, ven) == expected_starts(range(3))


async def test_a_failed_head_blocks_its_ven_until_due_then_order_holds(store, vtn):
    server, injector, transport = vtn
    clock = FakeClock()
    outbox = Outbox(store, clock=clock, backoff_base=10, backoff_max=100)
    for tick in range(2):
        await outbox.put(tick_reports(server.state, tick), tick_ms=tick)
    fault = injector.add("POST", "/reports", status=503, body=json_body({"title": "busy", "status": 503}), times=1000)
    first = await outbox.flush(transport)
    assert first.deferred == 2 and first.sent == 0  # each VEN's oldest report failed; the rest waited behind it
    rows = {r["id"]: r for r in store.outbox_list()}
    assert sorted(r["attempts"] for r in rows.values()) == [0, 0, 1, 1]
    assert all("503" in r["last_error"] for r in rows.values() if r["attempts"])
    injector.fix(fault)  # the VTN is fine again
    await outbox.put(tick_reports(server.state, 2), tick_ms=2)
    early = await outbox.flush(transport)  # before the retry time: the blocked VENs send nothing, not even later ticks
    assert (early.sent, early.blocked_vens) == (0, 2)
    assert vtn_reports(server.state) == []
    clock.now += 200
    late = await outbox.flush(transport)
    assert late.sent == 6 and late.already_delivered == 0
    for ven in VENS:
        assert starts(server.state, ven) == expected_starts(range(3))


async def test_a_rejected_report_is_kept_aside_and_does_not_block(store, vtn):
    server, injector, transport = vtn
    outbox = Outbox(store)
    for tick in range(3):
        await outbox.put(tick_reports(server.state, tick), tick_ms=tick)
    injector.add("POST", "/reports", status=400, times=1,
                 body=json_body({"type": "about:blank", "title": "Bad Request", "status": 400,
                                 "detail": "resource r9 is unknown"}))
    result = await outbox.flush(transport)
    assert (result.sent, result.rejected, result.deferred) == (5, 1, 0)
    rejected = store.outbox_list(state="rejected")
    assert len(rejected) == 1 and "resource r9 is unknown" in rejected[0]["last_error"]
    assert store.outbox_counts() == {"pending": 0, "rejected": 1}
    ven = rejected[0]["ven"]
    assert starts(server.state, ven) == expected_starts([1, 2])  # the VEN's later reports went on
    again = await outbox.flush(transport)
    assert again.sent == again.rejected == 0  # not retried


async def test_an_unknown_outcome_is_checked_and_never_sent_twice(store, vtn):
    server, _, transport = vtn
    outbox = Outbox(store)
    report = tick_reports(server.state, 0)[0]
    [row_id] = await outbox.put([report], tick_ms=0)
    store.outbox_mark_attempt(row_id)      # the attempt started …
    await transport.create_report(report)  # … reached the VTN, and the process died before the delete
    result = await outbox.flush(transport)
    assert (result.already_delivered, result.sent) == (1, 0)
    assert len(vtn_reports(server.state)) == 1
    assert store.outbox_counts()["pending"] == 0


async def test_an_unknown_outcome_that_did_not_arrive_is_sent(store, vtn):
    server, _, transport = vtn
    outbox = Outbox(store)
    [row_id] = await outbox.put(tick_reports(server.state, 0)[:1], tick_ms=0)
    store.outbox_mark_attempt(row_id)  # interrupted before it reached the VTN
    result = await outbox.flush(transport)
    assert (result.already_delivered, result.sent) == (0, 1)
    assert len(vtn_reports(server.state)) == 1


async def test_no_resend_while_the_earlier_delivery_cannot_be_checked(store, vtn):
    server, injector, transport = vtn
    clock = FakeClock()
    outbox = Outbox(store, clock=clock)
    report = tick_reports(server.state, 0)[0]
    [row_id] = await outbox.put([report], tick_ms=0)
    store.outbox_mark_attempt(row_id)
    await transport.create_report(report)
    listing = injector.add("GET", "/reports", status=503, times=1000)
    result = await outbox.flush(transport)
    assert (result.sent, result.deferred) == (0, 1)  # the search failed: wait rather than risk a duplicate
    assert len(vtn_reports(server.state)) == 1
    injector.fix(listing)
    clock.now += 1000
    assert (await outbox.flush(transport)).already_delivered == 1
    assert len(vtn_reports(server.state)) == 1


async def test_ignore_backoff_sends_what_waits(store, vtn):
    server, injector, transport = vtn
    clock = FakeClock()
    outbox = Outbox(store, clock=clock, backoff_base=1000)
    await outbox.put(tick_reports(server.state, 0), tick_ms=0)
    fault = injector.add("POST", "/reports", status=503, times=1000)
    await outbox.flush(transport)
    injector.fix(fault)
    assert (await outbox.flush(transport)).sent == 0
    assert (await outbox.flush(transport, ignore_backoff=True)).sent == 2


async def test_a_transport_with_only_the_protocol_methods(store, vtn):
    """No ``raw`` and no ``list_reports``: reports go as dicts through create_report; a retry is not checked."""
    server, _, transport = vtn

    class Minimal:
        async def create_report(self, report):
            assert isinstance(report, dict)
            return await transport.create_report(report)

    outbox = Outbox(store)
    [row_id] = await outbox.put(tick_reports(server.state, 0)[:1], tick_ms=0)
    store.outbox_mark_attempt(row_id)
    result = await outbox.flush(Minimal())
    assert result.sent == 1 and len(vtn_reports(server.state)) == 1


async def test_batches_are_flushed_until_empty(store, vtn):
    server, _, transport = vtn
    outbox = Outbox(store, batch=3)
    for tick in range(4):
        await outbox.put(tick_reports(server.state, tick), tick_ms=tick)
    first = await outbox.flush(transport)
    assert first.more and first.sent == 3
    for _ in range(10):  # bounded: each flush sends a batch of 3
        if not (await outbox.flush(transport)).more:
            break
    assert store.outbox_counts()["pending"] == 0
    for ven in VENS:
        assert starts(server.state, ven) == expected_starts(range(4))


async def test_a_flush_cut_off_by_a_deadline_still_counts_what_it_delivered(store, local_vtn):
    """`ven run` stops its last flush at ``reporting.shutdown_flush_seconds``: the reports that went out before
    the cut are counted (and deleted), the rest wait in the outbox."""
    import asyncio

    outbox = Outbox(store, concurrency=1)
    for tick in range(3):
        await outbox.put(tick_reports(local_vtn.state, tick), tick_ms=tick)  # 6 reports, 3 per VEN
    async with HttpVtnTransport(make_config(local_vtn.url)) as transport:
        posted = 0
        fifth = asyncio.Event()
        real_raw = transport.raw

        async def raw(method, path, **kwargs):
            nonlocal posted
            if posted == 4:
                fifth.set()
                await asyncio.Event().wait()  # the fifth POST never finishes: the deadline cuts the flush
            posted += 1
            return await real_raw(method, path, **kwargs)

        transport.raw = raw
        flush = asyncio.create_task(outbox.flush(transport))
        await asyncio.wait_for(fifth.wait(), 60)
        flush.cancel()  # what wait_for does at `ven run`'s shutdown deadline
        with pytest.raises(asyncio.CancelledError):
            await flush
    assert outbox.delivered_total == 4 and outbox.rejected_total == 0
    assert store.outbox_counts()["pending"] == 2
    assert sum(len(vtn_reports(local_vtn.state, ven=ven)) for ven in VENS) == 4


async def test_a_store_refusing_writes_mid_flush_is_the_stores_failure_not_the_vtns(store, vtn, caplog):
    """A store that turns read-only while a report is being sent raises StoreUnavailable (the run loop reports
    that streak once) — it is not logged as 'The VTN does not take reports', and nothing reaches the VTN."""
    from venclient.errors import StoreUnavailable

    server, _, transport = vtn
    outbox = Outbox(store)
    await outbox.put(tick_reports(server.state, 0)[:1], tick_ms=0)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise StoreUnavailable("The store x refuses writes: the database is read-only.")

    original = store.outbox_mark_attempt
    store.outbox_mark_attempt = refuse
    try:
        with pytest.raises(StoreUnavailable):
            await outbox.flush(transport)
    finally:
        store.outbox_mark_attempt = original
    assert not [r for r in caplog.records if "does not take reports" in r.getMessage()]
    assert vtn_reports(server.state) == []
    result = await outbox.flush(transport)
    assert result.sent == 1 and len(vtn_reports(server.state)) == 1
