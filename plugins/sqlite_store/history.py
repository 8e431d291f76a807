"""Hourly load history for baselines: the :class:`venclient.protocols.HistoryRecords` part of
:class:`venclient.plugins.sqlite_store.store.SqlResourceStore` (mixed into it).  A tick's rows are written inside the
transactions of ``outbox_add`` and ``backlog_add`` (their ``history=`` argument, a
:class:`venclient.engine.baseline.HistoryWrite`); ``history_add`` writes rows on their own (tests, imports)."""

from __future__ import annotations

from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection as SaConnection

from venclient.errors import InputError
from venclient.plugins.sqlite_store import schema

CHUNK = 500  # load ids per IN (...) list
FIELDS = ("load_id", "hour_start", "energy_wh", "seconds", "event")
# SQLite (3.24+) and PostgreSQL: add to the stored hour, keep the event flag once set
UPSERT = ("INSERT INTO load_history_hourly (load_id, hour_start, energy_wh, seconds, event) VALUES (?, ?, ?, ?, ?) "
          "ON CONFLICT (load_id, hour_start) DO UPDATE SET "
          "energy_wh = load_history_hourly.energy_wh + excluded.energy_wh, "
          "seconds = load_history_hourly.seconds + excluded.seconds, "
          "event = CASE WHEN excluded.event > load_history_hourly.event THEN excluded.event "
          "ELSE load_history_hourly.event END")


class HistoryMethods:
    """:class:`venclient.protocols.HistoryRecords` on SQLAlchemy Core."""

    engine: sa.Engine

    def history_add(self, rows: Sequence[dict[str, Any]], prune_before: int | None = None) -> int:
        """Add ``rows`` (load_id, hour_start Unix seconds, energy_wh, seconds, event) to the stored hours in one
        transaction (energy and seconds summed, the event flag kept once set), then delete hours before
        ``prune_before``; returns how many rows were given.  A row with a missing or wrong field raises
        :class:`InputError` naming it, and nothing changes."""
        checked = [_checked(row, n) for n, row in enumerate(rows)]
        with self.engine.begin() as conn:
            self._write_history_rows(conn, checked, prune_before)
        return len(checked)

    def history_read(self, load_ids: Sequence[str], since: int, until: int, *,
                     hour_of_day: int | None = None) -> list[tuple[str, int, float, float, bool]]:
        """``(load_id, hour_start, energy_wh, seconds, event)`` of ``load_ids`` with ``since <= hour_start <
        until``, by load and hour; with ``hour_of_day`` (seconds after midnight UTC) only the hours starting then
        and the event hours (what a baseline needs: a day's hour, and whether the day had an event)."""
        t = schema.load_history_hourly
        ids = list(dict.fromkeys(load_ids))
        out: list[tuple[str, int, float, float, bool]] = []
        window = [t.c.hour_start >= int(since), t.c.hour_start < int(until)]
        if hour_of_day is not None:
            window.append(sa.or_(t.c.hour_start % 86400 == int(hour_of_day) % 86400, t.c.event != 0))
        with self.engine.connect() as conn:
            for start in range(0, len(ids), CHUNK):
                query = (sa.select(t.c.load_id, t.c.hour_start, t.c.energy_wh, t.c.seconds, t.c.event)
                         .where(t.c.load_id.in_(ids[start:start + CHUNK]), *window)
                         .order_by(t.c.load_id, t.c.hour_start))
                out.extend((str(r[0]), int(r[1]), float(r[2]), float(r[3]), bool(r[4])) for r in conn.execute(query))
        return out

    def _write_history(self, conn: SaConnection, write: Any) -> None:
        """Apply a :class:`venclient.engine.baseline.HistoryWrite` (its rows are tuples in :data:`FIELDS` order) on
        ``conn``, the caller's transaction."""
        if write is None:
            return
        self._write_history_rows(conn, write.rows, write.prune_before)

    @staticmethod
    def _write_history_rows(conn: SaConnection, rows: Sequence[tuple], prune_before: int | None) -> None:
        """Upsert ``rows`` (tuples in :data:`FIELDS` order) on ``conn``: the driver's executemany of one statement
        on SQLite and PostgreSQL (no parameter dict per row), update-else-insert elsewhere."""
        t = schema.load_history_hourly
        if rows:
            if conn.dialect.name in ("sqlite", "postgresql"):
                mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
                conn.exec_driver_sql(UPSERT.replace("?", mark), list(rows))
            else:
                for load_id, hour, energy, seconds, event in rows:
                    where = sa.and_(t.c.load_id == load_id, t.c.hour_start == hour)
                    updated = conn.execute(t.update().where(where).values(
                        energy_wh=t.c.energy_wh + energy, seconds=t.c.seconds + seconds,
                        event=sa.case((t.c.event < event, event), else_=t.c.event))).rowcount
                    if not updated:
                        conn.execute(t.insert().values(load_id=load_id, hour_start=hour, energy_wh=energy,
                                                       seconds=seconds, event=event))
        if prune_before is not None:
            conn.execute(t.delete().where(t.c.hour_start < int(prune_before)))


def _checked(row: Any, n: int) -> tuple:
    """One history row as a tuple in :data:`FIELDS` order, or :class:`InputError` naming row ``n`` and the field."""
    if not isinstance(row, dict):
        raise InputError(f"History row {n} is not a mapping of {', '.join(FIELDS)}.")
    missing = [name for name in FIELDS if name not in row]
    if missing:
        raise InputError(f"History row {n} lacks {missing[0]}.")
    try:
        out = {"load_id": str(row["load_id"]), "hour_start": int(row["hour_start"]),
               "energy_wh": float(row["energy_wh"]), "seconds": float(row["seconds"]), "event": int(bool(row["event"]))}
    except (TypeError, ValueError) as err:
        raise InputError(f"History row {n} has a field of the wrong type: {err}.") from None
    if out["hour_start"] % 3600:
        raise InputError(f"History row {n}: hour_start {out['hour_start']} is not the start of a UTC hour.")
    if not (out["seconds"] >= 0 and out["energy_wh"] == out["energy_wh"]):
        raise InputError(f"History row {n}: seconds must be 0 or more and energy_wh a number.")
    return tuple(out[name] for name in FIELDS)
