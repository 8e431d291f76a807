"""Baselines from stored history, for loads whose source has none of its own (real meters: Modbus, MQTT, files).

**History.**  ``ven run`` keeps, per such load, its energy per clock hour (UTC): Wh and the seconds read in that
hour, plus whether an event controlled the load in that hour (a ``SIMPLE`` level above 0, or any other payload
type active, for an event targeting the load that it did not opt out of).  The rows are written in the tick's
transaction (:class:`HistoryWrite`) and kept ``baseline.history_days`` days.  A tick counts whole into the hour
holding its start, as in :mod:`venclient.engine.accumulate`.

**Method** (:func:`same_hour_baseline`, "10 of 10 days, same hour"): the baseline watts of a load at time *t* are
the mean power of the same clock hour (UTC) on the most recent ``baseline.days`` (10) days before *t*'s day that
had no event for that load — a day on which any hour had an event is skipped whole (load moved by pre-cooling or
rebound is not normal use) — where the hour was read for at least ``baseline.min_coverage`` (half) of its
seconds.  With fewer than ``baseline.min_days`` (3) such days there is no baseline (NaN: the load's BASELINE and
DELTA_USAGE are left out, never a guess).  Each day's hour contributes its mean power (energy / seconds read).

**Feeding.**  :class:`HistoryBaseline` computes these values once per hour for the collector's history loads
(the value only changes when the hour does) and fills :attr:`venclient.model.Readings.baseline_w` where a source
gave none; ``ven baseline --resource R`` shows them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import repeat
from typing import Any, Iterable, Sequence

import numpy as np

HOUR = 3600
DAY = 86400
UTC = timezone.utc

#: one stored hour: (hour start, Unix seconds UTC; energy Wh; seconds read; event applied)
HourRow = tuple[int, float, float, bool]


@dataclass(frozen=True)
class BaselineMethod:
    """The parameters of :func:`same_hour_baseline` (settings ``baseline.*``)."""

    days: int = 10
    min_days: int = 3
    min_coverage: float = 0.5
    history_days: int = 14

    @classmethod
    def from_settings(cls, settings: Any) -> "BaselineMethod":
        """The method of the ``baseline.*`` settings; ``min_days`` above ``days`` is a
        :class:`venclient.errors.SettingsError` (no load could ever have a baseline)."""
        from venclient.errors import SettingsError

        get = settings.get
        method = cls(days=int(get("baseline.days", 10)), min_days=int(get("baseline.min_days", 3)),
                     min_coverage=float(get("baseline.min_coverage", 0.5)),
                     history_days=int(get("baseline.history_days", 14)))
        if method.min_days > method.days:
            raise SettingsError(f"Invalid setting: baseline.min_days ({method.min_days}) is above baseline.days "
                                f"({method.days}), so no load could ever have a baseline.")
        return method

    def describe(self) -> str:
        """One sentence naming the method, for ``ven baseline``."""
        return (f"mean power of the same UTC clock hour on the last {self.days} days without events for the load "
                f"(a day with any event hour is skipped; an hour counts when read for at least "
                f"{self.min_coverage:.0%} of it; at least {self.min_days} days needed, else no baseline; "
                f"history kept {self.history_days} days)")


@dataclass(frozen=True)
class BaselineValue:
    """A load's baseline: ``watts`` (NaN: none) and the starts of the hours used (Unix seconds), newest first."""

    watts: float
    hours: tuple[int, ...] = ()

    @property
    def days(self) -> int:
        return len(self.hours)


def hour_start(seconds: float) -> int:
    """The start of the UTC clock hour holding ``seconds`` (Unix seconds)."""
    return int(math.floor(seconds / HOUR)) * HOUR


def same_hour_baseline(at: float, rows: Iterable[HourRow], method: BaselineMethod = BaselineMethod()) -> BaselineValue:
    """The baseline of one load at ``at`` (Unix seconds) from its stored ``rows`` (see the module docstring).

    Pure: only ``rows`` is read; rows at or after ``at``'s day, and hours read too briefly, are ignored."""
    target = hour_start(at)
    event_days: set[int] = set()
    hours: dict[int, tuple[float, float]] = {}
    for start, energy_wh, seconds, event in rows:
        start = int(start)
        if event:
            event_days.add(start // DAY)
        energy, read = hours.get(start, (0.0, 0.0))
        hours[start] = (energy + float(energy_wh), read + float(seconds))
    if not hours:
        return BaselineValue(math.nan)
    oldest = min(hours)
    needed = method.min_coverage * HOUR
    used: list[int] = []
    watts: list[float] = []
    candidate = target - DAY
    while candidate >= oldest and len(used) < method.days:
        energy, read = hours.get(candidate, (0.0, 0.0))
        if candidate // DAY not in event_days and read > 0 and read >= needed:
            used.append(candidate)
            watts.append(energy * HOUR / read)
        candidate -= DAY
    if len(used) < method.min_days:
        return BaselineValue(math.nan, tuple(used))
    return BaselineValue(math.fsum(watts) / len(watts), tuple(used))


def baselines_by_load(at: float, rows: Iterable[Sequence[Any]], load_ids: Sequence[str],
                      method: BaselineMethod = BaselineMethod()) -> dict[str, BaselineValue]:
    """:func:`same_hour_baseline` for each of ``load_ids`` from store rows ``(load_id, hour start, energy Wh,
    seconds, event)`` (a load without rows gets NaN)."""
    grouped: dict[str, list[HourRow]] = {load_id: [] for load_id in load_ids}
    for load_id, start, energy, seconds, event in rows:
        if load_id in grouped:
            grouped[load_id].append((int(start), float(energy), float(seconds), bool(event)))
    return {load_id: same_hour_baseline(at, mine, method) for load_id, mine in grouped.items()}


def history_window(at: float, method: BaselineMethod) -> tuple[int, int]:
    """``(since, until)`` hour starts (Unix seconds, ``until`` excluded) of the rows the baseline at ``at`` reads."""
    day_start = hour_start(at) // DAY * DAY
    return day_start - method.history_days * DAY, day_start


# ------------------------------------------------------------------------------------------ the tick's rows
@dataclass
class HistoryWrite:
    """What the store writes in a tick's transaction: ``rows`` (tuples ``(load_id, hour_start, energy_wh, seconds,
    event)``, no dict per load) added to the stored hour (energy and seconds summed, event kept once set), then
    rows with an hour start before ``prune_before`` (when not ``None``) deleted."""

    rows: list[tuple[str, int, float, float, int]] = field(default_factory=list)
    prune_before: int | None = None

    def __bool__(self) -> bool:
        return bool(self.rows) or self.prune_before is not None


def history_rows(load_ids: np.ndarray, power_w: np.ndarray, ok: np.ndarray, controlled: np.ndarray,
                 hour: int, seconds: float) -> list[tuple[str, int, float, float, int]]:
    """The rows of one tick of the history loads (see :class:`HistoryWrite`): a load read OK adds ``power ×
    seconds`` Wh and the seconds; a controlled load not read OK still marks the hour as an event hour (energy and
    seconds 0)."""
    keep = ok | controlled
    energy = np.where(ok, power_w * (seconds / HOUR), 0.0)[keep]
    read = np.where(ok, float(seconds), 0.0)[keep]
    return list(zip(load_ids[keep].tolist(), repeat(int(hour)), energy.tolist(), read.tolist(),
                    controlled[keep].astype(np.int64).tolist()))


class HistoryBaseline:
    """Baselines for the collector's history loads, from the store (:class:`venclient.protocols.HistoryRecords`),
    cached per hour; and each tick's :class:`HistoryWrite`.

    ``refresh`` reads the store (blocking: call it in a worker thread) when :meth:`stale` says the hour or the
    loads changed; :meth:`fill` is then pure array work."""

    def __init__(self, store: Any, method: BaselineMethod = BaselineMethod()):
        self.store = store
        self.method = method
        self._hour: int | None = None                 # the hour and the load ids array the cache holds
        self._ids: np.ndarray | None = None
        self._values = np.empty(0)
        self._pruned_hour: int | None = None

    def stale(self, at: float, load_ids: np.ndarray) -> bool:
        """Whether :meth:`refresh` must run before :meth:`fill` at ``at`` for ``load_ids``."""
        return self._hour != hour_start(at) or self._ids is not load_ids

    def refresh(self, at: float, load_ids: np.ndarray) -> np.ndarray:
        """Read the history of ``load_ids`` and compute their baselines at ``at``'s hour (blocking)."""
        ids = [str(i) for i in load_ids.tolist()]
        since, until = history_window(at, self.method)
        rows = self.store.history_read(ids, since, until, hour_of_day=hour_start(at) % DAY) if ids else []
        values = baselines_by_load(at, rows, ids, self.method)
        self._values = np.fromiter((values[i].watts for i in ids), dtype=np.float64, count=len(ids))
        self._hour, self._ids = hour_start(at), load_ids
        return self._values

    def fill(self, baseline_w: np.ndarray | None, positions: np.ndarray, n: int) -> np.ndarray | None:
        """``baseline_w`` (length ``n``, or ``None``: none yet) with the cached values at ``positions`` where it is
        NaN; ``None`` stays ``None`` when no history load has a baseline."""
        if not len(positions) or len(positions) != len(self._values) or not np.isfinite(self._values).any():
            return baseline_w
        out = np.full(n, np.nan) if baseline_w is None else baseline_w
        missing = np.isnan(out[positions])
        out[positions[missing]] = self._values[missing]
        return out

    def write(self, at: float, seconds: float, load_ids: np.ndarray, power_w: np.ndarray, ok: np.ndarray,
              controlled: np.ndarray) -> HistoryWrite:
        """The tick's history rows (aligned arrays of the history loads), and once per hour the pruning of rows
        older than ``history_days``."""
        hour = hour_start(at)
        write = HistoryWrite(history_rows(load_ids, power_w, ok, controlled, hour, seconds))
        if self._pruned_hour != hour:
            write.prune_before = hour - self.method.history_days * DAY
        return write

    def written(self, write: HistoryWrite, at: float) -> None:
        """The store took ``write`` (its pruning need not run again this hour)."""
        if write.prune_before is not None:
            self._pruned_hour = hour_start(at)


def describe_hours(hours: Sequence[int]) -> list[str]:
    """The UTC dates of hour starts, ISO 8601 (``ven baseline``)."""
    return [datetime.fromtimestamp(h, UTC).date().isoformat() for h in hours]


# ------------------------------------------------------------------------------------------ inspection
def parse_moment(text: str | None) -> datetime | None:
    """An ISO 8601 time (``Z`` or an offset; without one it is UTC), ``None`` for ``None``; anything else raises
    :class:`venclient.errors.InputError` naming the text."""
    from venclient.errors import InputError

    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"--at {text!r} is not an ISO 8601 time (for example 2024-03-20T14:00Z).") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def resource_baselines(store: Any, method: BaselineMethod, resource_id: str,
                       at: datetime | None = None) -> dict[str, Any]:
    """What ``ven baseline --resource`` shows: per load of ``resource_id`` its history baseline at ``at``'s hour
    (default: the hour after the resource's newest stored history, where ``ven run`` continues; now without
    history), the days used and the method.  An unknown resource, or a store keeping no history, raises
    :class:`venclient.errors.InputError` with one sentence."""
    from venclient.errors import InputError
    from venclient.protocols import HistoryRecords

    if not isinstance(store, HistoryRecords):
        raise InputError(f"The store ({type(store).__name__}) keeps no load history, so there are no history "
                         "baselines to show.")
    resource = store.get_resource(resource_id)
    if resource is None:
        raise InputError(f"Unknown resource {resource_id!r}: no resource with that id in the store.")
    loads = store.get_loads_by_resource(resource_id)
    ids = [load.load_id for load in loads]
    if at is None:
        newest = max((row[1] for row in store.history_read(ids, 0, 2 ** 62)), default=None) if ids else None
        at = datetime.fromtimestamp(newest + HOUR, UTC) if newest is not None else datetime.now(UTC)
    seconds = at.timestamp()
    since, until = history_window(seconds, method)
    rows = store.history_read(ids, since, until, hour_of_day=hour_start(seconds) % DAY) if ids else []
    values = baselines_by_load(seconds, rows, ids, method)
    reader = store.resource_connections(resource_id).get("reader")
    return {
        "resource_id": resource_id, "ven": resource.ven,
        "source": reader.type if reader is not None else "h5sim",
        "at": at.isoformat(), "hour_start": datetime.fromtimestamp(hour_start(seconds), UTC).isoformat(),
        "method": method.describe(),
        "loads": [{"load_id": load.load_id, "load_component": load.load_component,
                   "baseline_w": None if math.isnan(values[load.load_id].watts) else values[load.load_id].watts,
                   "days_used": values[load.load_id].days, "dates": describe_hours(values[load.load_id].hours)}
                  for load in loads]}
