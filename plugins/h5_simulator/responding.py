"""The simulated fleet follows events: :class:`RespondingSource` wraps the ``h5sim`` source and returns, for the
loads the scheduler instructs (:class:`venclient.protocols.FollowsEvents`), the responded watts of
:class:`venclient.plugins.h5_simulator.response.ResponseModel` instead of the H5 baseline.

Settings, table ``[h5_simulator.response]`` (every key optional)::

    [h5_simulator.response]
    enabled = true                  # false: the fleet ignores events (the H5 values as they are)
    efficiency = 0.8                # share of the shed energy that comes back after the event (0–1)
    rebound_seconds = 3600          # how long it takes to come back
    shed = { load_1 = 0.9, load_2 = 0.7 }   # per component (load_0 … load_5, or 'Water Heater' …): share shed
    levels = { 1 = 0.35, 2 = 0.7, 3 = 1.0 } # per SIMPLE level: how much of `shed` applies

The baseline (what the H5 file holds) of the last tick stays readable as :attr:`RespondingSource.baseline_w`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

import numpy as np

from venclient.engine.followed import Instructions, encode_ids
from venclient.errors import SettingsError
from venclient.model import COMPONENT_INDEX, LOAD_COMPONENTS
from venclient.protocols import HasTimeline, LoadBatch, SourceReading
from venclient.plugins.h5_simulator.response import (DEFAULT_EFFICIENCY, DEFAULT_LEVELS, DEFAULT_REBOUND_SECONDS,
                                                     DEFAULT_SHED, ResponseModel, ResponseSettings)

SIMPLE, IMPORT_CAPACITY_LIMIT = "SIMPLE", "IMPORT_CAPACITY_LIMIT"
KEY = "h5_simulator.response"


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SettingsError(f"{KEY}.{where} must be a number, got {value!r}.")
    return float(value)


def _component(name: str) -> str:
    if name in COMPONENT_INDEX:
        return name
    for component, label in LOAD_COMPONENTS.items():
        if label.lower() == str(name).strip().lower():
            return component
    raise SettingsError(f"{KEY}.shed names {name!r}, which is not a load component (load_0 … load_5 or a name "
                        f"such as 'Water Heater').")


def response_settings(settings: Any) -> ResponseSettings:
    """The ``[h5_simulator.response]`` table as :class:`ResponseSettings` (defaults for what is missing); a bad
    value is a :class:`venclient.errors.SettingsError` naming the key."""
    table = settings.get(KEY) if hasattr(settings, "get") else None
    table = dict(table or {})
    unknown = sorted(set(table) - {"enabled", "efficiency", "rebound_seconds", "shed", "levels"})
    if unknown:
        raise SettingsError(f"{KEY} has unknown key {unknown[0]!r} (use enabled, efficiency, rebound_seconds, shed, "
                            f"levels).")
    efficiency = _number(table.get("efficiency", DEFAULT_EFFICIENCY), "efficiency")
    if not 0.0 <= efficiency <= 1.0:
        raise SettingsError(f"{KEY}.efficiency must be between 0 and 1, got {efficiency:g}.")
    rebound = _number(table.get("rebound_seconds", DEFAULT_REBOUND_SECONDS), "rebound_seconds")
    if rebound <= 0:
        raise SettingsError(f"{KEY}.rebound_seconds must be more than 0, got {rebound:g}.")
    shed = dict(DEFAULT_SHED)
    for name, share in dict(table.get("shed") or {}).items():
        value = _number(share, f"shed.{name}")
        if not 0.0 <= value <= 1.0:
            raise SettingsError(f"{KEY}.shed.{name} must be between 0 and 1, got {value:g}.")
        shed[_component(str(name))] = value
    levels = dict(DEFAULT_LEVELS)
    for level, factor in dict(table.get("levels") or {}).items():
        if str(level) not in ("0", "1", "2", "3"):
            raise SettingsError(f"{KEY}.levels has level {level!r}: SIMPLE levels are 0, 1, 2 and 3.")
        levels[int(level)] = _number(factor, f"levels.{level}")
    return ResponseSettings(enabled=bool(table.get("enabled", True)), shed=shed, levels=levels,
                            efficiency=efficiency, rebound_seconds=rebound)


class RespondingSource:
    """A meter source whose loads respond to the events they are instructed with (wraps ``inner``).

    Everything but :meth:`open`, :meth:`read` and :meth:`follow` is the inner source's.  The seconds a tick
    stands for are the time since the previous tick read (the inner source's time-axis step for the first one,
    and when the clock jumps back or ahead by more than a day).
    """

    def __init__(self, inner: Any, settings: ResponseSettings):
        self.inner = inner
        self.settings = settings
        self.kinds = inner.kinds
        self.baseline_w: np.ndarray | None = None
        self._batch: LoadBatch | None = None
        self._ids: np.ndarray | None = None  # the batch's load ids, encoded (encode_ids), once instructed
        self._sorter: np.ndarray | None = None  # their sort order, once instructions came in another order
        self._model = ResponseModel(settings, 0)
        self._components = np.zeros(0, dtype=np.int8)
        self._resource_index = np.zeros(0, dtype=np.intp)
        self._resources = 0
        self._levels = np.full(0, np.nan)
        self._limits = np.full(0, np.nan)
        self._last_time: datetime | None = None
        self._instructed = False  # some load has a SIMPLE level or a capacity limit (set by follow)

    def __getattr__(self, name: str) -> Any:
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)  # timeline, validate_connection, test_read, wait_ready, close …

    async def open(self, batch: LoadBatch) -> None:
        """Open the inner source; instructions and debts start afresh for the new batch.

        The look-up tables an instruction needs (the encoded load ids, resource numbering) are built by the first
        :meth:`follow`, so a run without demand-response events does not hold them."""
        await self.inner.open(batch)
        self._batch = batch
        self._ids = self._sorter = None
        self._components = np.asarray(batch.components, dtype=np.int8)
        self._resource_index = np.zeros(0, dtype=np.intp)
        self._resources = 0
        self._model = ResponseModel(self.settings, len(batch))
        self._levels = np.full(len(batch), np.nan)
        self._limits = np.full(0, np.nan)
        self._instructed = False

    def _index(self) -> None:
        """Encode the opened batch's load ids and number its resources (once per batch)."""
        batch = self._batch
        if batch is None or self._ids is not None:
            return
        self._ids = encode_ids(np.asarray(batch.load_ids, dtype=object).tolist())
        names, index = np.unique(np.asarray(batch.resource_ids, dtype=object), return_inverse=True)
        self._resource_index = np.asarray(index, dtype=np.intp).reshape(-1)
        self._resources = len(names)
        self._limits = np.full(self._resources, np.nan)

    def _positions(self, ids: np.ndarray) -> np.ndarray | slice:
        """Where the encoded ``ids`` are in the batch (ids it does not hold left out); every position at once
        when they are the batch's own ids in its order (a fleet-wide event)."""
        own = self._ids
        if own is None or not len(own):
            return np.zeros(0, dtype=np.intp)
        if len(ids) == len(own) and (ids is own or bool(np.array_equal(ids, own))):
            return slice(None)
        if self._sorter is None:
            self._sorter = np.argsort(own, kind="stable")
        at = np.minimum(np.searchsorted(own, ids, sorter=self._sorter), len(own) - 1)
        found = self._sorter[at]
        return found[own[found] == ids]

    def follow(self, instructions: Mapping[str, Mapping[str, float]]) -> None:
        """SIMPLE levels per load and IMPORT_CAPACITY_LIMIT (watts) per resource (the lowest named for any of its
        loads) from now on.  :class:`venclient.engine.followed.Instructions` are applied a group at a time;
        another mapping a load at a time."""
        self._index()
        levels = np.full(len(self._levels), np.nan)
        limits = np.full(self._resources, np.nan)
        if isinstance(instructions, Instructions):
            groups = [(group.ids, group.values) for group in instructions.groups]
        else:  # any mapping: its loads grouped by the values object they share (a dict.fromkeys: one group)
            shared: dict[int, tuple[Mapping[str, float], list[str]]] = {}
            for load_id, values in instructions.items():
                shared.setdefault(id(values), (values, []))[1].append(load_id)
            groups = [(encode_ids(ids), values) for values, ids in shared.values()]
        for ids, values in groups:
            at = self._positions(ids)
            if SIMPLE in values:
                levels[at] = float(values[SIMPLE])
            if IMPORT_CAPACITY_LIMIT in values:
                # the lowest limit named for any load of a resource (fmin: NaN, nothing named yet, loses)
                np.fmin.at(limits, self._resource_index[at], float(values[IMPORT_CAPACITY_LIMIT]))
        self._levels, self._limits = levels, limits
        self._instructed = bool((~np.isnan(levels)).any() or (~np.isnan(limits)).any())

    def _seconds(self, moment: datetime) -> float:
        previous, self._last_time = self._last_time, moment
        if previous is not None:
            seconds = (moment - previous).total_seconds()
            if 0.0 < seconds <= 86400.0:
                return seconds
        timeline = self.inner.timeline() if isinstance(self.inner, HasTimeline) else None
        if timeline is not None and len(timeline) > 1:
            return float(np.median(np.diff(np.asarray(timeline, dtype=np.float64))))
        return 0.0

    async def read(self, tick: Any) -> SourceReading:
        """The inner reading with the responded watts of instructed (and rebounding) loads."""
        reading = await self.inner.read(tick)
        self.baseline_w = reading.power_w
        seconds = self._seconds(tick.time)
        if not self.settings.enabled or len(reading.power_w) != len(self._levels):
            return reading
        if not self._instructed and not self._model.owing:
            return reading  # nothing to respond to, nothing to pay back: the baseline as it is (no array pass)
        responded = self._model.apply(reading.power_w, seconds, components=self._components,
                                      simple_levels=self._levels, resource_index=self._resource_index,
                                      capacity_limits_w=self._limits)
        return SourceReading(responded, reading.quality)
