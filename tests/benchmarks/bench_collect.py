"""Benchmark: one tick for the whole 19,402-resource fleet, and collect_next_metering for one VEN.

    .venv/bin/python tests/benchmarks/bench_collect.py [--dir DIR] [--ticks 30]

Builds the fleet once in DIR (default: a fresh temporary folder) with the project's own commands, in a
child process so that building does not count towards this process's memory: ``ven meterdata generate``
(153 meters × 8741 hours), ``ven samples generate --resources 19402``, ``ven loads generate``, then every
resource APPROVED.  Then, in this process:

* ``fleet_tick_ms`` — median of ``--ticks`` ticks of :meth:`venclient.engine.collect.Collector.collect` over all
  116,412 loads (after one warm-up tick);
* ``ven_collect_ms`` — median of ``collect_next_metering`` for the VEN closest to 120 resources (~720
  loads) with a VEN-scoped :class:`venclient.engine.simulator.MeterDataSimulator`, ``increase_time()`` between calls;
* ``loads``, ``rss_mb`` (the process's peak resident memory), and the one-off ``open_ms``.

The last line printed is one JSON object with those figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

RESOURCES = 19_402
METERS = 153
HOURS = 8741
SEED = 20260116


def _env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEN_")}
    env.update({"VEN_DATABASE_URL": f"sqlite:///{folder / 'resources.db'}",
                "VEN_H5_PATH": str(folder / "load_data.h5"), "VEN_LOG_LEVEL": "WARNING"})
    return env


def _ven(folder: Path, *args: str) -> None:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venclient.cli", *args], check=True, cwd=ROOT, env=_env(folder),
                   stdout=subprocess.DEVNULL)
    print(f"  ven {' '.join(args)}: {time.perf_counter() - started:.1f} s", file=sys.stderr)


def build_fleet(folder: Path) -> None:
    """The fleet and its meter data in ``folder``, every resource APPROVED (skipped when already there)."""
    if (folder / "load_data.h5").is_file() and (folder / "resources.db").is_file():
        return
    print(f"Building the fleet in {folder} …", file=sys.stderr)
    _ven(folder, "meterdata", "generate", "--meters", str(METERS), "--hours", str(HOURS), "--seed", str(SEED))
    _ven(folder, "samples", "generate", "--resources", str(RESOURCES), "--seed", str(SEED))
    _ven(folder, "loads", "generate", "--seed", str(SEED))
    approve = ("from venclient.runtime import Runtime\n"
               "rt = Runtime.create(load_entry_points=False)\n"
               "store = rt.store()\n"
               "print(sum(store.set_ven_status(v, 'APPROVED') for v in store.get_ven_list()))\n"
               "rt.close()\n")
    subprocess.run([sys.executable, "-c", approve], check=True, cwd=ROOT, env=_env(folder),
                   stdout=subprocess.DEVNULL)


async def fleet_figures(runtime, ticks: int) -> dict[str, float]:
    from venclient.engine.collect import Collector

    started = time.perf_counter()
    collector = Collector.from_runtime(runtime)
    await collector.open()
    open_ms = (time.perf_counter() - started) * 1000
    clock = collector.build_clock(runtime.settings)
    await collector.collect(clock.tick)  # warm-up
    times = []
    for _ in range(ticks):
        clock.increase_time()
        started = time.perf_counter()
        readings = await collector.collect(clock.tick)
        times.append((time.perf_counter() - started) * 1000)
    ok = int((readings.quality == 0).sum())
    sizes = {ven: (s.stop - s.start) // 6 for ven, s in collector.plan.ven_slices.items()}
    loads = len(collector.plan)
    await collector.close()
    return {"fleet_tick_ms": statistics.median(times), "open_ms": open_ms, "loads": loads, "ok_values": ok,
            "vens": len(sizes), "ven": min(sizes, key=lambda v: (abs(sizes[v] - 120), v)), "sizes": sizes}


def ven_figure(runtime, ven: str, ticks: int) -> tuple[float, int]:
    from venclient.engine.simulator import MeterDataSimulator

    with MeterDataSimulator(runtime, vens=[ven]) as simulator:
        simulator.collect_next_metering(ven)  # warm-up
        times = []
        for _ in range(ticks):
            simulator.increase_time()
            started = time.perf_counter()
            data = simulator.collect_next_metering(ven)
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times), sum(len(item.readings) for item in data.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="Where the fleet lives (built when missing).")
    parser.add_argument("--ticks", type=int, default=30, help="Measured ticks per figure (median reported).")
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="bench_collect_"))
    folder.mkdir(parents=True, exist_ok=True)
    build_fleet(folder)

    os.environ.update(_env(folder))
    from venclient.runtime import Runtime

    runtime = Runtime.create(load_entry_points=False)
    try:
        fleet = asyncio.run(fleet_figures(runtime, args.ticks))
        ven_ms, ven_values = ven_figure(runtime, fleet["ven"], args.ticks)
    finally:
        runtime.close()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"fleet: {fleet['loads']:,} loads in {fleet['vens']} VENs, {fleet['ok_values']:,} values per tick; "
          f"open {fleet['open_ms']:.0f} ms; VEN {fleet['ven']} has {fleet['sizes'][fleet['ven']]} resources "
          f"({ven_values} values)", file=sys.stderr)
    print(json.dumps({"fleet_tick_ms": round(fleet["fleet_tick_ms"], 3), "ven_collect_ms": round(ven_ms, 3),
                      "loads": fleet["loads"], "rss_mb": round(rss_mb, 1), "ven": fleet["ven"],
                      "ven_loads": fleet["sizes"][fleet["ven"]] * 6, "open_ms": round(fleet["open_ms"], 1)}))


if __name__ == "__main__":
    main()
