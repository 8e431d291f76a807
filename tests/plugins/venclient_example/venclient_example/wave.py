"""The sine wave a ``sine`` connection describes: its parameters, their checks and their summary (no numpy).

Kept apart from the source so the plugin's hook module can name the kind and describe connections without
loading numpy: ``ven --help`` imports every plugin's hook module, and a plugin should keep that cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from venclient import Connection, InputError

KIND = "sine"
DEFAULTS = {"amplitude": 1000.0, "period": 3600.0, "phase": 0.0}
KNOWN_PARAMS = frozenset({*DEFAULTS, "release_value", "loads"})
COMPONENT_SHIFT = 2 * math.pi / 6  # 60° between the six load components

@dataclass(frozen=True)
class Wave:
    """One connection's wave: peak watts, period in seconds, phase in radians."""

    amplitude: float
    period: float
    phase: float

    def watts(self, unix_seconds: float, component: int) -> float:
        """The value of load component ``component`` at ``unix_seconds``."""
        angle = 2 * math.pi * unix_seconds / self.period + self.phase + component * COMPONENT_SHIFT
        return self.amplitude * math.sin(angle)


def parse_wave(connection: Connection) -> Wave:
    """The connection's wave; InputError (one sentence) for an unknown key or a value that is not a number."""
    params = connection.params or {}
    unknown = sorted(set(params) - KNOWN_PARAMS)
    if unknown:
        raise InputError(f"A sine connection takes amplitude, period and phase, not {unknown[0]!r}.")
    values: dict[str, float] = {}
    for key, default in DEFAULTS.items():
        value = params.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError(f"The sine {key} must be a number, got {value!r}.")
        values[key] = float(value)
    if values["period"] <= 0:
        raise InputError(f"The sine period must be above 0 seconds, got {values['period']:g}.")
    return Wave(values["amplitude"], values["period"], math.radians(values["phase"]))


def describe(params: dict[str, Any]) -> list[str]:
    """``amplitude 500 period 60`` for ``ven resources list``."""
    return [f"{key} {params[key]:g}" for key in DEFAULTS if isinstance(params.get(key), (int, float))]
