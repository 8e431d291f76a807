"""Acting on events: :class:`EventActuator` hands targeted loads that have a writer connection to the writer
serving that connection's kind, with the event's current value (:func:`current_value`)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from collections.abc import AsyncIterator, Iterable, Sequence
from itertools import islice
from typing import Any

from venclient.model import WRITER, Load
from venclient.openadr import Event, parse_duration
from venclient.engine.tracker import REMOVED
from venclient.protocols import ListsConnections, ResourceStore

log = logging.getLogger(__name__)


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
