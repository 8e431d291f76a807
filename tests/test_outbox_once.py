"""Exactly-once delivery through stalls, and transient answers that are not rejections, against the real local
VTN behind a fault injector.

A ``stall`` lets the VTN store the report and holds its answer (the client times out on a request that did
arrive); a ``delay`` holds the request before the VTN (it arrives late, as behind a slow proxy).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from venclient.engine.outbox import Outbox
from venclient.engine.report import build_reports, payload_specs
from venclient.engine.run import VenRunner
from fixtures.run import amake_run_env, h5_time, report_start, run_options, vtn_reports
from fixtures.vtn import json_body, make_config
from venclient.plugins.local_vtn import DEMO_EVENT, DEMO_PROGRAM
from venclient.plugins.openadr_http import HttpVtnTransport

START = datetime(2025, 1, 15, 13, 0, tzinfo=timezone.utc)
HTML_404 = b"<html><head><title>404 Not Found</title></head><body><center>nginx</center></body></html>"
STREAK = "The VTN does not take reports"
RECOVERED = "The VTN takes reports again"


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


def reports(state, ven: str, ticks) -> list[Any]:
    """One small report of ``ven`` per tick."""
    program_id, event_id = ids(state)
    specs = payload_specs([{"payloadType": "USAGE", "units": "KWH"}], 15)
    out = []
    for tick in ticks:
        out += build_reports(ven=ven, program_id=program_id, event_id=event_id, specs=specs,
                             start=START + timedelta(hours=tick), interval_seconds=15,
                             names=np.array([f"{ven}-r1_load_0"], dtype=object), power_w=np.array([100.0 + tick]))
    return out


def posts(injector) -> int:
    return sum(1 for method, path in injector.seen if method == "POST" and path.endswith("/reports"))


def lookups(injector) -> int:
    return sum(1 for method, path in injector.seen if method == "GET" and path.endswith("/reports"))


def names_on_vtn(state) -> list[str]:
    return [r["reportName"] for r in state.reports]


def messages(caplog, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


@pytest.fixture
async def vtn(faulty_vtn):
    """The VTN behind a fault injector and a VEN transport with a 1 s timeout and a 3 s request deadline."""
    server, injector = faulty_vtn
    async with HttpVtnTransport(make_config(server.url, timeout_seconds=1.0, request_deadline_seconds=3.0,
                                            retries=2)) as transport:
        yield server, injector, transport


# ------------------------------------------------------------------ exactly once
async def test_a_timed_out_post_is_looked_up_by_report_name_and_not_sent_twice(store, vtn):
    server, injector, transport = vtn
    clock = FakeClock()
    outbox = Outbox(store, clock=clock, backoff_base=1, backoff_max=2)
    [report] = reports(server.state, "Aalborg", [0])
    [row_id] = await outbox.put([report])
    injector.add("POST", "/reports", stall=2.5)  # the VTN stores it; its answer comes after our 1 s timeout
    first = await outbox.flush(transport)
    assert (first.sent, first.deferred) == (0, 1)
    assert posts(injector) == 1  # no blind retry inside the transport
    [row] = store.outbox_list()
    assert row["maybe_delivered"] and "whether the VTN acted on it is unknown" in row["last_error"]
    assert row["next_attempt_at"] >= clock.now + 3.0  # looked up only after the request deadline has passed
    assert names_on_vtn(server.state) == [report["reportName"]]
    clock.now += 10
    second = await outbox.flush(transport)
    assert (second.already_delivered, second.sent) == (1, 0) and lookups(injector) == 1
    assert posts(injector) == 1 and names_on_vtn(server.state) == [report["reportName"]]
    assert store.outbox_counts() == {"pending": 0, "rejected": 0} and row["id"] == row_id


async def test_exactly_once_when_the_vtn_ignores_filters_and_the_report_is_pages_deep(store, vtn):
    server, injector, transport = vtn
    injector.ignore_filters_with_skip = True
    program_id, event_id = ids(server.state)
    for i in range(70):  # other VENs' reports: the look-up pages through them (filters ignored)
        await transport.create_report({"programID": program_id, "eventID": event_id, "clientName": f"other-{i}",
                                       "reportName": f"other-{i}:x", "resources": []})
    clock = FakeClock()
    outbox = Outbox(store, clock=clock)
    [report] = reports(server.state, "Aalborg", [0])
    await outbox.put([report])
    injector.add("POST", "/reports", stall=2.5)
    assert (await outbox.flush(transport)).deferred == 1
    clock.now += 1000
    assert (await outbox.flush(transport)).already_delivered == 1
    assert names_on_vtn(server.state).count(report["reportName"]) == 1
    assert lookups(injector) == 2  # two pages of 50: the match was on the second, where paging stopped


async def test_a_look_alike_of_another_client_is_not_taken_for_ours(store, vtn):
    """Same reportName under another clientName (the VTN ignores our filters): ours did not arrive, so it is
    sent — the look-up compares clientName and eventID itself."""
    server, injector, transport = vtn
    injector.ignore_filters_with_skip = True
    program_id, event_id = ids(server.state)
    [report] = reports(server.state, "Aalborg", [0])
    await transport.create_report({"programID": program_id, "eventID": event_id, "clientName": "Herning",
                                   "reportName": report["reportName"], "resources": []})
    clock = FakeClock()
    outbox = Outbox(store, clock=clock)
    await outbox.put([report])
    injector.add("POST", "/reports", status=502, content_type="text/html", body=b"<title>502</title>")
    assert (await outbox.flush(transport)).deferred == 1  # a proxy's 502: unknown outcome (it did not arrive)
    clock.now += 1000
    result = await outbox.flush(transport)
    assert (result.sent, result.already_delivered) == (1, 0)
    assert [r["clientName"] for r in server.state.reports if r["reportName"] == report["reportName"]] == \
        ["Herning", "Aalborg"]


async def test_a_request_that_reaches_the_vtn_late_is_found_after_the_deadline(store, vtn):
    """Held 2 s before the VTN, timed out after 1 s: the outbox waits the 3 s request deadline before it looks,
    by which time the late request has landed — found, not sent again."""
    server, injector, transport = vtn
    outbox = Outbox(store, backoff_base=0.01, backoff_max=0.02)  # real clock
    [report] = reports(server.state, "Aalborg", [0])
    await outbox.put([report])
    late = injector.add("POST", "/reports", delay=2.0)
    assert (await outbox.flush(transport)).deferred == 1
    assert (await outbox.flush(transport)).blocked_vens == 1  # not due yet: no early look-up
    assert (await outbox.flush(transport, ignore_backoff=True)).blocked_vens == 1  # not even at shutdown
    [row] = store.outbox_list()
    deadline = time.monotonic() + 30
    while time.time() < row["next_attempt_at"] and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    result = await outbox.flush(transport)
    assert late.done == 1 and (result.already_delivered, result.sent) == (1, 0)
    assert names_on_vtn(server.state) == [report["reportName"]] and posts(injector) == 1


async def test_a_409_counts_as_delivered(store, vtn):
    server, injector, transport = vtn
    outbox = Outbox(store)
    await outbox.put(reports(server.state, "Aalborg", [0, 1]))
    injector.add("POST", "/reports", status=409, body=json_body(
        {"type": "about:blank", "title": "Conflict", "status": 409, "detail": "identical report exists"}))
    result = await outbox.flush(transport)
    assert (result.already_delivered, result.sent, result.rejected, result.deferred) == (1, 1, 0, 0)
    assert store.outbox_counts() == {"pending": 0, "rejected": 0}


async def test_a_surely_failed_attempt_is_resent_without_a_look_up(store, vtn):
    server, injector, transport = vtn
    clock = FakeClock()
    outbox = Outbox(store, clock=clock)
    await outbox.put(reports(server.state, "Aalborg", [0]))
    busy = injector.add("POST", "/reports", status=503, body=json_body({"title": "busy", "status": 503}))
    assert (await outbox.flush(transport)).deferred == 1
    assert busy.hits == 1  # the outbox's POST has no transport retries: its own backoff retries
    assert not store.outbox_list()[0]["maybe_delivered"]
    clock.now += 1000
    assert (await outbox.flush(transport)).sent == 1
    assert lookups(injector) == 0 and len(server.state.reports) == 1


# ------------------------------------------------------------------ rejected only when the VTN judged the report
@pytest.mark.parametrize(("status", "body", "content_type", "rejected"), [
    (400, json_body({"type": "about:blank", "title": "Bad Request", "status": 400, "detail": "bad interval"}),
     "application/problem+json", True),
    (422, json_body({"title": "Unprocessable", "detail": "unknown resource"}), "application/json", True),
    (400, b"<html><title>400 Bad Request</title></html>", "text/html", False),
    (400, b"", "application/json", False),
    (400, b"[]", "application/json", False),
    (404, HTML_404, "text/html", False),
    (404, json_body({"title": "Not Found", "status": 404, "detail": "no route"}), "application/json", False),
    (405, b"Method Not Allowed", "text/plain", False),
    (413, b"<html>too large</html>", "text/html", False),
])
async def test_only_a_problem_about_the_report_sets_it_aside(store, vtn, status, body, content_type, rejected):
    server, injector, transport = vtn
    clock = FakeClock()
    outbox = Outbox(store, clock=clock)
    await outbox.put(reports(server.state, "Aalborg", [0, 1]))
    injector.add("POST", "/reports", status=status, body=body, content_type=content_type)
    first = await outbox.flush(transport)
    if rejected:
        assert (first.rejected, first.sent, first.deferred) == (1, 1, 0)
        assert store.outbox_counts() == {"pending": 0, "rejected": 1}
        return
    assert (first.rejected, first.sent, first.deferred) == (0, 0, 1)  # a fault of the path: the VEN waits
    assert store.outbox_counts() == {"pending": 2, "rejected": 0}
    clock.now += 1000
    assert (await outbox.flush(transport)).sent == 2
    assert [report_start(r) for r in server.state.reports] == ["2025-01-15T13:00:00Z", "2025-01-15T14:00:00Z"]


async def test_a_streak_of_path_faults_warns_once_and_logs_the_recovery(store, vtn, caplog):
    caplog.set_level(logging.INFO, logger="venclient.engine.outbox")
    server, injector, transport = vtn
    clock = FakeClock()
    outbox = Outbox(store, clock=clock)
    proxy = injector.add("POST", "/reports", status=404, body=HTML_404, content_type="text/html", times=10**6)
    for tick in range(6):
        await outbox.put(reports(server.state, "Aalborg", [tick]) + reports(server.state, "Herning", [tick]))
        assert (await outbox.flush(transport)).rejected == 0
        clock.now += 1000
    assert proxy.hits >= 6 and outbox.failing
    assert len(messages(caplog, STREAK)) == 1 and "404 Not Found" in messages(caplog, STREAK)[0]
    injector.fix(proxy)  # the proxy is fixed
    result = await outbox.flush(transport)
    assert result.sent == 12 and not outbox.failing
    assert len(messages(caplog, STREAK)) == 1 and len(messages(caplog, RECOVERED)) == 1
    for ven in ("Aalborg", "Herning"):
        assert [report_start(r) for r in vtn_reports(server.state, ven=ven)] == \
            [(START + timedelta(hours=t)).isoformat().replace("+00:00", "Z") for t in range(6)]


async def test_the_outage_warning_comes_at_the_first_failure_not_after_the_flush(store, vtn, caplog):
    caplog.set_level(logging.INFO, logger="venclient.engine.outbox")
    server, injector, transport = vtn
    outbox = Outbox(store)
    await outbox.put(reports(server.state, "Aalborg", [0]) + reports(server.state, "Herning", [0]))
    injector.add("POST", "/reports", status=503, body=json_body({"title": "busy", "status": 503}))
    slow = injector.add("POST", "/reports", delay=0.8)  # the other VEN's POST is slow but fine
    flush = asyncio.create_task(outbox.flush(transport))
    deadline = time.monotonic() + 30
    while not messages(caplog, STREAK) and not flush.done() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert messages(caplog, STREAK) and not flush.done()  # warned while the rest of the flush was still going
    result = await flush
    assert (result.deferred, result.sent) == (1, 1) and slow.done == 1


async def test_many_rejections_in_one_flush_are_one_warning_and_a_count(store, vtn, caplog):
    caplog.set_level(logging.WARNING, logger="venclient.engine.outbox")
    server, injector, transport = vtn
    outbox = Outbox(store)
    await outbox.put(reports(server.state, "Aalborg", range(5)))
    injector.add("POST", "/reports", status=400, times=5,
                 body=json_body({"title": "Bad Request", "status": 400, "detail": "program closed"}))
    assert (await outbox.flush(transport)).rejected == 5
    assert len(messages(caplog, "The VTN rejected a report")) == 1
    assert messages(caplog, "rejected 5 reports in this flush")


# ------------------------------------------------------------------ through `ven run`
async def test_a_proxy_answering_html_404_for_a_while_puts_nothing_aside(tmp_path, faulty_vtn, caplog):
    caplog.set_level(logging.INFO)
    server, injector = faulty_vtn
    env = await amake_run_env(tmp_path, server, None)
    runner = VenRunner(env.runtime, run_options(env.runtime, interval_seconds=1.0, speed=20.0))
    task = asyncio.create_task(runner.run())
    proxy = None
    try:
        deadline = time.monotonic() + 60
        while len(runner.stats.ticks) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        proxy = injector.add("POST", "/reports", status=404, body=HTML_404, content_type="text/html", times=10**6)
        start = len(runner.stats.ticks)
        while len(runner.stats.ticks) < start + 40 and time.monotonic() < deadline:  # two simulated seconds × 20
            await asyncio.sleep(0.02)
        assert proxy.hits > 0 and env.store.outbox_counts()["rejected"] == 0
        injector.fix(proxy)  # the proxy is fixed
        back = len(runner.stats.ticks)
        while (len(runner.stats.ticks) < back + 20 or env.store.outbox_counts()["pending"]) \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    finally:
        runner.stop()
        await asyncio.wait_for(task, 30)
        env.runtime.close()
    assert runner.stats.reports_rejected == 0
    ticks = runner.stats.ticks
    for ven in env.vens:  # every tick exactly once, in order
        expected = [h5_time(env.h5_path, t.index).isoformat().replace("+00:00", "Z") for t in ticks]
        assert [report_start(r) for r in vtn_reports(server.state, ven=ven)] == expected
    names = names_on_vtn(server.state)
    assert len(names) == len(set(names))
    assert len(messages(caplog, STREAK)) == 1 and len(messages(caplog, RECOVERED)) == 1
