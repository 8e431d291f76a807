"""Modbus meters (kinds ``modbustcp``, ``modbusrtu``): Eastron SDM630/SDM120 and generic register maps.

Readers report watts per load component; writers set a holding register or a coil.  The connection
``params`` schema is documented in README.md beside this file.
"""
