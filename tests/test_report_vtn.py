"""Reports sent by ``ven run`` to the real local VTN: spec-valid, values equal to the readings and the H5 file
(W → Wh/kWh, W/kW), per load and per resource, chunked, scoped by the event's targets."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pytest

from venclient.openadr import Event, Report
from venclient.engine.run import VenRunner
from fixtures.run import (
    ReadingsRecorder,
    h5_row_of,
    h5_watts,
    amake_run_env,
    make_run_env,
    report_start,
    run_options,
    values_by_name,
    vtn_reports,
)
from venclient.plugins.local_vtn import DEMO_PROGRAM

pytestmark = pytest.mark.both_vtn_shapes  # end to end: against the plain VTN and one with every quirk

INTERVAL = 15.0  # real seconds between ticks (--interval): in replay mode a tick stands for one H5 row
ROW_SECONDS = 3600.0  # the test H5 file is hourly: each replayed tick reports an hour (issue 14, part 6)


def metering_event(program_id: str, name: str, descriptors: list[tuple[str, str]], targets: Any = None) -> Event:
    """An event asking for reports: ``descriptors`` = [(payloadType, units)]."""
    return Event.model_validate({
        "programID": program_id, "eventName": name, "targets": targets,
        "reportDescriptors": [{"payloadType": t, "units": u, "readingType": "DIRECT_READ" if t == "USAGE" else "MEAN"}
                              for t, u in descriptors],
        "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [0]}]}]})


async def run_ticks(env, ticks: int, **overrides: Any) -> VenRunner:
    runner = VenRunner(env.runtime, run_options(env.runtime, interval_seconds=INTERVAL, speed=300.0,
                                                max_ticks=ticks, **overrides))
    await runner.run()
    return runner


def loads_by_name(store, ven: str) -> dict[str, Any]:
    return {load.resource_name_on_vtn: load for load in store.list_loads(ven=ven)}


@pytest.fixture
def env(tmp_path, local_vtn, contract):
    env = make_run_env(tmp_path, local_vtn, contract)
    yield env
    env.runtime.close()


async def test_per_load_values_equal_readings_and_h5_in_every_unit(env, bl_transport):
    program = await bl_transport.find_program(DEMO_PROGRAM)
    wh_w = await bl_transport.create_event(metering_event(program.id, "wh-and-w", [("USAGE", "WH"), ("DEMAND", "W")]))
    kwh_kw = await bl_transport.create_event(metering_event(program.id, "kwh-and-kw",
                                                            [("USAGE", "KWH"), ("DEMAND", "KW")]))
    recorder = ReadingsRecorder()
    env.runtime.pm.register(recorder, name="test-readings")
    runner = await run_ticks(env, 2)
    assert len(runner.stats.ticks) == 2 and runner.stats.reports_sent == runner.stats.reports_built
    state = env.vtn.state
    for ven in env.vens:
        loads = loads_by_name(env.store, ven)
        for event in (wh_w, kwh_kw):
            reports = vtn_reports(state, ven=ven, event_id=event.id)
            assert len(reports) == 2  # one report per VEN, event and tick
            for report in reports:
                Report.model_validate(report)
                assert report["clientName"] == ven and report["programID"] == program.id
                start = datetime.fromisoformat(report_start(report).replace("Z", "+00:00"))
                assert {r["intervalPeriod"]["duration"] for r in report["resources"]} == {"PT1H"}
                readings = recorder.at(start)
                row = h5_row_of(env.h5_path, start)
                usage, demand = values_by_name(report, "USAGE"), values_by_name(report, "DEMAND")
                assert set(usage) == set(demand) == set(loads)  # every registered load, under its VTN name
                usage_factor, demand_factor = (1.0, 1.0) if event is wh_w else (1e-3, 1e-3)
                for name, load in loads.items():
                    watts = readings[load.load_id]
                    assert usage[name] == pytest.approx(watts * ROW_SECONDS / 3600 * usage_factor, rel=1e-8)
                    assert demand[name] == pytest.approx(watts * demand_factor, rel=1e-8)
                    stored = h5_watts(env.h5_path, load.h5_meter_id, load.load_component, row)
                    assert watts == pytest.approx(stored, rel=1e-6)  # the source reads float32
                    assert usage[name] == pytest.approx(stored * ROW_SECONDS / 3600 * usage_factor, rel=1e-6)
    assert env.checker.checked > 0  # the contract fixture fails the test on any spec violation


async def test_resource_level_reports_the_sum_of_the_loads(tmp_path, local_vtn, contract, bl_transport):
    env = await amake_run_env(tmp_path, local_vtn, contract, **{"reporting.level": "resource"})
    try:
        recorder = ReadingsRecorder()
        env.runtime.pm.register(recorder, name="test-readings")
        program = await bl_transport.find_program(DEMO_PROGRAM)
        event = await bl_transport.create_event(metering_event(program.id, "wh", [("USAGE", "WH")]))
        await run_ticks(env, 2)
        for ven in env.vens:
            loads = env.store.list_loads(ven=ven)
            resource_ids = {load.resource_id for load in loads}
            reports = vtn_reports(local_vtn.state, ven=ven, event_id=event.id)
            assert len(reports) == 2
            for report in reports:
                start = datetime.fromisoformat(report_start(report).replace("Z", "+00:00"))
                readings = recorder.at(start)
                usage = values_by_name(report, "USAGE")
                assert set(usage) == resource_ids  # named by resource id, one entry per resource
                for resource_id, value in usage.items():
                    watts = sum(readings[l.load_id] for l in loads if l.resource_id == resource_id)
                    assert value == pytest.approx(watts * ROW_SECONDS / 3600, rel=1e-8)
    finally:
        env.runtime.close()


async def test_chunks_carry_every_load_once(tmp_path, local_vtn, contract, bl_transport):
    env = await amake_run_env(tmp_path, local_vtn, contract, **{"reporting.max_resources_per_report": 5})
    try:
        program = await bl_transport.find_program(DEMO_PROGRAM)
        event = await bl_transport.create_event(metering_event(program.id, "demand", [("DEMAND", "W")]))
        await run_ticks(env, 1)
        for ven in env.vens:
            reports = vtn_reports(local_vtn.state, ven=ven, event_id=event.id)
            names = [r["resourceName"] for report in reports for r in report["resources"]]
            loads = env.store.list_loads(ven=ven)
            assert len(reports) == math.ceil(len(loads) / 5)
            assert all(len(report["resources"]) <= 5 for report in reports)
            assert sorted(names) == sorted(l.resource_name_on_vtn for l in loads)
            assert len({r["reportName"] for r in reports}) == len(reports)
    finally:
        env.runtime.close()


async def test_event_targets_scope_the_reports(env, bl_transport):
    program = await bl_transport.find_program(DEMO_PROGRAM)
    first, second = env.vens[:2]
    one_load = env.store.list_loads(ven=second)[3]
    by_ven = await bl_transport.create_event(metering_event(
        program.id, "ven-only", [("USAGE", "WH")], targets=[{"type": "VEN_NAME", "values": [first]}]))
    by_name = await bl_transport.create_event(metering_event(
        program.id, "one-load", [("USAGE", "WH")],
        targets=[{"type": "RESOURCE_NAME", "values": [one_load.resource_name_on_vtn]}]))
    await run_ticks(env, 1)
    state = env.vtn.state
    assert [r["clientName"] for r in vtn_reports(state, event_id=by_ven.id)] == [first]
    assert len(vtn_reports(state, event_id=by_ven.id)[0]["resources"]) == len(env.store.list_loads(ven=first))
    only = vtn_reports(state, event_id=by_name.id)
    assert [r["clientName"] for r in only] == [second]
    assert [r["resourceName"] for r in only[0]["resources"]] == [one_load.resource_name_on_vtn]


async def test_loads_the_vtn_does_not_know_are_not_reported(env, bl_transport):
    ven = env.vens[0]
    loads = env.store.list_loads(ven=ven)
    forgotten = loads[0]
    env.store.clear_registrations([forgotten.load_id], "test")  # its resource is PENDING again
    program = await bl_transport.find_program(DEMO_PROGRAM)
    event = await bl_transport.create_event(metering_event(program.id, "wh", [("USAGE", "WH")]))
    await run_ticks(env, 1)
    names = set(values_by_name(vtn_reports(env.vtn.state, ven=ven, event_id=event.id)[0], "USAGE"))
    same_resource = {l.resource_name_on_vtn for l in loads if l.resource_id == forgotten.resource_id}
    assert names == {l.resource_name_on_vtn for l in loads} - same_resource
