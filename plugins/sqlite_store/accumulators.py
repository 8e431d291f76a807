"""Per event interval totals of event-aligned reports: the :class:`venclient.protocols.AccumulatorRecords` part of
:class:`venclient.plugins.sqlite_store.store.SqlResourceStore` (mixed into it).  The rows are written inside the
transactions of ``outbox_add`` and ``backlog_to_outbox`` (their ``accumulators=`` argument)."""

from __future__ import annotations

from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection as SaConnection

from venclient.plugins.sqlite_store import schema

CHANNELS = ("energy", "baseline", "seconds", "ticks", "register_kwh")  # register_kwh nullable (older rows)


class AccumulatorMethods:
    """:class:`venclient.protocols.AccumulatorRecords` on SQLAlchemy Core."""

    engine: sa.Engine

    def accumulators_read(self, vens: Sequence[str], event_id: str | None = None) -> list[dict[str, Any]]:
        """Every kept row of ``vens`` (of ``event_id`` only, when given)."""
        t = schema.report_accumulators
        where = t.c.ven.in_(list(vens))
        if event_id is not None:
            where = sa.and_(where, t.c.event_id == event_id)
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.ven, t.c.event_id, t.c.interval_key, t.c.load_ids, t.c.energy,
                                          t.c.baseline, t.c.seconds, t.c.ticks, t.c.register_kwh).where(where))
            return [dict(row._mapping) for row in rows]

    @staticmethod
    def _write_accumulators(conn: SaConnection, write: Any) -> None:
        """Apply an :class:`venclient.engine.accumulate.AccumulatorWrite` on ``conn`` (the caller's transaction)."""
        if write is None:
            return
        t = schema.report_accumulators
        for ven, event_id, key in write.deletes:
            where = sa.and_(t.c.ven == ven, t.c.event_id == event_id)
            if key is not None:
                where = sa.and_(where, t.c.interval_key == key)
            conn.execute(t.delete().where(where))
        for row in write.upserts:
            values = {name: row.get(name) for name in CHANNELS}
            if row.get("load_ids") is not None:
                values["load_ids"] = row["load_ids"]
            where = sa.and_(t.c.ven == row["ven"], t.c.event_id == row["event_id"],
                            t.c.interval_key == row["interval_key"])
            updated = conn.execute(t.update().where(where).values(
                **values, updated_at=sa.func.current_timestamp())).rowcount
            if not updated:
                conn.execute(t.insert().values(ven=row["ven"], event_id=row["event_id"],
                                               interval_key=row["interval_key"], load_ids=row["load_ids"] or "",
                                               **{name: row.get(name) for name in CHANNELS}))
