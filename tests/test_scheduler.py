"""The event scheduler on a real store with a recording writer and a hand-moved clock: mapped values at the
boundaries, only changes written, the release value when nothing applies (end, removal, opt-out), priority
between overlapping events, and what the store keeps across a restart ('do it now' origin, randomizeStart)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from venclient.engine.scheduler import EventScheduler, OptOuts
from venclient.engine.targets import LoadDirectory
from venclient.model import Connection, Load, Resource
from venclient.openadr import Event
from fixtures.run import RecordingWriter

T = datetime(2026, 12, 3, 17, 0, tzinfo=timezone.utc)
MIN = timedelta(minutes=1)
PARAMS = {"levels": {"0": 0, "1": 10, "2": 20, "3": 30}, "release_value": 5, "loads": ["load_1"]}


class Clock:
    def __init__(self, moment: datetime):
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


@pytest.fixture
def fleet(any_store):
    """V1: r1 (a testrelay writer on load_1); V2: r2 (no writer); two loads each."""
    any_store.insert_resources([Resource(resource_id=r, resource_name=r, resource_type="house",
                                         resource_sub_type="villa", meter_point_id=f"mp-{r}", ven=v)
                                for r, v in (("r1", "V1"), ("r2", "V2"))])
    any_store.bulk_insert_loads([Load(load_id=f"{r}-{c}", resource_id=r, load_component=c, load_name=c,
                                      h5_meter_id="m") for r in ("r1", "r2") for c in ("load_0", "load_1")])
    any_store.connect_resources(["r1"], Connection(id=None, type="testrelay", actortype="writer", params=PARAMS))
    return any_store


def scheduler(store, clock, calls=None):
    writer = RecordingWriter()
    hook = (lambda **kw: calls.append(kw)) if calls is not None else None
    made = EventScheduler(store, {"testrelay": writer}, LoadDirectory(store, ["V1", "V2"]), clock, hook)
    return made, writer


def event(event_id="e1", levels=(1, 2, 0), start=T, priority=None, **period):
    return Event(id=event_id, program_id="p", priority=priority,
                 interval_period={"start": start, "duration": "PT10M", **period},
                 intervals=[{"id": n, "payloads": [{"type": "SIMPLE", "values": [v]}]} for n, v in enumerate(levels)])


def values(writer):
    return [(load_id, value) for load_id, value, _params in writer.writes]


async def test_mapped_values_at_the_boundaries_then_the_release_value(fleet):
    clock = Clock(T - MIN)
    calls: list[dict] = []
    sched, writer = scheduler(fleet, clock, calls)
    await sched.replan([event()])
    assert values(writer) == [] and sched.next_boundary() == T
    for moment in (T, T + 5 * MIN, T + 10 * MIN, T + 20 * MIN, T + 25 * MIN, T + 30 * MIN, T + 40 * MIN):
        assert sched.due(moment) == (moment in (T, T + 10 * MIN, T + 20 * MIN, T + 30 * MIN))
        await sched.reconcile(moment)
    assert values(writer) == [("r1-load_1", 10.0), ("r1-load_1", 20.0), ("r1-load_1", 0.0), ("r1-load_1", 5.0)]
    assert sched.next_boundary() is None
    assert sched.due(T + 5 * MIN)  # the clock went back (a replay clock wrapped): look again
    phases = [(c["phase"], c["interval"].id, len(c["loads"])) for c in calls]
    assert phases == [("start", 0, 4), ("end", 0, 4), ("start", 1, 4), ("end", 1, 4), ("start", 2, 4),
                      ("end", 2, 4)]
    assert all(isinstance(c["opted_out"], OptOuts) and not c["opted_out"] for c in calls)


async def test_the_lower_priority_number_wins_and_removal_releases(fleet):
    clock = Clock(T + MIN)
    sched, writer = scheduler(fleet, clock)
    low, high = event("low", levels=(3, 3, 3), priority=5), event("high", levels=(1, 1, 1), priority=0)
    await sched.replan([low, high])
    assert values(writer) == [("r1-load_1", 10.0)]
    await sched.replan([low], gone=["high"])  # the winner is removed: the other applies
    assert values(writer)[-1] == ("r1-load_1", 30.0)
    await sched.replan([], gone=["low"])
    assert values(writer)[-1] == ("r1-load_1", 5.0) and sched.written == {}
    assert fleet.event_states("V1", {"low": (1.0, 1)}) == {"low": (1.0, 1)}  # its kept state was forgotten


async def test_an_opted_out_load_is_released_and_written_again_after_opting_in(fleet):
    clock = Clock(T + MIN)
    calls: list[dict] = []
    sched, writer = scheduler(fleet, clock, calls)
    await sched.replan([event()])
    assert values(writer) == [("r1-load_1", 10.0)]
    fleet.opt_out("e1", ["r1"])
    await sched.reconcile(T + 2 * MIN)
    assert values(writer)[-1] == ("r1-load_1", 5.0)
    await sched.reconcile(T + 10 * MIN)  # the next interval starts: still opted out, nothing written
    assert len(values(writer)) == 2
    assert "r1" in calls[-1]["opted_out"] and "r2" not in calls[-1]["opted_out"]
    fleet.opt_in("e1")
    await sched.reconcile(T + 11 * MIN)
    assert values(writer)[-1] == ("r1-load_1", 20.0)
    fleet.opt_out("e1")  # every resource
    await sched.reconcile(T + 12 * MIN)
    assert values(writer)[-1] == ("r1-load_1", 5.0)


async def test_a_restart_keeps_the_do_it_now_origin_and_the_random_shift(fleet):
    now_event = Event(id="now", program_id="p", priority=1, interval_period={"start": "0001-01-01T00:00:00Z",
                                                                 "duration": "PT1H"},
                      intervals=[{"id": 0, "payloads": [{"type": "SIMPLE", "values": [2]}]}])
    shifted = event("shifted", priority=9, randomize_start="PT10M")  # loses to "now" while both apply
    first, writer = scheduler(fleet, Clock(T))
    await first.replan([now_event, shifted])
    assert values(writer) == [("r1-load_1", 20.0)]  # 'do it now' from T
    starts = {g.timeline.start for g in first.plans["shifted"].groups}
    assert len(starts) >= 1 and all(abs(s - T) <= 10 * MIN for s in starts)
    again, writer = scheduler(fleet, Clock(T + 30 * MIN))  # a new run, half an hour later
    await again.replan([now_event, shifted])
    assert values(writer)[0] == ("r1-load_1", 20.0)  # still the first hour: active now, written once again
    assert {g.timeline.start for g in again.plans["shifted"].groups} == starts  # the same draws
    assert again.plans["now"].groups[0].timeline.start == T
    await again.reconcile(T + 61 * MIN)  # both are over: released
    assert values(writer)[-1] == ("r1-load_1", 5.0) and again.active == {}


def test_the_event_log_describes_interval_starts_and_ends():
    from venclient.plugins.event_log.hooks import describe_interval

    ev = event(levels=(2,))
    ev = ev.model_copy(update={"event_name": "peak"})
    line = describe_interval("start", ev, ev.intervals[0], [1, 2, 3], OptOuts(resources=frozenset({"r1"})))
    assert line == "interval 0 of event 'peak' (e1) started: SIMPLE=2; 3 loads (1 resources opted out)"
    ended = describe_interval("end", ev, ev.intervals[0], [], OptOuts())
    assert ended == "interval 0 of event 'peak' (e1) ended; 0 loads"


async def test_scale_maps_the_value_unless_the_writer_scales_values_itself(fleet):
    from venclient.plugins.modbus_meter.writer import ModbusWriter

    class RegisterWriter(RecordingWriter):
        scales_values = True  # like the Modbus writer: params.scale is the register's own

    assert ModbusWriter.scales_values is True
    fleet.connect_resources(["r2"], Connection(id=None, type="register", actortype="writer",
                                               params={"scale": 10, "loads": ["load_0"]}))
    fleet.connect_resources(["r1"], Connection(id=None, type="testrelay", actortype="writer",
                                               params={"scale": 10, "offset": 1, "loads": ["load_0"]}))
    relay, register = RecordingWriter(), RegisterWriter(kinds=("register",))
    sched = EventScheduler(fleet, {"testrelay": relay, "register": register}, LoadDirectory(fleet, ["V1", "V2"]),
                           Clock(T + MIN))
    await sched.replan([event(levels=(2,))])
    assert values(relay) == [("r1-load_0", 21.0)] and values(register) == [("r2-load_0", 2.0)]


# ------------------------------------------------------------------ which loads an event controls (baselines)
IDS = np.array(["r1-load_0", "r1-load_1", "r2-load_0", "r2-load_1"], dtype=object)
RESOURCES = np.array(["r1", "r1", "r2", "r2"], dtype=object)
VENS = np.array(["V1", "V1", "V2", "V2"], dtype=object)


def controlled(sched, moment) -> list[bool]:
    return sched.controlled(moment, IDS, RESOURCES, VENS).tolist()


async def test_simple_above_zero_controls_every_targeted_load_and_zero_does_not(fleet):
    clock = Clock(T)
    sched, _writer = scheduler(fleet, clock)
    await sched.replan([event(levels=(1, 0))])
    assert controlled(sched, T - MIN) == [False] * 4            # before the event
    assert controlled(sched, T) == [True] * 4                   # SIMPLE 1
    assert controlled(sched, T + 10 * MIN) == [False] * 4       # SIMPLE 0: normal operation
    assert controlled(sched, T + 20 * MIN) == [False] * 4       # after it


async def test_targets_opt_outs_and_other_payload_types(fleet):
    clock = Clock(T)
    sched, _writer = scheduler(fleet, clock)
    price = Event(id="price", program_id="p", interval_period={"start": T, "duration": "PT10M"},
                  targets=[{"type": "RESOURCE_NAME", "values": ["r2_load_1"]}],
                  intervals=[{"id": 0, "payloads": [{"type": "PRICE", "values": [0.0]}]}])
    shed = Event(id="shed", program_id="p", interval_period={"start": T, "duration": "PT10M"},
                 targets=[{"type": "VEN_NAME", "values": ["V1"]}],
                 intervals=[{"id": 0, "payloads": [{"type": "SIMPLE", "values": [2]}]}])
    await sched.replan([price, shed])
    assert controlled(sched, T) == [True, True, False, True]    # V1 whole; one load of r2 by its name
    fleet.opt_out("shed", ["r1"])
    await sched.reconcile(T)
    assert controlled(sched, T) == [False, False, False, True]  # r1 opted out of the shed event
    assert sched.controlled(T, IDS[:0], RESOURCES[:0], VENS[:0]).tolist() == []
