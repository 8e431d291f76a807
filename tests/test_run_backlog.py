"""`ven run` while no report request is known: every tick is kept in the store's backlog and reported exactly
once, in order, when the VTN's events ask for reports — the VTN away at start, a full backlog (replay waits,
wall clock drops the oldest), and a SIGKILL in the middle of draining it."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from datetime import datetime

from venclient.engine.run import REPLAY_ROW_KEY, VenRunner
from fixtures.run import (
    VenProcess,
    amake_run_env,
    h5_time,
    make_run_env,
    report_start,
    run_options,
    ven_env,
    vtn_reports,
    wait_until,
)
from venclient.plugins.local_vtn import LocalVtnServer, VtnState, seed_demo
from venclient.plugins.sqlite_store import SqlResourceStore


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def wait_async(condition, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return condition()


def assert_rows_reported_once_in_order(state, vens, h5_path, rows) -> None:
    """Per VEN the VTN holds exactly one report per H5 row in ``rows``, received in row order."""
    expected = [iso(h5_time(h5_path, row)) for row in sorted(rows)]
    for ven in vens:
        got = [report_start(r) for r in vtn_reports(state, ven=ven)]
        assert got == expected, f"{ven}: got {len(got)} reports for {len(expected)} rows"
        durations = {res["intervalPeriod"]["duration"] for r in vtn_reports(state, ven=ven) for res in r["resources"]}
        assert durations == {"PT1H"}  # kept ticks too stand for their own H5 row (an hour), not --interval
    names = [r["reportName"] for r in state.reports]
    assert len(names) == len(set(names))


async def started_then_stopped(tmp_path, contract):
    """A registered fleet whose VTN is stopped again; returns (env, state, port) — start it later on ``port``."""
    state = VtnState()
    seed_demo(state)
    server = LocalVtnServer(state).start()
    env = await amake_run_env(tmp_path, server, contract)
    port = server.port
    await asyncio.to_thread(server.stop)
    return env, state, port


async def test_vtn_down_for_the_first_30_simulated_seconds_loses_no_row(tmp_path, contract, caplog):
    caplog.set_level(logging.INFO, logger="venclient")
    env, state, port = await started_then_stopped(tmp_path, contract)
    # The outbox empties while ticks go on or, what is left when the run stops, in the shutdown flush: that flush
    # ends once the outbox is empty, so its generous budget only matters on a loaded machine.
    runner = VenRunner(env.runtime, run_options(env.runtime, interval_seconds=1.0, speed=20.0,
                                                shutdown_flush_seconds=120.0))
    task = asyncio.create_task(runner.run())
    server = None
    try:
        assert await wait_async(lambda: len(runner.stats.ticks) >= 30)  # 30 simulated seconds without a VTN
        assert vtn_reports(state) == [] and runner.backlog.ticks >= 30
        assert env.store.outbox_counts()["pending"] == 0  # nothing could be built: it is all in the backlog
        server = await asyncio.to_thread(LocalVtnServer(state, port=port).start)
        assert await wait_async(lambda: runner.backlog.ticks == 0 and len(runner.stats.ticks) >= 45, timeout=60)
    finally:
        runner.stop()
        await asyncio.wait_for(task, 150)
        if server is not None:
            await asyncio.to_thread(server.stop)
    rows = [t.index for t in runner.stats.ticks]
    assert rows[0] == 0 and rows == list(range(len(rows)))  # the clock never skipped a row
    assert env.store.outbox_counts() == {"pending": 0, "rejected": 0} and env.store.backlog_ticks() == 0
    assert_rows_reported_once_in_order(state, env.vens, env.h5_path, rows)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("Could not poll events" in m for m in messages) == 1  # one warning for the whole outage
    assert any("The VTN answers again" in m for m in messages)
    env.runtime.close()


async def test_a_full_backlog_makes_the_replay_clock_wait_without_dropping(tmp_path, contract, caplog):
    caplog.set_level(logging.INFO, logger="venclient")
    env, state, port = await started_then_stopped(tmp_path, contract)
    runner = VenRunner(env.runtime, run_options(env.runtime, interval_seconds=1.0, speed=50.0, backlog_max_ticks=5))
    task = asyncio.create_task(runner.run())
    server = None
    try:
        assert await wait_async(lambda: any("the replay clock waits" in r.getMessage() for r in caplog.records))
        await asyncio.sleep(0.5)  # 25 more tick periods: the clock stays where it is
        assert len(runner.stats.ticks) == 5 and env.store.get_state(REPLAY_ROW_KEY) == "4"
        assert env.store.backlog_ticks() == 5
        server = await asyncio.to_thread(LocalVtnServer(state, port=port).start)
        assert await wait_async(lambda: runner.backlog.ticks == 0 and len(runner.stats.ticks) >= 15)
    finally:
        runner.stop()
        await asyncio.wait_for(task, 60)
        if server is not None:
            await asyncio.to_thread(server.stop)
    rows = [t.index for t in runner.stats.ticks]
    assert rows == list(range(len(rows)))
    assert_rows_reported_once_in_order(state, env.vens, env.h5_path, rows)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("the replay clock waits" in m for m in messages) == 1
    assert any("The backlog has room again" in m for m in messages)
    env.runtime.close()


async def test_a_full_backlog_in_wallclock_mode_drops_the_oldest_ticks(tmp_path, contract, caplog):
    caplog.set_level(logging.INFO, logger="venclient")
    env, _, _ = await started_then_stopped(tmp_path, contract)
    env.runtime.settings.set("clock.mode", "wallclock")
    runner = VenRunner(env.runtime, run_options(env.runtime, interval_seconds=1.0, speed=50.0, backlog_max_ticks=3,
                                                max_ticks=10))
    await runner.run()
    assert len(runner.stats.ticks) == 10
    assert runner.stats.backlog_dropped == 7 and runner.stats.backlog_ticks == 3
    kept = env.store.backlog_oldest(ticks=10)
    last_three = [t for t in runner.stats.ticks][-3:]
    assert sorted({row["tick_index"] for row in kept}) == sorted({t.index for t in last_three})
    assert len({row["tick_ms"] for row in kept}) == 3
    messages = [r.getMessage() for r in caplog.records]
    assert sum("the oldest ticks are dropped" in m for m in messages) == 1
    env.runtime.close()


def _store(tmp_path) -> SqlResourceStore:
    return SqlResourceStore(f"sqlite:///{tmp_path / 'resources.db'}")


def _backlog_ticks(tmp_path) -> int:
    store = _store(tmp_path)
    try:
        return store.backlog_ticks()
    finally:
        store.close()


def test_sigkill_while_draining_the_backlog_then_rerun_reports_every_row_once(tmp_path, local_vtn, contract):
    state, port = local_vtn.state, local_vtn.port
    env = make_run_env(tmp_path, local_vtn, contract)
    env.runtime.close()
    local_vtn.stop()
    url = f"http://127.0.0.1:{port}/openadr3/3.0.1"
    environment = ven_env(tmp_path, url, VEN_REPORTING__BACKLOG_DRAIN_PER_TICK="@int 2")
    away = VenProcess(tmp_path, environment, "run", "--ticks", "30", "--interval", "1", "--speed", "20",
                      "--no-register", name="away")
    try:
        assert away.wait(90) == 0, away.stderr
    finally:
        away.close()
    assert _backlog_ticks(tmp_path) == 30 and vtn_reports(state) == []
    server = LocalVtnServer(state, port=port).start()
    try:
        draining = VenProcess(tmp_path, environment, "run", "--interval", "1", "--speed", "4", "--no-register",
                              name="draining")
        try:
            assert wait_until(lambda: 0 < _backlog_ticks(tmp_path) <= 24, timeout=60), draining.stderr
            draining.signal(signal.SIGKILL)
            assert draining.wait(30) == -signal.SIGKILL
        finally:
            draining.close()
        assert 0 < _backlog_ticks(tmp_path) < 30
        assert wait_until(lambda: not _live_leases(tmp_path), timeout=30)
        rerun = VenProcess(tmp_path, environment, "run", "--ticks", "40", "--interval", "1", "--speed", "20",
                           "--no-register", name="rerun")
        try:
            assert rerun.wait(120) == 0, rerun.stderr
            assert "Traceback" not in rerun.stderr
        finally:
            rerun.close()
    finally:
        server.stop()
    store = _store(tmp_path)
    try:
        assert store.backlog_ticks() == 0 and store.outbox_counts() == {"pending": 0, "rejected": 0}
        last_row = int(store.get_state(REPLAY_ROW_KEY))
    finally:
        store.close()
    assert last_row >= 30 + 40 - 1 - 1  # the killed run collected some rows too
    assert_rows_reported_once_in_order(state, env.vens, env.h5_path, range(last_row + 1))


def _live_leases(tmp_path) -> list:
    from fixtures.run import live_leases

    return live_leases(tmp_path / "resources.db")


async def test_a_registration_the_start_could_not_do_happens_when_the_vtn_answers(tmp_path, contract, caplog):
    caplog.set_level(logging.INFO, logger="venclient")
    state = VtnState()
    seed_demo(state)
    server = LocalVtnServer(state).start()
    env = make_run_env(tmp_path, server, contract, register=False)
    port = server.port
    await asyncio.to_thread(server.stop)
    runner = VenRunner(env.runtime, run_options(env.runtime, register=True, interval_seconds=1.0, speed=20.0))
    task = asyncio.create_task(runner.run())
    server = None
    try:
        assert await wait_async(lambda: len(runner.stats.ticks) >= 5)
        assert not any(load.vtn_resource_id for load in env.store.list_loads())
        server = await asyncio.to_thread(LocalVtnServer(state, port=port).start)
        assert await wait_async(lambda: all(len(vtn_reports(state, ven=ven)) >= 3 for ven in env.vens))
    finally:
        runner.stop()
        await asyncio.wait_for(task, 60)
        if server is not None:
            await asyncio.to_thread(server.stop)
    loads = env.store.list_loads()
    assert loads and all(load.vtn_resource_id for load in loads)  # registered once the VTN answered
    names = [r["reportName"] for r in state.reports]
    assert len(names) == len(set(names))
    env.runtime.close()
