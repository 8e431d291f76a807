"""What changed between two reads of the VTN's events: :class:`EventTracker` (pure; no I/O).

An unseen id is ``created``, a different version (``modificationDateTime`` or content) is ``changed``, an id that
disappeared is ``removed``; a pushed change (a webhook notification) applies unless it is older than the version
known.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from collections.abc import Sequence

from venclient.openadr import Event

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
