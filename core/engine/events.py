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
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from itertools import accumulate, islice
from typing import Any, Iterator

from venclient.model import WRITER, Load, LoadRow
from venclient.openadr import Event, parse_duration
from venclient.plugin_manager import IsolatedHook
from venclient.protocols import CountsLoads, ListsConnections, ResourceStore
from venclient.vtn_errors import VtnNotFound
from venclient.engine.webhook import object_id, read_notification

log = logging.getLogger(__name__)

CREATED, CHANGED, REMOVED = "created", "changed", "removed"


@dataclass
class EventChange:
    """One difference between two polls."""

    change: str
    event: Event


BOOKKEEPING = ("createdDateTime", "modificationDateTime", "objectType")
CLOCK_SLACK = timedelta(seconds=1)
"""How much older a pushed version may look and still be applied: VTNs stamp in whole seconds in some of their
formats, so a genuine update can seem a fraction of a second older than the version it replaces."""


def _fingerprint(event: Event) -> str:
    """What identifies a version of an event: its modification time and its content (a VTN whose stamps have only
    whole seconds can change an event twice within one)."""
    content = {k: v for k, v in event.to_wire().items() if k not in BOOKKEEPING}
    stamp = event.modification_date_time.isoformat() if event.modification_date_time is not None else ""
    return stamp + "|" + json.dumps(content, sort_keys=True, default=str)


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

        A version older than what is known (its ``modificationDateTime`` earlier by more than
        :data:`CLOCK_SLACK` — deliveries can arrive out of order, or after a poll already saw a newer version) is
        ignored.
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
                and event.modification_date_time < current.modification_date_time - CLOCK_SLACK):
            return []
        self.events[event.id] = event
        self._prints[event.id] = fingerprint
        return [EventChange(CHANGED if known else CREATED, event)]


@dataclass(frozen=True)
class _Part:
    """A run of targeted loads: every load of ``ven`` (``rows`` is ``None``, read when needed) or ``rows``;
    ``size`` loads of ``resources`` resources."""

    size: int
    resources: int
    ven: str | None = None
    rows: tuple[LoadRow, ...] | None = None


class LoadSelection(Sequence[Load]):
    """The loads an event targets: a read-only sequence that reads them from the store as it is iterated.

    Whole VENs are read one VEN at a time (only the VEN being read is held), and each :class:`Load` is made
    when it is read: a whole-program event of the fleet targets 116k loads, and plugins that only count or
    filter them never hold 116k objects.  ``len`` and :attr:`resource_count` are known at once; indexing,
    slicing (a slice is a list), iteration and :attr:`resource_ids` do blocking store reads — on the event
    loop, iterate in a thread when the selection is large.  Compares equal to a sequence of the same loads.
    """

    def __init__(self, directory: "LoadDirectory", parts: Sequence[_Part]):
        self._directory = directory
        self._parts = [part for part in parts if part.size]
        self._ends = list(accumulate(part.size for part in self._parts))

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    def _rows(self, part: _Part) -> Sequence[LoadRow]:
        return part.rows if part.rows is not None else self._directory.rows(part.ven or "")

    def _iter_rows(self) -> Iterator[LoadRow]:
        for part in self._parts:
            yield from self._rows(part)

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, slice):
            start, stop, step = item.indices(len(self))
            if step < 0:
                return list(self)[item]
            return [row.to_load() for row in islice(self._iter_rows(), start, stop, step)]
        position = int(item) + (len(self) if int(item) < 0 else 0)
        if not 0 <= position < len(self):
            raise IndexError("LoadSelection index out of range")
        n = bisect_right(self._ends, position)
        offset = position - (self._ends[n - 1] if n else 0)
        return self._rows(self._parts[n])[offset].to_load()

    def __iter__(self) -> Iterator[Load]:
        return map(LoadRow.to_load, self._iter_rows())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    def __repr__(self) -> str:
        return f"LoadSelection({len(self)} loads)"

    @property
    def resource_count(self) -> int:
        """How many resources the selection's loads belong to (known without reading the loads)."""
        return sum(part.resources for part in self._parts)

    @property
    def resource_ids(self) -> set[str]:
        """The distinct resource ids of the selection (without making Load objects; reads the store)."""
        return {row.resource_id for row in self._iter_rows()}


class LoadDirectory:
    """Finds the loads of the VENs we run the ways events target them, reading the store on demand.

    Nothing is kept in memory but the loads per VEN (counts) and the rows of the last VEN read, so a
    fleet-wide event costs no index.  The store needs ``load_tuples(ven)`` (:class:`venclient.model.LoadRow`,
    by resource and component), ``get_resource`` and ``get_loads_by_resource``; ``load_counts(vens)``
    is used when the store has it (:class:`venclient.protocols.CountsLoads`).
    """

    def __init__(self, store: ResourceStore, vens: Sequence[str]):
        self.store = store
        self.vens = list(vens)
        self._counts: dict[str, tuple[int, int]] | None = None
        self._last: tuple[str, list[LoadRow]] | None = None

    def forget(self) -> None:
        """Drop what was read (after registration or status changes)."""
        self._counts = None
        self._last = None

    def counts(self) -> dict[str, tuple[int, int]]:
        """``(loads, resources with loads)`` per VEN we run."""
        if self._counts is None:
            counts: dict[str, tuple[int, int]] = {}
            if isinstance(self.store, CountsLoads):
                found = self.store.load_counts(self.vens)
                for ven in self.vens:
                    loads, resources = found.get(ven, (0, 0))
                    counts[ven] = (loads, resources)
            else:
                for ven in self.vens:
                    rows = self.store.load_tuples(ven)
                    counts[ven] = (len(rows), len({row.resource_id for row in rows}))
            self._counts = counts
        return self._counts

    def rows(self, ven: str) -> list[LoadRow]:
        """The load rows of ``ven`` (the last VEN read is kept)."""
        last = self._last
        if last is not None and last[0] == ven:
            return last[1]
        rows = list(self.store.load_tuples(ven))
        self._last = (ven, rows)
        return rows

    def targeted(self, event: Event) -> LoadSelection:
        """The loads ``event`` targets (see the module docstring), without duplicates, in a stable order:
        whole VENs first (in the order we run them), then loads named by ``RESOURCE_NAME`` in the order named.
        Blocking: reads counts and resolves names in the store."""
        names: list[str] = []
        vens: set[str] = set()
        for target in event.targets or ():
            kind = (target.type or "").upper()
            if kind == "RESOURCE_NAME":
                names.extend(str(v) for v in target.values)
            elif kind == "VEN_NAME":
                vens.update(str(v) for v in target.values)
        counts = self.counts()
        whole = [ven for ven in self.vens if ven in vens] if (names or vens) else list(self.vens)
        parts = [_Part(size=counts[ven][0], resources=counts[ven][1], ven=ven) for ven in whole]
        if names:
            named = self._named_rows(names, skip_vens=set(whole))
            parts.append(_Part(size=len(named), resources=len({row.resource_id for row in named}),
                               rows=tuple(named)))
        return LoadSelection(self, parts)

    def _named_rows(self, names: Sequence[str], skip_vens: set[str]) -> list[LoadRow]:
        """Rows of the loads named by resourceName (``{resource_id}_{component}``) or by resource id, of our
        VENs outside ``skip_vens``; in the order named, each once."""
        ours = set(self.vens) - skip_vens
        resources: dict[str, list[LoadRow] | None] = {}  # resource id → its rows (None: not one of ours)

        def rows_of(resource_id: str) -> list[LoadRow] | None:
            if resource_id not in resources:
                resource = self.store.get_resource(resource_id)
                if resource is None or resource.ven not in ours:
                    resources[resource_id] = None
                else:
                    resources[resource_id] = [LoadRow.of(load) for load in self.store.get_loads_by_resource(resource_id)]
            return resources[resource_id]

        chosen: dict[str, LoadRow] = {}
        for name in names:
            cut = name.rfind("_")
            while cut > 0:  # as a resourceName: resource ids may hold "_" themselves, so try every cut
                rows = rows_of(name[:cut])
                match = [row for row in rows or () if row.load_component == name[cut + 1:]]
                if match:
                    chosen.setdefault(match[0].load_id, match[0])
                    break
                cut = name.rfind("_", 0, cut)
            for row in rows_of(name) or ():  # as a resource id: all its loads
                chosen.setdefault(row.load_id, row)
        return list(chosen.values())


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


async def _batches_in_thread(items: Iterable[Any], size: int = 2000) -> AsyncIterator[list[Any]]:
    """``items`` in lists of ``size``, each read in a worker thread (a :class:`LoadSelection` reads the store)."""
    iterator = iter(items)
    while batch := await asyncio.to_thread(lambda: list(islice(iterator, size))):
        yield batch


class EventActuator:
    """Hands targeted loads with a writer connection to the writer serving that connection's kind.

    On ``created``/``changed`` the value written is the event's current payload value; on ``removed`` the
    connection's ``params["release_value"]`` when set (otherwise nothing is written).
    """

    def __init__(self, store: ResourceStore, writers: dict[str, Any]):
        self.store = store
        self.writers = writers

    def _any_writer_connection(self) -> bool:
        """Whether the store holds a writer connection of a kind we can write (skips 100k lookups if not)."""
        if not isinstance(self.store, ListsConnections):
            return True
        return any(c.actortype == WRITER and c.type in self.writers for c in self.store.list_connections())

    def _writer_of(self, resource_id: str) -> Any:
        """The resource's writer connection when a writer of its kind is enabled, else ``None``."""
        connection = self.store.resource_connections(resource_id)["writer"]
        return connection if connection is not None and connection.type in self.writers else None

    async def act(self, change: str, event: Event, loads: Sequence[Load]) -> int:
        """Write to every targeted load that has a writer; returns how many writes succeeded."""
        if not self.writers or not loads:
            return 0
        if not await asyncio.to_thread(self._any_writer_connection):
            return 0
        value = current_value(event) if change != REMOVED else None
        written = 0
        current, connection = None, None  # loads come grouped by resource: one lookup per resource
        async for batch in _batches_in_thread(loads):
            for load in batch:
                if load.resource_id != current:
                    current = load.resource_id
                    connection = await asyncio.to_thread(self._writer_of, current)
                if connection is None:
                    continue
                target_value = value if change != REMOVED else connection.params.get("release_value")
                components = connection.params.get("loads")
                if target_value is None or (components and load.load_component not in components):
                    continue
                try:
                    await self.writers[connection.type].write(connection, load, float(target_value))
                    written += 1
                except Exception as err:  # noqa: BLE001 - one failing device must not stop the others
                    log.warning("Writing %s to %s (%s) failed: %s", target_value, load.load_id,
                                connection.type, err)
        return written


class EventEngine:
    """Follows the VTN's events for the VENs we run and dispatches changes to plugins and writers.

    Changes come from :meth:`poll` (every program we follow, paged) and, in webhook mode, from
    :meth:`notify` (a hint: it re-reads from the VTN what a notification names); both hold one lock while they
    read, diff and dispatch, so a notification never interleaves with a poll and each change is dispatched once.
    """

    def __init__(self, runtime: Any, transport: Any, vens: Sequence[str], *, programs: Sequence[str] | None = None):
        self.runtime = runtime
        self.transport = transport
        self.vens = list(vens)
        self.program_names = list(programs) if programs else None
        self.tracker = EventTracker()
        self.programs: dict[str, Any] = {}
        self.polled = False  # a poll has read the VTN's programs at least once
        self.directory = LoadDirectory(runtime.store(), self.vens)
        self._lock = asyncio.Lock()
        self.actuator = EventActuator(runtime.store(), runtime.writers())
        self.event_hook = IsolatedHook(runtime.pm.hook.ven_event)
        # Called with the followed program ids whenever a notification made the engine re-read the programs
        # (``ven run`` subscribes to new ones there, before their events are read).
        self.program_listener: Callable[[list[str]], Awaitable[Any]] | None = None

    def invalidate_loads(self) -> None:
        """Forget what was read about the loads (after registration changed them)."""
        self.directory.forget()

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
        """Take one webhook notification as a **hint**, re-read from the VTN what it names, and dispatch what
        is news; returns the changes.

        Nothing inside the notification is acted on (its token may have leaked; see :mod:`venclient.engine.webhook`):

        * ``EVENT``: the event is read again with ``GET /events/{id}`` and what the VTN answers is applied
          (an event of a program we do not follow is ignored).  A 404 removes a known event only after the
          program's event listing confirms it is gone — a ``DELETE`` notification by itself removes nothing.
        * ``PROGRAM``: the programs are read again; for a new program :attr:`program_listener` is called
          (``ven run`` subscribes to it) and its events are read; events of a program that is gone are removed.

        Other object types are ignored.  Raises ``ValueError`` when ``notification`` is not a notification;
        a VTN that cannot be read is logged and changes nothing (the next poll catches up).
        """
        note = read_notification(notification)
        if note["objectType"] == "PROGRAM":
            return await self._programs_hint()
        if note["objectType"] != "EVENT":
            return []
        event_id = object_id(note["object"])
        if event_id is None:
            log.debug("An EVENT notification named no event id; the next poll catches up.")
            return []
        async with self._lock:
            try:
                event = await self.transport.get_event(event_id)
            except VtnNotFound:
                changes = await self._confirm_removed(event_id)
            except Exception as err:  # noqa: BLE001 - a hint we cannot check is dropped; polling catches up
                log.warning("Could not read event %s named by a notification: %s", event_id, err)
                return []
            else:
                changes = await self._checked_event(event_id, event)
            await self.dispatch(changes)
        return changes

    async def _checked_event(self, event_id: str, event: Event) -> list[EventChange]:
        """Apply the VTN's answer for ``event_id`` when it is an event of a program we follow."""
        if event.id != event_id:
            log.warning("The VTN answered GET /events/%s with event %r; the notification is ignored.",
                        event_id, event.id)
            return []
        if event.program_id not in self.programs:
            await self._refresh_and_listen()  # maybe a program created after the last read
            if event.program_id not in self.programs:
                return []
        return self.tracker.apply(CHANGED, event)

    async def _confirm_removed(self, event_id: str) -> list[EventChange]:
        """The VTN answered 404 for ``event_id``: when we know that event, remove it if the program's event
        listing (the VTN again, not the notification) no longer holds it."""
        known = self.tracker.events.get(event_id)
        if known is None:
            return []
        try:
            listed = await self.transport.list_events(program_id=known.program_id)
        except Exception as err:  # noqa: BLE001
            log.warning("Could not confirm that event %s is gone: %s", event_id, err)
            return []
        still = next((e for e in listed if e.id == event_id and e.program_id == known.program_id), None)
        if still is not None:
            return self.tracker.apply(CHANGED, still)
        return self.tracker.apply(REMOVED, known)

    async def _refresh_and_listen(self) -> list[str]:
        """Read the programs again and tell :attr:`program_listener`; returns the program ids that are new."""
        before = set(self.programs)
        await self.refresh_programs()
        if self.program_listener is not None:
            try:
                await self.program_listener(list(self.programs))
            except Exception as err:  # noqa: BLE001 - subscribing is best effort; polling goes on
                log.warning("Could not follow the programs' changes: %s", err)
        return [p for p in self.programs if p not in before]

    async def _programs_hint(self) -> list[EventChange]:
        """A PROGRAM notification: re-read programs, read the events of new ones, drop those of gone ones."""
        async with self._lock:
            before = set(self.programs)
            try:
                new = await self._refresh_and_listen()
            except Exception as err:  # noqa: BLE001
                log.warning("Could not read the programs after a program notification: %s", err)
                return []
            gone = before - set(self.programs)
            events: list[Event] = []
            read: set[str] = set()
            for program_id in new:
                try:
                    events.extend(e for e in await self.transport.list_events(program_id=program_id)
                                  if e.program_id == program_id)
                    read.add(program_id)
                except Exception as err:  # noqa: BLE001 - the next poll reads it
                    log.warning("Could not read the events of program %s: %s", program_id, err)
            changes = self.tracker.update(events, programs=sorted(read | gone))
            await self.dispatch(changes)
        return changes

    async def dispatch(self, changes: Sequence[EventChange]) -> None:
        """Call ``ven_event`` for each change with its targeted loads (every plugin, a failing one logged and
        skipped: :class:`venclient.plugin_manager.IsolatedHook`), then the writers."""
        if not changes:
            return
        for item in changes:
            loads = await asyncio.to_thread(self.directory.targeted, item.event)
            self.event_hook(change=item.change, event=item.event, loads=loads)
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
