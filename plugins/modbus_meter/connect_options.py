"""The ``ven resources connect`` options of Modbus connections: ``--unit``, ``--map``, and ``--port`` as the
serial device of ``modbusrtu``."""

from __future__ import annotations

from typing import Any, Mapping

from venclient.connection_options import ConnectionDraft, ConnectionOption, ConnectionOptions
from venclient.plugins.modbus_meter.params import RTU, TCP

SERIAL_KINDS = (RTU,)


def apply_options(draft: ConnectionDraft, values: Mapping[str, Any]) -> None:
    """``unit`` → ``params.unit``, ``map`` → ``params.map``; for ``modbusrtu`` the port is the serial device."""
    if draft.kind in SERIAL_KINDS and draft.port not in (None, ""):
        draft.params["serial_port"] = str(draft.port)
        draft.port = None
    if values.get("unit") is not None:
        draft.params["unit"] = values["unit"]
    if values.get("map_name"):
        draft.params["map"] = values["map_name"]


def describe(params: Mapping[str, Any]) -> list[str]:
    """``/dev/ttyUSB0 unit 3 map sdm630`` (the words present)."""
    words = [str(params["serial_port"])] if params.get("serial_port") else []
    return words + [f"{key} {params[key]}" for key in ("unit", "map") if key in params]


CONNECTION_OPTIONS = ConnectionOptions(
    kinds=(TCP, RTU),
    options=(ConnectionOption("--unit", "Modbus unit id (1–247).", int),
             ConnectionOption("--map", "Modbus register map (sdm630, sdm120, generic).", dest="map_name")),
    apply=apply_options, describe=describe)
