"""The ``ven_meter_sources`` hook of the H5 simulator: one ``h5sim`` source on ``settings.h5_path``."""

from __future__ import annotations

from typing import Any

from core.hookspecs import hookimpl
from plugins.h5_simulator.source import H5MeterSource


@hookimpl
def ven_meter_sources(settings: Any) -> list[H5MeterSource]:
    """A new :class:`H5MeterSource` per call, so every collector owns its own gather state."""
    return [H5MeterSource(settings.h5_path)]
