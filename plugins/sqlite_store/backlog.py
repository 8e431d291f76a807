"""The readings backlog of :class:`venclient.plugins.sqlite_store.store.SqlResourceStore` (mixed into it).

``ven run`` keeps here what it collected while no report request was known: one row per VEN and tick with the
VEN's values as bytes (see :mod:`venclient.engine.backlog`), and a *layout* — the VEN's load ids in value order — that the
ticks of an unchanged fleet share.  Rows leave in the transaction that puts their reports into the outbox, so a
crash at any point neither loses nor duplicates a tick.  The mixin uses the store's ``engine``, ``_sql`` and
``_set_state``.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import sqlalchemy as sa

from venclient.plugins.sqlite_store import schema

CHUNK = 500  # ids per IN (...) list


class BacklogMethods:
    """:class:`venclient.protocols.BacklogRecords` (an optional store capability) on SQLAlchemy Core."""

    engine: sa.Engine

    def backlog_add(self, rows: Sequence[dict[str, Any]], state: dict[str, str] | None = None, *,
                    history: Any = None) -> int:
        """Store one tick's rows (dicts: ven, tick_index, tick_ms, digest, load_ids text, power and quality bytes),
        the ``state`` entries and the tick's hourly load history (``history``, a
        :class:`venclient.engine.baseline.HistoryWrite`) in one transaction; the tick gets the next ``tick_no``.
        Returns the tick_no."""
        b, layouts = schema.backlog, schema.backlog_layouts
        with self.engine.begin() as conn:
            # The write first: on SQLite it takes the write lock, so the MAX below cannot race another writer.
            for key, value in (state or {}).items():
                self._set_state(conn, key, value)  # type: ignore[attr-defined]
            self._write_history(conn, history)  # type: ignore[attr-defined]
            tick_no = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(b.c.tick_no), 0))).scalar_one()) + 1
            digests = sorted({row["digest"] for row in rows})
            known = dict(conn.execute(sa.select(layouts.c.digest, layouts.c.id)
                                      .where(layouts.c.digest.in_(digests))).all()) if digests else {}
            for row in rows:
                if row["digest"] not in known:
                    known[row["digest"]] = int(conn.execute(layouts.insert().values(
                        ven=row["ven"], digest=row["digest"], load_ids=row["load_ids"])).inserted_primary_key[0])
            if rows:
                conn.execute(b.insert(), [{"ven": row["ven"], "tick_no": tick_no, "tick_index": row["tick_index"],
                                           "tick_ms": row["tick_ms"], "layout_id": known[row["digest"]],
                                           "power": row["power"], "quality": row["quality"]} for row in rows])
        return tick_no

    def backlog_ticks(self, vens: Sequence[str] | None = None) -> int:
        """How many ticks the backlog holds (of ``vens``, when given)."""
        b = schema.backlog
        query = sa.select(sa.func.count(sa.distinct(b.c.tick_no)))
        if vens is not None:
            query = query.where(b.c.ven.in_(list(vens)))
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def _oldest_ticks(self, conn: Any, vens: Sequence[str] | None, ticks: int) -> list[int]:
        b = schema.backlog
        query = sa.select(b.c.tick_no).distinct().order_by(b.c.tick_no).limit(ticks)
        if vens is not None:
            query = query.where(b.c.ven.in_(list(vens)))
        return [int(t) for t in conn.execute(query).scalars()]

    def backlog_oldest(self, vens: Sequence[str] | None = None, ticks: int = 1) -> list[dict[str, Any]]:
        """The rows of the oldest ``ticks`` ticks (of ``vens``), oldest first: id, ven, tick_no, tick_index,
        tick_ms, power and quality bytes, and the layout's ``load_ids`` text."""
        b, layouts = schema.backlog, schema.backlog_layouts
        with self.engine.connect() as conn:
            numbers = self._oldest_ticks(conn, vens, ticks)
            if not numbers:
                return []
            query = (sa.select(b.c.id, b.c.ven, b.c.tick_no, b.c.tick_index, b.c.tick_ms, b.c.power, b.c.quality,
                               b.c.layout_id, layouts.c.load_ids)
                     .select_from(b.join(layouts, layouts.c.id == b.c.layout_id))
                     .where(b.c.tick_no.in_(numbers)).order_by(b.c.tick_no, b.c.id))
            if vens is not None:
                query = query.where(b.c.ven.in_(list(vens)))
            return [dict(row._mapping) for row in conn.execute(query)]

    def backlog_to_outbox(self, backlog_ids: Sequence[int], items: Iterable[dict[str, Any]], *,
                          state: dict[str, str] | None = None, accumulators: Any = None) -> list[int]:
        """One transaction: store the reports ``items`` (as ``outbox_add`` does, with its ``state`` and
        ``accumulators``) and delete the backlog rows they were built from; returns the new outbox ids in order
        (``items`` may be a generator)."""
        t = schema.outbox
        ids: list[int] = []
        with self.engine.begin() as conn:
            self._backlog_delete(conn, backlog_ids)
            for item in items:
                ids.append(int(conn.execute(t.insert().values(**item)).inserted_primary_key[0]))
            for key, value in (state or {}).items():
                self._set_state(conn, key, value)  # type: ignore[attr-defined]
            self._write_accumulators(conn, accumulators)  # type: ignore[attr-defined]
        return ids

    def backlog_drop_oldest(self, vens: Sequence[str] | None = None, ticks: int = 1) -> int:
        """Delete the oldest ``ticks`` ticks (of ``vens``) unreported; returns how many ticks went."""
        b = schema.backlog
        with self.engine.begin() as conn:
            numbers = self._oldest_ticks(conn, vens, ticks)
            if numbers:
                query = sa.select(b.c.id).where(b.c.tick_no.in_(numbers))
                if vens is not None:
                    query = query.where(b.c.ven.in_(list(vens)))
                self._backlog_delete(conn, list(conn.execute(query).scalars()))
        return len(numbers)

    @staticmethod
    def _backlog_delete(conn: Any, backlog_ids: Sequence[int]) -> None:
        """Delete backlog rows, then the layouts of their VENs that no row uses any more."""
        b, layouts = schema.backlog, schema.backlog_layouts
        ids = list(backlog_ids)
        vens: set[str] = set()
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            vens.update(conn.execute(sa.select(b.c.ven).where(b.c.id.in_(chunk)).distinct()).scalars())
            conn.execute(b.delete().where(b.c.id.in_(chunk)))
        if vens:  # only our VENs' layouts: another process may be adding rows of its own VENs right now
            conn.execute(layouts.delete().where(layouts.c.ven.in_(sorted(vens)),
                                                ~layouts.c.id.in_(sa.select(b.c.layout_id).distinct())))
