"""Events created, changed and deleted on the real local VTN reach ``ven_event`` with the loads they target,
and a writer acts on a targeted load; the tracker's diffing rules on their own."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from venclient.engine.actuator import current_value
from venclient.engine.events import CHANGED, CREATED, REMOVED, EventEngine
from venclient.engine.targets import LoadDirectory
from venclient.engine.tracker import EventTracker
from venclient.model import Connection, Load, Resource
from venclient.openadr import Event, ValuesMap
from fixtures.run import EventRecorder, WriterPlugin, amake_run_env
from fixtures.vtn import sample_event
from venclient.plugins.local_vtn import DEMO_PROGRAM

pytestmark = pytest.mark.both_vtn_shapes  # end to end: against the plain VTN and one with every quirk


@pytest.fixture
async def engine_env(tmp_path, local_vtn, contract):
    env = await amake_run_env(tmp_path, local_vtn, contract)
    recorder = EventRecorder()
    writers = WriterPlugin()
    env.runtime.pm.register(recorder, name="test-events")
    env.runtime.pm.register(writers, name="test-writers")
    async with env.runtime.transport() as transport:
        engine = EventEngine(env.runtime, transport, env.vens)
        yield env, engine, recorder, writers.writer
    env.runtime.close()


def load_ids(loads) -> set[str]:
    return {load.load_id for load in loads}


async def test_created_changed_removed_with_the_targeted_loads(engine_env, bl_transport):
    env, engine, recorder, _ = engine_env
    store = env.store
    first, second = env.vens[:2]
    all_loads = load_ids(store.list_loads())
    changes = await engine.poll()
    assert [(c.change, c.event.event_name) for c in changes] == [(CREATED, "demo-metering")]
    assert load_ids(recorder.calls[0][2]) == all_loads  # no targets: the whole program

    program = await bl_transport.find_program(DEMO_PROGRAM)
    resource_id = store.list_loads(ven=second)[0].resource_id
    single = store.list_loads(ven=first)[4]
    by_name = await bl_transport.create_event(sample_event(program.id, "by-name", targets=[
        ValuesMap(type="RESOURCE_NAME", values=[single.resource_name_on_vtn, resource_id])]))
    by_ven = await bl_transport.create_event(sample_event(program.id, "by-ven", targets=[
        ValuesMap(type="VEN_NAME", values=[first])]))
    whole = await bl_transport.create_event(sample_event(program.id, "whole-program"))
    elsewhere = await bl_transport.create_event(sample_event(program.id, "elsewhere", targets=[
        ValuesMap(type="VEN_NAME", values=["Not-our-VEN"])]))
    changes = await engine.poll()
    assert sorted((c.change, c.event.event_name) for c in changes) == [
        (CREATED, "by-name"), (CREATED, "by-ven"), (CREATED, "elsewhere"), (CREATED, "whole-program")]
    resource_loads = {l.load_id for l in store.get_loads_by_resource(resource_id)}
    assert [(c, load_ids(loads)) for c, loads in recorder.of(by_name.id)] == [
        (CREATED, {single.load_id} | resource_loads)]  # a load's resourceName, or every load of a resource id
    assert [(c, load_ids(loads)) for c, loads in recorder.of(by_ven.id)] == [
        (CREATED, load_ids(store.list_loads(ven=first)))]
    assert [(c, load_ids(loads)) for c, loads in recorder.of(whole.id)] == [(CREATED, all_loads)]
    assert recorder.of(elsewhere.id) == [(CREATED, [])]

    assert await engine.poll() == []  # nothing changed: nothing dispatched
    await bl_transport.update_event(by_name.id, by_name.model_copy(update={"priority": 7}))
    await bl_transport.delete_event(by_ven.id)
    changes = await engine.poll()
    assert sorted((c.change, c.event.id) for c in changes) == sorted([(CHANGED, by_name.id), (REMOVED, by_ven.id)])
    assert recorder.of(by_name.id)[-1][0] == CHANGED
    assert load_ids(recorder.of(by_name.id)[-1][1]) == {single.load_id} | resource_loads
    assert recorder.of(by_ven.id)[-1] == (REMOVED, recorder.of(by_ven.id)[0][1])
    assert recorder.of(by_name.id)[-1][1] and engine.tracker.events.keys() == {
        e.id for e in await bl_transport.list_events(program_id=program.id)}


async def test_a_writer_acts_on_the_targeted_load(engine_env, bl_transport):
    env, engine, recorder, writer = engine_env
    store = env.store
    target = store.list_loads(ven=env.vens[0])[0].resource_id
    other = store.list_loads(ven=env.vens[1])[0].resource_id
    for resource_id in (target, other):
        store.connect_resources([resource_id], Connection(id=None, type="testrelay", actortype="writer",
                                                          params={"loads": ["load_2"], "release_value": 0}))
    await engine.poll()  # demo-metering (SIMPLE 0, whole program) writes 0 to load_2 of both
    writer.writes.clear()
    program = await bl_transport.find_program(DEMO_PROGRAM)
    event = await bl_transport.create_event(sample_event(program.id, "shed", level=3, targets=[
        ValuesMap(type="RESOURCE_NAME", values=[target])]))
    await engine.poll()
    assert [(w[0], w[1]) for w in writer.writes] == [(_load_id(store, target, "load_2"), 3.0)]  # only load_2
    writer.writes.clear()
    await bl_transport.delete_event(event.id)
    await engine.poll()
    assert [(w[0], w[1]) for w in writer.writes] == [(_load_id(store, target, "load_2"), 0.0)]  # released
    assert recorder.of(event.id)[-1][0] == REMOVED


def _load_id(store, resource_id: str, component: str) -> str:
    return next(l.load_id for l in store.get_loads_by_resource(resource_id) if l.load_component == component)


async def test_events_of_a_deleted_program_are_removed(engine_env, bl_transport):
    env, engine, recorder, _ = engine_env
    program = await bl_transport.create_program({"programName": "short-lived"})
    event = await bl_transport.create_event(sample_event(program.id, "in-short-lived"))
    await engine.poll()
    assert recorder.of(event.id)[0][0] == CREATED
    await bl_transport.delete_program(program.id)
    await engine.poll()
    assert recorder.of(event.id)[-1][0] == REMOVED and event.id not in engine.tracker.events


# ------------------------------------------------------------------------------------------ pure rules
def event(event_id: str, program: str = "p1", modified: int = 0, **extra) -> Event:
    stamp = datetime(2025, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=modified)
    return Event(id=event_id, program_id=program, modification_date_time=stamp,
                 intervals=[{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]}], **extra)


def test_tracker_keeps_events_of_programs_it_could_not_read():
    tracker = EventTracker()
    tracker.update([event("a", "p1"), event("b", "p2")])
    changes = tracker.update([event("a", "p1")], programs=["p1"])  # p2 failed to read
    assert changes == [] and set(tracker.events) == {"a", "b"}
    changes = tracker.update([event("a", "p1")], programs=["p1", "p2"])
    assert [(c.change, c.event.id) for c in changes] == [(REMOVED, "b")]


def test_pushed_changes_are_applied_once_and_stale_ones_ignored():
    tracker = EventTracker()
    assert [c.change for c in tracker.apply(CHANGED, event("a", modified=1))] == [CREATED]
    assert tracker.apply(CHANGED, event("a", modified=1)) == []  # a repeat
    assert [c.change for c in tracker.apply(CHANGED, event("a", modified=3))] == [CHANGED]
    assert tracker.apply(CHANGED, event("a", modified=2)) == []  # arrived late: older than what is known
    assert tracker.events["a"].modification_date_time.minute == 3
    assert tracker.update([event("a", modified=3)]) == []  # the next poll agrees
    assert [c.change for c in tracker.apply(REMOVED, event("a"))] == [REMOVED]
    assert tracker.apply(REMOVED, event("a")) == []


def _fleet(store):
    """Two VENs: V1 with r1, V2 with r2 and r_3 (a resource id holding "_"), two loads each."""
    store.insert_resources([Resource(resource_id=r, resource_name=r, resource_type="house",
                                     resource_sub_type="villa", meter_point_id=f"mp-{r}", ven=v)
                            for r, v in (("r1", "V1"), ("r2", "V2"), ("r_3", "V2"))])
    loads = [Load(load_id=f"{r}-{c}", resource_id=r, load_component=c, load_name=c, h5_meter_id="m",
                  vtn_resource_id=f"vtn-{r}-{c}", registration_status="APPROVED")
             for r in ("r1", "r2", "r_3") for c in ("load_0", "load_1")]
    store.bulk_insert_loads(loads)
    return [store.get_loads_by_resource(r) for r in ("r1", "r2", "r_3")]


def _same(a, b):
    fields = ("load_id", "resource_id", "load_component", "load_name", "h5_meter_id", "vtn_resource_id",
              "registration_status")
    return [[getattr(x, f) for f in fields] for x in a] == [[getattr(x, f) for f in fields] for x in b]


def test_targeted_loads_are_read_from_the_store_on_demand(any_store):
    per_resource = _fleet(any_store)
    loads = [load for group in per_resource for load in group]
    directory = LoadDirectory(any_store, ["V1", "V2"])
    targeted = lambda *targets: [l.load_id for l in directory.targeted(Event(
        id="e", program_id="p", intervals=[], targets=[ValuesMap(type=t, values=v) for t, v in targets]))]
    assert targeted() == [l.load_id for l in loads]
    assert targeted(("VEN_NAME", ["V2"])) == ["r2-load_0", "r2-load_1", "r_3-load_0", "r_3-load_1"]
    assert targeted(("RESOURCE_NAME", ["r1_load_1"]), ("VEN_NAME", ["V1"])) == ["r1-load_0", "r1-load_1"]
    assert targeted(("RESOURCE_NAME", ["r_3_load_1", "r2"])) == ["r_3-load_1", "r2-load_0", "r2-load_1"]
    assert targeted(("RESOURCE_NAME", ["r2", "r2_load_1"])) == ["r2-load_0", "r2-load_1"]  # each load once
    assert targeted(("RESOURCE_NAME", ["nothing", "r1_load_9"]), ("VEN_NAME", ["V9"])) == []
    # Only the VENs we run: V2's loads are not ours here, by name or by VEN.
    only_v1 = LoadDirectory(any_store, ["V1"])
    assert [l.load_id for l in only_v1.targeted(Event(id="e", program_id="p", intervals=[], targets=[
        ValuesMap(type="RESOURCE_NAME", values=["r2_load_0", "r1_load_0"])]))] == ["r1-load_0"]
    selection = directory.targeted(Event(id="e", program_id="p", intervals=[]))
    assert len(selection) == 6 and _same(list(selection), loads)  # the same Load values, made on reading
    assert _same([selection[1], selection[-1]], [loads[1], loads[-1]]) and _same(selection[-2:], loads[-2:])
    assert _same(selection[1:5:2], loads[1:5:2]) and selection[3].load_id == "r2-load_1"
    with pytest.raises(IndexError):
        selection[6]
    assert selection.resource_ids == {"r1", "r2", "r_3"} and selection.resource_count == 3
    named = directory.targeted(Event(id="e", program_id="p", intervals=[], targets=[
        ValuesMap(type="RESOURCE_NAME", values=["r2_load_0", "r2_load_1", "r_3_load_0"]),
        ValuesMap(type="VEN_NAME", values=["V1"])]))
    assert len(named) == 5 and named.resource_count == 3 and named.resource_ids == {"r1", "r2", "r_3"}
    assert selection == list(selection) and selection != loads[:5]
    # Counts are read once; forget() makes the next targeting see new loads.
    any_store.insert_resources([Resource(resource_id="r4", resource_name="r4", resource_type="house",
                                         resource_sub_type="villa", meter_point_id="mp-r4", ven="V1")])
    any_store.bulk_insert_loads([Load(load_id="r4-load_0", resource_id="r4", load_component="load_0",
                                      load_name="load_0", h5_meter_id="m")])
    assert len(directory.targeted(Event(id="e", program_id="p", intervals=[]))) == 6
    directory.forget()
    assert len(directory.targeted(Event(id="e", program_id="p", intervals=[]))) == 7


def test_current_value_follows_the_active_interval():
    now = datetime(2025, 6, 1, 12, tzinfo=timezone.utc)
    ev = Event(id="e", program_id="p", interval_period={"start": now - timedelta(hours=1), "duration": "PT1H"},
               intervals=[{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]},
                          {"id": 1, "interval_period": {"start": now, "duration": "PT1H"},
                           "payloads": [{"type": "SIMPLE", "values": [2]}]}])
    assert current_value(ev, now) == 2.0
    assert current_value(ev, now - timedelta(minutes=30)) == 1.0
    assert current_value(ev, now + timedelta(hours=2)) is None


def test_the_default_event_log_counts_loads_and_resources(any_store):
    from venclient.plugins.event_log.hooks import describe

    per_resource = _fleet(any_store)
    event = Event(id="e-1", program_id="p-1", event_name="peak", intervals=[
        {"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]}])
    selection = LoadDirectory(any_store, ["V1", "V2"]).targeted(event)
    line = describe("created", event, selection)
    assert line == "created event 'peak' (e-1) of program p-1: 1 intervals, SIMPLE=1; 6 loads in 3 resources"
    assert describe("removed", event, per_resource[1]).endswith("2 loads in 1 resources")  # a plain list works too


def test_versions_stamped_in_whole_seconds_are_told_apart_by_content():
    """Some VTNs stamp modificationDateTime in whole seconds in some formats: two versions within one second have
    the same stamp, and a genuine update can look a fraction of a second older than the version it replaces."""
    tracker = EventTracker()
    second = datetime(2026, 12, 2, 13, 49, 7, tzinfo=timezone.utc)
    first = Event(id="a", program_id="p1", modification_date_time=second + timedelta(milliseconds=500),
                  intervals=[{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]}])
    assert [c.change for c in tracker.apply(CHANGED, first)] == [CREATED]
    update = Event.model_validate({**first.to_wire(), "modificationDateTime": second.isoformat(), "intervals": [
        {"id": 0, "payloads": [{"type": "SIMPLE", "values": [2]}]}]})
    assert [c.change for c in tracker.apply(CHANGED, update)] == [CHANGED]  # 0.5 s "older": still applied
    again = Event.model_validate({**update.to_wire(), "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE",
                                                                                             "values": [3]}]}]})
    assert [c.change for c in tracker.update([again])] == [CHANGED]  # same stamp, other content: a change
