"""VEN leases of :class:`venclient.plugins.sqlite_store.store.SqlResourceStore` (mixed into it).

A lease row says which process works on a VEN and until when.  Taking one is a single conditional upsert —
``INSERT … ON CONFLICT (ven) DO UPDATE … WHERE`` the row is ours or has expired — which SQLite (3.24+) and
PostgreSQL both execute atomically; taking several is all or nothing in one transaction (on SQLite the first
write takes the database's write lock, so two processes cannot interleave).  Times are the caller's Unix
seconds: processes sharing a PostgreSQL store from several hosts need synchronised clocks (NTP).
"""

from __future__ import annotations

from typing import Any, Sequence

import sqlalchemy as sa

from venclient.plugins.sqlite_store import schema

_UPSERT = ("INSERT INTO leases (ven, holder, host, pid, command, acquired_at, heartbeat_at, expires_at) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
           "ON CONFLICT (ven) DO UPDATE SET holder = excluded.holder, host = excluded.host, pid = excluded.pid, "
           "command = excluded.command, "
           "acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at "
           "ELSE excluded.acquired_at END, "
           "heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at "
           "WHERE leases.holder = excluded.holder OR leases.expires_at <= excluded.heartbeat_at")
CHUNK = 500


class _Refused(Exception):
    """Rolls an all-or-nothing acquisition back."""


class LeaseMethods:
    """:class:`venclient.protocols.LeaseRecords` (an optional store capability) on SQLAlchemy Core."""

    engine: sa.Engine

    def _take(self, conn: Any, vens: Sequence[str], holder: dict[str, Any], now: float,
              seconds: float) -> dict[str, dict[str, Any]]:
        """Upsert every VEN's lease for ``holder`` where allowed; the rows other holders keep."""
        rows = [(ven, holder["holder"], holder["host"], int(holder["pid"]), holder["command"], now, now,
                 now + seconds) for ven in vens]
        conn.exec_driver_sql(self._sql(conn, _UPSERT), rows)  # type: ignore[attr-defined]
        held = self._lease_rows(conn, vens)
        return {ven: row for ven, row in held.items() if row["holder"] != holder["holder"]}

    @staticmethod
    def _lease_rows(conn: Any, vens: Sequence[str] | None) -> dict[str, dict[str, Any]]:
        t = schema.leases
        if vens is None:
            return {row.ven: dict(row._mapping) for row in conn.execute(sa.select(t).order_by(t.c.ven))}
        out: dict[str, dict[str, Any]] = {}
        names = list(vens)
        for start in range(0, len(names), CHUNK):
            for row in conn.execute(sa.select(t).where(t.c.ven.in_(names[start:start + CHUNK]))):
                out[row.ven] = dict(row._mapping)
        return out

    def lease_acquire(self, vens: Sequence[str], holder: dict[str, Any], now: float,
                      seconds: float) -> dict[str, dict[str, Any]]:
        """Take (or extend) the leases of every VEN in ``vens`` for ``holder`` until ``now + seconds`` — all or
        nothing.  Returns ``{}`` when taken; otherwise the lease rows of the VENs another holder has and that
        have not expired at ``now`` (and nothing changed)."""
        if not vens:
            return {}
        try:
            with self.engine.begin() as conn:
                refused = self._take(conn, list(dict.fromkeys(vens)), holder, now, seconds)
                if refused:
                    raise _Refused
        except _Refused:
            return refused
        return {}

    def lease_renew(self, vens: Sequence[str], holder: dict[str, Any], now: float,
                    seconds: float) -> dict[str, dict[str, Any]]:
        """Extend ``holder``'s leases of ``vens`` (taking back any that expired and nobody took); returns the
        lease rows of the VENs another holder has taken over meanwhile (those are left to it)."""
        if not vens:
            return {}
        with self.engine.begin() as conn:
            return self._take(conn, list(dict.fromkeys(vens)), holder, now, seconds)

    def lease_release(self, vens: Sequence[str], holder_id: str) -> int:
        """Give up ``holder_id``'s leases of ``vens`` (rows of other holders stay); returns how many went."""
        t = schema.leases
        names = list(vens)
        released = 0
        with self.engine.begin() as conn:
            for start in range(0, len(names), CHUNK):
                released += conn.execute(t.delete().where(t.c.ven.in_(names[start:start + CHUNK]),
                                                          t.c.holder == holder_id)).rowcount
        return released

    def lease_list(self, vens: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """The lease rows (ven, holder, host, pid, command, acquired_at, heartbeat_at, expires_at) of ``vens``
        or of every VEN, by VEN; expired rows included (compare ``expires_at`` with the time)."""
        with self.engine.connect() as conn:
            rows = self._lease_rows(conn, vens)
        return [rows[ven] for ven in sorted(rows)]
