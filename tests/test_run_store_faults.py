"""`ven run` on a store that refuses writes: a full disk (a file-size limit on the process, lifted while it
runs), a read-only file system at start (a read-only bind mount in a private mount namespace), and a database
that turns read-only while running.  One warning per streak, one info line when writes work again, no tick
lost or skipped, no traceback, the SQLite file intact, and a later run continues with nothing lost."""

from __future__ import annotations

import asyncio
import logging
import resource
import shlex
import signal
import time
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

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
from venclient.plugins.sqlite_store import SqlResourceStore

REFUSED = "refuses writes"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def assert_rows_reported_once_in_order(state, vens, h5_path, rows) -> None:
    expected = [iso(h5_time(h5_path, row)) for row in sorted(rows)]
    for ven in vens:
        got = [report_start(r) for r in vtn_reports(state, ven=ven)]
        assert got == expected, f"{ven}: got {len(got)} reports for {len(expected)} rows"
    names = [r["reportName"] for r in state.reports]
    assert len(names) == len(set(names))


def integrity(db: Path) -> str:
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("PRAGMA integrity_check").scalar_one()
    finally:
        engine.dispose()


def store_state(db: Path) -> tuple[str | None, dict[str, int]]:
    store = SqlResourceStore(f"sqlite:///{db}")
    try:
        return store.get_state(REPLAY_ROW_KEY), store.outbox_counts()
    finally:
        store.close()


def test_a_full_disk_during_run_loses_no_tick_and_recovers(tmp_path, local_vtn, contract):
    env = make_run_env(tmp_path, local_vtn, contract)
    env.runtime.close()
    db = tmp_path / "resources.db"
    limit = db.stat().st_size + 256 * 1024  # the store's files may grow by 256 kB, then every write fails

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    environment = ven_env(tmp_path, local_vtn.url)
    proc = VenProcess(tmp_path, environment, "run", "--interval", "1", "--speed", "20", "--no-register",
                      name="full", preexec_fn=limit_file_size)
    try:
        assert wait_until(lambda: REFUSED in proc.stderr, timeout=90), proc.stderr
        stuck_at, _ = store_state(db)
        time.sleep(1.0)  # 20 tick periods with a full disk
        assert store_state(db)[0] == stuck_at  # the replay clock did not move past the tick it could not store
        assert proc.proc.poll() is None  # it keeps running
        resource.prlimit(proc.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        assert wait_until(lambda: "The store takes writes again" in proc.stderr, timeout=60), proc.stderr
        assert wait_until(lambda: int(store_state(db)[0]) >= int(stuck_at) + 5, timeout=60)
        proc.signal(signal.SIGTERM)
        assert proc.wait(60) == 0, proc.stderr
        err = proc.stderr
        lines = proc.stderr_lines
    finally:
        proc.close()
    assert "Traceback" not in err
    assert err.count(REFUSED) == 1  # one warning for the whole streak
    assert integrity(db) == "ok"
    later = VenProcess(tmp_path, environment, "run", "--once", "--interval", "1", "--no-register", name="later")
    try:
        assert later.wait(60) == 0, later.stderr
    finally:
        later.close()
    last_row, counts = store_state(db)
    assert counts == {"pending": 0, "rejected": 0}
    assert_rows_reported_once_in_order(local_vtn.state, env.vens, env.h5_path, range(int(last_row) + 1))
    assert any(REFUSED in line for line in lines if "WARNING" in line)


def test_a_read_only_store_at_start_is_one_sentence_and_a_later_run_continues(tmp_path, local_vtn, contract):
    env = make_run_env(tmp_path, local_vtn, contract)
    env.runtime.close()
    folder = shlex.quote(str(tmp_path))
    read_only = ["unshare", "--mount", "sh", "-c",
                 f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && exec \"$0\" \"$@\""]
    environment = ven_env(tmp_path, local_vtn.url)
    proc = VenProcess(tmp_path, environment, "run", "--once", "--interval", "1", "--no-register", name="ro",
                      prefix=read_only)
    try:
        code = proc.wait(60)
        lines = [line for line in proc.stderr_lines if line.strip()]
    finally:
        proc.close()
    assert code == 1, lines
    assert len(lines) == 1 and lines[0].startswith("Error: The store sqlite:///") and REFUSED in lines[0], lines
    assert vtn_reports(local_vtn.state) == []
    assert integrity(tmp_path / "resources.db") == "ok"
    later = VenProcess(tmp_path, environment, "run", "--ticks", "3", "--interval", "1", "--speed", "20",
                       "--no-register", name="later")
    try:
        assert later.wait(60) == 0, later.stderr
    finally:
        later.close()
    assert_rows_reported_once_in_order(local_vtn.state, env.vens, env.h5_path, range(3))


class ReadOnlySwitch:
    """Makes the store's SQLite connections read-only (``PRAGMA query_only``) and back: every write then fails
    with SQLITE_READONLY, as on a read-only database."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.on = False

    def _connect(self, dbapi_conn, _record) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA query_only = {'ON' if self.on else 'OFF'}")
        cursor.close()

    def set(self, on: bool) -> None:
        self.on = on
        if not sa.event.contains(self.engine, "connect", self._connect):
            sa.event.listen(self.engine, "connect", self._connect)
        self.engine.dispose(close=False)  # connections made from now on get the pragma


async def test_a_store_turning_read_only_mid_run_keeps_the_tick_and_reports_it_later(tmp_path, local_vtn,
                                                                                     contract, caplog):
    caplog.set_level(logging.INFO, logger="venclient")
    env = await amake_run_env(tmp_path, local_vtn, contract)
    switch = ReadOnlySwitch(env.store.engine)
    runner = VenRunner(env.runtime, run_options(env.runtime, interval_seconds=1.0, speed=20.0))
    task = asyncio.create_task(runner.run())

    async def until(condition, timeout=60.0) -> bool:
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return condition()

    try:
        assert await until(lambda: len(runner.stats.ticks) >= 3)
        switch.set(True)
        assert await until(lambda: any(REFUSED in r.getMessage() for r in caplog.records))
        held = len(runner.stats.ticks)
        await asyncio.sleep(0.5)  # 10 tick periods read-only
        assert len(runner.stats.ticks) <= held + 1  # at most the tick that was being stored when it switched
        switch.set(False)
        assert await until(lambda: len(runner.stats.ticks) >= held + 5)
    finally:
        runner.stop()
        await asyncio.wait_for(task, 60)
    rows = [t.index for t in runner.stats.ticks]
    assert rows == list(range(len(rows)))  # no row skipped, none twice
    messages = [r.getMessage() for r in caplog.records]
    assert sum(REFUSED in m and "read-only" in m for m in messages) == 1
    assert sum("The store takes writes again" in m for m in messages) == 1
    assert not [r for r in caplog.records if r.exc_info]  # no traceback logged
    assert env.store.outbox_counts() == {"pending": 0, "rejected": 0}
    assert_rows_reported_once_in_order(local_vtn.state, env.vens, env.h5_path, rows)
    assert integrity(tmp_path / "resources.db") == "ok"
    env.runtime.close()
