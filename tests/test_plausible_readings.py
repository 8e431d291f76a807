"""Plausible readings only: a value outside its load's bounds or not finite reaches hooks and reports as
``QUALITY_INVALID`` with no value, warned about once per streak per connection (real broker, real Modbus
server, real SQLite store)."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from datetime import datetime, timezone

import numpy as np
import pytest

from venclient import QUALITY_INVALID as EXPORTED_INVALID, hookimpl
from venclient.engine.collect import Collector
from venclient.engine.report import Reporter
from venclient.errors import InputError
from venclient.model import (APPROVED, LOAD_COMPONENTS, QUALITY_INVALID, QUALITY_MISSING, QUALITY_NAMES, QUALITY_OK,
                             Connection, Resource)
from venclient.openadr import Event, ReportDescriptor
from venclient.plugins.file_reader.source import connection_file
from venclient.plugins.modbus_meter.options import ModbusOptions
from venclient.plugins.modbus_meter.params import parse_reader as parse_modbus
from venclient.plugins.modbus_meter.source import ModbusMeterSource
from venclient.plugins.mqtt_meter.params import parse_reader as parse_mqtt
from fixtures.collect import METER_IDS, add_fleet
from fixtures.hardware import make_batch, read_until

START = datetime(2025, 1, 15, 13, 0, tzinfo=timezone.utc)
DEADLINE_S = 15


def test_invalid_is_a_named_quality_exported_like_the_others():
    assert QUALITY_NAMES[QUALITY_INVALID] == "invalid" and EXPORTED_INVALID == QUALITY_INVALID
    assert QUALITY_INVALID not in (QUALITY_OK, QUALITY_MISSING)


async def collect_until(collector: Collector, clock, done, ticks: int = 400):
    """Collect ticks until ``done(readings)`` (bounded in ticks and time)."""
    deadline = time.monotonic() + DEADLINE_S
    for _ in range(ticks):
        readings = await collector.collect(clock.tick)
        if done(readings) or time.monotonic() > deadline:
            return readings
        await asyncio.sleep(0.05)
    return readings


def implausible_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "implausible" in r.getMessage()]


async def test_mqtt_minus_1e308_is_invalid_never_reported_and_warned_once_per_streak(
        collect_runtime, mqtt_broker, mqtt_peer, caplog):
    store = collect_runtime.store()
    simulated, plug = add_fleet(store, {"Herning": list(METER_IDS[:2])})
    store.connect_resources([plug], Connection(id=None, type="mqtt", host=mqtt_broker.host, port=mqtt_broker.port,
                                               topic="bar-plug", params={"preset": "tasmota", "loads": ["load_0"]}))
    store.record_registrations([(load.load_id, f"vtn-{load.load_id}") for load in store.list_loads()])
    mqtt_peer.publish("tele/bar-plug/SENSOR", json.dumps({"ENERGY": {"Power": -1e308}}), retain=True)
    seen = []

    class Hook:
        @hookimpl
        def ven_readings(self, tick, readings):
            seen.append((readings.power_w.copy(), readings.quality.copy()))

    collect_runtime.pm.register(Hook(), name="test-readings-hook")
    caplog.set_level(logging.WARNING)
    async with Collector.from_runtime(collect_runtime, vens=["Herning"]) as collector:
        clock = collector.build_clock(collect_runtime.settings)
        plan = collector.plan
        row = int(np.flatnonzero((plan.resource_ids == plug) & (plan.components == "load_0"))[0])
        readings = await collect_until(collector, clock, lambda r: r.quality[row] != QUALITY_MISSING)
        assert readings.quality[row] == QUALITY_INVALID and math.isnan(readings.power_w[row])
        for _ in range(3):  # the streak goes on: no new warning
            readings = await collector.collect(clock.tick)
        assert readings.quality[row] == QUALITY_INVALID
        assert (readings.quality[plan.resource_ids == simulated] == QUALITY_OK).all()
        [warning] = implausible_warnings(caplog)
        assert "mqtt" in warning and "-1e+308 W" in warning and plug in warning

        event = Event(id="e", program_id="p", intervals=[],
                      report_descriptors=[ReportDescriptor(payload_type="DEMAND", units="W")])
        [wire] = Reporter(interval_seconds=15).build(START, readings, plan, [event])
        reported = {r["resourceName"] for r in json.loads(wire.json)["resources"]}
        assert f"{plug}_load_0" not in reported and f"{simulated}_load_0" in reported
        assert "1e+308" not in wire.json and "1e308" not in wire.json

        mqtt_peer.publish("tele/bar-plug/SENSOR", json.dumps({"ENERGY": {"Power": 61}}), retain=True)
        readings = await collect_until(collector, clock, lambda r: r.quality[row] == QUALITY_OK)
        assert readings.power_w[row] == 61.0
        mqtt_peer.publish("tele/bar-plug/SENSOR", json.dumps({"ENERGY": {"Power": 1e12}}), retain=True)
        readings = await collect_until(collector, clock, lambda r: r.quality[row] != QUALITY_OK)
        assert readings.quality[row] == QUALITY_INVALID
    assert len(implausible_warnings(caplog)) == 2  # a second streak, a second warning
    assert any(q[row] == QUALITY_INVALID and math.isnan(p[row]) for p, q in seen)  # hooks saw it invalid
    assert not any(q[row] == QUALITY_OK and abs(p[row]) > 1e6 for p, q in seen)


async def test_a_bound_from_the_resources_capacities(collect_runtime, caplog):
    """The H5 data reads meter*1000 + component*100 + row watts: a site of 1 kW (bound 1.5 kW) has loads of
    meter 1 outside it, a site of 100 kW does not."""
    small, large = add_sites(collect_runtime.store(), [(METER_IDS[1], 1.0), (METER_IDS[1], 100.0)])
    caplog.set_level(logging.WARNING)
    async with Collector.from_runtime(collect_runtime, vens=["Herning"]) as collector:
        plan = collector.plan
        readings = await collector.collect(collector.build_clock(collect_runtime.settings).tick)
    small_rows, large_rows = plan.resource_ids == small, plan.resource_ids == large
    assert (plan.high_w[small_rows] == 1500.0).all() and (plan.high_w[large_rows] == 150_000.0).all()
    watts = readings.power_w[large_rows]
    assert (readings.quality[large_rows] == QUALITY_OK).all() and (watts > 1500).any()
    assert (readings.quality[small_rows] == QUALITY_INVALID).all() and np.isnan(readings.power_w[small_rows]).all()
    [warning] = implausible_warnings(caplog)
    assert "h5sim" in warning and "plausible: -100 … 1500 W" in warning


def add_sites(store, sites: list[tuple[str, float]]) -> list[str]:
    """Approved resources in VEN Herning, one per ``(H5 meter, MAX_POWER_CONSUMPTION kW)``, six loads each."""
    resources = [Resource(resource_id=f"site-{i}", resource_name=f"Site {i}", resource_type="site",
                          resource_sub_type="bar", meter_point_id=f"57{i:016d}", ven="Herning",
                          registration_status=APPROVED, capacities={"MAX_POWER_CONSUMPTION": kw,
                                                                     "MAX_POWER_EXPORT": 0})
                 for i, (_, kw) in enumerate(sites)]
    store.insert_resources(resources)
    loads = [(f"site-{i}-{component}", f"site-{i}", component, name, meter)
             for i, (meter, _) in enumerate(sites) for component, name in LOAD_COMPONENTS.items()]
    store.assign_meters_and_insert_loads([(f"site-{i}", meter) for i, (meter, _) in enumerate(sites)], loads,
                                         replace=False)
    return [r.resource_id for r in resources]


FAST_MODBUS = ModbusOptions(timeout_seconds=0.3, backoff_min_seconds=0.05, backoff_max_seconds=0.2)


async def test_a_connections_own_max_watts_and_float32_nan_and_inf_registers(collect_runtime, modbus_server,
                                                                             caplog):
    store = collect_runtime.store()
    [site] = add_sites(store, [(METER_IDS[0], 1000.0)])  # 1 MW: the connection's max_watts wins over it
    store.connect_resources([site], Connection(
        id=None, type="modbustcp", host=modbus_server.host, port=modbus_server.port,
        params={"unit": 1, "max_watts": 5000, "min_watts": -10,
                "channels": {"load_0": "total_power", "load_1": "l1_power", "load_2": "l2_power",
                             "load_3": "l3_power"}}))
    modbus_server.set_power(1, 6000.0, phases=(4999.0, float("nan"), float("inf")))
    caplog.set_level(logging.WARNING)
    async with Collector.from_runtime(collect_runtime, vens=["Herning"]) as collector:
        clock = collector.build_clock(collect_runtime.settings)
        readings = await collect_until(collector, clock, lambda r: r.quality[1] == QUALITY_OK)
        plan = collector.plan
    assert (plan.low_w[0], plan.high_w[0]) == (-10.0, 5000.0)
    assert readings.quality.tolist()[:4] == [QUALITY_INVALID, QUALITY_OK, QUALITY_INVALID, QUALITY_INVALID]
    assert readings.power_w[1] == 4999.0 and np.isnan(readings.power_w[[0, 2, 3]]).all()
    [warning] = implausible_warnings(caplog)
    assert "modbustcp" in warning and "for 3 loads" in warning and "plausible: -10 … 5000 W" in warning


async def test_modbus_source_marks_nan_and_inf_patterns_invalid(modbus_server):
    source = ModbusMeterSource(FAST_MODBUS)
    conn = Connection(id=1, type="modbustcp", host=modbus_server.host, port=modbus_server.port,
                      params={"unit": 2, "channels": {"load_0": "total_power", "load_1": "l1_power",
                                                      "load_2": "l2_power"}})
    modbus_server.set_power(2, 12.5, phases=(float("nan"), float("-inf"), 1.0))
    try:
        await source.open(make_batch([("site", c, conn) for c in range(4)]))
        reading = await read_until(source, lambda r: r.quality[0] == QUALITY_OK)
    finally:
        await source.close()
    assert reading.quality.tolist() == [QUALITY_OK, QUALITY_INVALID, QUALITY_INVALID, QUALITY_MISSING]
    assert reading.power_w[0] == 12.5 and np.isnan(reading.power_w[1:]).all()


@pytest.mark.parametrize("params, says", [
    ({"max_watts": "lots"}, "params.max_watts must be a finite number of watts, got 'lots'"),
    ({"min_watts": True}, "params.min_watts must be a finite number of watts"),
    ({"max_watts": float("inf")}, "params.max_watts must be a finite number of watts"),
    ({"min_watts": 10, "max_watts": 5}, "params.min_watts (10) must be below params.max_watts (5)"),
])
def test_bad_limits_are_one_sentence_for_every_reader_kind(params, says):
    modbus = Connection(id=3, type="modbustcp", host="127.0.0.1", port=502, params={"unit": 1, **params})
    mqtt = Connection(id=4, type="mqtt", host="127.0.0.1", port=1883, topic="p", params={"preset": "tasmota",
                                                                                         **params})
    reader = Connection(id=5, type="filereader", file="/tmp/readings.csv", params=params)
    for parse, connection in ((parse_modbus, modbus), (parse_mqtt, mqtt), (connection_file, reader)):
        with pytest.raises(InputError) as caught:
            parse(connection)
        assert says in str(caught.value) and "\n" not in str(caught.value)


def test_limits_are_accepted_by_every_reader_kind():
    parse_modbus(Connection(id=3, type="modbustcp", host="h", port=502, params={"unit": 1, "max_watts": 9000}))
    parse_mqtt(Connection(id=4, type="mqtt", host="h", port=1883, topic="p",
                          params={"preset": "tasmota", "min_watts": -500, "max_watts": 9000.5}))
    connection_file(Connection(id=5, type="filereader", file="/tmp/r.csv", params={"max_watts": 100}))


async def test_file_reader_rows_pass_the_same_check(collect_runtime, tmp_path, caplog):
    readings_file = tmp_path / "site.csv"
    readings_file.write_text("timestamp,load_component,power_w\n"
                             "2000-01-01T00:00:00Z,load_0,1e12\n"
                             "2000-01-01T00:00:00Z,load_1,50\n"
                             "2000-01-01T00:00:00Z,load_2,-3000\n")
    store = collect_runtime.store()
    [site] = add_sites(store, [(METER_IDS[0], 2.0)])  # 2 kW, exports nothing: -100 … 3000 W
    store.connect_resources([site], Connection(id=None, type="filereader", file=str(readings_file)))
    caplog.set_level(logging.WARNING)
    async with Collector.from_runtime(collect_runtime, vens=["Herning"]) as collector:
        readings = await collector.collect(collector.build_clock(collect_runtime.settings).tick)
    assert readings.quality[0] == QUALITY_INVALID and readings.quality[2] == QUALITY_INVALID
    assert readings.power_w[1] == 50.0 and readings.quality[1] != QUALITY_INVALID
    [warning] = implausible_warnings(caplog)
    assert "filereader" in warning and "for 2 loads" in warning and "1e+12 W" in warning
