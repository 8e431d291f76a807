"""The event engine: follow the VTN's events, tell plugins what changed, and act on targeted loads.

Every poll reads the events of the followed programs (paged by the transport) and compares them with the
last poll: an unseen id is ``created``, a different ``modificationDateTime`` (or body) is ``changed``, an id
that disappeared is ``removed``.  For each change the engine resolves the loads the event targets
(:mod:`venclient.engine.targets`: ``RESOURCE_NAME``, ``VEN_NAME``, ``GROUP``, ``POWER_SERVICE_LOCATION``, a union
within the event, narrowed by the program's own targets; no targets: every load of the VENs we run; only types
we cannot resolve: no load), then calls ``ven_event(change, event, loads)`` on every plugin and hands the loads
that have a writer connection to their writer.  The parts: :mod:`venclient.engine.tracker` (what changed),
:mod:`venclient.engine.targets` (which loads), :mod:`venclient.engine.actuator` (the writers); this module polls,
takes webhook hints and dispatches.

Events are kept only in memory: after a restart every active event is reported as ``created`` again, so
writers re-apply the current state (they must be idempotent).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from venclient.openadr import Event
from venclient.plugin_manager import IsolatedHook
from venclient.vtn_errors import VtnNotFound
from venclient.engine.webhook import object_id, read_notification
from venclient.engine.actuator import EventActuator
from venclient.engine.scheduler import EventScheduler
from venclient.engine.targets import LoadDirectory
from venclient.engine.tracker import CHANGED, CREATED, REMOVED, EventChange, EventTracker
from venclient.protocols import VtnTransport

__all__ = ["CHANGED", "CREATED", "REMOVED", "EventChange", "EventEngine"]

log = logging.getLogger(__name__)


class EventEngine:
    """Follows the VTN's events for the VENs we run and dispatches changes to plugins and writers.

    Changes come from :meth:`poll` (every program we follow, paged) and, in webhook mode, from
    :meth:`notify` (a hint: it re-reads from the VTN what a notification names); both hold one lock while they
    read, diff and dispatch, so a notification never interleaves with a poll and each change is dispatched once.
    """

    def __init__(self, runtime: Any, transport: VtnTransport, vens: Sequence[str], *,
                 programs: Sequence[str] | None = None):
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
        # Set by ``ven run``: carries the events out over time (then the actuator's one-off writes are not made).
        self.scheduler: EventScheduler | None = None
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
        skipped: :class:`venclient.plugin_manager.IsolatedHook`), then the writers: through the scheduler when
        one is set (``ven run``: at the intervals' boundaries), else at once with the current value."""
        if not changes:
            return
        for item in changes:
            loads = await asyncio.to_thread(self.directory.targeted, item.event,
                                            self.programs.get(item.event.program_id))
            self.event_hook(change=item.change, event=item.event, loads=loads)
            if self.scheduler is None:
                await self.actuator.act(item.change, item.event, loads)
        await self.replan([item.event.id for item in changes if item.change == REMOVED and item.event.id])

    async def replan(self, gone: Sequence[str] = ()) -> None:
        """Let the scheduler (when set) plan the current events again (after changes, or when loads changed);
        ``gone``: ids of removed events whose kept state it may forget."""
        if self.scheduler is not None:
            await self.scheduler.replan(list(self.tracker.events.values()), self.programs, gone)

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
