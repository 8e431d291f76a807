"""Benchmark: build the seeds' 19,402-resource fleet and time sample and load generation.

Run: ``.venv/bin/python tests/benchmarks/bench_loadgen.py [--resources 19402] [--meters 153] [--hours 8741]``

Runs the real ``ven`` commands in this process (so interpreter start-up and imports are not counted)
against a fresh SQLite database and H5 file in a temporary folder:
``ven meterdata generate`` → ``ven samples generate`` → ``ven loads generate``.
Prints a few lines of detail, then LAST one JSON line with ``samples_generate_s``, ``loads_generate_s``,
``loads`` and ``db_mb`` (goal: ``loads_generate_s`` ≤ 1.0 on 2 cores; the seeds took ~7 s).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def run(*args: str) -> tuple[float, str]:
    """Run ``ven ARGS`` in-process; return (seconds, stdout). Exits on failure."""
    from venclient.cli.app import main

    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exit_:
            code = exit_.code or 0
    seconds = time.perf_counter() - started
    if code:
        sys.exit(f"ven {' '.join(args)} failed ({code}): {err.getvalue().strip()}")
    return seconds, out.getvalue()


def database_mb(db: Path) -> float:
    """Size of the database with its WAL and shared-memory files, in MB."""
    files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
    return sum(f.stat().st_size for f in files if f.exists()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=19_402)
    parser.add_argument("--meters", type=int, default=153)
    parser.add_argument("--hours", type=int, default=8741)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_loadgen_") as folder:
        db = Path(folder) / "resources.db"
        for key in [k for k in os.environ if k.startswith("VEN_")]:
            del os.environ[key]
        os.environ.update({"VEN_DATABASE_URL": f"sqlite:///{db}",
                           "VEN_H5_PATH": str(Path(folder) / "examplemeterdata" / "load_data.h5"),
                           "VEN_LOG_LEVEL": "WARNING"})
        run("plugins", "--json")  # warm up imports so the timings below are the commands' own work
        meterdata_s, _ = run("meterdata", "generate", "--meters", str(args.meters), "--hours", str(args.hours),
                             "--seed", "1", "--json")
        samples_s, _ = run("samples", "generate", "--resources", str(args.resources), "--seed", "1", "--json")
        loads_s, output = run("loads", "generate", "--seed", "1", "--json")
        report = json.loads(output)
        generation, stats = report["generation"], report["statistics"]
        print(f"meterdata generate: {args.meters} meters x {args.hours} h in {meterdata_s:.2f} s")
        print(f"samples generate: {stats['resources']} resources in {stats['vens']} VENs in {samples_s:.2f} s")
        print(f"loads generate: {generation['loads']} loads, {generation['meters_used']} meters used; "
              f"{generation['seconds']:.2f} s generating + storing, {loads_s - generation['seconds']:.2f} s "
              f"opening the store and computing statistics")
        print(f"loads by component: {stats['loads_by_component']}")
        figures = {"samples_generate_s": round(samples_s, 3), "loads_generate_s": round(loads_s, 3),
                   "loads": stats["loads"], "db_mb": round(database_mb(db), 1),
                   "loads_generate_core_s": round(generation["seconds"], 3),
                   "meterdata_generate_s": round(meterdata_s, 3), "resources": stats["resources"],
                   "unique_h5_meters": stats["unique_h5_meters"]}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
