"""Modbus connection params: validation sentences, channel resolution and block planning (no I/O)."""

from __future__ import annotations

import pytest

from venclient.errors import InputError
from venclient.model import Connection
from venclient.plugins.modbus_meter.params import parse_reader, parse_writer
from venclient.plugins.modbus_meter.planner import Block, locate, plan_blocks
from venclient.plugins.modbus_meter.source import ModbusMeterSource
from venclient.plugins.modbus_meter.writer import ModbusWriter


def tcp(params: dict, **fields) -> Connection:
    return Connection(id=7, type="modbustcp", host=fields.pop("host", "192.0.2.10"), params=params, **fields)


def test_default_is_sdm630_total_power_on_load_0_only():
    target = parse_reader(tcp({"unit": 3}))
    assert target.unit == 3 and target.bus.port == 502
    assert list(target.channels) == ["load_0"]
    assert target.channels["load_0"].address == 0x0034
    assert target.channels["load_0"].data_type == "float32"


def test_whole_site_meter_mapped_to_chosen_loads():
    target = parse_reader(tcp({"unit": 1, "loads": ["load_0", "load_3"]}))
    assert sorted(target.channels) == ["load_0", "load_3"]
    assert {r.address for r in target.channels.values()} == {0x0034}


def test_sdm120_and_phase_channels_and_word_order():
    t120 = parse_reader(tcp({"map": "sdm120", "channels": {"load_1": "total_power"}}))
    assert t120.channels["load_1"].address == 0x000C
    t630 = parse_reader(tcp({"word_order": "little", "channels": {
        "load_0": "l1_power", "load_1": {"channel": "l2_power", "scale": -1, "word_order": "big"}}}))
    assert t630.channels["load_0"].word_order == "little"
    assert t630.channels["load_1"].word_order == "big" and t630.channels["load_1"].scale == -1.0


def test_generic_channel():
    target = parse_reader(tcp({"map": "generic", "unit": 9, "channels": {
        "load_2": {"function": "holding", "address": 100, "type": "int16", "scale": 10}}}))
    register = target.channels["load_2"]
    assert (register.function, register.address, register.data_type, register.scale) == ("holding", 100, "int16", 10.0)


def test_rtu_serial_settings():
    connection = Connection(id=1, type="modbusrtu", params={
        "serial_port": "/dev/serial/by-id/usb-FTDI-if00-port0", "unit": 2, "baudrate": 19200,
        "parity": "even", "stopbits": 1, "bytesize": 8, "timeout": 0.5})
    target = parse_reader(connection)
    assert target.bus.serial_port.endswith("port0")
    assert (target.serial.baudrate, target.serial.parity, target.timeout) == (19200, "E", 0.5)


@pytest.mark.parametrize("connection, words", [
    (tcp({"unit": 0}), "params.unit must be an integer from 1 to 247, got 0"),
    (tcp({"unit": 248}), "params.unit must be an integer from 1 to 247, got 248"),
    (tcp({"map": "sdm999"}), "params.map must be one of sdm630, sdm120, generic, got 'sdm999'"),
    (tcp({"channels": {"kitchen": "total_power"}}), "names 'kitchen', which is not a load component"),
    (tcp({"channels": {"load_0": "apparent_power"}}), "names channel 'apparent_power', which map sdm630 does not"),
    (tcp({"channels": {"load_0": "import_energy"}}), "energy in kWh, not power in W"),
    (tcp({"map": "generic"}), "params.channels is missing"),
    (tcp({"map": "generic", "channels": {"load_0": {"address": 1, "type": "int64"}}}),
     "params.channels.load_0.type must be one of"),
    (tcp({"word_order": "middle"}), "params.word_order must be one of big, little"),
    (tcp({"unti": 3}), "params has unknown key 'unti'"),
    (tcp({}, host=""), "host is missing"),
    (tcp({}, port=70000), "port must be an integer from 1 to 65535"),
    (Connection(id=7, type="modbusrtu", params={}), "params.serial_port is missing"),
    (Connection(id=7, type="modbusrtu", params={"serial_port": "/dev/ttyUSB0", "parity": "X"}),
     "params.parity must be N, E or O"),
])
def test_bad_reader_params_give_one_sentence(connection, words):
    source = ModbusMeterSource()
    with pytest.raises(InputError) as err:
        source.validate_connection(connection)
    message = str(err.value)
    assert words in message
    assert message.startswith("Modbus connection 7 (")
    assert message.endswith(".") and message.count("\n") == 0


def test_writer_params():
    connection = tcp({"unit": 4, "register": 40, "scale": 0.1,
                      "channels": {"load_1": {"register": 2, "kind": "coil"}}}, actortype="writer")
    target = parse_writer(connection)
    assert target.register_for("load_0").register == 40
    assert target.register_for("load_1").kind == "coil"
    ModbusWriter().validate_connection(connection)
    with pytest.raises(InputError, match="params.register is missing"):
        ModbusWriter().validate_connection(tcp({"unit": 4}, actortype="writer"))
    with pytest.raises(InputError, match="params.kind must be one of holding, coil"):
        ModbusWriter().validate_connection(tcp({"register": 1, "kind": "discrete"}, actortype="writer"))


def test_plan_merges_adjacent_and_near_registers():
    spans = [("input", 0x0034, 2), ("input", 0x000C, 2), ("input", 0x000E, 2), ("input", 0x0010, 2)]
    assert plan_blocks(spans, max_gap=64) == [Block("input", 0x000C, 0x0036 - 0x000C)]
    # generic maps only merge touching registers
    assert plan_blocks(spans, max_gap=0) == [Block("input", 0x000C, 6), Block("input", 0x0034, 2)]
    # tables are never merged, and a block stays within 125 registers
    assert len(plan_blocks([("input", 0, 2), ("holding", 2, 2)], max_gap=64)) == 2
    assert len(plan_blocks([("input", 0, 2), ("input", 200, 2)], max_gap=500)) == 2
    blocks = plan_blocks(spans, max_gap=64)
    assert locate(blocks, "input", 0x0034, 2) == (0, 0x0034 - 0x000C)


def test_writer_accepts_the_event_engine_keys():
    from venclient.model import Connection
    from venclient.plugins.modbus_meter.params import parse_writer

    parse_writer(Connection(id=1, type="modbustcp", actortype="writer", host="127.0.0.1", port=502,
                            params={"unit": 2, "register": 10, "release_value": 1, "loads": ["load_1"]}))
