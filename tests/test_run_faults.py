"""``ven run`` through faults, against the real local VTN: the VTN away for 60 simulated seconds, the VEN
killed with SIGKILL and restarted, a 400 for one report, SIGTERM.  Every tick's report arrives exactly once,
in order per VEN."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from datetime import datetime

import orjson

from venclient.engine.run import VenRunner
from venclient.runtime import Runtime
from fixtures.run import (
    VenProcess,
    amake_run_env,
    h5_time,
    make_run_env,
    report_start,
    run_options,
    ven_env,
    vtn_reports,
    wait_leases_expired,
    wait_until,
)
from fixtures.samples import run_ven_inprocess
from fixtures.vtn import json_body
from fixtures.vtn_runtime import vtn_settings
from venclient.plugins.local_vtn import LocalVtnServer, VtnState, seed_demo
import pytest

pytestmark = pytest.mark.both_vtn_shapes  # end to end: against the plain VTN and one with every quirk


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def assert_every_tick_once_in_order(state, vens, tick_times) -> None:
    """Per VEN the VTN holds one report per tick, received in tick order, none twice."""
    expected = [iso(t) for t in tick_times]
    for ven in vens:
        got = [report_start(r) for r in vtn_reports(state, ven=ven)]
        assert got == expected, f"{ven}: {len(got)} reports for {len(expected)} ticks"
    names = [r["reportName"] for r in state.reports]
    assert len(names) == len(set(names))


async def wait_async(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return condition()


async def test_vtn_away_for_60_simulated_seconds(tmp_path, contract):
    state = VtnState()
    seed_demo(state)
    server = LocalVtnServer(state).start()
    env = await amake_run_env(tmp_path, server, contract)
    # What the 60 ticks left in the outbox drains while the run goes on and, what is left when it stops, in the
    # shutdown flush: that flush ends once the outbox is empty, so a generous budget only matters on a slow machine.
    runner = VenRunner(env.runtime, run_options(env.runtime, interval_seconds=1.0, speed=20.0,
                                                shutdown_flush_seconds=120.0))
    task = asyncio.create_task(runner.run())
    returned = None
    try:
        assert await wait_async(lambda: len(runner.stats.ticks) >= 5 and len(state.reports) >= 10)
        await asyncio.to_thread(server.stop)
        away_from = len(runner.stats.ticks)
        assert await wait_async(lambda: len(runner.stats.ticks) >= away_from + 60)  # 60 simulated seconds, 3 s
        pending = env.store.outbox_counts()["pending"]
        assert pending >= 2 * 55  # the ticks while it was away wait in the outbox
        returned = await asyncio.to_thread(LocalVtnServer(state, port=server.port).start)  # same port, same state
        back_at = len(runner.stats.ticks)
        assert await wait_async(lambda: len(runner.stats.ticks) >= back_at + 20)
    finally:
        runner.stop()
        await asyncio.wait_for(task, 150)
        if returned is not None:
            await asyncio.to_thread(returned.stop)
        server.stop()
        env.runtime.close()
    assert env.store.outbox_counts() == {"pending": 0, "rejected": 0}
    ticks = runner.stats.ticks
    assert len({t.index for t in ticks}) == len(ticks)
    assert_every_tick_once_in_order(state, env.vens, [h5_time(env.h5_path, t.index) for t in ticks])


async def test_a_400_for_one_report_does_not_block_the_others(tmp_path, faulty_vtn, monkeypatch):
    server, injector = faulty_vtn
    env = await amake_run_env(tmp_path, server, None)
    injector.add("POST", "/reports", status=400, times=1, body=json_body(
        {"type": "about:blank", "title": "Bad Request", "status": 400, "detail": "intervalPeriod is in the future"}))
    runner = VenRunner(env.runtime, run_options(env.runtime, max_ticks=3))
    await runner.run()
    state = server.state
    assert len(vtn_reports(state)) == 3 * len(env.vens) - 1
    rejected = env.store.outbox_list(state="rejected")
    assert len(rejected) == 1 and "intervalPeriod is in the future" in rejected[0]["last_error"]
    ven = rejected[0]["ven"]
    assert len(vtn_reports(state, ven=ven)) == 2  # its later ticks went on
    assert runner.stats.reports_rejected == 1
    env.runtime.close()
    for key in [k for k in os.environ if k.startswith("VEN_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("VEN_DATABASE_URL", f"sqlite:///{tmp_path / 'resources.db'}")
    monkeypatch.setenv("VEN_H5_PATH", str(tmp_path / "load_data.h5"))
    shown = run_ven_inprocess("outbox", "--json")
    assert shown.exit_code == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["pending"] == 0 and data["rejected"] == 1
    assert data["by_ven"][ven]["rejected"] == 1
    assert data["rejected_reports"][0]["ven"] == ven
    assert "intervalPeriod is in the future" in data["rejected_reports"][0]["reason"]


def _pending_rows(tmp_path, url: str) -> list[dict]:
    runtime = Runtime.create(vtn_settings(tmp_path, url))
    try:
        return runtime.store().outbox_due(float("inf"), 100_000)
    finally:
        runtime.close()


def test_sigkill_then_restart_sends_every_unsent_report_once(tmp_path, faulty_vtn, contract):
    server, injector = faulty_vtn
    env = make_run_env(tmp_path, server, contract)
    env.runtime.close()
    outage = injector.add("POST", "/reports", status=503, times=10**6,
                          body=json_body({"title": "Service Unavailable", "status": 503}))
    first = VenProcess(tmp_path, ven_env(tmp_path, server.url), "run", "--interval", "1", "--speed", "20",
                       "--no-register", name="first")
    try:
        assert wait_until(lambda: len(_pending_rows(tmp_path, server.url)) >= 20, timeout=60), first.stderr
        first.signal(signal.SIGKILL)
        assert first.wait(30) == -signal.SIGKILL
    finally:
        first.close()
    unsent = _pending_rows(tmp_path, server.url)
    assert vtn_reports(server.state) == [] and outage.hits > 0
    assert wait_leases_expired(tmp_path / "resources.db")  # the killed run released nothing: wait out its lease
    injector.fix(outage)  # the VTN takes reports again
    second = VenProcess(tmp_path, ven_env(tmp_path, server.url), "run", "--once", "--interval", "1", "--no-register",
                        name="second")
    try:
        assert second.wait(60) == 0, second.stderr
    finally:
        second.close()
    assert _pending_rows(tmp_path, server.url) == []
    received = vtn_reports(server.state)
    names = [r["reportName"] for r in received]
    assert len(names) == len(set(names))  # nothing twice
    assert len(received) == len(unsent) + len(env.vens)  # every unsent report, plus the new run's one tick
    for ven in env.vens:
        kept = [orjson.loads(row["payload"])["reportName"] for row in unsent if row["ven"] == ven]
        got = [r["reportName"] for r in vtn_reports(server.state, ven=ven)]
        assert got[:-1] == kept  # the killed run's reports, in their order, then the new tick's


def test_sigterm_finishes_the_tick_flushes_and_exits_0(tmp_path, local_vtn, contract):
    env = make_run_env(tmp_path, local_vtn, contract)
    env.runtime.close()
    proc = VenProcess(tmp_path, ven_env(tmp_path, local_vtn.url), "run", "--interval", "1", "--speed", "10",
                      "--no-register", name="sigterm")
    try:
        assert wait_until(lambda: len(vtn_reports(local_vtn.state)) >= 3 * len(env.vens), timeout=60), proc.stderr
        proc.signal(signal.SIGTERM)
        assert proc.wait(30) == 0, proc.stderr
        err = proc.stderr
    finally:
        proc.close()
    assert "Traceback" not in err
    summary = err[err.index("Stopped after"):]
    ticks = int(summary.split()[2])
    assert f"{ticks * len(env.vens)} reports built, {ticks * len(env.vens)} sent, 0 waiting in the outbox" in summary
    for ven in env.vens:
        assert len(vtn_reports(local_vtn.state, ven=ven)) == ticks  # the last tick was finished and flushed
    assert _pending_rows(tmp_path, local_vtn.url) == []
