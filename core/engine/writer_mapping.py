"""What a writer connection writes for the payloads active on its load (pure).

A writer connection's ``params`` choose what it follows and how a payload value becomes the value written:

* ``payload`` — the payload type it follows (``"SIMPLE"``, ``"IMPORT_CAPACITY_LIMIT"``, ``"PRICE"`` …);
  default: the first numeric payload of the winning interval, in the order :data:`ACTED_ON_TYPES` lists.
* ``levels`` — a table from payload value to written value, e.g. ``{"0": 1, "1": 1, "2": 0, "3": 0}`` turns
  SIMPLE 2 and 3 into 'relay off'; a value missing from the table writes nothing (one warning by the caller).
* ``scale`` (default 1) and ``offset`` (default 0) — ``written = value × scale + offset`` when there is no
  ``levels`` table, e.g. a CHARGE_STATE_SETPOINT in percent to a register in tenths (``scale = 10``).
* ``release_value`` — written when the event ends, is removed or cancelled (nothing when unset).

Payload types a VEN acts on (per ``../shared/openadr3/enumerations/event-interval-payloads``):
:data:`ACTED_ON_TYPES`; prices and GHG (:data:`INFORMATIONAL_TYPES`) are written only to a connection that
asks for them with ``payload``.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

ACTED_ON_TYPES: tuple[str, ...] = ("SIMPLE", "IMPORT_CAPACITY_LIMIT", "EXPORT_CAPACITY_LIMIT", "CONTROL_SETPOINT",
                                   "CHARGE_STATE_SETPOINT", "DISPATCH_SETPOINT", "DISPATCH_SETPOINT_RELATIVE",
                                   "CONTROL_LEVEL_OFFSET", "CONTROL_LEVEL_OFFSET_PERCENT")
INFORMATIONAL_TYPES: tuple[str, ...] = ("PRICE", "EXPORT_PRICE", "GHG", "PRICE_ALTERNATE")


def _numeric(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def chosen_payload(params: Mapping[str, Any], active: Mapping[str, Any]) -> tuple[str, float] | None:
    """``(payload type, value)`` the connection follows among ``active`` (payload type → the value that applies
    now), or ``None`` when nothing it follows is active."""
    wanted = params.get("payload")
    if wanted:
        value = _numeric(active.get(str(wanted)))
        return (str(wanted), value) if value is not None else None
    for kind in ACTED_ON_TYPES:
        value = _numeric(active.get(kind))
        if value is not None:
            return kind, value
    return None


def written_value(params: Mapping[str, Any], value: float) -> float | None:
    """The value written for payload ``value`` through ``levels`` or ``scale``/``offset`` (``None``: the levels
    table has no entry for it)."""
    levels = params.get("levels")
    if isinstance(levels, Mapping) and levels:
        for key in (value, int(value) if float(value).is_integer() else None):
            if key is None:
                continue
            for candidate in (key, str(key)):
                if candidate in levels:
                    return float(levels[candidate])
        return None
    scale = float(params.get("scale", 1.0))
    offset = float(params.get("offset", 0.0))
    return value * scale + offset


def release_value(params: Mapping[str, Any]) -> float | None:
    """The connection's ``release_value`` as a number, or ``None`` when unset."""
    value = params.get("release_value")
    return None if value is None else float(value)
