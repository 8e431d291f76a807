"""The one clock every VEN in the process shares (passed explicitly; no Borg).

A :class:`Tick` is the moment a collection happens: its row index in the meter data and its UTC time.
A :class:`Clock` produces ticks, replaying the simulated data's time axis or following the wall clock
(setting ``clock.mode``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

import numpy as np


@dataclass(frozen=True)
class Tick:
    """One collection moment: ``index`` into the simulated data, ``time`` UTC-aware."""

    index: int
    time: datetime

    @property
    def timestamp_ms(self) -> int:
        """Unix milliseconds of ``time`` (the seeds' ``MeterReading.timestamp``)."""
        return int(round(self.time.timestamp() * 1000))


REPLAY = "replay"
WALLCLOCK = "wallclock"
CLOCK_MODES: tuple[str, ...] = (REPLAY, WALLCLOCK)


class Clock:
    """The process's one clock: which row of the meter data is "now", and what time that is.

    ``timeline`` is the time axis of the simulated data (Unix seconds, increasing; the H5 file's first
    column).  Modes:

    * ``replay`` (the seeds): the index starts at ``start_index`` (0), :meth:`increase_time` moves to the
      next row and wraps to 0 after the last; the tick's time is the data's own timestamp.
    * ``wallclock``: the tick's time is the current UTC time and the index is the row for the same
      month/day/hour in the data's year, so simulated resources report plausible values now;
      :meth:`increase_time` re-reads the wall clock.

    How long a tick *stands for* (:meth:`seconds_of`, :attr:`tick_seconds`: the energy and report interval it
    accounts for) is, in replay mode, the spacing of the time axis at its row (to the next row; the last row
    takes the previous spacing), so a replayed hourly row reports an hour; in wall-clock mode (and without a
    timeline) it is ``wall_tick_seconds`` (``reporting.interval_seconds``).

    The current :attr:`tick` only changes in :meth:`increase_time` / :meth:`reset`, so every VEN asked
    between two calls sees the same tick.  Without a timeline (no simulated data) there is one row and the
    tick's time is the wall clock in both modes.
    """

    def __init__(self, timeline: Sequence[float] | np.ndarray | None = None, mode: str = REPLAY, *,
                 now: Callable[[], datetime] | None = None, start_index: int = 0,
                 wall_tick_seconds: float = 15.0):
        if mode not in CLOCK_MODES:
            raise ValueError(f"Unknown clock mode {mode!r}: use one of {', '.join(CLOCK_MODES)}.")
        axis = np.asarray(timeline if timeline is not None else [], dtype=np.float64).reshape(-1)
        if axis.size > 1 and not bool(np.all(np.diff(axis) > 0)):
            raise ValueError("The clock's timeline must be strictly increasing Unix seconds.")
        axis.setflags(write=False)
        self.mode = mode
        self.wall_tick_seconds = float(wall_tick_seconds)
        self._timeline = axis
        self._length = int(axis.size)  # cached once, as in the seeds
        self._now = now or (lambda: datetime.now(timezone.utc))
        self._start_index = start_index % self._length if self._length else 0
        self._tick = self._first_tick()

    @classmethod
    def from_settings(cls, settings: Any, timeline: Sequence[float] | np.ndarray | None, *,
                      now: Callable[[], datetime] | None = None, start_index: int = 0) -> "Clock":
        """A clock in the mode of ``settings.clock.mode`` (default replay) over ``timeline``."""
        mode = str(settings.get("clock.mode", REPLAY) or REPLAY).lower()
        return cls(timeline, mode, now=now, start_index=start_index,
                   wall_tick_seconds=float(settings.get("reporting.interval_seconds", 15.0) or 15.0))

    # --------------------------------------------------------------------------- state
    @property
    def tick(self) -> Tick:
        """The current tick (index and UTC time), stable until :meth:`increase_time`."""
        return self._tick

    @property
    def index(self) -> int:
        """The current row index (the seeds' ``current_timestamp_index``)."""
        return self._tick.index

    @property
    def length(self) -> int:
        """Rows in the timeline (the seeds' cached ``h5_data_length``); 0 without simulated data."""
        return self._length

    @property
    def timeline(self) -> np.ndarray:
        """The read-only time axis in Unix seconds."""
        return self._timeline

    @property
    def tick_seconds(self) -> float:
        """The seconds the current tick stands for (see the class docstring)."""
        return self.seconds_of(self._tick)

    def seconds_of(self, tick: Tick) -> float:
        """The seconds ``tick`` stands for: its row's spacing on the time axis in replay mode, else
        ``wall_tick_seconds``."""
        if self.mode == WALLCLOCK or self._length < 2:
            return self.wall_tick_seconds
        index = tick.index % self._length
        if index + 1 < self._length:
            return float(self._timeline[index + 1] - self._timeline[index])
        return float(self._timeline[index] - self._timeline[index - 1])

    def increase_time(self) -> int:
        """Move to the next tick and return its index (replay wraps to 0 after the last row)."""
        if self.mode == WALLCLOCK or not self._length:
            self._tick = self._wallclock_tick()
        else:
            self._tick = self.tick_at((self._tick.index + 1) % self._length)
        return self._tick.index

    def reset(self) -> int:
        """Back to the first tick (replay) or to the current wall-clock row; returns the index."""
        self._tick = self._first_tick()
        return self._tick.index

    def tick_at(self, index: int) -> Tick:
        """The replay tick of row ``index`` (modulo the data length)."""
        if not self._length:
            return Tick(0, self._now_utc())
        index %= self._length
        return Tick(index, datetime.fromtimestamp(float(self._timeline[index]), timezone.utc))

    def row_for(self, moment: datetime) -> int:
        """The row for ``moment``'s month/day/hour in the data's year(s); the nearest row if it falls in a gap."""
        if not self._length:
            return 0
        moment = moment.astimezone(timezone.utc)
        first, last = float(self._timeline[0]), float(self._timeline[-1])
        start_year = datetime.fromtimestamp(first, timezone.utc).year
        end_year = datetime.fromtimestamp(last, timezone.utc).year
        candidates = [_same_time_in_year(moment, year).timestamp() for year in range(start_year, end_year + 1)]
        inside = [c for c in candidates if first <= c <= last]
        if inside:
            target = inside[0]
        else:  # between the data's end and its start a year later: take the nearer edge
            target = min(candidates, key=lambda c: min(abs(c - first), abs(c - last)))
            target = first if abs(target - first) <= abs(target - last) else last
        row = int(np.searchsorted(self._timeline, target, side="right")) - 1
        return min(max(row, 0), self._length - 1)

    # --------------------------------------------------------------------------- helpers
    def _now_utc(self) -> datetime:
        now = self._now()
        return now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now.astimezone(timezone.utc)

    def _wallclock_tick(self) -> Tick:
        now = self._now_utc()
        return Tick(self.row_for(now), now)

    def _first_tick(self) -> Tick:
        if self.mode == WALLCLOCK or not self._length:
            return self._wallclock_tick()
        return self.tick_at(self._start_index)

    def __repr__(self) -> str:
        return f"Clock(mode={self.mode!r}, index={self.index}, length={self._length}, time={self._tick.time.isoformat()})"


def _same_time_in_year(moment: datetime, year: int) -> datetime:
    """``moment`` moved to ``year`` (29 February becomes 28 February in a common year)."""
    try:
        return moment.replace(year=year)
    except ValueError:
        return moment.replace(year=year, day=28)
