"""What every part of :class:`venclient.plugins.sqlite_store.store.SqlResourceStore` shares: the engine, SQL
helpers for driver-level statements (positional tuples: building many parameter dicts costs more than the insert),
and small conversions."""

from __future__ import annotations

import json
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection as SaConnection

from venclient.errors import InputError
from venclient.model import STATUSES
from venclient.plugins.sqlite_store import schema


def json_value(text: Any) -> Any:
    """A JSON column's value: parsed text, a dict or list as it is, ``{}`` for empty or unreadable text."""
    if text in (None, ""):
        return {}
    if isinstance(text, (dict, list)):
        return text
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return {}


def check_status(status: str) -> None:
    """Raise InputError (one sentence) for a registration status that is not one of ``STATUSES``."""
    if status not in STATUSES:
        raise InputError(f"Unknown status {status!r}: use one of {', '.join(STATUSES)}.")


def integrity_reason(err: sa.exc.IntegrityError) -> str:
    """Why the database refused rows, in words (duplicate id, missing resource, or its first line)."""
    text = str(err.orig).splitlines()[0]
    if "UNIQUE" in text.upper() or "duplicate key" in text:
        return f"duplicate id: {text}"
    if "FOREIGN KEY" in text.upper() or "foreign key" in text:
        return f"a load names a resource that does not exist: {text}"
    return text


class SqlBase:
    """The engine and SQL helpers the store's parts share."""

    url: str
    engine: sa.Engine

    def _placeholders(self, conn: SaConnection, n: int) -> str:
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        return ", ".join([mark] * n)

    def _executemany(self, conn: SaConnection, sql: str, rows: list[tuple]) -> None:
        if rows:
            conn.exec_driver_sql(sql, rows)

    def _sql(self, conn: SaConnection, sql: str) -> str:
        return sql if conn.dialect.paramstyle == "qmark" else sql.replace("?", "%s")

    def _existing_resource_ids(self, conn: SaConnection, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        t = schema.resources
        for start in range(0, len(ids), 900):
            chunk = ids[start:start + 900]
            found.update(conn.execute(sa.select(t.c.resource_id).where(t.c.resource_id.in_(chunk))).scalars())
        return found
