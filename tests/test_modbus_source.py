"""The Modbus source against a real pymodbus server on loopback emulating SDM630 meters."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest

from venclient.errors import InputError
from venclient.model import QUALITY_MISSING, QUALITY_OK, Connection
from venclient.runtime import Runtime
from fixtures.core import make_settings
from fixtures.hardware import make_batch, read_until
from venclient.plugins.modbus_meter.options import ModbusOptions
from venclient.plugins.modbus_meter.source import ModbusMeterSource

FAST = ModbusOptions(timeout_seconds=0.3, backoff_min_seconds=0.05, backoff_max_seconds=0.2)


def meter(connection_id: int, server, unit: int, **params) -> Connection:
    return Connection(id=connection_id, type="modbustcp", host=server.host, port=server.port,
                      params={"unit": unit, **params})


@pytest.fixture
async def source():
    src = ModbusMeterSource(FAST)
    yield src
    await src.close()


async def test_several_units_values_set_are_values_read(modbus_server, source):
    modbus_server.set_power(1, 1234.5, phases=(400.25, 500.5, 333.75))
    modbus_server.set_power(2, -87.0)
    modbus_server.set_power(3, 9999.0)
    site = meter(10, modbus_server, 1, channels={"load_0": "total_power", "load_1": "l1_power",
                                                 "load_2": "l2_power", "load_3": "l3_power"})
    batch = make_batch([("bar", c, site) for c in range(6)]
                       + [("hotel", 0, meter(11, modbus_server, 2)), ("hotel", 1, meter(11, modbus_server, 2))]
                       + [("school", 0, meter(12, modbus_server, 3, loads=["load_0", "load_4"])),
                          ("school", 4, meter(12, modbus_server, 3, loads=["load_0", "load_4"]))])
    await source.open(batch)
    reading = await source.read(None)
    expected = [1234.5, 400.25, 500.5, 333.75, np.nan, np.nan, -87.0, np.nan, 9999.0, 9999.0]
    np.testing.assert_array_equal(reading.power_w, expected)
    assert reading.power_w.dtype == np.float64 and reading.quality.dtype == np.uint8
    # loads without a channel report nothing (missing), never zero
    assert list(reading.quality) == [QUALITY_OK] * 4 + [QUALITY_MISSING] * 2 + [QUALITY_OK, QUALITY_MISSING] \
        + [QUALITY_OK] * 2

    modbus_server.set_power(2, 42.0)
    reading = await source.read(None)
    assert reading.power_w[6] == 42.0


async def test_block_read_one_request_per_unit_per_tick(modbus_server, source):
    modbus_server.set_power(1, 10.0, phases=(1.0, 2.0, 3.0))
    site = meter(1, modbus_server, 1, channels={"load_0": "total_power", "load_1": "l1_power",
                                                "load_2": "l2_power", "load_3": "l3_power"})
    await source.open(make_batch([("bar", c, site) for c in range(4)]))
    await source.read(None)
    before = modbus_server.requests
    reading = await source.read(None)
    assert modbus_server.requests - before == 1  # 0x000C..0x0049 (phases, total, import energy) in one request
    np.testing.assert_array_equal(reading.power_w, [10.0, 1.0, 2.0, 3.0])


async def test_word_order_variants(modbus_server, source):
    modbus_server.set_power(1, 2500.0, word_order="big")
    modbus_server.set_power(2, 2500.0, word_order="little")
    big = meter(1, modbus_server, 1)
    little = meter(2, modbus_server, 2, word_order="little")
    wrong = meter(3, modbus_server, 2)  # the little-endian meter read as big-endian
    generic = meter(4, modbus_server, 4, map="generic", channels={
        "load_0": {"function": "input", "address": 0x20, "type": "int32", "word_order": "little", "scale": 0.1},
        "load_1": {"function": "input", "address": 0x22, "type": "uint16"},
        "load_2": {"function": "input", "address": 0x23, "type": "int16", "scale": -1}})
    modbus_server.set_registers(4, 0x20, [0x5678 & 0xFFFF, 0x0001])  # int32 little: 0x00015678 = 87672
    modbus_server.set_registers(4, 0x22, [65000, 0xFFFE])            # uint16 65000, int16 -2
    await source.open(make_batch([("a", 0, big), ("b", 0, little), ("c", 0, wrong),
                                  ("d", 0, generic), ("d", 1, generic), ("d", 2, generic)]))
    reading = await source.read(None)
    assert reading.power_w[0] == 2500.0 and reading.power_w[1] == 2500.0
    assert reading.power_w[2] != 2500.0
    assert reading.power_w[3] == pytest.approx(8767.2)
    assert list(reading.power_w[4:]) == [65000.0, 2.0]
    assert all(reading.quality == QUALITY_OK)


async def test_exception_responses_are_missing_not_errors(modbus_server, source, caplog):
    modbus_server.set_power(1, 700.0)
    good = meter(1, modbus_server, 1)
    unknown_unit = meter(2, modbus_server, 77)  # the server answers with an exception (device failure)
    illegal = meter(3, modbus_server, 2, map="generic",
                    channels={"load_0": {"function": "input", "address": 0x0200}})  # beyond the register map
    batch = make_batch([("a", 0, good), ("b", 0, unknown_unit), ("c", 0, illegal)])
    await source.open(batch)
    with caplog.at_level(logging.WARNING, logger="venclient.plugins.modbus_meter"):
        for _ in range(3):
            reading = await source.read(None)
            assert reading.power_w[0] == 700.0 and reading.quality[0] == QUALITY_OK
            assert np.isnan(reading.power_w[1:]).all()
            assert list(reading.quality[1:]) == [QUALITY_MISSING, QUALITY_MISSING]
    # one warning per failing block, not one per tick
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 2


async def test_silent_device_times_out_while_other_bus_delivers(modbus_server, silent_server, source):
    modbus_server.set_power(1, 55.0)
    hung = Connection(id=2, type="modbustcp", host=silent_server.host, port=silent_server.port, params={"unit": 1})
    await source.open(make_batch([("ok", 0, meter(1, modbus_server, 1)), ("hung", 0, hung)]))
    reading = await source.read(None)
    assert reading.power_w[0] == 55.0
    assert np.isnan(reading.power_w[1]) and reading.quality[1] == QUALITY_MISSING


async def test_unreachable_host_and_bad_params_do_not_raise(modbus_server, source):
    from fixtures.hardware import free_port

    modbus_server.set_power(1, 1.5)
    nobody = Connection(id=2, type="modbustcp", host="127.0.0.1", port=free_port(), params={"unit": 1})
    broken = Connection(id=3, type="modbustcp", host="127.0.0.1", port=modbus_server.port, params={"unit": 999})
    await source.open(make_batch([("a", 0, meter(1, modbus_server, 1)), ("b", 0, nobody), ("c", 0, broken)]))
    for _ in range(3):
        reading = await source.read(None)
        assert reading.power_w[0] == 1.5
        assert list(reading.quality[1:]) == [QUALITY_MISSING, QUALITY_MISSING]


async def test_server_stopped_and_restarted_values_come_back(modbus_server, source):
    modbus_server.set_power(1, 321.0)
    modbus_server.set_power(2, 654.0)
    await source.open(make_batch([("a", 0, meter(1, modbus_server, 1)), ("b", 0, meter(2, modbus_server, 2))]))
    assert list((await source.read(None)).power_w) == [321.0, 654.0]

    modbus_server.stop()
    reading = await read_until(source, lambda r: (r.quality == QUALITY_MISSING).all())
    assert (reading.quality == QUALITY_MISSING).all() and np.isnan(reading.power_w).all()
    for _ in range(3):  # keeps answering (missing) while the meter is away
        assert (await source.read(None)).quality.tolist() == [QUALITY_MISSING] * 2

    modbus_server.set_power(1, 322.0)
    modbus_server.start()  # same port
    reading = await read_until(source, lambda r: (r.quality == QUALITY_OK).all())
    assert list(reading.power_w) == [322.0, 654.0]


async def test_reopen_with_a_different_batch(modbus_server, source):
    modbus_server.set_power(1, 1.0)
    modbus_server.set_power(2, 2.0)
    await source.open(make_batch([("a", 0, meter(1, modbus_server, 1))]))
    assert list((await source.read(None)).power_w) == [1.0]
    await source.open(make_batch([("b", 0, meter(2, modbus_server, 2)), ("a", 0, meter(1, modbus_server, 1))]))
    assert list((await source.read(None)).power_w) == [2.0, 1.0]
    await source.open(make_batch([]))
    assert len((await source.read(None)).power_w) == 0


async def test_rtu_framing_over_a_serial_url(modbus_rtu_server, source):
    modbus_rtu_server.set_power(2, 4321.0, phases=(1.0, 2.0, 3.0))
    connection = Connection(id=1, type="modbusrtu", params={
        "serial_port": f"socket://{modbus_rtu_server.host}:{modbus_rtu_server.port}", "unit": 2,
        "baudrate": 19200, "channels": {"load_0": "total_power", "load_2": "l3_power"}})
    await source.open(make_batch([("site", 0, connection), ("site", 2, connection)]))
    reading = await source.read(None)
    assert list(reading.power_w) == [4321.0, 3.0]


async def test_test_read_one_connection(modbus_server, source):
    modbus_server.set_power(3, 77.5, phases=(10.0, 20.0, 30.0))
    connection = meter(5, modbus_server, 3, channels={"load_0": "total_power", "load_5": "l2_power"})
    assert await source.test_read(connection) == {"load_0": 77.5, "load_5": 20.0}
    assert await source.test_read(meter(5, modbus_server, 99)) == {"load_0": None}


async def test_test_read_unreachable_is_one_sentence(source):
    from fixtures.hardware import free_port

    with pytest.raises(InputError, match=r"^Modbus 127\.0\.0\.1:\d+ is unreachable .*\.$"):
        await source.test_read(Connection(id=1, type="modbustcp", host="127.0.0.1", port=free_port()))
    with pytest.raises(InputError, match="params.unit must be an integer from 1 to 247"):
        await source.test_read(Connection(id=1, type="modbustcp", host="127.0.0.1", params={"unit": 300}))


def test_plugin_registers_source_writer_and_settings(tmp_path):
    settings = make_settings(tmp_path, modbus={"timeout_seconds": 0.7, "backoff_max_seconds": 9})
    runtime = Runtime.create(settings)
    try:
        sources = runtime.meter_sources()
        assert isinstance(sources["modbustcp"], ModbusMeterSource)
        assert sources["modbusrtu"] is sources["modbustcp"]
        assert sources["modbustcp"].options.timeout_seconds == 0.7
        assert sources["modbustcp"].options.backoff_max_seconds == 9
        assert sources["modbustcp"].options.backoff_min_seconds == ModbusOptions.backoff_min_seconds
        assert {"modbustcp", "modbusrtu"} <= set(runtime.writers())
    finally:
        runtime.close()


def test_bad_modbus_setting_is_one_sentence(tmp_path):
    from venclient.errors import SettingsError

    with pytest.raises(SettingsError, match="modbus.timeout_seconds must be a number above 0"):
        Runtime.create(make_settings(tmp_path, modbus={"timeout_seconds": -1}))


async def test_many_ticks_concurrent_with_writes_stay_consistent(modbus_server, source):
    """Values changed between ticks are picked up on the next tick, for every unit."""
    await source.open(make_batch([(f"r{u}", 0, meter(u, modbus_server, u)) for u in (1, 2, 3, 4, 5)]))
    for step in range(5):
        for unit in (1, 2, 3, 4, 5):
            modbus_server.set_power(unit, unit * 100.0 + step)
        reading = await source.read(None)
        assert list(reading.power_w) == [u * 100.0 + step for u in (1, 2, 3, 4, 5)]
        await asyncio.sleep(0)


async def test_the_import_energy_register_is_read_with_the_power_in_one_request(modbus_server, source):
    modbus_server.set_power(1, 2300.0, phases=(700.0, 800.0, 800.0))
    modbus_server.set_import_energy(1, 12345.5)
    modbus_server.set_float(2, 0x000C, 40.0)  # an SDM120's power is at 0x000C, its import energy at 0x0048 too
    modbus_server.set_import_energy(2, 7.25)
    modbus_server.set_float(3, 0x10, 150.0)
    modbus_server.set_float(3, 0x12, 88.5)  # a generic meter's energy register, in Wh: scale 0.001 → kWh
    site = meter(1, modbus_server, 1, channels={"load_0": "total_power", "load_1": "l1_power",
                                                "load_2": {"channel": "total_power", "energy": None}})
    sdm120 = meter(2, modbus_server, 2, map="sdm120")
    generic = meter(3, modbus_server, 3, map="generic", channels={
        "load_0": {"address": 0x10, "energy": {"address": 0x12, "scale": 0.001}}})
    assert source.energy_register_kwh is None  # nothing read yet
    await source.open(make_batch([("bar", 0, site), ("bar", 1, site), ("bar", 2, site), ("hut", 0, sdm120),
                                  ("lab", 0, generic)]))
    await source.read(None)
    before = modbus_server.requests
    reading = await source.read(None)
    assert modbus_server.requests - before == 3  # one request per unit: the registers add none
    np.testing.assert_array_equal(reading.power_w, [2300.0, 700.0, 2300.0, 40.0, 150.0])
    # the total's meter register; a phase and a load that switched it off have none (NaN, never zero)
    np.testing.assert_allclose(source.energy_register_kwh, [12345.5, np.nan, np.nan, 7.25, 0.0885])

    modbus_server.set_import_energy(1, 12346.0)
    await source.read(None)
    assert source.energy_register_kwh[0] == 12346.0
    modbus_server.stop()  # a failed read is no register value either
    try:
        reading = await source.read(None)
        assert np.isnan(source.energy_register_kwh).all() and np.isnan(reading.power_w).all()
    finally:
        modbus_server.start()


async def test_without_a_register_the_source_reports_none(modbus_server, source):
    modbus_server.set_power(1, 5.0, phases=(1.0, 2.0, 2.0))
    site = meter(1, modbus_server, 1, channels={"load_1": "l1_power"})
    await source.open(make_batch([("bar", 1, site)]))
    reading = await source.read(None)
    assert reading.power_w[0] == 1.0 and source.energy_register_kwh is None


def test_an_energy_that_is_not_an_energy_channel_is_one_sentence(source):
    bad = Connection(id=5, type="modbustcp", host="127.0.0.1", port=502,
                     params={"channels": {"load_0": {"channel": "total_power", "energy": "l1_power"}}})
    with pytest.raises(InputError) as err:
        source.validate_connection(bad)
    assert str(err.value) == ("Modbus connection 5 (modbustcp): params.channels.load_0.energy names 'l1_power', "
                              "which is not an energy channel of map sdm630 (use one of import_energy, "
                              "export_energy, or null for none).")
