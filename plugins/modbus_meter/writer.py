"""The Modbus writer: acts on a load through a holding register (scaled, typed) or a coil.

Writes are rare (a demand-response event), so each write opens its own short-lived connection and
closes it afterwards.  Over TCP that is a second connection next to the source's and harmless.  A serial
port is opened exclusively, so a writer on the RS-485 line that the source is reading fails with a clear
error: give writers their own adapter or a Modbus TCP gateway (a known limitation).
"""

from __future__ import annotations

from venclient.errors import InputError
from venclient.model import Connection, Load
from venclient.plugins.modbus_meter.bus import ModbusBus
from venclient.plugins.modbus_meter.options import ModbusOptions
from venclient.plugins.modbus_meter.params import KINDS, parse_writer


class ModbusWriter:
    """Writes a value for a load to its writer connection's register or coil."""

    kinds: tuple[str, ...] = KINDS
    scales_values = True  # params.scale is the register's scale: the event scheduler leaves scaling to us

    def __init__(self, options: ModbusOptions | None = None):
        self.options = options or ModbusOptions()

    def validate_connection(self, connection: Connection) -> None:
        """Raise InputError (one sentence) when the writer connection's options are unusable."""
        parse_writer(connection)

    async def write(self, connection: Connection, load: Load, value: float) -> None:
        """Write ``value`` for ``load``: coil on when ``value != 0``, else register ``value × scale``.

        Raises InputError when the connection has no register for the load, VenError when the device
        cannot be reached or answers with an exception.
        """
        target = parse_writer(connection)
        register = target.register_for(load.load_component)
        if register is None:
            raise InputError(f"Modbus writer connection {connection.id} has no register for "
                             f"{load.load_component} of resource {load.resource_id}.")
        bus = ModbusBus(target.bus, self.options, target.serial, target.timeout)
        try:
            await bus.write(target.unit, register, value)
        finally:
            await bus.close()
