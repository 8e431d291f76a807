"""One `ven run` per VEN and store: a second run (or a `ven register` writing the same VENs) is refused with one
sentence naming the VEN and the process holding it; a run killed with SIGKILL blocks the next start only until
its lease expires; a VEN whose lease another process takes over is no longer served."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time

from venclient.engine.run import VenRunner
from fixtures.run import (
    VenProcess,
    amake_run_env,
    live_leases,
    make_run_env,
    run_options,
    ven_env,
    vtn_reports,
    wait_leases_expired,
    wait_until,
)
from fixtures.vtn import run_ven


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def test_a_second_run_is_refused_and_a_killed_run_blocks_only_until_its_lease_expires(tmp_path, local_vtn,
                                                                                      contract):
    env = make_run_env(tmp_path, local_vtn, contract)
    env.runtime.close()
    db = tmp_path / "resources.db"
    environment = ven_env(tmp_path, local_vtn.url, VEN_RUN__LEASE_SECONDS="@float 8")
    first = VenProcess(tmp_path, environment, "run", "--interval", "1", "--speed", "10", "--no-register",
                       name="first")
    try:
        assert wait_until(lambda: len(vtn_reports(local_vtn.state)) >= 2 * len(env.vens), timeout=60), first.stderr
        assert {row["pid"] for row in live_leases(db)} == {first.proc.pid}
        second = run_ven("run", "--once", "--interval", "1", "--no-register", env=environment)
        assert second.returncode == 1
        line = one_error_line(second.stderr)
        assert f"host {socket.gethostname()}, pid {first.proc.pid}, since " in line and "`ven run`" in line
        assert any(f"VEN {ven!r}" in line for ven in env.vens)
        register = run_ven("register", env=environment)
        assert register.returncode == 1 and f"pid {first.proc.pid}" in one_error_line(register.stderr)
        verify = run_ven("register", "--verify", env=environment)  # reads only: no lease needed
        assert verify.returncode == 0, verify.stderr + verify.stdout
        first.signal(signal.SIGKILL)
        assert first.wait(30) == -signal.SIGKILL
    finally:
        first.close()
    refused = run_ven("run", "--once", "--interval", "1", "--no-register", env=environment)  # within the 8 s
    assert refused.returncode == 1
    line = one_error_line(refused.stderr)
    assert f"pid {first.proc.pid}" in line and "if it is gone, its lease expires in" in line
    assert wait_leases_expired(db, timeout=30)
    after = run_ven("run", "--once", "--interval", "1", "--no-register", env=environment)
    assert after.returncode == 0, after.stderr
    assert live_leases(db) == []  # a run that ends gives its leases up


async def test_a_vens_lease_taken_over_stops_serving_only_that_ven(tmp_path, local_vtn, contract, caplog):
    caplog.set_level(logging.INFO, logger="venclient")
    env = await amake_run_env(tmp_path, local_vtn, contract)
    runner = VenRunner(env.runtime, run_options(env.runtime, interval_seconds=1.0, speed=10.0, lease_seconds=3.0))
    task = asyncio.create_task(runner.run())
    lost, kept = env.vens
    other = {"holder": "elsewhere:1:x", "host": "elsewhere", "pid": 1, "command": "ven run"}
    try:
        deadline = time.monotonic() + 30
        while len(vtn_reports(local_vtn.state, ven=lost)) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        # another process takes the lease over (as if this run had stalled past its expiry)
        refused = await asyncio.to_thread(env.store.lease_acquire, [lost], other, time.time() + 10, 30)
        assert refused == {}
        deadline = time.monotonic() + 30
        while lost in runner.vens and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert runner.vens == [kept]
        await asyncio.sleep(0.3)  # let a tick that was under way finish
        reported = len(vtn_reports(local_vtn.state, ven=lost))
        before = len(vtn_reports(local_vtn.state, ven=kept))
        deadline = time.monotonic() + 30
        while len(vtn_reports(local_vtn.state, ven=kept)) < before + 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert len(vtn_reports(local_vtn.state, ven=kept)) >= before + 3  # the other VEN goes on
        assert len(vtn_reports(local_vtn.state, ven=lost)) == reported   # the lost one is no longer reported
    finally:
        runner.stop()
        await asyncio.wait_for(task, 30)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and f"VEN {lost!r} was taken over by `ven run` (host elsewhere, pid 1" in \
        errors[0].getMessage()
    rows = {row["ven"]: row["holder"] for row in env.store.lease_list()}
    assert rows == {lost: "elsewhere:1:x"}  # ours was released at exit, theirs stays
    env.runtime.close()


def test_lease_seconds_setting_is_validated(tmp_path):
    result = run_ven("settings", env={"VEN_RUN__LEASE_SECONDS": "@float 0.5",
                                      "VEN_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    assert result.returncode == 2 and "run.lease_seconds must be a number of seconds" in result.stderr
    assert "Traceback" not in result.stderr
