"""Benchmark: planning events over time — timelines and report plans for many events.

Run: ``.venv/bin/python tests/benchmarks/bench_events.py [--events 1000] [--repeat 5]``

Builds ``--events`` events the way VTNs send them (24 hourly intervals; every tenth with 4 prices per
interval, every seventh with ``randomizeStart``, every fifth with a USAGE report descriptor asking for a report
every 4 intervals), parses them from wire JSON once, then times, best of ``--repeat``:

* ``timeline_ms`` — :func:`venclient.engine.timeline.event_timeline` for all events;
* ``plan_ms`` — :func:`venclient.engine.report_plan.report_plan` for every descriptor;
* ``winner_ms`` — priority resolution at one moment over all events' active slots;
* ``boundary_ms`` — a fleet-wide SIMPLE event's start on ``--fleet-loads`` simulated loads (a real SQLite store
  in a temporary folder): the scheduler's reconcile at the boundary (what applies to each load, told to the
  simulated fleet, :class:`venclient.plugins.h5_simulator.responding.RespondingSource`) plus one tick of its
  response (``apply_ms``; goal: ``boundary_ms`` ≤ 50); ``replan_ms`` is the planning done when the event arrives
  (timelines, targeting, reading the loads' ids; in a worker thread);
* ``rss_mb`` — the peak resident memory of a real ``ven run`` over the whole sample fleet (19,402 resources,
  116,412 loads; goal ≤ 200) while a fleet-wide ``SIMPLE`` 2 event (no targets, from now on, open-ended) is active:
  the fleet is built in ``--dir`` (as ``bench_report.py`` does; reused when there), the local VTN runs in a child
  process, every load is registered (``ven register``, nothing to post after the first time), the event is created
  as the business-logic client, then ``ven run --ticks --run-ticks --speed 15 --no-register`` runs as a child
  process whose own peak RSS is read when it exits (``os.wait4``, in a small launcher process: Linux counts the
  memory of the process that spawned a child into the child's ``ru_maxrss``, so spawned from this process, which
  holds the boundary part's fleet store, it could never read less than this process's own peak — that is
  ``bench_rss_mb``); ``run_s`` is its wall time, ``run_told`` the
  loads its log says the event's interval started for.  ``--no-run`` skips it (``rss_mb`` null);
  ``bench_rss_mb`` is this process's own peak (the boundary figures above).

Prints details, then LAST one JSON line with those figures and ``events``, ``slots``, ``fleet_loads``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from venclient.engine.report_plan import report_plan
from venclient.engine.timeline import event_timeline, winning_slot
from venclient.openadr import Event
from venclient.model import LOAD_COMPONENTS, Load, Resource
from venclient.protocols import SourceReading

START = datetime(2025, 3, 14, tzinfo=timezone.utc)
ROOT = Path(__file__).resolve().parents[2]
FLEET_EVENT = "bench-fleet-shed"
# Runs argv[2:] and writes "exit code, peak RSS in KiB" of it to the file argv[1]: started afresh (a small process),
# so the peak it reads is the child's own (Linux adds the spawning process's peak RSS to a child's ru_maxrss).
LAUNCHER = """import os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
open(sys.argv[1], "w").write(f"{os.waitstatus_to_exitcode(status)} {usage.ru_maxrss}")
"""


def wire_event(n: int) -> dict:
    """One event's wire JSON (see the module docstring for the mix)."""
    period = {"start": (START + timedelta(minutes=n % 60)).isoformat(), "duration": "PT1H"}
    if n % 7 == 0:
        period["randomizeStart"] = "PT5M"
    values = (lambda i: [0.1 + i / 100, 0.2, 0.15, 0.12]) if n % 10 == 0 else (lambda i: [0.1 + i / 100])
    body = {"id": f"e{n}", "programID": "p1", "eventName": f"prices-{n}", "priority": n % 4,
            "intervalPeriod": period,
            "intervals": [{"id": i, "payloads": [{"type": "PRICE", "values": values(i)}]} for i in range(24)]}
    if n % 5 == 0:
        body["reportDescriptors"] = [{"payloadType": "USAGE", "startInterval": 3, "numIntervals": 4,
                                      "frequency": 4, "repeat": 6}]
    return body


def best_ms(action, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return round(min(times) * 1000, 2)


class BaselineSource:
    """An inner h5sim source that reads a constant baseline (the response, not H5 reading, is timed)."""

    kinds = ("h5sim",)

    def __init__(self) -> None:
        self.power = np.zeros(0)

    async def open(self, batch) -> None:
        self.power = 100.0 + np.arange(len(batch)) % 900

    async def read(self, tick) -> SourceReading:
        return SourceReading(self.power.copy(), np.zeros(len(self.power), dtype=np.uint8))

    def timeline(self):
        return None


def fleet_store(folder: Path, loads: int, vens: int = 216):
    """A SQLite store of ``loads`` loads (six per resource) spread over ``vens`` VENs."""
    from venclient.plugins.sqlite_store.store import SqlResourceStore

    store = SqlResourceStore(f"sqlite:///{folder / 'fleet.db'}")
    resources = (loads + 5) // 6
    store.insert_resources(Resource(resource_id=f"r{n:06d}", resource_name=f"site {n}", resource_type="DSR",
                                    resource_sub_type="bars", meter_point_id=f"5700{n:014d}", ven=f"V{n % vens:03d}")
                           for n in range(resources))
    store.bulk_insert_loads(Load(load_id=f"r{n:06d}-{c}", resource_id=f"r{n:06d}", load_component=c, load_name=name,
                                 h5_meter_id="m") for n in range(resources) for c, name in LOAD_COMPONENTS.items())
    return store


async def fleet_boundary(store, repeat: int) -> tuple[float, float, float, int]:
    """Best ``(replan ms, boundary ms, one response tick ms, loads told)`` of a fleet-wide SIMPLE 2 event: planned
    a minute ahead (as a VTN sends it), then its start."""
    from venclient.clock import Tick
    from venclient.engine.scheduler import EventScheduler
    from venclient.engine.targets import LoadDirectory
    from venclient.plugins.h5_simulator.responding import RespondingSource
    from venclient.plugins.h5_simulator.response import ResponseSettings
    from venclient.protocols import LoadBatch

    rows = [row for ven in store.get_ven_list() for row in store.load_tuples(ven)]
    batch = LoadBatch(load_ids=np.array([r.load_id for r in rows], dtype=object),
                      resource_ids=np.array([r.resource_id for r in rows], dtype=object),
                      components=np.array([int(r.load_component[-1]) for r in rows], dtype=np.int8),
                      h5_meter_ids=np.array(["m"] * len(rows), dtype=object),
                      connection_ids=np.full(len(rows), -1, dtype=np.int64), connections={})
    follower = RespondingSource(BaselineSource(), ResponseSettings())
    await follower.open(batch)
    event = Event(id="fleet", program_id="p", interval_period={"start": START, "duration": "PT1H"},
                  intervals=[{"id": 0, "payloads": [{"type": "SIMPLE", "values": [2]}]}])
    replans, boundaries, applies = [], [], []
    for _ in range(repeat):
        scheduler = EventScheduler(store, {}, LoadDirectory(store, store.get_ven_list()),
                                   lambda: START - timedelta(minutes=1))
        scheduler.followers = [follower]
        await follower.read(Tick(0, START - timedelta(minutes=1)))
        started = time.perf_counter()
        await scheduler.replan([event])
        replans.append(time.perf_counter() - started)
        started = time.perf_counter()
        await scheduler.reconcile(START)
        boundaries.append(time.perf_counter() - started)
        started = time.perf_counter()
        await follower.read(Tick(1, START))
        applies.append(time.perf_counter() - started)
    told = int((~np.isnan(follower._levels)).sum())
    return (round(min(replans) * 1000, 2), round(min(boundaries) * 1000, 2), round(min(applies) * 1000, 2),
            told)


async def put_fleet_event(url: str) -> str:
    """Create the fleet-wide SIMPLE 2 event (no targets, from now on, open-ended) in the demo program as the
    business-logic client, deleting an earlier run's first; returns its id."""
    from venclient.plugins.local_vtn import DEMO_PROGRAM
    from venclient.plugins.openadr_http.config import VtnConfig
    from venclient.plugins.openadr_http.transport import HttpVtnTransport

    async with HttpVtnTransport(VtnConfig(url=url, client_id="bl-dev", client_secret="bl-dev-secret")) as vtn:
        program = await vtn.find_program(DEMO_PROGRAM)
        for old in await vtn.list_events(program.id):
            if old.event_name == FLEET_EVENT:
                await vtn.delete_event(old.id)
        event = await vtn.create_event(Event.model_validate({
            "programID": program.id, "eventName": FLEET_EVENT, "priority": 1,
            "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [2]}]}]}))
    return event.id


def fleet_run(folder: Path, ticks: int) -> dict:
    """``rss_mb``, ``run_s`` and ``run_told`` of ``ven run`` over the whole fleet with the fleet-wide event active
    (see the module docstring)."""
    sys.path.insert(0, str(ROOT / "tests" / "benchmarks"))
    from bench_report import registered_fleet, vtn_env

    with registered_fleet(folder) as (url, _vtn):
        asyncio.run(put_fleet_event(url))
        env = {**vtn_env(folder, url), "VEN_LOG_LEVEL": "INFO"}
        log_path, peak_path = folder / "bench_events_run.log", folder / "bench_events_run.peak"
        peak_path.unlink(missing_ok=True)
        started = time.perf_counter()
        with log_path.open("w") as log_file:
            subprocess.run([sys.executable, "-c", LAUNCHER, str(peak_path), sys.executable, "-m", "venclient.cli",
                            "run", "--ticks", str(ticks), "--speed", "15", "--no-register"], cwd=ROOT, env=env,
                           stdout=log_file, stderr=subprocess.STDOUT, check=False)
        seconds = time.perf_counter() - started
    text = log_path.read_text()
    code, peak_kib = (int(v) for v in peak_path.read_text().split()) if peak_path.exists() else (-1, 0)
    if code != 0:
        raise SystemExit(f"ven run failed ({code}); its log: {log_path}\n{text[-3000:]}")
    told = re.findall(rf"interval 0 of event '{FLEET_EVENT}' \(\w+\) started: SIMPLE=2; (\d+) loads",
                      " ".join(text.split()))
    if not told:
        raise SystemExit(f"ven run did not start the fleet-wide event's interval; its log: {log_path}")
    return {"rss_mb": round(peak_kib / 1024, 1), "run_s": round(seconds, 1), "run_ticks": ticks,
            "run_told": int(told[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--fleet-loads", type=int, default=116_412)
    parser.add_argument("--dir", type=Path, default=None, help="Where the fleet for `ven run` lives (built when "
                                                               "missing; default: a new temporary folder).")
    parser.add_argument("--run-ticks", type=int, default=4, help="Ticks of the fleet `ven run`.")
    parser.add_argument("--no-run", action="store_true", help="Skip the fleet `ven run` (rss_mb null).")
    args = parser.parse_args()
    events = [Event.model_validate(wire_event(n)) for n in range(args.events)]
    received = START - timedelta(hours=1)
    timelines = [event_timeline(e, received=received, seed=n) for n, e in enumerate(events)]
    slots = sum(len(t.slots) for t in timelines)
    moment = START + timedelta(hours=12, minutes=30)
    timeline_ms = best_ms(lambda: [event_timeline(e, received=received, seed=n) for n, e in enumerate(events)],
                          args.repeat)
    plan_ms = best_ms(lambda: [report_plan(e, d, received=received) for e in events
                               for d in e.report_descriptors or ()], args.repeat)
    winner_ms = best_ms(lambda: winning_slot([(t, s) for t in timelines for s in t.active(moment)]), args.repeat)
    print(f"{args.events} events, {slots} slots: timelines {timeline_ms} ms, report plans {plan_ms} ms, "
          f"winner at one moment {winner_ms} ms")
    with tempfile.TemporaryDirectory() as folder:
        store = fleet_store(Path(folder), args.fleet_loads)
        try:
            replan_ms, reconcile_ms, apply_ms, told = asyncio.run(fleet_boundary(store, args.repeat))
        finally:
            store.close()
    bench_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(f"fleet-wide event on {args.fleet_loads} loads ({told} told): planned in {replan_ms} ms (a worker thread, "
          f"when the event arrives); at its start {reconcile_ms} ms to plan the boundary and tell the fleet, "
          f"{apply_ms} ms for a response tick; peak RSS of this process {bench_rss_mb} MB")
    run = {"rss_mb": None}
    if not args.no_run:
        run = fleet_run(args.dir or Path(tempfile.mkdtemp(prefix="bench_events_")), args.run_ticks)
        print(f"ven run over the fleet, {run['run_ticks']} ticks with the fleet-wide SIMPLE 2 event active "
              f"({run['run_told']} loads told): {run['run_s']} s, peak RSS {run['rss_mb']} MB (goal <= 200)")
    print(json.dumps({"events": args.events, "slots": slots, "timeline_ms": timeline_ms, "plan_ms": plan_ms,
                      "winner_ms": winner_ms, "fleet_loads": args.fleet_loads, "replan_ms": replan_ms,
                      "boundary_ms": round(reconcile_ms + apply_ms, 2), "apply_ms": apply_ms,
                      "bench_rss_mb": bench_rss_mb, **run}))


if __name__ == "__main__":
    main()
