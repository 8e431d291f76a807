"""The event engine: follow the VTN's events, tell plugins what changed, and act on targeted loads.

Every poll reads the events of the followed programs (paged by the transport) and compares them with the
last poll: an unseen id is ``created``, a different ``modificationDateTime`` (or body) is ``changed``, an id
that disappeared is ``removed``.  For each change the engine resolves the loads the event targets —

* ``RESOURCE_NAME`` targets: loads whose VTN resourceName (or resource id) is listed;
* ``VEN_NAME`` targets: every load of the listed VENs we run;
* no such targets: every load of every VEN we run (the whole program) —

then calls ``ven_event(change, event, loads)`` on every plugin and hands the loads that have a writer
connection to their writer (see :class:`EventActuator`).

Events are kept only in memory: after a restart every active event is reported as ``created`` again, so
writers re-apply the current state (they must be idempotent).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from collections.abc import Sequence
from typing import Any, Iterator

import numpy as np

from core.model import WRITER, Load
from core.openadr import Event, parse_duration

log = logging.getLogger(__name__)

CREATED, CHANGED, REMOVED = "created", "changed", "removed"


@dataclass
class EventChange:
    """One difference between two polls."""

    change: str
    event: Event


def _fingerprint(event: Event) -> str:
    if event.modification_date_time is not None:
        return event.modification_date_time.isoformat()
    return json.dumps(event.to_wire(), sort_keys=True, default=str)


class EventTracker:
    """Remembers the events seen last time and reports what changed (pure; no I/O)."""

    def __init__(self) -> None:
        self.events: dict[str, Event] = {}
        self._prints: dict[str, str] = {}

    def update(self, events: Sequence[Event], programs: Sequence[str] | None = None) -> list[EventChange]:
        """Diff ``events`` against the last call.  With ``programs``, only events of those program ids that
        disappeared count as removed (a program we could not read keeps its events)."""
        changes: list[EventChange] = []
        current: dict[str, Event] = {e.id: e for e in events if e.id}
        for event_id, event in current.items():
            fingerprint = _fingerprint(event)
            if event_id not in self.events:
                changes.append(EventChange(CREATED, event))
            elif self._prints[event_id] != fingerprint:
                changes.append(EventChange(CHANGED, event))
            self._prints[event_id] = fingerprint
        for event_id in list(self.events):
            old = self.events[event_id]
            if event_id in current or (programs is not None and old.program_id not in programs):
                continue
            changes.append(EventChange(REMOVED, old))
            del self._prints[event_id]
        kept = {k: v for k, v in self.events.items() if k not in current and programs is not None
                and v.program_id not in programs}
        self.events = {**kept, **current}
        return changes

    def apply(self, change: str, event: Event) -> list[EventChange]:
        """Apply one pushed change (a webhook notification); returns it when it is news.

        A notification older than what is known (its ``modificationDateTime`` is earlier — deliveries can
        arrive out of order, or after a poll already saw a newer version) is ignored.
        """
        if not event.id:
            return []
        if change == REMOVED:
            if self.events.pop(event.id, None) is None:
                return []
            self._prints.pop(event.id, None)
            return [EventChange(REMOVED, event)]
        fingerprint = _fingerprint(event)
        known = self._prints.get(event.id)
        if known == fingerprint:
            return []
        current = self.events.get(event.id)
        if (current is not None and current.modification_date_time is not None
                and event.modification_date_time is not None
                and event.modification_date_time < current.modification_date_time):
            return []
        self.events[event.id] = event
        self._prints[event.id] = fingerprint
        return [EventChange(CHANGED if known else CREATED, event)]


# The Load fields an event index keeps (the store's ``load_tuples`` order); the others stay at their defaults.
LOAD_COLUMNS: tuple[str, ...] = ("load_id", "resource_id", "load_component", "load_name", "h5_meter_id",
                                 "vtn_resource_id", "registration_status")
UNIQUE_COLUMNS = frozenset({"load_id", "vtn_resource_id"})  # the other columns' values repeat: shared


class LoadSelection(Sequence[Load]):
    """The loads an event targets: a read-only sequence that makes each :class:`Load` when it is read.

    A whole-program event of the fleet targets 116k loads; plugins that only count or filter them never
    hold 116k objects at once.  Compares equal to a sequence of the same loads.
    """

    def __init__(self, index: "LoadIndex", positions: np.ndarray):
        self._index = index
        self._positions = positions

    def __len__(self) -> int:
        return len(self._positions)

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, slice):
            return LoadSelection(self._index, self._positions[item])
        return self._index.load(int(self._positions[item]))

    def __iter__(self) -> Iterator[Load]:
        load = self._index.load
        for position in self._positions.tolist():
            yield load(position)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    def __repr__(self) -> str:
        return f"LoadSelection({len(self)} loads)"

    @property
    def resource_ids(self) -> set[str]:
        """The distinct resource ids of the selection (without making Load objects)."""
        column = self._index.columns["resource_id"]
        return set(column[self._positions].tolist())


class LoadIndex:
    """The loads of the VENs we run, as columns (one array per :data:`LOAD_COLUMNS` field, no object per load),
    looked up the ways events target them.  Rows of one VEN, and of one resource, are contiguous."""

    def __init__(self, columns: dict[str, np.ndarray], ven_ranges: dict[str, range]):
        self.columns = columns
        self.ven_ranges = ven_ranges
        ids = columns["resource_id"].tolist()
        self.resource_ranges: dict[str, range] = {}
        start = 0
        for i in range(1, len(ids) + 1):
            if i == len(ids) or ids[i] != ids[start]:
                self.resource_ranges[ids[start]] = range(start, i)
                start = i

    @classmethod
    def from_store(cls, store: Any, vens: Sequence[str]) -> "LoadIndex":
        """Read the loads of ``vens`` one VEN at a time, as plain tuples (no Load object is made here)."""
        values: dict[str, list[Any]] = {name: [] for name in LOAD_COLUMNS}
        shared: dict[Any, Any] = {}
        ven_ranges: dict[str, range] = {}
        unique = [name in UNIQUE_COLUMNS for name in LOAD_COLUMNS]
        lists = [values[name] for name in LOAD_COLUMNS]
        for ven in vens:
            start = len(values["load_id"])
            for row in store.load_tuples(ven):
                for keep_own, column, value in zip(unique, lists, row):
                    column.append(value if keep_own else shared.setdefault(value, value))
            ven_ranges[ven] = range(start, len(values["load_id"]))
        columns = {}
        for name, items in values.items():
            column = np.empty(len(items), dtype=object)
            column[:] = items
            columns[name] = column
        return cls(columns, ven_ranges)

    def __len__(self) -> int:
        return len(self.columns["load_id"])

    def load(self, position: int) -> Load:
        """The :class:`Load` at ``position``."""
        return Load(**{name: self.columns[name][position] for name in LOAD_COLUMNS})

    def position_of(self, resource_name: str) -> int | None:
        """The position of the load whose VTN resourceName is ``resource_name`` (``{resource_id}_{component}``)."""
        cut = resource_name.rfind("_")
        while cut > 0:
            rows = self.resource_ranges.get(resource_name[:cut])
            if rows is not None:
                component = resource_name[cut + 1:]
                components = self.columns["load_component"]
                for row in rows:
                    if components[row] == component:
                        return row
            cut = resource_name.rfind("_", 0, cut)
        return None

    def targeted(self, event: Event) -> LoadSelection:
        """The loads ``event`` targets (see the module docstring), without duplicates, in a stable order."""
        names: list[str] = []
        vens: list[str] = []
        for target in event.targets or ():
            kind = (target.type or "").upper()
            if kind == "RESOURCE_NAME":
                names.extend(str(v) for v in target.values)
            elif kind == "VEN_NAME":
                vens.extend(str(v) for v in target.values)
        if not names and not vens:
            return LoadSelection(self, np.arange(len(self)))
        chosen: dict[int, None] = {}
        for ven in vens:
            chosen.update(dict.fromkeys(self.ven_ranges.get(ven, ())))
        for name in names:
            position = self.position_of(name)
            if position is not None:
                chosen[position] = None
            chosen.update(dict.fromkeys(self.resource_ranges.get(name, ())))
        return LoadSelection(self, np.fromiter(chosen, dtype=np.int64, count=len(chosen)))


def current_value(event: Event, now: datetime | None = None) -> float | None:
    """The first numeric payload value of the interval active at ``now`` (or of the first interval when the
    event carries no times); ``None`` when no interval is active."""
    now = now or datetime.now(timezone.utc)
    default_period = event.interval_period
    for interval in event.intervals or ():
        period = interval.interval_period or default_period
        if period is not None and period.start is not None:
            start = period.start
            duration = parse_duration(period.duration) if period.duration else None
            if now < start or (duration is not None and duration.total_seconds() > 0 and now >= start + duration):
                continue
        for payload in interval.payloads:
            for value in payload.values:
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    return float(value)
    return None


class EventActuator:
    """Hands targeted loads with a writer connection to the writer serving that connection's kind.

    On ``created``/``changed`` the value written is the event's current payload value; on ``removed`` the
    connection's ``params["release_value"]`` when set (otherwise nothing is written).
    """

    def __init__(self, store: Any, writers: dict[str, Any]):
        self.store = store
        self.writers = writers

    def _any_writer_connection(self) -> bool:
        """Whether the store holds a writer connection of a kind we can write (skips 100k lookups if not)."""
        list_connections = getattr(self.store, "list_connections", None)
        if list_connections is None:
            return True
        return any(c.actortype == WRITER and c.type in self.writers for c in list_connections())

    async def act(self, change: str, event: Event, loads: Sequence[Load]) -> int:
        """Write to every targeted load that has a writer; returns how many writes succeeded."""
        if not self.writers or not loads:
            return 0
        if not await asyncio.to_thread(self._any_writer_connection):
            return 0
        value = current_value(event) if change != REMOVED else None
        written = 0
        by_resource: dict[str, list[Load]] = {}
        for load in loads:
            by_resource.setdefault(load.resource_id, []).append(load)
        for resource_id, resource_loads in by_resource.items():
            writer_conn = (await asyncio.to_thread(self.store.resource_connections, resource_id))["writer"]
            if writer_conn is None or writer_conn.type not in self.writers:
                continue
            target_value = value if change != REMOVED else writer_conn.params.get("release_value")
            if target_value is None:
                continue
            components = writer_conn.params.get("loads")
            for load in resource_loads:
                if components and load.load_component not in components:
                    continue
                try:
                    await self.writers[writer_conn.type].write(writer_conn, load, float(target_value))
                    written += 1
                except Exception as err:  # noqa: BLE001 - one failing device must not stop the others
                    log.warning("Writing %s to %s (%s) failed: %s", target_value, load.load_id,
                                writer_conn.type, err)
        return written


class EventEngine:
    """Follows the VTN's events for the VENs we run and dispatches changes to plugins and writers.

    Changes come from :meth:`poll` (every program we follow, paged) and, in webhook mode, from
    :meth:`notify`; both hold one lock while they read, diff and dispatch, so a notification never
    interleaves with a poll and each change is dispatched once.
    """

    def __init__(self, runtime: Any, transport: Any, vens: Sequence[str], *, programs: Sequence[str] | None = None):
        self.runtime = runtime
        self.transport = transport
        self.vens = list(vens)
        self.program_names = list(programs) if programs else None
        self.tracker = EventTracker()
        self.programs: dict[str, Any] = {}
        self.polled = False  # a poll has read the VTN's programs at least once
        self._index: LoadIndex | None = None
        self._lock = asyncio.Lock()
        self.actuator = EventActuator(runtime.store(), runtime.writers())

    def invalidate_loads(self) -> None:
        """Forget the cached load index (after registration changed the loads)."""
        self._index = None

    async def load_index(self) -> LoadIndex:
        """The loads of our VENs by VEN, resourceName and resource id (read from the store once)."""
        if self._index is None:
            self._index = await asyncio.to_thread(LoadIndex.from_store, self.runtime.store(), self.vens)
        return self._index

    async def refresh_programs(self) -> dict[str, Any]:
        """The followed programs by id (all the VTN lists, or those named in settings)."""
        programs = await self.transport.list_programs()
        if self.program_names is not None:
            programs = [p for p in programs if p.program_name in self.program_names or p.id in self.program_names]
        self.programs = {p.id: p for p in programs}
        return self.programs

    async def poll(self) -> list[EventChange]:
        """Read the events of every followed program, dispatch what changed, return the changes.

        Events of a program whose events could not be read are kept as they were; events of a program
        that is gone (or no longer followed) are removed.  Raises when the programs cannot be read.
        """
        async with self._lock:
            await self.refresh_programs()
            self.polled = True
            events: list[Event] = []
            failed: set[str] = set()
            for program_id in self.programs:
                try:
                    events.extend(await self.transport.list_events(program_id=program_id))
                except Exception as err:  # noqa: BLE001 - keep the other programs' events flowing
                    failed.add(program_id)
                    log.warning("Could not read the events of program %s: %s", program_id, err)
            known = set(self.programs) | {e.program_id for e in self.tracker.events.values()}
            changes = self.tracker.update(events, programs=sorted(known - failed))
            await self.dispatch(changes)
        return changes

    async def notify(self, notification: dict[str, Any]) -> list[EventChange]:
        """Apply one webhook notification (the spec's ``notification`` object) and dispatch what is news.

        Only EVENT notifications of followed programs count; POST/PUT create or change, DELETE removes.
        Raises ``ValueError`` (pydantic's ValidationError) when the object is not a valid event.
        """
        if str(notification.get("objectType", "")).upper() != "EVENT":
            return []
        operation = str(notification.get("operation", "")).upper()
        if operation not in ("POST", "PUT", "DELETE"):
            return []
        event = Event.model_validate(notification.get("object") or {})
        async with self._lock:
            if self.programs and event.program_id not in self.programs:
                return []
            changes = self.tracker.apply(REMOVED if operation == "DELETE" else CHANGED, event)
            await self.dispatch(changes)
        return changes

    async def dispatch(self, changes: Sequence[EventChange]) -> None:
        """Call ``ven_event`` for each change with its targeted loads, then the writers."""
        if not changes:
            return
        index = await self.load_index()
        for item in changes:
            loads = index.targeted(item.event)
            args = {"change": item.change, "event": item.event, "loads": loads}
            for impl in self.runtime.pm.hook.ven_event.get_hookimpls():
                try:
                    impl.function(*(args[name] for name in impl.argnames))
                except Exception:  # noqa: BLE001 - one plugin's failure must not hide the event from others
                    log.exception("Plugin %s failed on event %s", impl.plugin_name, item.event.id)
            await self.actuator.act(item.change, item.event, loads)

    def report_requests(self) -> list[Event]:
        """The active events that ask for reports (have reportDescriptors), oldest first."""
        return sorted((e for e in self.tracker.events.values() if e.report_descriptors),
                      key=lambda e: (e.created_date_time or datetime.min.replace(tzinfo=timezone.utc), e.id))

    def find_event(self, program_id: str, id_or_name: str) -> Event | None:
        """A known event of ``program_id`` whose id or ``eventName`` is ``id_or_name``."""
        for event in self.tracker.events.values():
            if event.program_id == program_id and id_or_name in (event.id, event.event_name):
                return event
        return None
