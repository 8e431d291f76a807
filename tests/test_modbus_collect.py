"""One VEN with three resources — h5sim, modbustcp, mqtt — collected in one call through the collector, with the
meter registers of the sources that read one (Modbus import energy, Tasmota ENERGY.Total) in the readings."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np

from venclient.engine.collect import Collector
from venclient.model import QUALITY_MISSING, QUALITY_OK, Connection
from fixtures.collect import METER_IDS, add_fleet, expected_watts


async def test_h5sim_modbus_and_mqtt_resources_in_one_collect(collect_runtime, modbus_server, mqtt_broker, mqtt_peer):
    store = collect_runtime.store()
    simulated, modbus_site, mqtt_site = add_fleet(store, {"Herning": list(METER_IDS)})
    store.connect_resources([modbus_site], Connection(
        id=None, type="modbustcp", host=modbus_server.host, port=modbus_server.port,
        params={"unit": 3, "map": "sdm630", "channels": {"load_0": "total_power", "load_1": "l1_power",
                                                          "load_2": "l2_power", "load_3": "l3_power"}}))
    store.connect_resources([mqtt_site], Connection(
        id=None, type="mqtt", host=mqtt_broker.host, port=mqtt_broker.port, topic="bar-plug",
        params={"preset": "tasmota", "loads": ["load_0", "load_4"]}))
    modbus_server.set_power(3, 2345.5, phases=(700.5, 800.0, 845.0))
    modbus_server.set_import_energy(3, 4321.5)
    mqtt_peer.publish("tele/bar-plug/SENSOR", json.dumps({"ENERGY": {"Total": 2.5, "Power": 61}}), retain=True)

    async with Collector.from_runtime(collect_runtime, vens=["Herning"]) as collector:
        clock = collector.build_clock(collect_runtime.settings)
        plan = collector.plan
        mqtt_rows = np.flatnonzero(plan.resource_ids == mqtt_site)
        deadline = time.monotonic() + 15
        while True:  # the retained MQTT value arrives shortly after the source subscribes
            readings = await collector.collect(clock.tick)
            if readings.quality[mqtt_rows[0]] == QUALITY_OK or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)

    by_resource = {rid: (readings.power_w[plan.resource_ids == rid], readings.quality[plan.resource_ids == rid])
                   for rid in (simulated, modbus_site, mqtt_site)}
    row = clock.tick.index
    watts, quality = by_resource[simulated]
    assert list(watts) == [expected_watts(1, c, row) for c in range(6)] and (quality == QUALITY_OK).all()
    watts, quality = by_resource[modbus_site]
    np.testing.assert_array_equal(watts, [2345.5, 700.5, 800.0, 845.0, np.nan, np.nan])
    assert list(quality) == [QUALITY_OK] * 4 + [QUALITY_MISSING] * 2
    watts, quality = by_resource[mqtt_site]
    np.testing.assert_array_equal(watts, [61.0, np.nan, np.nan, np.nan, 61.0, np.nan])
    assert list(quality) == [QUALITY_OK, QUALITY_MISSING, QUALITY_MISSING, QUALITY_MISSING, QUALITY_OK,
                             QUALITY_MISSING]
    registers = {rid: readings.register_kwh[plan.resource_ids == rid] for rid in (simulated, modbus_site, mqtt_site)}
    assert np.isnan(registers[simulated]).all()  # the simulator reads no register: none, not zero
    np.testing.assert_array_equal(registers[modbus_site], [4321.5] + [np.nan] * 5)  # the total's import energy
    np.testing.assert_array_equal(registers[mqtt_site], [2.5, np.nan, np.nan, np.nan, 2.5, np.nan])
