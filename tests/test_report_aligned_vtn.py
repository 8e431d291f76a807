"""Event-aligned reports sent by ``ven run`` (replay clock, fast ``--speed``) to the real local VTN: an event with
4 one-hour intervals and default descriptors gets exactly one report per VEN after its 4th interval, carrying the
event's interval ids, periods and each hour's energy; ``frequency`` 2 gets two; ``aggregate`` one
AGGREGATED_REPORT resource per VEN; BASELINE and DELTA_USAGE during a simulated SIMPLE event equal the shed;
SIMPLE_LEVEL and OPERATING_STATE follow the event's levels and an opt-out; a forecast (historical false) carries
the H5 rows ahead, sent before the event starts; READING carries the meter registers of a Modbus and an MQTT load
(and nothing for simulated loads)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from venclient.engine.run import VenRunner
from venclient.model import Connection
from venclient.openadr import Event, Report
from venclient.plugins.h5_simulator.response import DEFAULT_LEVELS, DEFAULT_SHED
from venclient.plugins.local_vtn import DEMO_PROGRAM
from fixtures.run import amake_run_env, h5_time, h5_watts, run_options, vtn_reports

pytestmark = pytest.mark.both_vtn_shapes  # end to end: against the plain VTN and one with every quirk

FIRST_ROW = 2  # the event starts at the third H5 row (the replay clock starts at row 0)
HOURS = 4


def four_hour_event(program_id: str, name: str, start: Any, descriptors: list[dict[str, Any]],
                    level: int = 0) -> Event:
    return Event.model_validate({
        "programID": program_id, "eventName": name,
        "intervalPeriod": {"start": start.isoformat(), "duration": "PT1H"},
        "reportDescriptors": descriptors,
        "intervals": [{"id": 10 + n, "payloads": [{"type": "SIMPLE", "values": [level]}]} for n in range(HOURS)]})


async def run_ticks(env, ticks: int) -> VenRunner:
    runner = VenRunner(env.runtime, run_options(env.runtime, interval_seconds=1.0, speed=200.0, max_ticks=ticks))
    await runner.run()
    return runner


@pytest.fixture
async def env(tmp_path, local_vtn, contract):
    env = await amake_run_env(tmp_path, local_vtn, contract)
    yield env
    env.runtime.close()


def intervals_of(report: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return next(r["intervals"] for r in report["resources"] if r["resourceName"] == name)


def payload(interval: dict[str, Any], kind: str) -> Any:
    return next(p["values"][0] for p in interval["payloads"] if p["type"] == kind)


async def test_default_descriptors_get_one_report_after_the_fourth_interval(env, bl_transport):
    program = await bl_transport.find_program(DEMO_PROGRAM)
    start = h5_time(env.h5_path, FIRST_ROW)
    event = await bl_transport.create_event(four_hour_event(program.id, "four-hours", start,
                                                            [{"payloadType": "USAGE", "units": "WH"}]))
    runner = await run_ticks(env, FIRST_ROW + HOURS + 2)
    assert runner.stats.reports_rejected == 0
    for ven in env.vens:
        reports = vtn_reports(env.vtn.state, ven=ven, event_id=event.id)
        assert len(reports) == 1, ven  # not one per tick: one, after the 4th hour
        report = reports[0]
        Report.model_validate(report)
        loads = {load.resource_name_on_vtn: load for load in env.store.list_loads(ven=ven)}
        assert {r["resourceName"] for r in report["resources"]} == set(loads)
        for name, load in loads.items():
            intervals = intervals_of(report, name)
            assert [i["id"] for i in intervals] == [10, 11, 12, 13]
            for n, interval in enumerate(intervals):
                begin = start + timedelta(hours=n)
                assert interval["intervalPeriod"] == {"start": begin.isoformat().replace("+00:00", "Z"),
                                                      "duration": "PT1H"}
                watts = h5_watts(env.h5_path, load.h5_meter_id, load.load_component, FIRST_ROW + n)
                assert payload(interval, "USAGE") == pytest.approx(watts, rel=1e-6)  # one hour of energy, Wh
    assert env.checker.checked > 0


async def test_frequency_two_gets_two_reports_and_aggregate_one_resource(env, bl_transport):
    program = await bl_transport.find_program(DEMO_PROGRAM)
    start = h5_time(env.h5_path, FIRST_ROW)
    twice = await bl_transport.create_event(four_hour_event(program.id, "twice", start, [
        {"payloadType": "USAGE", "units": "KWH", "frequency": 2, "repeat": -1}]))  # repeat 1 is the default
    summed = await bl_transport.create_event(four_hour_event(program.id, "summed", start, [
        {"payloadType": "USAGE", "units": "WH", "aggregate": True},
        {"payloadType": "DATA_QUALITY", "aggregate": True}]))
    runner = await run_ticks(env, FIRST_ROW + HOURS + 2)
    assert runner.stats.reports_rejected == 0
    for ven in env.vens:
        reports = vtn_reports(env.vtn.state, ven=ven, event_id=twice.id)
        assert len(reports) == 2
        assert [[i["id"] for i in r["resources"][0]["intervals"]] for r in reports] == [[10, 11], [12, 13]]
        aggregated = vtn_reports(env.vtn.state, ven=ven, event_id=summed.id)
        assert len(aggregated) == 1
        assert [r["resourceName"] for r in aggregated[0]["resources"]] == ["AGGREGATED_REPORT"]
        intervals = aggregated[0]["resources"][0]["intervals"]
        loads = env.store.list_loads(ven=ven)
        for n, interval in enumerate(intervals):
            total = sum(h5_watts(env.h5_path, l.h5_meter_id, l.load_component, FIRST_ROW + n) for l in loads)
            assert payload(interval, "USAGE") == pytest.approx(total, rel=1e-6)
            assert payload(interval, "DATA_QUALITY") == "OK"


async def test_baseline_and_delta_usage_equal_the_configured_shed(env, bl_transport):
    program = await bl_transport.find_program(DEMO_PROGRAM)
    start = h5_time(env.h5_path, FIRST_ROW)
    event = await bl_transport.create_event(four_hour_event(program.id, "shed", start, [
        {"payloadType": "USAGE", "units": "WH"}, {"payloadType": "BASELINE", "units": "WH"},
        {"payloadType": "DELTA_USAGE", "units": "WH"}], level=2))
    await run_ticks(env, FIRST_ROW + HOURS + 2)
    for ven in env.vens:
        reports = vtn_reports(env.vtn.state, ven=ven, event_id=event.id)
        assert len(reports) == 1
        for load in env.store.list_loads(ven=ven):
            share = DEFAULT_SHED[load.load_component] * DEFAULT_LEVELS[2]
            for n, interval in enumerate(intervals_of(reports[0], load.resource_name_on_vtn)):
                watts = h5_watts(env.h5_path, load.h5_meter_id, load.load_component, FIRST_ROW + n)
                assert payload(interval, "BASELINE") == pytest.approx(watts, rel=1e-6)
                assert payload(interval, "USAGE") == pytest.approx(watts * (1 - share), rel=1e-6)
                assert payload(interval, "DELTA_USAGE") == pytest.approx(-watts * share, rel=1e-6, abs=1e-9)


async def test_reading_carries_the_registers_of_modbus_and_mqtt_meters(env, bl_transport, modbus_server,
                                                                      mqtt_broker, mqtt_peer):
    store = env.store
    first, second = (store.list_loads(ven=ven) for ven in env.vens[:2])
    modbus_site, mqtt_site = first[0].resource_id, second[0].resource_id
    store.connect_resources([modbus_site], Connection(
        id=None, type="modbustcp", host=modbus_server.host, port=modbus_server.port,
        params={"unit": 1, "map": "sdm630", "channels": {"load_0": "total_power", "load_1": "l1_power"}}))
    store.connect_resources([mqtt_site], Connection(
        id=None, type="mqtt", host=mqtt_broker.host, port=mqtt_broker.port, topic="kiosk-plug",
        params={"preset": "tasmota"}))
    modbus_server.set_power(1, 2345.5, phases=(700.5, 800.0, 845.0))
    modbus_server.set_import_energy(1, 4321.5)
    mqtt_peer.publish("tele/kiosk-plug/SENSOR", json.dumps({"ENERGY": {"Total": 2.5, "Power": 61}}), retain=True)
    program = await bl_transport.find_program(DEMO_PROGRAM)
    start = h5_time(env.h5_path, FIRST_ROW)
    event = await bl_transport.create_event(four_hour_event(program.id, "meters", start, [
        {"payloadType": "READING", "units": "KWH"}, {"payloadType": "USAGE", "units": "WH"}]))
    runner = await run_ticks(env, FIRST_ROW + HOURS + 2)
    assert runner.stats.reports_rejected == 0  # the local VTN checks READING/KWH against what it asked
    readings: dict[str, list[Any]] = {}
    for ven in env.vens:
        (report,) = vtn_reports(env.vtn.state, ven=ven, event_id=event.id)
        assert {d["payloadType"]: d.get("units") for d in report["payloadDescriptors"]} == {"READING": "KWH",
                                                                                          "USAGE": "WH"}
        for resource in report["resources"]:
            assert [i["id"] for i in resource["intervals"]] == [10, 11, 12, 13]
            readings[resource["resourceName"]] = [next((p["values"][0] for p in i["payloads"]
                                                        if p["type"] == "READING"), None)
                                                  for i in resource["intervals"]]
    assert readings[f"{modbus_site}_load_0"] == [4321.5] * HOURS  # the import energy at each interval's end
    assert readings[f"{mqtt_site}_load_0"] == [2.5] * HOURS       # Tasmota's ENERGY.Total
    without = {name: values for name, values in readings.items()
               if name not in (f"{modbus_site}_load_0", f"{mqtt_site}_load_0")}
    assert without and all(v == [None] * HOURS for v in without.values())  # no register: no READING, never 0
    modbus_usage = [payload(i, "USAGE") for i in intervals_of(
        vtn_reports(env.vtn.state, ven=env.vens[0], event_id=event.id)[0], f"{modbus_site}_load_0")]
    assert modbus_usage == [pytest.approx(2345.5, rel=1e-6)] * HOURS  # a replayed tick is an hour: Wh = W


def simple_event(program_id: str, name: str, start: Any, levels: list[int],
                 descriptors: list[dict[str, Any]]) -> Event:
    return Event.model_validate({
        "programID": program_id, "eventName": name,
        "intervalPeriod": {"start": start.isoformat(), "duration": "PT1H"},
        "reportDescriptors": descriptors,
        "intervals": [{"id": 20 + n, "payloads": [{"type": "SIMPLE", "values": [level]}]}
                      for n, level in enumerate(levels)]})


async def test_simple_level_and_operating_state_follow_the_levels_and_the_opt_out(env, bl_transport):
    # report-payloads.schema.yaml: SIMPLE_LEVEL is the level "a VEN resource is operating at for each Interval"
    # (0-3); OPERATING_STATE is NORMAL with no directive followed, RUNNING_CURTAILED while curtailing,
    # RUNNING_OPTED_OUT when opted out of the event, ERROR when the resource "is not addressable by VEN" (a load
    # without any reading in the interval: USAGE, asked too, tells which those are).
    program = await bl_transport.find_program(DEMO_PROGRAM)
    start = h5_time(env.h5_path, FIRST_ROW)
    levels = [1, 0, 2]
    event = await bl_transport.create_event(simple_event(program.id, "levels", start, levels, [
        {"payloadType": "SIMPLE_LEVEL"}, {"payloadType": "OPERATING_STATE"}, {"payloadType": "USAGE"}]))
    opted_ven = env.vens[0]
    opted_resource = env.store.list_loads(ven=opted_ven)[0].resource_id
    assert env.store.opt_out(event.id, [opted_resource]) == 1
    runner = await run_ticks(env, FIRST_ROW + len(levels) + 2)
    assert runner.stats.reports_rejected == 0
    with_data = 0
    for ven in env.vens:
        reports = vtn_reports(env.vtn.state, ven=ven, event_id=event.id)
        assert len(reports) == 1, ven
        Report.model_validate(reports[0])
        assert {d["payloadType"]: d["readingType"] for d in reports[0]["payloadDescriptors"]} == {
            "SIMPLE_LEVEL": "DIRECT_READ", "OPERATING_STATE": "DIRECT_READ", "USAGE": "DIRECT_READ"}
        loads = env.store.list_loads(ven=ven)
        assert {r["resourceName"] for r in reports[0]["resources"]} == {l.resource_name_on_vtn for l in loads}
        for load in loads:
            intervals = intervals_of(reports[0], load.resource_name_on_vtn)
            assert [i["id"] for i in intervals] == [20, 21, 22]
            opted = load.resource_id == opted_resource
            for interval, level in zip(intervals, levels):
                kinds = {p["type"]: p["values"][0] for p in interval["payloads"]}
                if "USAGE" not in kinds:  # no reading in the interval
                    assert kinds == {"OPERATING_STATE": "ERROR"}, load.load_id
                    continue
                with_data += 1
                assert kinds["SIMPLE_LEVEL"] == (0 if opted else level), load.load_id
                assert kinds["OPERATING_STATE"] == ("RUNNING_OPTED_OUT" if opted else
                                                    "NORMAL" if level == 0 else "RUNNING_CURTAILED")
    assert with_data > len(env.vens) * len(levels)


async def test_a_forecast_reports_the_h5_rows_ahead(env, bl_transport):
    # historical false: the report covers the anchor interval (the first, startInterval -1 of a forecast) and the
    # ones after it, due at the anchor's start - before any of those hours was replayed.
    program = await bl_transport.find_program(DEMO_PROGRAM)
    start = h5_time(env.h5_path, FIRST_ROW)
    event = await bl_transport.create_event(four_hour_event(program.id, "ahead", start, [
        {"payloadType": "USAGE", "units": "WH", "historical": False},
        {"payloadType": "DEMAND", "units": "W", "historical": False}]))
    runner = await run_ticks(env, FIRST_ROW)  # the tick of row FIRST_ROW - 1 ends at the event's start
    assert runner.stats.reports_rejected == 0
    for ven in env.vens:
        reports = vtn_reports(env.vtn.state, ven=ven, event_id=event.id)
        assert len(reports) == 1, ven
        Report.model_validate(reports[0])
        assert {d["readingType"] for d in reports[0]["payloadDescriptors"]} == {"FORECAST"}
        loads = env.store.list_loads(ven=ven)
        for load in loads:
            intervals = intervals_of(reports[0], load.resource_name_on_vtn)
            assert [i["id"] for i in intervals] == [10, 11, 12, 13]
            for n, interval in enumerate(intervals):
                watts = h5_watts(env.h5_path, load.h5_meter_id, load.load_component, FIRST_ROW + n)
                assert payload(interval, "USAGE") == pytest.approx(watts, rel=1e-6)  # an hour at the row's watts
                assert payload(interval, "DEMAND") == pytest.approx(watts, rel=1e-6)
