"""Carrying events out over time: :class:`EventScheduler` turns the known events into writes at their interval
boundaries, in the clock's time.

* **Plan** (:meth:`EventScheduler.replan`, after every change the event engine dispatches): for each event and each
  VEN we run, the event's :class:`~venclient.engine.timeline.Timeline` from the ``received`` moment and ``seed`` the
  store keeps for that VEN and event (:class:`venclient.protocols.EventStateRecords`; drawn and stored the first
  time, so a restart shifts ``randomizeStart`` the same way and 'do it now' keeps its origin); the loads the event
  targets (:mod:`venclient.engine.targets`) and, of those, the ones whose resource has a writer connection of a
  kind an enabled writer serves (the connection's ``params.loads`` may narrow it to some components).
* **Reconcile** (:meth:`EventScheduler.reconcile`, at every boundary and after every replan): per writer-connected
  load, per payload type, the slot that applies now (:func:`~venclient.engine.timeline.winning_slot` over every
  event targeting the load); the connection chooses what it follows and how it is written
  (:mod:`venclient.engine.writer_mapping`); **only values that differ from what this run last wrote are written**;
  a load nothing applies to any more (the interval ended, the event was removed, cancelled or the load opted out)
  gets the connection's ``release_value`` (nothing when unset).  After a restart nothing has been written yet, so
  what is active now is written once; past intervals are not replayed.  Interval starts and ends are told to
  plugins through ``ven_event_interval(phase, event, interval, loads, opted_out)`` (``phase`` ``"start"`` /
  ``"end"``).
* **When**: with the wall clock :meth:`EventScheduler.follow_wall_clock` is a task sleeping until the next boundary
  (or a replan); with the replay clock ``ven run`` calls :meth:`EventScheduler.reconcile` every tick with the
  tick's time (boundaries fall on the tick at or after them).

Sources whose loads respond themselves (:class:`venclient.protocols.FollowsEvents`: the simulated fleet) are not
written to: at every reconcile they are told, per targeted load, the winning ``SIMPLE`` and
``IMPORT_CAPACITY_LIMIT`` values (:attr:`EventScheduler.followers`, set by ``ven run`` from the collector's sources)
as :class:`venclient.engine.followed.Instructions` (loads grouped by their values, ids as compact arrays; a plan
keeps its targeted loads' ids the same way, once per distinct selection — never a ``str`` per load).

Opt-outs (``ven events opt-out``; re-read at every reconcile) keep a resource's loads, or every load, of one event
from being written to: a load that was acted on gets its release value when it opts out.  An instantaneous slot
(a one-shot command without duration) is acted on only when a reconcile falls on its very start.
"""

from __future__ import annotations

import asyncio
import logging
from array import array
import secrets
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from venclient.engine.followed import FollowGroup, Instructions, encode_ids
from venclient.engine.targets import LoadDirectory, LoadSelection
from venclient.engine.timeline import Slot, Timeline, event_timeline, winning_slot
from venclient.engine.writer_mapping import chosen_payload, release_value, written_value
from venclient.model import OPT_OUT_ALL, WRITER, Connection, Load
from venclient.openadr import Event
from venclient.protocols import EventStateRecords, FollowsEvents, ListsConnections, ResourceStore

log = logging.getLogger(__name__)

UTC = timezone.utc
START, END = "start", "end"
#: the payload types the simulated fleet follows (:class:`venclient.protocols.FollowsEvents`)
FOLLOWED_TYPES: frozenset[str] = frozenset({"SIMPLE", "IMPORT_CAPACITY_LIMIT"})
MAX_WALL_SLEEP = 60.0  # seconds: the wall-clock task looks again at least this often (clock jumps, suspend)


@dataclass(frozen=True)
class OptOuts:
    """Which loads of one event are opted out: every one (``everything``) or those of ``resources``.

    ``load in opted_out`` / ``resource_id in opted_out`` tell one load or resource (what the
    ``ven_event_interval`` hook receives as ``opted_out``)."""

    everything: bool = False
    resources: frozenset[str] = frozenset()

    def __contains__(self, item: Any) -> bool:
        resource_id = getattr(item, "resource_id", item)
        return self.everything or resource_id in self.resources

    def __bool__(self) -> bool:
        return self.everything or bool(self.resources)

    @classmethod
    def of(cls, ids: set[str] | None) -> "OptOuts":
        ids = ids or set()
        return cls(OPT_OUT_ALL in ids, frozenset(ids - {OPT_OUT_ALL}))


@dataclass
class TimelineGroup:
    """VENs sharing one timeline of an event (all of them, unless ``randomizeStart`` draws differ), their
    targeted loads, and the writer-connected ones among them."""

    vens: tuple[str, ...]
    timeline: Timeline
    loads: LoadSelection
    writable: list[tuple[Load, Connection]] = field(default_factory=list)
    followed: "FollowedLoads | None" = None  # the targeted loads' ids, for followers (when the event has any)


@dataclass(frozen=True, eq=False)
class FollowedLoads:
    """The ids of a selection's loads, compact: ``ids`` (UTF-8 bytes, :func:`venclient.engine.followed.encode_ids`)
    and, aligned, ``resources`` — each load's position in ``resource_ids`` (its resources' ids, the same way).
    Groups of events that target the same loads share one."""

    ids: np.ndarray
    resources: np.ndarray
    resource_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def kept(self, opted: "OptOuts") -> np.ndarray:
        """The ids of the loads not opted out by ``opted`` (``ids`` itself when none is)."""
        if opted.everything:
            return self.ids[:0]
        if not opted.resources:
            return self.ids
        out = np.isin(self.resource_ids, encode_ids(sorted(opted.resources)))
        return self.ids[~out[self.resources]]


@dataclass
class EventPlan:
    """One event as planned: its :class:`TimelineGroup` s (one per distinct timeline among our VENs)."""

    event: Event
    groups: list[TimelineGroup]


class EventScheduler:
    """Writes the values the known events ask for at their interval boundaries (see the module docstring).

    ``now`` returns the clock's current time (wall clock, or the replay tick's time); ``hook`` is called as
    ``hook(phase=…, event=…, interval=…, loads=…, opted_out=…)`` (an :class:`venclient.plugin_manager.IsolatedHook`
    of ``ven_event_interval``, or ``None``).
    """

    def __init__(self, store: ResourceStore, writers: Mapping[str, Any], directory: LoadDirectory,
                 now: Callable[[], datetime], hook: Callable[..., Any] | None = None):
        self.store = store
        self.writers = dict(writers)
        self.directory = directory
        self.now = now
        self.hook = hook
        self.followers: list[FollowsEvents] = []  # sources whose loads respond themselves (the simulated fleet)
        self._instructed: Instructions | None = None  # None: tell the followers at the next reconcile
        self.plans: dict[str, EventPlan] = {}
        self.written: dict[tuple[int, str], tuple[float, Load, Connection]] = {}  # (connection id, load id)
        # (event id, group, interval id, loop) → what is active, as of the last reconcile
        self.active: dict[tuple[str, int, int, int], tuple[EventPlan, TimelineGroup]] = {}
        self.opted_out: dict[str, OptOuts] = {}
        self.writes = 0
        self._moments: list[datetime] = []
        self._last: datetime | None = None
        self._lock = asyncio.Lock()
        self._planning = asyncio.Lock()
        self._wake = asyncio.Event()
        self._warned: set[str] = set()
        self._states_read: dict[tuple[str, str], tuple[float, int]] = {}  # (VEN, event id) → (received, seed)

    # ------------------------------------------------------------------------------------------- planning
    async def replan(self, events: Sequence[Event], programs: Mapping[str, Any] | None = None,
                     gone: Sequence[str] = ()) -> None:
        """Plan ``events`` (the engine's current events; any not given are dropped), forget the store state of
        ``gone`` event ids (removed from the VTN), then reconcile at once."""
        async with self._planning:  # one plan at a time (the engine's changes and a loads refresh may overlap)
            moment = self.now()
            plans = await asyncio.to_thread(self._plan_all, list(events), dict(programs or {}), moment, list(gone))
            async with self._lock:
                self.plans = plans
                self._instructed = None  # a source re-opened with new loads forgot what it was told
                self._moments = sorted({m for plan in plans.values() for group in plan.groups
                                        for s in group.timeline.slots for m in (s.start, s.end) if m is not None})
            self._wake.set()
            await self.reconcile(moment)

    def plan(self, events: Sequence[Event], programs: Mapping[str, Any] | None = None) -> dict[str, EventPlan]:
        """The plans of ``events`` at ``now()`` without acting on them (``ven events timeline``).  Blocking; an
        event seen for the first time has its received moment and seed stored, as when ``ven run`` reads it."""
        return self._plan_all(list(events), dict(programs or {}), self.now(), [])

    def _plan_all(self, events: list[Event], programs: dict[str, Any], moment: datetime,
                  gone: list[str]) -> dict[str, EventPlan]:
        if gone:
            if isinstance(self.store, EventStateRecords):
                self.store.event_states_forget(gone)
            self._states_read = {key: value for key, value in self._states_read.items() if key[1] not in gone}
        events = [e for e in events if e.id]
        vens = list(self.directory.vens)
        states = self._states(vens, [e.id for e in events if e.id], moment)
        connections: dict[str, Connection | None] = {}
        has_writers = self._any_writer_connection()
        plans = {}
        followed: dict[Any, FollowedLoads] = {}  # selection key → its loads' ids (shared by events targeting them)
        for event in events:
            program = programs.get(event.program_id)
            random = _randomized(event)
            by_state: dict[tuple[float, int], list[str]] = {}  # the seed matters only with randomizeStart
            for ven in vens:
                received, seed = states[(ven, event.id)]  # type: ignore[index]
                by_state.setdefault((received, seed if random else 0), []).append(ven)
            shared: list[tuple[list[str], Timeline]] = []  # VENs whose timelines are equal share one
            for (received, seed), state_vens in by_state.items():
                timeline = event_timeline(event, received=datetime.fromtimestamp(received, UTC), seed=seed,
                                          now=moment)
                same = next((pair for pair in shared if pair[1] == timeline), None)
                if same is not None:
                    same[0].extend(state_vens)
                else:
                    shared.append((state_vens, timeline))
            groups = []
            for group_vens, timeline in shared:
                loads = self.directory.targeted(event, program, None if len(shared) == 1 else group_vens)
                writable = self._writable(loads, connections) if has_writers and timeline.slots else []
                ids = None
                if self.followers and _follows(timeline) and len(loads):
                    ids = followed.get(loads.key)
                    if ids is None:
                        ids = followed[loads.key] = _followed_loads(loads)
                groups.append(TimelineGroup(tuple(group_vens), timeline, loads, writable, ids))
            plans[event.id] = EventPlan(event, groups)  # type: ignore[index]
        return plans

    def event_state(self, ven: str, event_id: str) -> tuple[float, int] | None:
        """``(received Unix seconds, seed)`` of ``ven``'s event as planned (``None`` before it was planned)."""
        return self._states_read.get((ven, event_id))

    def applied_levels(self, ven: str, event: Any, load_ids: Any, resource_ids: Any, spans: Sequence[Any]) -> Any:
        """What load control applied to ``ven``'s loads in ``spans`` of ``event``'s report, by these plans and the
        opt-outs of the last reconcile (:func:`venclient.engine.applied.applied_levels`; a report's SIMPLE_LEVEL
        and OPERATING_STATE)."""
        from venclient.engine.applied import applied_levels

        return applied_levels(self.plans, self.opted_out, ven, str(event.id), load_ids, resource_ids, spans)

    def _states(self, vens: list[str], event_ids: list[str], moment: datetime) -> dict[tuple[str, str],
                                                                                       tuple[float, int]]:
        """``(received, seed)`` per VEN and event: kept by the store (read once per run), else in memory."""
        for ven in vens:
            missing = [i for i in event_ids if (ven, i) not in self._states_read]
            if not missing:
                continue
            proposed = {i: (moment.timestamp(), secrets.randbits(62)) for i in missing}
            kept = (self.store.event_states(ven, proposed) if isinstance(self.store, EventStateRecords)
                    else proposed)
            self._states_read.update({(ven, i): value for i, value in kept.items()})
        return self._states_read

    def _any_writer_connection(self) -> bool:
        """Whether the store may hold a writer connection of a kind we can write (skips 100k look-ups if not)."""
        if not self.writers:
            return False
        if not isinstance(self.store, ListsConnections):
            return True
        return any(c.actortype == WRITER and c.type in self.writers for c in self.store.list_connections())

    def _writable(self, loads: LoadSelection, connections: dict[str, Connection | None]) -> list[tuple[Load,
                                                                                                  Connection]]:
        """The targeted loads whose resource has a writer connection we can write (``params.loads`` honoured)."""
        found = []
        for row in loads.rows():
            if row.resource_id not in connections:
                connection = self.store.resource_connections(row.resource_id)["writer"]
                connections[row.resource_id] = (connection if connection is not None
                                                and connection.type in self.writers else None)
            connection = connections[row.resource_id]
            if connection is None:
                continue
            components = connection.params.get("loads")
            if components and row.load_component not in components:
                continue
            found.append((row.to_load(), connection))
        return found

    # ------------------------------------------------------------------------------------------- acting
    def next_boundary(self, after: datetime | None = None) -> datetime | None:
        """The first slot start or end after ``after`` (default: the last reconcile), ``None`` when none is left."""
        after = after or self._last
        if after is None:
            return self._moments[0] if self._moments else None
        index = bisect_right(self._moments, after)
        return self._moments[index] if index < len(self._moments) else None

    def due(self, moment: datetime) -> bool:
        """Whether a boundary lies in ``(last reconcile, moment]``, or the clock went back (a replay clock that
        wrapped): the replay loop's per-tick check."""
        if self._last is None or moment < self._last:
            return True
        upcoming = self.next_boundary()
        return upcoming is not None and upcoming <= moment

    async def reconcile(self, moment: datetime | None = None) -> int:
        """Bring hooks and writers to what applies at ``moment`` (default ``now()``); returns the writes made."""
        async with self._lock:
            moment = moment or self.now()
            self._last = moment
            self.opted_out = await asyncio.to_thread(self._read_opt_outs)
            self._tell_intervals(moment)
            self._instruct(moment)
            return await self._write(self._desired(moment))

    def controlled(self, moment: datetime, load_ids: Any, resource_ids: Any, vens: Any) -> Any:
        """A boolean numpy array: which of ``load_ids`` (aligned with their ``resource_ids`` and ``vens``) an event
        controls at ``moment`` — it targets the load, the load did not opt out (as of the last reconcile), and one
        of its slots active then is a ``SIMPLE`` level above 0 or of any other payload type (a ``SIMPLE`` 0 is
        normal operation).  The hours of such loads are left out of history baselines
        (:mod:`venclient.engine.baseline`)."""
        import numpy as np

        mask = np.zeros(len(load_ids), dtype=bool)
        if not len(load_ids):
            return mask
        for event_id, plan in self.plans.items():
            opted = self.opted_out.get(event_id, OptOuts())
            if opted.everything:
                continue
            for group in plan.groups:
                if not len(group.loads) or not any(_controls(slot) for slot in group.timeline.active(moment)):
                    continue
                held = group.loads.mask(load_ids, vens)
                if opted.resources:
                    held &= ~np.isin(np.asarray(resource_ids, dtype=object), list(opted.resources))
                mask |= held
        return mask

    def _read_opt_outs(self) -> dict[str, OptOuts]:
        if not isinstance(self.store, EventStateRecords) or not self.plans:
            return {}
        return {event_id: OptOuts.of(ids) for event_id, ids in self.store.opt_outs(list(self.plans)).items()}

    def _tell_intervals(self, moment: datetime) -> None:
        """Call the hook for every interval that ended (first) or started since the last reconcile."""
        now_active: dict[tuple[str, int, int, int], tuple[EventPlan, TimelineGroup]] = {}
        for event_id, plan in self.plans.items():
            for n, group in enumerate(plan.groups):
                for slot in group.timeline.active(moment):
                    now_active.setdefault((event_id, n, slot.interval_id, slot.loop), (plan, group))
        ended = [key for key in self.active if key not in now_active]
        started = [key for key in now_active if key not in self.active]
        before, self.active = self.active, now_active
        if self.hook is None:
            return
        for phase, keys, source in ((END, ended, before), (START, started, now_active)):
            for key in keys:
                plan, group = source[key]
                if not len(group.loads):
                    continue
                interval = next((i for i in plan.event.intervals or () if i.id == key[2]), None)
                self.hook(phase=phase, event=plan.event, interval=interval, loads=group.loads,
                          opted_out=self.opted_out.get(plan.event.id or "", OptOuts()))

    def _desired(self, moment: datetime) -> dict[tuple[int, str], tuple[float, Load, Connection]]:
        """What each writer connection's load should hold at ``moment`` (absent: nothing applies)."""
        candidates: dict[tuple[int, str], tuple[Load, Connection, dict[str, list[tuple[Timeline, Slot]]]]] = {}
        for event_id, plan in self.plans.items():
            opted = self.opted_out.get(event_id, OptOuts())
            for group in plan.groups:
                if not group.writable:
                    continue
                active = group.timeline.active(moment)
                if not active:
                    continue
                for load, connection in group.writable:
                    if load in opted:
                        continue
                    key = (int(connection.id or 0), load.load_id)
                    entry = candidates.setdefault(key, (load, connection, {}))
                    for slot in active:
                        entry[2].setdefault(slot.payload_type, []).append((group.timeline, slot))
        desired = {}
        for key, (load, connection, by_type) in candidates.items():
            values = {}
            for kind, pairs in by_type.items():
                won = winning_slot(pairs)
                if won is not None:
                    values[kind] = won[1].value
            chosen = chosen_payload(connection.params, values)
            if chosen is None:
                continue
            params = connection.params
            if getattr(self.writers.get(connection.type), "scales_values", False):
                params = {k: v for k, v in params.items() if k not in ("scale", "offset")}  # the writer's own
            value = written_value(params, chosen[1])
            if value is None:
                self._warn_once(f"levels:{connection.id}:{chosen[1]}", "The writer connection %s has no `levels` "
                                "entry for %s %g: nothing is written.", connection.id, chosen[0], chosen[1])
                continue
            desired[key] = (value, load, connection)
        return desired

    def _instruct(self, moment: datetime) -> None:
        """Tell the followers what applies to each targeted load now (only when it changed), as
        :class:`venclient.engine.followed.Instructions`: one group per distinct set of values."""
        if not self.followers:
            return
        active: list[tuple[TimelineGroup, np.ndarray, list[Slot]]] = []
        for event_id, plan in self.plans.items():
            for group in plan.groups:
                if group.followed is None:
                    continue
                slots = [s for s in group.timeline.active(moment) if s.payload_type in FOLLOWED_TYPES]
                if slots:
                    kept = group.followed.kept(self.opted_out.get(event_id, OptOuts()))
                    if len(kept):
                        active.append((group, kept, slots))
        groups: list[FollowGroup] = []
        if len(active) == 1:  # one event applies (the usual case): every load it targets gets the same values
            group, kept, slots = active[0]
            groups.append(FollowGroup(kept, _winning_values([(group.timeline, slot) for slot in slots])))
        elif active:
            groups = _overlapping(active)
        instructions = Instructions(groups)
        if instructions != self._instructed:
            self._instructed = instructions
            for follower in self.followers:
                follower.follow(instructions)

    async def _write(self, desired: dict[tuple[int, str], tuple[float, Load, Connection]]) -> int:
        """Write what changed; release what nothing applies to any more."""
        todo: list[tuple[tuple[int, str], float, Load, Connection, bool]] = []
        for key, (value, load, connection) in desired.items():
            if key not in self.written or self.written[key][0] != value:
                todo.append((key, value, load, connection, False))
        for key, (_value, load, connection) in list(self.written.items()):
            if key not in desired:
                released = release_value(connection.params)
                if released is None:
                    del self.written[key]
                else:
                    todo.append((key, released, load, connection, True))
        count = 0
        for key, value, load, connection, release in todo:
            try:
                await self.writers[connection.type].write(connection, load, float(value))
            except Exception as err:  # noqa: BLE001 - one failing device must not stop the others
                log.warning("Writing %s to %s (%s) failed: %s", value, load.load_id, connection.type, err)
                continue  # tried again at the next reconcile
            count += 1
            if release:
                self.written.pop(key, None)
            else:
                self.written[key] = (value, load, connection)
        self.writes += count
        return count

    def _warn_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)

    # ------------------------------------------------------------------------------------------- the wall clock
    async def follow_wall_clock(self, stop: asyncio.Event) -> None:
        """Reconcile at every boundary of the wall clock until ``stop`` is set (a replan wakes it to look again)."""
        while not stop.is_set():
            now = self.now()
            upcoming = self.next_boundary(now)
            wait = MAX_WALL_SLEEP if upcoming is None else min(MAX_WALL_SLEEP, (upcoming - now).total_seconds())
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, wait))
                continue  # replanned (and reconciled): look at the new boundaries
            except asyncio.TimeoutError:
                pass
            moment = self.now()
            if upcoming is not None and moment < upcoming:
                moment = upcoming  # woke a hair early (monotonic vs wall clock): act on the boundary itself
            await self.reconcile(moment)


def _randomized(event: Event) -> bool:
    """Whether any of the event's periods carries ``randomizeStart`` (only then do VENs' seeds matter)."""
    periods = [event.interval_period] + [i.interval_period for i in event.intervals or ()]
    return any(p is not None and p.randomize_start for p in periods)


def _followed_loads(loads: LoadSelection, chunk: int = 8192) -> FollowedLoads:
    """The selection's loads' ids and resources, compact (:class:`FollowedLoads`): read one row at a time (a fleet's
    rows are never all held at once: held rows would also make the garbage collector run), their ids encoded
    ``chunk`` at a time (no ``str`` per load is kept)."""
    parts: list[np.ndarray] = []
    pending: list[str] = []
    codes = array("i")
    resources: dict[str, int] = {}
    for row in loads.rows():
        pending.append(row.load_id)
        codes.append(resources.setdefault(row.resource_id, len(resources)))
        if len(pending) >= chunk:
            parts.append(encode_ids(pending))
            pending = []
    if pending or not parts:
        parts.append(encode_ids(pending))
    return FollowedLoads(np.concatenate(parts), np.frombuffer(codes, dtype=np.int32).copy(),
                         encode_ids(list(resources)))


def _overlapping(active: list[tuple[TimelineGroup, np.ndarray, list[Slot]]]) -> list[FollowGroup]:
    """Several events apply: per load the winning values among the events targeting it, grouped by the set of
    events (each distinct set is resolved once)."""
    every = np.unique(np.concatenate([kept for _, kept, _ in active]))
    words = np.zeros((len(every), (len(active) + 63) // 64), dtype=np.uint64)
    for n, (_, kept, _) in enumerate(active):
        words[np.searchsorted(every, kept), n // 64] |= np.uint64(1 << (n % 64))
    sets, which = np.unique(words, axis=0, return_inverse=True)
    which = np.asarray(which).reshape(-1)
    groups = []
    for m, row in enumerate(sets):
        members = [n for n in range(len(active)) if int(row[n // 64]) >> (n % 64) & 1]
        values = _winning_values([(active[n][0].timeline, slot) for n in members for slot in active[n][2]])
        if values:
            groups.append(FollowGroup(every[which == m], values))
    return groups


def _controls(slot: Slot) -> bool:
    """Whether an active slot changes the load: a ``SIMPLE`` level above 0, or any other payload type."""
    if slot.payload_type != "SIMPLE":
        return True
    value = slot.value
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _follows(timeline: Timeline) -> bool:
    """Whether the timeline holds a payload type the simulated fleet follows."""
    return any(slot.payload_type in FOLLOWED_TYPES for slot in timeline.slots)


def _winning_values(candidates: list[tuple[Timeline, Slot]]) -> dict[str, float]:
    """``{payload type: value}`` of the winning slot per type (numeric values only)."""
    by_type: dict[str, list[tuple[Timeline, Slot]]] = {}
    for pair in candidates:
        by_type.setdefault(pair[1].payload_type, []).append(pair)
    values = {}
    for kind, pairs in by_type.items():
        won = winning_slot(pairs)
        value = won[1].value if won is not None else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            values[kind] = float(value)
    return values
