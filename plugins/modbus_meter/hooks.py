"""Hook implementations of the Modbus plugin: the source, the writer and the ``[modbus]`` settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from venclient.hookspecs import hookimpl
from venclient.plugins.modbus_meter.options import ModbusOptions, settings_validators

if TYPE_CHECKING:  # pragma: no cover
    from venclient.connection_options import ConnectionOptions
    from venclient.plugins.modbus_meter.source import ModbusMeterSource
    from venclient.plugins.modbus_meter.writer import ModbusWriter

# The source and writer modules (numpy, the register planner) load when a runtime asks for sources.


@hookimpl
def ven_settings_validators() -> list[Any]:
    """``modbus.timeout_seconds``, ``modbus.backoff_min_seconds``, ``modbus.backoff_max_seconds``."""
    return settings_validators()


@hookimpl
def ven_meter_sources(settings: Any) -> list[ModbusMeterSource]:
    """One source serving ``modbustcp`` and ``modbusrtu``."""
    from venclient.plugins.modbus_meter.source import ModbusMeterSource

    return [ModbusMeterSource(ModbusOptions.from_settings(settings))]


@hookimpl
def ven_writers(settings: Any) -> list[ModbusWriter]:
    """One writer serving ``modbustcp`` and ``modbusrtu`` writer connections."""
    from venclient.plugins.modbus_meter.writer import ModbusWriter

    return [ModbusWriter(ModbusOptions.from_settings(settings))]


@hookimpl
def ven_connection_options() -> ConnectionOptions:
    """The ``ven resources connect`` options of ``modbustcp`` and ``modbusrtu`` connections."""
    from venclient.plugins.modbus_meter.connect_options import CONNECTION_OPTIONS

    return CONNECTION_OPTIONS
