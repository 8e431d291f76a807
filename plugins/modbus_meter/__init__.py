"""Modbus meters (kinds ``modbustcp``, ``modbusrtu``): Eastron SDM630/SDM120 and generic register maps.

Readers report watts per load component; writers set a holding register or a coil.  The connection
``params`` schema is documented in README.md beside this file.
"""

from plugins.modbus_meter.hooks import ven_meter_sources, ven_settings_validators, ven_writers

__all__ = ["ven_meter_sources", "ven_settings_validators", "ven_writers"]
