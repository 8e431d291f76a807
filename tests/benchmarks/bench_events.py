"""Benchmark: planning events over time — timelines and report plans for many events.

Run: ``.venv/bin/python tests/benchmarks/bench_events.py [--events 1000] [--repeat 5]``

Builds ``--events`` events the way VTNs send them (24 hourly intervals; every tenth with 4 prices per
interval, every seventh with ``randomizeStart``, every fifth with a USAGE report descriptor asking for a report
every 4 intervals), parses them from wire JSON once, then times, best of ``--repeat``:

* ``timeline_ms`` — :func:`venclient.engine.timeline.event_timeline` for all events;
* ``plan_ms`` — :func:`venclient.engine.report_plan.report_plan` for every descriptor;
* ``winner_ms`` — priority resolution at one moment over all events' active slots.

Prints details, then LAST one JSON line with those figures and ``events``, ``slots``.  (The fleet-wide
boundary figure of issue 13 joins this script with the scheduler.)
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timedelta, timezone

from venclient.engine.report_plan import report_plan
from venclient.engine.timeline import event_timeline, winning_slot
from venclient.openadr import Event

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
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
    print(json.dumps({"events": args.events, "slots": slots, "timeline_ms": timeline_ms, "plan_ms": plan_ms,
                      "winner_ms": winner_ms}))


if __name__ == "__main__":
    main()
