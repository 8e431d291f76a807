"""The collector: one tick of meter readings for the approved loads of some VENs, from every source at once.

A :class:`Collector` asks the store which loads to read (``collection_rows``: enabled resources with
status APPROVED, ordered by VEN, resource and component), builds a :class:`CollectionPlan` (position-aligned
numpy arrays, a slice per VEN), gives each meter source one :class:`venclient.protocols.LoadBatch` with the loads
of the connection kinds it serves, and on every tick reads all sources concurrently, each under a deadline
(setting ``collect.source_timeout_seconds``).  A source that is late, raises, or answers with the wrong
length gives ``QUALITY_MISSING`` for its loads that tick — the others still deliver.  Every value is then
checked against its load's bounds (:mod:`venclient.plausibility`, from the resource's capacities or the reader
connection's ``min_watts``/``max_watts``): one that is not finite or outside them becomes NaN with
``QUALITY_INVALID`` (as does a value a source marked invalid itself), warned about once per streak per
connection.  The result is one :class:`venclient.model.Readings` for the whole plan (arrays, never an object
per load), and the ``ven_readings`` hook observes it.  Its ``baseline_w`` comes from the sources that have one
(:class:`venclient.protocols.HasBaseline`) and, with :attr:`Collector.history` set (``ven run``), from stored
history for the other loads (:mod:`venclient.engine.baseline`, read once per hour).

Usage (async)::

    async with Collector.from_runtime(runtime, vens=["Herning"]) as collector:
        readings = await collector.collect(clock.tick)
        herning = collector.plan.ven_slice("Herning")
        readings.power_w[herning], collector.plan.vtn_resource_ids[herning]

:mod:`venclient.engine.simulator` wraps this in the seeds' synchronous API.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from venclient.clock import Clock, Tick
from venclient.errors import InputError, VenError
from venclient.plugin_manager import IsolatedHook
from venclient.model import (APPROVED, COMPONENT_INDEX, QUALITY_INVALID, QUALITY_MISSING, CollectionRow, Connection,
                              Readings)
from venclient.plausibility import StreakWarnings, load_bounds
from venclient.protocols import (ForecastsPower, HasBaseline, HasRegisterReading, HasTimeline, LoadBatch,
                                 MeterSource, ReadsCapacities, ResourceStore, SourceReading, WaitsReady)

log = logging.getLogger(__name__)

DEFAULT_SOURCE_TIMEOUT = 5.0
DEFAULT_OPEN_TIMEOUT = 120.0
NO_CONNECTION = -1
VENS_PER_QUERY = 16  # the plan is read from the store a few VENs at a time to keep peak memory low
POWER_CAPACITIES = ("MAX_POWER_CONSUMPTION", "MAX_POWER_EXPORT")  # the capacities the bounds are made of


# ------------------------------------------------------------------------------------------ the plan
@dataclass
class CollectionPlan:
    """The loads a collector reads, as arrays aligned by position, grouped by VEN then resource.

    Object arrays hold ``str``; ``component_index`` is 0..5, ``registered`` is whether the load has a VTN
    resource id, and ``connection_ids`` is ``-1`` where a resource has no reader connection (the default
    h5sim).  Rows of one VEN are contiguous (``ven_slices``), and so are the rows of one resource
    (``resource_starts`` holds the first position of each resource, ascending).  ``low_w`` / ``high_w``
    are each load's plausible watts (:func:`venclient.plausibility.load_bounds`), and ``common_bounds`` the
    range inside every load's (``(max(low_w), min(high_w))``: a tick within it needs no per-load check).
    Treat the arrays as read-only: every tick's :class:`Readings` shares them.
    """

    load_ids: np.ndarray
    resource_ids: np.ndarray
    components: np.ndarray
    component_index: np.ndarray
    h5_meter_ids: np.ndarray
    connection_ids: np.ndarray
    meter_point_ids: np.ndarray
    vens: np.ndarray
    registered: np.ndarray
    kinds: np.ndarray
    ven_slices: dict[str, slice]
    resource_starts: np.ndarray
    connections: dict[int, Connection] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    low_w: np.ndarray = field(default_factory=lambda: np.empty(0))
    high_w: np.ndarray = field(default_factory=lambda: np.empty(0))
    common_bounds: tuple[float, float] = (0.0, 0.0)

    def __len__(self) -> int:
        return len(self.load_ids)

    def ven_slice(self, ven: str) -> slice:
        """The positions of ``ven``'s loads (an empty slice for a VEN with nothing to collect)."""
        return self.ven_slices.get(ven, slice(0, 0))

    def resource_bounds(self, positions: slice | None = None) -> np.ndarray:
        """Start positions of the resources inside ``positions`` (all by default), plus the end position."""
        sl = positions or slice(0, len(self))
        start, stop = sl.start or 0, len(self) if sl.stop is None else sl.stop
        lo, hi = np.searchsorted(self.resource_starts, [start, stop])
        return np.append(self.resource_starts[lo:hi], stop)

    @classmethod
    def empty(cls) -> "CollectionPlan":
        """A plan with no loads."""
        return _build_plan([], lambda ids: {}, {})


def _build_plan(chunks: Iterable[Sequence[CollectionRow]],
                connections_for: Callable[[set[int]], dict[int, Connection]],
                served: Mapping[str, Any],
                capacities_for: Callable[[str], Mapping[str, Any] | None] | None = None) -> CollectionPlan:
    """Turn ``collection_rows`` chunks into a plan, keeping only loads of served kinds and known components.

    ``chunks`` is consumed one chunk at a time (each can be dropped once read), so peak memory stays near
    the plan's own size; ``connections_for`` fetches the connections of the ids seen; ``capacities_for``
    gives a resource's capacities (called once all chunks are read) for its loads' bounds.
    """
    interned: dict[Any, Any] = {}
    share = interned.setdefault  # repeated values (resource id, VEN, component, meter …) share one str object
    load_ids: list[str] = []
    resource_ids: list[str] = []
    components: list[str] = []
    meters: list[Any] = []
    conn_ids: list[int | None] = []
    meter_points: list[str] = []
    vens: list[str] = []
    registered: list[bool] = []
    kinds: list[str] = []
    skipped: dict[str, int] = {}
    for rows in chunks:
        for row in rows:
            kind, component, ven = row.connection_type, row.load_component, row.ven
            if kind not in served or component not in COMPONENT_INDEX or ven is None:
                key = kind if kind not in served else ("<no VEN>" if ven is None else f"<component {component}>")
                skipped[key] = skipped.get(key, 0) + 1
                continue
            load_ids.append(row.load_id)
            resource_ids.append(share(row.resource_id, row.resource_id))
            components.append(share(component, component))
            meters.append(share(row.h5_meter_id, row.h5_meter_id))
            conn_ids.append(share(row.connection_id, row.connection_id))
            meter_points.append(share(row.meter_point_id, row.meter_point_id))
            vens.append(share(ven, ven))
            registered.append(row.vtn_resource_id is not None)
            kinds.append(share(kind, kind))
        del rows
    del interned
    connections = connections_for({c for c in set(conn_ids) if c is not None})

    def obj(values: list[Any]) -> np.ndarray:
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out

    n = len(load_ids)
    ven_array = obj(vens)
    resource_array = obj(resource_ids)
    ven_slices: dict[str, slice] = {}
    start = 0
    for i in range(1, n + 1):
        if i == n or vens[i] != vens[start]:
            ven_slices[vens[start]] = slice(start, i)
            start = i
    if n:
        changes = np.flatnonzero(resource_array[1:] != resource_array[:-1]) + 1
        resource_starts = np.concatenate(([0], changes)).astype(np.intp)
    else:
        resource_starts = np.empty(0, dtype=np.intp)
    conn_array = np.fromiter((NO_CONNECTION if c is None else c for c in conn_ids), dtype=np.int64, count=n)
    low, high = _bounds(resource_array, conn_array, resource_starts, connections, capacities_for)
    return CollectionPlan(
        load_ids=obj(load_ids), resource_ids=resource_array, components=obj(components),
        component_index=np.fromiter((COMPONENT_INDEX[c] for c in components), dtype=np.int8, count=n),
        h5_meter_ids=obj(meters),
        connection_ids=conn_array,
        meter_point_ids=obj(meter_points), vens=ven_array, registered=np.array(registered, dtype=bool),
        kinds=obj(kinds),
        ven_slices=ven_slices, resource_starts=resource_starts,
        connections={cid: connections[cid] for cid in set(conn_ids) if cid is not None and cid in connections},
        skipped=skipped, low_w=low, high_w=high,
        common_bounds=(float(low.max()), float(high.min())) if n else (0.0, 0.0))


def _bounds(resource_ids: np.ndarray, connection_ids: np.ndarray, resource_starts: np.ndarray,
            connections: Mapping[int, Connection],
            capacities_for: Callable[[str], Mapping[str, Any] | None] | None) -> tuple[np.ndarray, np.ndarray]:
    """Per load ``(low, high)`` watts: the bounds of its resource read through that resource's reader connection."""
    lows = np.empty(len(resource_starts))
    highs = np.empty(len(resource_starts))
    known: dict[tuple[str, str, int], tuple[float, float]] = {}  # most resources share their capacities
    for i, start in enumerate(resource_starts.tolist()):
        connection_id = int(connection_ids[start])
        capacities = capacities_for(resource_ids[start]) if capacities_for is not None else None
        capacities = capacities if isinstance(capacities, Mapping) else {}
        key = (repr(capacities.get("MAX_POWER_CONSUMPTION")), repr(capacities.get("MAX_POWER_EXPORT")),
               connection_id)
        if key not in known:
            connection = connections.get(connection_id)
            params = connection.params if connection is not None and isinstance(connection.params, dict) else None
            known[key] = load_bounds(capacities, params)
        lows[i], highs[i] = known[key]
    counts = np.diff(np.append(resource_starts, len(resource_ids)))
    return np.repeat(lows, counts), np.repeat(highs, counts)


# ------------------------------------------------------------------------------------------ sources
@dataclass(eq=False)
class _SourceRun:
    """One source's share of the plan: its batch, where its values go, and its health."""

    source: Any
    name: str
    positions: np.ndarray
    batch: LoadBatch
    whole_plan: bool = False
    opened: bool = False
    failing: bool = False


def source_name(source: Any) -> str:
    """``H5MeterSource (h5sim)`` — how messages name a source."""
    return f"{type(source).__name__} ({', '.join(source.kinds)})"


def _same_batch(a: LoadBatch, b: LoadBatch) -> bool:
    return (len(a) == len(b) and np.array_equal(a.load_ids, b.load_ids)
            and np.array_equal(a.connection_ids, b.connection_ids)
            and np.array_equal(a.h5_meter_ids, b.h5_meter_ids)
            and np.array_equal(a.components, b.components) and a.connections == b.connections)


# ------------------------------------------------------------------------------------------ collector
class Collector:
    """Reads the approved loads of ``vens`` (all VENs when ``None``) from every source, one tick at a time.

    Lifecycle: :meth:`open` (or ``async with``) builds the plan and opens each source with its batch;
    :meth:`refresh` re-reads the store after statuses or connections changed and re-opens only the sources
    whose batch changed (``open`` again, as the MeterSource contract says; ``close`` for a source left with
    no loads); :meth:`collect` reads one tick; :meth:`close` closes every source.

    A source serving several kinds gets one batch with all of them.  Loads of a kind no enabled source
    serves are left out of the plan with one warning per kind for the collector's lifetime.  With
    ``strict_open`` (the default, for commands) a source that cannot open raises its
    :class:`venclient.errors.VenError`; without it (long-running services) the error is logged once and that
    source's loads stay missing until the next :meth:`refresh`.  ``strict_input`` makes an
    :class:`venclient.errors.InputError` at a source's *first* open (a meter data file that is missing or not
    readable) raise even without ``strict_open``: a service refuses bad input, and later only logs it.
    """

    def __init__(self, store: ResourceStore, sources: Mapping[str, MeterSource], *, vens: Sequence[str] | None = None,
                 status: str = APPROVED, hook: Any = None, source_timeout: float = DEFAULT_SOURCE_TIMEOUT,
                 open_timeout: float = DEFAULT_OPEN_TIMEOUT, strict_open: bool = True, strict_input: bool = False):
        self.store = store
        self.sources = dict(sources)
        self.vens = list(vens) if vens is not None else None
        self.status = status
        self.readings_hook = IsolatedHook(hook.ven_readings) if hook is not None else None
        self.source_timeout = float(source_timeout)
        self.open_timeout = float(open_timeout)
        self.strict_open = strict_open
        self.strict_input = strict_input
        self._tried: set[int] = set()  # ids of sources opened at least once (strict_input: first opens only)
        self._plan: CollectionPlan | None = None
        self._runs: list[_SourceRun] = []
        self._warned: set[str] = set()
        self._invalid_streaks = StreakWarnings()
        # Baselines from stored history for loads whose source has none (venclient.engine.baseline), when set.
        self.history: Any = None
        self._history_of: tuple[Any, np.ndarray, np.ndarray] | None = None  # (plan, positions, load ids)

    @classmethod
    def from_runtime(cls, runtime: Any, vens: Sequence[str] | None = None, **options: Any) -> "Collector":
        """A collector on the runtime's store, fresh meter sources, hooks and ``collect.*`` settings."""
        options.setdefault("source_timeout", float(runtime.settings.get("collect.source_timeout_seconds",
                                                                         DEFAULT_SOURCE_TIMEOUT)))
        return cls(runtime.store(), runtime.meter_sources(), vens=vens, hook=runtime.pm.hook, **options)

    # ------------------------------------------------------------------------------ properties
    @property
    def plan(self) -> CollectionPlan:
        """The current plan (built by :meth:`open` / :meth:`refresh`)."""
        if self._plan is None:
            raise RuntimeError("Collector.open() must run before the plan is used")
        return self._plan

    @property
    def is_open(self) -> bool:
        """Whether :meth:`open` has run (and :meth:`close` has not)."""
        return self._plan is not None

    def timeline(self) -> np.ndarray | None:
        """The time axis of the first source that replays recorded data (``source.timeline()``), if any."""
        for source in _unique(self.sources.values()):
            if not isinstance(source, HasTimeline):
                continue
            try:
                axis = source.timeline()
            except VenError as err:  # e.g. an unreadable H5 file while no load is simulated
                self._warn_once(f"timeline:{err}", "%s The clock follows the wall clock.", err)
                continue
            if axis is not None and len(axis):
                return np.asarray(axis, dtype=np.float64)
        return None

    def history_loads(self) -> tuple[np.ndarray, np.ndarray]:
        """``(positions, load ids)`` of the plan's loads whose source has no baseline of its own (not
        :class:`HasBaseline`: real meters): the loads a history baseline is kept for.  Cached per plan."""
        plan = self.plan
        if self._history_of is None or self._history_of[0] is not plan:
            own = [run.positions for run in self._runs if not isinstance(run.source, HasBaseline)]
            positions = np.sort(np.concatenate(own)).astype(np.intp) if own else np.empty(0, dtype=np.intp)
            self._history_of = (plan, positions, plan.load_ids[positions])
        return self._history_of[1], self._history_of[2]

    def can_forecast(self) -> bool:
        """Whether a source can look ahead (:class:`venclient.protocols.ForecastsPower`)."""
        return any(isinstance(source, ForecastsPower) for source in self.sources.values())

    def forecast_w(self, times: Sequence[datetime]) -> np.ndarray:
        """The plan's watts at each of ``times`` from the sources that look ahead (``ForecastsPower``): shape
        ``(len(times), len(plan))``, NaN for loads of other sources (and of a source whose look-ahead fails, with
        one warning).  Blocking (a source may read a file)."""
        out = np.full((len(times), len(self.plan)), np.nan)
        for run in self._runs:
            if not run.opened or not isinstance(run.source, ForecastsPower):
                continue
            try:
                out[:, run.positions] = run.source.forecast_w(run.batch, times)
            except Exception as err:  # noqa: BLE001 - one source failing leaves its loads without a forecast
                self._warn_once(f"forecast:{run.name}", "Meter source %s could not look ahead (%s); its loads "
                                "have no forecast.", run.name, err)
        return out

    def build_clock(self, settings: Any, start_index: int = 0) -> Clock:
        """A :class:`Clock` in the settings' mode over :meth:`timeline` (wall clock only without one); a replay
        clock starts at row ``start_index``."""
        return Clock.from_settings(settings, self.timeline(), start_index=start_index)

    # ------------------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> "Collector":
        await self.open()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def open(self) -> CollectionPlan:
        """Build the plan and open every source that has loads; returns the plan."""
        return await self.refresh()

    async def refresh(self) -> CollectionPlan:
        """Re-read the loads from the store; (re)open sources whose batch changed, close those left empty."""
        plan = await asyncio.to_thread(self._load_plan)
        self._warn_skipped(plan)
        old_runs = {id(run.source): run for run in self._runs}
        runs = self._split(plan)
        to_open = []
        for run in runs:
            old = old_runs.pop(id(run.source), None)
            if old is not None and old.opened and _same_batch(old.batch, run.batch):
                run.opened, run.failing = True, old.failing
            else:
                to_open.append(run)
        for stale in old_runs.values():
            if stale.opened:
                await self._close_source(stale)
        results = await asyncio.gather(*(self._open_source(run, id(run.source) not in self._tried)
                                         for run in to_open), return_exceptions=True)
        self._tried.update(id(run.source) for run in to_open)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:  # an open that must fail the caller: close what did open, so nothing is left running
            for run in to_open:
                if run.opened:
                    await self._close_source(run)
            raise errors[0]
        self._plan, self._runs = plan, runs
        return plan

    async def close(self) -> None:
        """Close every opened source; the collector can be opened again."""
        for run in self._runs:
            if run.opened:
                await self._close_source(run)
        self._runs = []
        self._plan = None

    def _load_plan(self) -> CollectionPlan:
        def connections_for(ids: set[int]) -> dict[int, Connection]:
            return self.store.connections_by_id(ids) if ids else {}

        capacities: dict[str, Mapping[str, Any]] = {}
        return _build_plan(self._row_chunks(capacities), connections_for, self.sources, capacities.get)

    def _row_chunks(self, capacities: dict[str, Mapping[str, Any]]) -> Iterator[Sequence[CollectionRow]]:
        """``collection_rows`` a few VENs at a time; the power capacities of those VENs' resources go into
        ``capacities`` (resource id -> capacities, one shared mapping per distinct pair of values) on the way."""
        vens = self.vens if self.vens is not None else self.store.get_ven_list()
        shared: dict[str, Mapping[str, Any]] = {}
        for i in range(0, len(vens), VENS_PER_QUERY):
            rows = self.store.collection_rows(vens[i:i + VENS_PER_QUERY], status=self.status)
            if rows:
                for resource_id, given in self._capacities({row.ven for row in rows if row.ven is not None}).items():
                    power = {key: given[key] for key in POWER_CAPACITIES if key in given}
                    if power:
                        capacities[resource_id] = shared.setdefault(repr(power), power)
            yield rows

    def _capacities(self, vens: set[str]) -> dict[str, Mapping[str, Any]]:
        if isinstance(self.store, ReadsCapacities):
            return self.store.resource_capacities(sorted(vens))
        return {r.resource_id: r.capacities for ven in sorted(vens) for r in self.store.list_resources(ven=ven)
                if r.capacities}

    def _split(self, plan: CollectionPlan) -> list[_SourceRun]:
        """One run per distinct source object, with the positions of every kind it serves."""
        runs: list[_SourceRun] = []
        if not len(plan):
            return runs
        kind_names, kind_codes = np.unique(plan.kinds.astype(str), return_inverse=True)
        for source in _unique(self.sources.values()):
            codes = [i for i, kind in enumerate(kind_names.tolist()) if self.sources.get(kind) is source]
            if not codes:
                continue
            positions = np.flatnonzero(np.isin(kind_codes, codes))
            conn_ids = plan.connection_ids[positions]
            batch = LoadBatch(
                load_ids=plan.load_ids[positions], resource_ids=plan.resource_ids[positions],
                components=plan.component_index[positions], h5_meter_ids=plan.h5_meter_ids[positions],
                connection_ids=conn_ids,
                connections={int(c): plan.connections[int(c)] for c in np.unique(conn_ids).tolist()
                             if int(c) in plan.connections})
            runs.append(_SourceRun(source=source, name=source_name(source), positions=positions, batch=batch,
                                   whole_plan=len(positions) == len(plan)))
        return runs

    async def _open_source(self, run: _SourceRun, first: bool = False) -> None:
        try:
            await asyncio.wait_for(run.source.open(run.batch), self.open_timeout)
            if isinstance(run.source, WaitsReady) and not await run.source.wait_ready(self.source_timeout):
                self._warn_once(f"ready:{run.name}", "Meter source %s is not ready after %g s; its loads may be "
                                "missing on the first ticks.", run.name, self.source_timeout)
        except VenError as err:
            if self.strict_open or (first and self.strict_input and isinstance(err, InputError)):
                raise
            self._open_failed(run, str(err))
        except asyncio.TimeoutError:
            message = f"Meter source {run.name} did not open within {self.open_timeout:g} s."
            if self.strict_open:
                raise VenError(message) from None
            self._open_failed(run, message)
        except Exception as err:  # noqa: BLE001 - a plugin can fail in any way
            message = f"Meter source {run.name} could not open: {err}"
            if self.strict_open:
                raise VenError(message) from err
            log.debug("open failed", exc_info=True)
            self._open_failed(run, message)
        else:
            run.opened = True

    def _open_failed(self, run: _SourceRun, message: str) -> None:
        run.opened = False
        self._warn_once(f"open:{run.name}:{message}", "%s Its %d loads report no value until it opens.",
                        message, len(run.batch))

    async def _close_source(self, run: _SourceRun) -> None:
        try:
            await asyncio.wait_for(run.source.close(), self.source_timeout)
        except Exception:  # noqa: BLE001 - closing must not fail the caller
            log.warning("Meter source %s did not close cleanly.", run.name, exc_info=True)
        run.opened = False

    # ------------------------------------------------------------------------------ ticks
    async def collect(self, tick: Tick) -> Readings:
        """Readings of every load of the plan at ``tick``; then the ``ven_readings`` hook sees them."""
        plan = self.plan
        runs = [run for run in self._runs if run.opened]
        results = await asyncio.gather(*(self._read_source(run, tick) for run in runs))
        n = len(plan)
        if len(runs) == 1 and runs[0].whole_plan and results[0] is not None:
            # A copy: a source may reuse its buffers, and every tick's Readings must stay as collected.
            power = np.array(results[0].power_w, dtype=np.float64)
            quality = np.array(results[0].quality, dtype=np.uint8)
        else:
            power = np.full(n, np.nan)
            quality = np.full(n, QUALITY_MISSING, dtype=np.uint8)
            for run, reading in zip(runs, results):
                if reading is not None:
                    power[run.positions] = reading.power_w
                    quality[run.positions] = reading.quality
        self._drop_implausible(plan, power, quality)
        baseline = self._baselines(runs, results, n)
        if self.history is not None:
            baseline = await self._history_baselines(tick, baseline, n)
        readings = Readings(timestamp_ms=tick.timestamp_ms, load_ids=plan.load_ids, resource_ids=plan.resource_ids,
                            components=plan.components, power_w=power, quality=quality, baseline_w=baseline,
                            register_kwh=self._registers(runs, results, n))
        self._notify(tick, readings)
        return readings

    @staticmethod
    def _per_source(runs: list[_SourceRun], results: list[SourceReading | None], n: int, capability: type,
                    attribute: str) -> np.ndarray | None:
        """The plan's values of ``attribute`` from the sources with ``capability`` that read this tick (aligned
        with their batch), NaN elsewhere; ``None`` when no source had any."""
        out: np.ndarray | None = None
        for run, reading in zip(runs, results):
            values = getattr(run.source, attribute, None) if isinstance(run.source, capability) else None
            if reading is None or values is None or len(values) != len(run.positions):
                continue
            if out is None:
                out = np.full(n, np.nan)
            out[run.positions] = values
        return out

    @classmethod
    def _baselines(cls, runs: list[_SourceRun], results: list[SourceReading | None], n: int) -> np.ndarray | None:
        """The plan's baseline watts from the sources that have one (:class:`HasBaseline`), NaN elsewhere;
        ``None`` when no source read one this tick."""
        return cls._per_source(runs, results, n, HasBaseline, "baseline_w")

    @classmethod
    def _registers(cls, runs: list[_SourceRun], results: list[SourceReading | None], n: int) -> np.ndarray | None:
        """The plan's meter register readings (kWh) from the sources that have one (:class:`HasRegisterReading`),
        NaN elsewhere; ``None`` when no source read one this tick."""
        return cls._per_source(runs, results, n, HasRegisterReading, "energy_register_kwh")

    async def _history_baselines(self, tick: Tick, baseline: np.ndarray | None, n: int) -> np.ndarray | None:
        """``baseline`` with the history baselines (:attr:`history`) of the loads whose source has none; the store
        is read only when the hour or the plan changed.  A store that cannot be read leaves them NaN (warned once;
        tried again next tick)."""
        positions, load_ids = self.history_loads()
        if not len(positions):
            return baseline
        at = tick.time.timestamp()
        if self.history.stale(at, load_ids):
            try:
                await asyncio.to_thread(self.history.refresh, at, load_ids)
            except Exception as err:  # noqa: BLE001 - a baseline must never cost the readings
                self._warn_once(f"history:{type(err).__name__}", "The load history for baselines could not be "
                                "read (%s); real meters have no BASELINE until it can.", err)
                return baseline
        return self.history.fill(baseline, positions, n)

    def _drop_implausible(self, plan: CollectionPlan, power: np.ndarray, quality: np.ndarray) -> None:
        """Values outside their load's bounds or not finite (NaN is missing, not that) become NaN with
        ``QUALITY_INVALID``, in place, as do values a source marked invalid; a connection starting a streak of
        them is warned about once."""
        low, high = plan.common_bounds
        within = len(power) == 0 or (np.fmin.reduce(power) >= low and np.fmax.reduce(power) <= high)  # NaN ignored
        if within and (len(quality) == 0 or quality.max() < QUALITY_INVALID):
            bad = None
        else:
            bad = (power < plan.low_w) | (power > plan.high_w)  # infinities too; NaN compares False
            bad |= quality == QUALITY_INVALID
        if bad is None or not bad.any():
            if self._invalid_streaks.any_open():  # connections reading plausibly again end their streaks
                self._invalid_streaks.update(set(), self._read_keys(plan, power))
            return
        positions = np.flatnonzero(bad)
        keys = plan.connection_ids[positions]
        wrong = power[positions]
        power[positions] = np.nan
        quality[positions] = QUALITY_INVALID
        started = self._invalid_streaks.update(set(keys.tolist()), self._read_keys(plan, power))
        for key in sorted(started):
            mine = keys == key
            position, value = int(positions[mine][0]), float(wrong[mine][0])
            low, high = float(plan.low_w[position]), float(plan.high_w[position])
            shown = "no number" if value != value else f"{value:g} W"
            log.warning("%s read implausible values for %d loads (e.g. %s for %s of resource %s, plausible: "
                        "%g … %g W); they are reported as invalid, not as values, until it reads plausibly again.",
                        self._connection_name(plan, key), int(mine.sum()), shown, plan.components[position],
                        plan.resource_ids[position], low, high)

    @staticmethod
    def _read_keys(plan: CollectionPlan, power: np.ndarray) -> set[int]:
        """The connection ids (``NO_CONNECTION`` for none) that have a value this tick."""
        return set(np.unique(plan.connection_ids[~np.isnan(power)]).tolist())

    @staticmethod
    def _connection_name(plan: CollectionPlan, connection_id: int) -> str:
        connection = plan.connections.get(connection_id)
        if connection is None:
            return "The simulated meter data (h5sim)" if connection_id == NO_CONNECTION else \
                f"Meter connection {connection_id}"
        where = connection.topic or connection.file or (f"{connection.host}:{connection.port}" if connection.host
                                                        else "")
        return f"Meter connection {connection_id} ({connection.type}{' ' + where if where else ''})"

    async def _read_source(self, run: _SourceRun, tick: Tick) -> SourceReading | None:
        try:
            reading = await asyncio.wait_for(run.source.read(tick), self.source_timeout)
        except asyncio.TimeoutError:
            return self._source_failed(run, f"did not answer within {self.source_timeout:g} s")
        except Exception as err:  # noqa: BLE001 - read must not raise, but a plugin can
            log.debug("read failed", exc_info=True)
            return self._source_failed(run, f"failed: {err}")
        if len(reading.power_w) != len(run.batch) or len(reading.quality) != len(run.batch):
            return self._source_failed(run, f"returned {len(reading.power_w)} values for {len(run.batch)} loads")
        if run.failing:
            run.failing = False
            log.info("Meter source %s answers again.", run.name)
        return reading

    def _source_failed(self, run: _SourceRun, what: str) -> None:
        if not run.failing:  # one warning per failure streak, not one per tick
            run.failing = True
            log.warning("Meter source %s %s; its %d loads are missing until it answers again.",
                        run.name, what, len(run.batch))
        return None

    def _notify(self, tick: Tick, readings: Readings) -> None:
        """Call every ``ven_readings`` implementation (:class:`venclient.plugin_manager.IsolatedHook`)."""
        if self.readings_hook is not None:
            self.readings_hook(tick=tick, readings=readings)

    # ------------------------------------------------------------------------------ helpers
    def _warn_skipped(self, plan: CollectionPlan) -> None:
        for what, count in sorted(plan.skipped.items()):
            if what == "<no VEN>":
                message = "%d loads belong to resources without a VEN; they are not collected."
                self._warn_once(f"skip:{what}", message, count)
            elif what.startswith("<component"):
                self._warn_once(f"skip:{what}", "%d loads have an unknown load component %s; they are not "
                                "collected.", count, what[len("<component "):-1])
            else:
                known = ", ".join(sorted(self.sources)) or "none"
                self._warn_once(f"skip:{what}", "%d loads use connection kind %r, which no enabled plugin serves "
                                "(served kinds: %s); they are not collected.", count, what, known)

    def _warn_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)


def _unique(items: Iterable[Any]) -> list[Any]:
    """Distinct objects by identity, in first-seen order."""
    seen: dict[int, Any] = {}
    for item in items:
        seen.setdefault(id(item), item)
    return list(seen.values())


def tidy_watts(values: np.ndarray) -> np.ndarray:
    """Watts rounded to 7 significant digits: float32-stored data printed as written (``123.45``,
    not ``123.44999694824219``).  NaN stays NaN."""
    values = np.asarray(values, dtype=np.float64)
    out = values.copy()
    finite = np.isfinite(values) & (values != 0)
    if finite.any():
        magnitude = np.floor(np.log10(np.abs(values[finite])))
        scale = 10.0 ** (6 - magnitude)
        out[finite] = np.round(values[finite] * scale) / scale
    return out
