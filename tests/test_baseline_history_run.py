"""History baselines in ``ven run`` (replay clock, the real local VTN): a file-reader resource (no baseline of its
own) with seeded hourly history gets BASELINE = the mean of the same hour on its last 10 event-free days, and
DELTA_USAGE = USAGE - BASELINE; its ticks are kept as hourly history, event hours flagged."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from venclient.engine.baseline import DAY, HOUR
from venclient.engine.run import VenRunner
from venclient.model import LOAD_COMPONENTS, Connection
from venclient.openadr import Event
from venclient.plugins.local_vtn import DEMO_PROGRAM
from fixtures.run import amake_run_env, h5_time, run_options, vtn_reports

FIRST_ROW = 2
HOURS = 4
TICKS = FIRST_ROW + HOURS + 2
COMPONENTS = list(LOAD_COMPONENTS)


def meter_watts(component: str, row: int) -> float:
    return 100.0 * (COMPONENTS.index(component) + 1) + row


def seeded_watts(component: str, back: int, hour: int) -> float:
    return 50.0 * (COMPONENTS.index(component) + 1) + 3.0 * back + hour


@pytest.fixture
async def env(tmp_path, local_vtn, contract):
    env = await amake_run_env(tmp_path, local_vtn, contract)
    yield env
    env.runtime.close()


def file_resource(env) -> tuple[str, list[Any]]:
    """Connect the first resource of the first VEN to a file of readings at every H5 row time."""
    store = env.store
    resource = store.list_resources(ven=env.vens[0])[0].resource_id
    readings = env.tmp_path / "site.csv"
    lines = ["timestamp,load_component,power_w"]
    for row in range(TICKS + 1):
        stamp = h5_time(env.h5_path, row).isoformat().replace("+00:00", "Z")
        lines += [f"{stamp},{component},{meter_watts(component, row)}" for component in COMPONENTS]
    readings.write_text("\n".join(lines) + "\n")
    store.connect_resources([resource], Connection(id=None, type="filereader", file=str(readings)))
    return resource, store.get_loads_by_resource(resource)


def seed_history(store, loads, start) -> None:
    """12 days back of the 4 event hours; day 3 had an event (at 03:00), so days 1, 2, 4 … 11 are the last 10."""
    rows = []
    for load in loads:
        for back in range(1, 13):
            for hour in range(HOURS):
                begin = int((start + timedelta(hours=hour)).timestamp()) - back * DAY
                rows.append({"load_id": load.load_id, "hour_start": begin, "seconds": 3600.0, "event": 0,
                             "energy_wh": seeded_watts(load.load_component, back, hour)})
        day3 = int(start.timestamp()) // DAY * DAY - 3 * DAY + 3 * HOUR
        rows.append({"load_id": load.load_id, "hour_start": day3, "energy_wh": 0.0, "seconds": 0.0, "event": 1})
    store.history_add(rows)


def expected_baseline(component: str, hour: int) -> float:
    days = [1, 2] + list(range(4, 12))
    return sum(seeded_watts(component, back, hour) for back in days) / len(days)


def payload(interval: dict[str, Any], kind: str) -> Any:
    return next(p["values"][0] for p in interval["payloads"] if p["type"] == kind)


async def test_a_file_meter_reports_its_history_baseline_and_keeps_its_hours(env, bl_transport):
    resource, loads = file_resource(env)
    start = h5_time(env.h5_path, FIRST_ROW)
    assert start.minute == 0 and start.second == 0  # the sample data's rows are clock hours
    seed_history(env.store, loads, start)
    program = await bl_transport.find_program(DEMO_PROGRAM)
    event = await bl_transport.create_event(Event.model_validate({
        "programID": program.id, "eventName": "shed",
        "intervalPeriod": {"start": start.isoformat(), "duration": "PT1H"},
        "reportDescriptors": [{"payloadType": "USAGE", "units": "WH"}, {"payloadType": "BASELINE", "units": "WH"},
                              {"payloadType": "DELTA_USAGE", "units": "WH"}],
        "intervals": [{"id": 10 + n, "payloads": [{"type": "SIMPLE", "values": [2]}]} for n in range(HOURS)]}))
    runner = VenRunner(env.runtime, run_options(env.runtime, interval_seconds=1.0, speed=200.0, max_ticks=TICKS))
    await runner.run()
    assert runner.stats.reports_rejected == 0
    [report] = vtn_reports(env.vtn.state, ven=env.vens[0], event_id=event.id)
    by_name = {r["resourceName"]: r["intervals"] for r in report["resources"]}
    for load in loads:
        intervals = by_name[load.resource_name_on_vtn]
        assert [i["id"] for i in intervals] == [10, 11, 12, 13]
        for n, interval in enumerate(intervals):
            usage = meter_watts(load.load_component, FIRST_ROW + n)  # one hour at the file's watts, Wh
            baseline = expected_baseline(load.load_component, n)
            assert payload(interval, "USAGE") == pytest.approx(usage, rel=1e-6)
            assert payload(interval, "BASELINE") == pytest.approx(baseline, rel=1e-6)
            assert payload(interval, "DELTA_USAGE") == pytest.approx(usage - baseline, rel=1e-6)

    # every tick of the file meter is history now: an hour's energy each, the event's hours flagged
    first = int(h5_time(env.h5_path, 0).timestamp())
    kept = env.store.history_read([load.load_id for load in loads], first, first + TICKS * HOUR)
    by_load: dict[str, list] = {}
    for load_id, hour, energy, seconds, flagged in kept:
        by_load.setdefault(load_id, []).append((hour, energy, seconds, flagged))
    event_hours = {int(start.timestamp()) + n * HOUR for n in range(HOURS)}
    for load in loads:
        rows = by_load[load.load_id]
        assert [r[0] for r in rows] == [first + n * HOUR for n in range(TICKS)]
        for n, (hour, energy, seconds, flagged) in enumerate(rows):
            assert energy == pytest.approx(meter_watts(load.load_component, n)) and seconds == 3600.0
            assert flagged == (hour in event_hours)
    # the simulated loads keep no history: their source has its own baseline
    others = [l.load_id for l in env.store.list_loads() if l.resource_id != resource]
    assert env.store.history_read(others, 0, first * 2) == []


async def test_without_enough_history_the_file_meter_has_no_baseline(env, bl_transport):
    _resource, loads = file_resource(env)
    start = h5_time(env.h5_path, FIRST_ROW)
    program = await bl_transport.find_program(DEMO_PROGRAM)
    event = await bl_transport.create_event(Event.model_validate({
        "programID": program.id, "eventName": "plain",
        "intervalPeriod": {"start": start.isoformat(), "duration": "PT1H"},
        "reportDescriptors": [{"payloadType": "USAGE", "units": "WH"}, {"payloadType": "BASELINE", "units": "WH"}],
        "intervals": [{"id": 10 + n, "payloads": [{"type": "SIMPLE", "values": [0]}]} for n in range(HOURS)]}))
    runner = VenRunner(env.runtime, run_options(env.runtime, interval_seconds=1.0, speed=200.0, max_ticks=TICKS))
    await runner.run()
    [report] = vtn_reports(env.vtn.state, ven=env.vens[0], event_id=event.id)
    by_name = {r["resourceName"]: r["intervals"] for r in report["resources"]}
    for load in loads:
        for n, interval in enumerate(by_name[load.resource_name_on_vtn]):
            assert payload(interval, "USAGE") == pytest.approx(meter_watts(load.load_component, FIRST_ROW + n))
            assert [p["type"] for p in interval["payloads"]] == ["USAGE"]  # BASELINE left out, never a guess
    # SIMPLE 0 is normal operation: no hour is an event hour
    first = int(h5_time(env.h5_path, 0).timestamp())
    kept = env.store.history_read([load.load_id for load in loads], first, first + TICKS * HOUR)
    assert kept and not any(row[4] for row in kept)


async def test_ticks_kept_in_the_backlog_keep_their_history_too(env, bl_transport):
    _resource, loads = file_resource(env)
    for event in await bl_transport.list_events():
        await bl_transport.delete_event(event.id)  # no event asks for reports: every tick goes to the backlog
    runner = VenRunner(env.runtime, run_options(env.runtime, interval_seconds=1.0, speed=200.0, max_ticks=3))
    await runner.run()
    assert runner.stats.backlog_ticks == 3 and vtn_reports(env.vtn.state) == []
    first = int(h5_time(env.h5_path, 0).timestamp())
    kept = env.store.history_read([load.load_id for load in loads], first, first + TICKS * HOUR)
    assert len(kept) == 3 * len(loads)
    for load_id, hour, energy, seconds, flagged in kept:
        load = next(load for load in loads if load.load_id == load_id)
        assert energy == pytest.approx(meter_watts(load.load_component, (hour - first) // HOUR))
        assert seconds == 3600.0 and not flagged
