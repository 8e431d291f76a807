"""A writer of kind ``sine`` that acts on nothing and records what it was told (for tests and dry runs).

Each value is kept in ``written`` and, when the connection names a ``file`` (``--file``), appended to it as
one JSON line ``{"resource_id", "load", "value"}`` — so another process (or a test holding only the
runtime) can see what the event engine or ``ven resources write`` sent.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from venclient import Connection, Load
from venclient_example.wave import KIND, parse_wave


@dataclass(frozen=True)
class Written:
    """One call of :meth:`RecordingWriter.write`."""

    resource_id: str
    load: str
    value: float


def _append(path: Path, written: Written) -> None:
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(asdict(written)) + "\n")


class RecordingWriter:
    """The :class:`venclient.Writer` of kind ``sine``: ``written`` lists every value, oldest first."""

    kinds: tuple[str, ...] = (KIND,)

    def __init__(self) -> None:
        self.written: list[Written] = []

    def validate_connection(self, connection: Connection) -> None:
        """The same options as the sine meter (``release_value`` and ``loads`` are the event engine's)."""
        parse_wave(connection)

    async def write(self, connection: Connection, load: Load, value: float) -> None:
        """Record ``value`` for ``load`` (file I/O in a thread: never block the event loop)."""
        written = Written(load.resource_id, load.load_component, float(value))
        self.written.append(written)
        if connection.file:
            await asyncio.to_thread(_append, Path(connection.file), written)
