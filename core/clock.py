"""The one clock every VEN in the process shares (passed explicitly; no Borg).

A :class:`Tick` is the moment a collection happens: its row index in the meter data and its UTC time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Tick:
    """One collection moment: ``index`` into the simulated data, ``time`` UTC-aware."""

    index: int
    time: datetime

    @property
    def timestamp_ms(self) -> int:
        """Unix milliseconds of ``time`` (the seeds' ``MeterReading.timestamp``)."""
        return int(round(self.time.timestamp() * 1000))
