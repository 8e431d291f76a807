"""Benchmark: how long `ven` takes to start — the cost a user pays on every command.

Run: ``.venv/bin/python tests/benchmarks/bench_startup.py [--runs 10]``

Times three commands as fresh processes (the installed ``ven`` console script of this interpreter's
environment), each ``--runs`` times after one warm-up run, in an empty temporary folder with settings that
point at a small SQLite store made there first:

* ``ven --help`` — the root help: settings, plugins and every command's options, nothing heavy;
* ``ven plugins`` — the plugin table (every plugin's hook module imported);
* ``ven db status`` — the first command that opens the store (SQLAlchemy).

Prints the median and the spread of each, then LAST one JSON line: ``help_s``, ``plugins_s``,
``db_status_s`` (medians, seconds), ``runs``.  Goal (issue 12): ``help_s`` ≤ 0.3 s on the 2-core
development machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def ven_executable() -> str:
    """The ``ven`` script beside this interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("ven")
    found = str(beside) if beside.exists() else shutil.which("ven")
    if not found:
        raise SystemExit("No `ven` found beside this interpreter or on PATH: run `make install` first.")
    return found


def time_command(argv: list[str], env: dict[str, str], cwd: Path, runs: int) -> list[float]:
    """Wall seconds of ``runs`` fresh runs of ``argv`` (after one untimed warm-up); a failure stops the benchmark."""
    subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, env=env, cwd=cwd, check=True, capture_output=True)
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs per command (default 10)")
    args = parser.parse_args()
    ven = ven_executable()
    with tempfile.TemporaryDirectory(prefix="bench_startup_") as tmp:
        folder = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("VEN_")}
        env["VEN_DATABASE_URL"] = f"sqlite:///{folder / 'resources.db'}"
        make_store = "from venclient.runtime import Runtime; r = Runtime.create(); r.store(); r.close()"
        subprocess.run([sys.executable, "-c", make_store], env=env, cwd=folder, check=True, capture_output=True)
        figures = {}
        for key, argv in (("help_s", [ven, "--help"]), ("plugins_s", [ven, "plugins"]),
                          ("db_status_s", [ven, "db", "status"])):
            samples = time_command(argv, env, folder, args.runs)
            figures[key] = round(statistics.median(samples), 3)
            print(f"{' '.join(['ven', *argv[1:]]):<16} median {figures[key]:.3f} s   "
                  f"min {min(samples):.3f}  max {max(samples):.3f}  ({args.runs} runs)")
    print(json.dumps({**figures, "runs": args.runs}))


if __name__ == "__main__":
    main()
