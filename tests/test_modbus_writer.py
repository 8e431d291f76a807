"""The Modbus writer against a real pymodbus server: holding registers and coils as the server sees them."""

from __future__ import annotations

import pytest

from venclient.errors import InputError, VenError
from venclient.model import Connection, Load
from fixtures.hardware import free_port
from venclient.plugins.modbus_meter.options import ModbusOptions
from venclient.plugins.modbus_meter.writer import ModbusWriter

FAST = ModbusOptions(timeout_seconds=0.3, backoff_min_seconds=0.05, backoff_max_seconds=0.2)


def load(component: str) -> Load:
    return Load(load_id=f"bar-1_{component}", resource_id="bar-1", load_component=component,
                load_name=component, h5_meter_id="m1")


def writer_connection(server, **params) -> Connection:
    return Connection(id=21, type="modbustcp", actortype="writer", host=server.host, port=server.port,
                      params={"unit": 2, **params})


async def test_holding_register_write_is_seen_by_the_server(modbus_server):
    writer = ModbusWriter(FAST)
    connection = writer_connection(modbus_server, register=40, scale=10)  # 0.1 W resolution
    await writer.write(connection, load("load_2"), 123.4)
    assert modbus_server.holding(2, 40) == [1234]
    assert modbus_server.writes[-1] == (2, 6, 40, [1234])


async def test_coil_and_float32_channels_per_load(modbus_server):
    writer = ModbusWriter(FAST)
    connection = writer_connection(modbus_server, channels={
        "load_1": {"register": 5, "kind": "coil"},
        "load_2": {"register": 60, "type": "float32"},
        "load_3": {"register": 70, "type": "int16", "scale": -1}})
    await writer.write(connection, load("load_1"), 1)
    assert modbus_server.coil(2, 5) is True
    await writer.write(connection, load("load_1"), 0)
    assert modbus_server.coil(2, 5) is False
    await writer.write(connection, load("load_2"), 2500.5)
    assert modbus_server.writes[-1][1] == 16  # write multiple registers
    from pymodbus.client.mixin import ModbusClientMixin
    words = modbus_server.holding(2, 60, 2)
    assert ModbusClientMixin.convert_from_registers(words, ModbusClientMixin.DATATYPE.FLOAT32) == 2500.5
    await writer.write(connection, load("load_3"), 12)
    assert modbus_server.holding(2, 70) == [(-12) & 0xFFFF]


async def test_writer_errors_are_one_sentence(modbus_server):
    writer = ModbusWriter(FAST)
    only_load_1 = writer_connection(modbus_server, channels={"load_1": {"register": 5, "kind": "coil"}})
    with pytest.raises(InputError, match=r"has no register for load_4 of resource bar-1\.$"):
        await writer.write(only_load_1, load("load_4"), 1)
    with pytest.raises(VenError, match=r"does not fit a uint16 register"):
        await writer.write(writer_connection(modbus_server, register=1), load("load_0"), -5)
    with pytest.raises(VenError, match=r"exception code"):
        await writer.write(writer_connection(modbus_server, register=0x0400), load("load_0"), 1)  # beyond the map
    nobody = Connection(id=22, type="modbustcp", actortype="writer", host="127.0.0.1", port=free_port(),
                        params={"register": 1})
    with pytest.raises(VenError, match=r"^Could not write to Modbus 127\.0\.0\.1:\d+ unit 1 holding 1: the bus is unreachable\.$"):
        await writer.write(nobody, load("load_0"), 1)
    assert all(w[2] != 1 for w in modbus_server.writes)
