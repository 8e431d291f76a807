"""Runtime state a run leaves for the next: the :class:`venclient.protocols.RuntimeState` part of
:class:`venclient.plugins.sqlite_store.store.SqlResourceStore` (mixed into it)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection as SaConnection

from venclient.plugins.sqlite_store import schema
from venclient.plugins.sqlite_store.sql import SqlBase


class StateMethods(SqlBase):
    """:class:`venclient.protocols.RuntimeState` on SQLAlchemy Core."""

    def get_state(self, key: str) -> str | None:
        """A value a previous run left (``None`` when never set)."""
        t = schema.runtime_state
        with self.engine.connect() as conn:
            return conn.execute(sa.select(t.c.value).where(t.c.key == key)).scalar_one_or_none()

    def set_state(self, key: str, value: str) -> None:
        """Remember ``value`` under ``key`` for the next run."""
        with self.engine.begin() as conn:
            self._set_state(conn, key, value)

    @staticmethod
    def _set_state(conn: SaConnection, key: str, value: str) -> None:
        t = schema.runtime_state
        updated = conn.execute(t.update().where(t.c.key == key).values(
            value=value, updated_at=sa.func.current_timestamp())).rowcount
        if not updated:
            conn.execute(t.insert().values(key=key, value=value))
