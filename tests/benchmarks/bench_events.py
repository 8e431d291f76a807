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
* ``rss_mb`` — the process's peak resident memory with the fleet and the event (goal ≤ 200).

Prints details, then LAST one JSON line with those figures and ``events``, ``slots``, ``fleet_loads``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--fleet-loads", type=int, default=116_412)
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
    rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(f"fleet-wide event on {args.fleet_loads} loads ({told} told): planned in {replan_ms} ms (a worker thread, "
          f"when the event arrives); at its start {reconcile_ms} ms to plan the boundary and tell the fleet, "
          f"{apply_ms} ms for a response tick; peak RSS {rss_mb} MB")
    print(json.dumps({"events": args.events, "slots": slots, "timeline_ms": timeline_ms, "plan_ms": plan_ms,
                      "winner_ms": winner_ms, "fleet_loads": args.fleet_loads, "replan_ms": replan_ms,
                      "boundary_ms": round(reconcile_ms + apply_ms, 2), "apply_ms": apply_ms, "rss_mb": rss_mb}))


if __name__ == "__main__":
    main()
