"""The latest value of every subscribed feed with its arrival time, shared by the MQTT thread and the tick.

The MQTT network thread calls :meth:`LatestValues.put` for each message; the event loop calls
:meth:`LatestValues.gather` once per tick with the slot of every load.  Both hold one lock for a few
array operations, so a tick costs O(loads) numpy work and never sees half a write.
"""

from __future__ import annotations

import threading

import numpy as np


class LatestValues:
    """Watts, the meter register of the same message (kWh, NaN = none) and arrival time (monotonic seconds,
    NaN = never) per slot."""

    def __init__(self, size: int):
        self._lock = threading.Lock()
        self._watts = np.full(size, np.nan)
        self._kwh = np.full(size, np.nan)
        self._arrived = np.full(size, np.nan)

    def __len__(self) -> int:
        return len(self._watts)

    def put(self, slot: int, watts: float, arrived: float, kwh: float = np.nan) -> None:
        """Record a value (and its message's register reading) for ``slot`` (called from the MQTT thread)."""
        with self._lock:
            self._watts[slot] = watts
            self._kwh[slot] = kwh
            self._arrived[slot] = arrived

    def gather(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Copies of ``(watts, arrival times, kWh)`` at ``slots`` (an integer array)."""
        with self._lock:
            return self._watts[slots], self._arrived[slots], self._kwh[slots]

    def carry_over(self, old: "LatestValues", old_slots: np.ndarray, new_slots: np.ndarray) -> None:
        """Copy ``old``'s values at ``old_slots`` into this table at ``new_slots`` (used on re-open)."""
        watts, arrived, kwh = old.gather(old_slots)
        with self._lock:
            self._watts[new_slots] = watts
            self._arrived[new_slots] = arrived
            self._kwh[new_slots] = kwh
