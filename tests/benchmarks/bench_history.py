"""Benchmark: the hourly load history of real meters (venclient.engine.baseline) at fleet scale, on SQLite.

    .venv/bin/python tests/benchmarks/bench_history.py [--loads 10000] [--days 14] [--ticks 20] [--dir DIR]

A fresh store in DIR (a temporary folder by default) holds ``--days`` days of hourly history for ``--loads`` loads
(seeded through ``history_add``; not what ``ven run`` does, not timed as such).  Then, as ``ven run`` does per tick
for loads whose source has no baseline, :meth:`HistoryBaseline.write` builds the tick's rows (one per load) and
``outbox_add([], state, history=…)`` stores them with the tick's state in one transaction (an upsert into the
current hour); once per hour :meth:`HistoryBaseline.refresh` reads the history and computes every load's baseline.

Figures (seconds): ``first_tick_s`` (the first tick of a new hour: inserts, plus the hour's pruning),
``tick_s`` (median of the other ticks: upserts into that hour), ``rows_s`` (of ``tick_s``, building the rows in
Python), ``refresh_s`` (the hourly baseline read for all loads), ``seed_s``, ``db_mb``.  The last line printed is
that JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from venclient.engine.baseline import DAY, HOUR, BaselineMethod, HistoryBaseline  # noqa: E402
from venclient.plugins.sqlite_store.store import SqlResourceStore  # noqa: E402

NOW = 1_710_000_000 // DAY * DAY + 14 * HOUR  # a 14:00 UTC


def seed(store: SqlResourceStore, ids: list[str], days: int) -> float:
    started = time.perf_counter()
    rng = np.random.default_rng(1)
    for back in range(days, 0, -1):
        day = NOW // DAY * DAY - back * DAY
        rows = [{"load_id": load_id, "hour_start": day + h * HOUR, "energy_wh": float(w), "seconds": 3600.0,
                 "event": int(back == 3 and h == 17)}
                for h in range(24) for load_id, w in zip(ids, rng.uniform(100, 2000, len(ids)))]
        store.history_add(rows)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--ticks", type=int, default=20, help="ticks of 15 s inside one hour")
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="bench_history_"))
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "history.db"
    for leftover in folder.glob("history.db*"):
        leftover.unlink()
    store = SqlResourceStore(f"sqlite:///{db}")
    ids = [f"site-{n // 6:05d}-load_{n % 6}" for n in range(args.loads)]
    load_ids = np.array(ids, dtype=object)
    seed_s = seed(store, ids, args.days)
    history = HistoryBaseline(store, BaselineMethod(history_days=args.days))

    started = time.perf_counter()
    values = history.refresh(NOW, load_ids)
    refresh_s = time.perf_counter() - started

    rng = np.random.default_rng(2)
    ok = np.ones(args.loads, dtype=bool)
    controlled = np.zeros(args.loads, dtype=bool)
    times, building = [], []
    for tick in range(args.ticks):
        at = NOW + tick * 15
        power = rng.uniform(100, 2000, args.loads)
        started = time.perf_counter()
        write = history.write(at, 15.0, load_ids, power, ok, controlled)
        built = time.perf_counter()
        store.outbox_add([], {"clock.replay_row": str(tick)}, history=write)
        history.written(write, at)
        done = time.perf_counter()
        times.append(done - started)
        building.append(built - started)
    kept = store.history_read(ids[:1], NOW, NOW + HOUR)
    assert kept and kept[0][3] == 15.0 * args.ticks, kept  # every tick landed in the hour, once
    store.close()
    figures = {"loads": args.loads, "days": args.days, "ticks": args.ticks, "seed_s": round(seed_s, 2),
               "refresh_s": round(refresh_s, 3), "baselines": int(np.isfinite(values).sum()),
               "first_tick_s": round(times[0], 4), "tick_s": round(statistics.median(times[1:]), 4),
               "rows_s": round(statistics.median(building[1:]), 4),
               "db_mb": round(sum(p.stat().st_size for p in folder.glob("history.db*")) / 1e6, 1)}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
