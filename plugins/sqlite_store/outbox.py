"""The report outbox: the :class:`venclient.protocols.ReportOutbox` part of
:class:`venclient.plugins.sqlite_store.store.SqlResourceStore` (mixed into it)."""

from __future__ import annotations

import json
import time
from typing import Any, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection as SaConnection

from venclient.errors import InputError
from venclient.plugins.sqlite_store import schema
from venclient.plugins.sqlite_store.sql import SqlBase


class OutboxMethods(SqlBase):
    """:class:`venclient.protocols.ReportOutbox` on SQLAlchemy Core."""

    def outbox_add(self, items: Iterable[dict[str, Any]], state: dict[str, str] | None = None, *,
                   accumulators: Any = None, history: Any = None) -> list[int]:
        """Persist reports before sending (dicts with ven, program_id, event_id, tick_ms, payload JSON text),
        and ``state`` entries (see :meth:`set_state`) and the ``accumulators`` rows (an
        :class:`venclient.engine.accumulate.AccumulatorWrite`) in the same transaction: a tick's reports, its
        interval totals and the position it advanced to are stored together or not at all; so are its hourly load
        history rows (``history``, a :class:`venclient.engine.baseline.HistoryWrite`)."""
        t = schema.outbox
        ids = []
        with self.engine.begin() as conn:
            for item in items:
                ids.append(int(conn.execute(t.insert().values(**item)).inserted_primary_key[0]))
            for key, value in (state or {}).items():
                self._set_state(conn, key, value)
            self._write_accumulators(conn, accumulators)  # type: ignore[attr-defined]
            self._write_history(conn, history)  # type: ignore[attr-defined]
        return ids

    def outbox_due(self, now: float | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Pending reports whose next attempt is due, oldest first."""
        t = schema.outbox
        now = time.time() if now is None else now
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.state == "pending", t.c.next_attempt_at <= now)
                                .order_by(t.c.id).limit(limit))
            return [dict(row._mapping) for row in rows]

    def outbox_payload(self, outbox_id: int) -> str | None:
        """The JSON text of one report (``None`` when it is gone): read just before it is sent, so a flush
        holds only the reports in flight."""
        t = schema.outbox
        with self.engine.connect() as conn:
            return conn.execute(sa.select(t.c.payload).where(t.c.id == outbox_id)).scalar_one_or_none()

    def outbox_delete(self, ids: Sequence[int]) -> int:
        """Delete delivered reports."""
        t = schema.outbox
        with self.engine.begin() as conn:
            return conn.execute(t.delete().where(t.c.id.in_(list(ids)))).rowcount if ids else 0

    def outbox_mark_attempt(self, outbox_id: int) -> None:
        """Count an attempt *before* sending, so an interrupted send is known to have maybe arrived."""
        t = schema.outbox
        with self.engine.begin() as conn:
            conn.execute(t.update().where(t.c.id == outbox_id).values(attempts=t.c.attempts + 1, last_error=None,
                                                                       maybe_delivered=1))

    def outbox_retry_later(self, outbox_id: int, error: str, next_attempt_at: float,
                           maybe_delivered: bool = True) -> None:
        """Record why the last attempt failed, when to try again, and whether it may have reached the VTN."""
        t = schema.outbox
        with self.engine.begin() as conn:
            conn.execute(t.update().where(t.c.id == outbox_id).values(
                last_error=error[:2000], next_attempt_at=next_attempt_at, maybe_delivered=int(maybe_delivered)))

    def outbox_reject(self, outbox_id: int, reason: str) -> None:
        """Keep a report the VTN refused (400/422 with a problem body) aside with the reason; it is not retried
        unless :meth:`outbox_requeue` says so."""
        t = schema.outbox
        with self.engine.begin() as conn:
            conn.execute(t.update().where(t.c.id == outbox_id).values(state="rejected", last_error=reason[:2000],
                                                                       maybe_delivered=0))

    def _rejected_selection(self, conn: SaConnection, ids: Sequence[int] | None,
                            ven: str | None) -> tuple[list[int], Any]:
        """The rejected reports ``ids`` names (each must be one), or those of ``ven`` (a VEN the store knows),
        or all: their ids and a WHERE clause choosing exactly them (no list of ids for a whole VEN).  Raises
        :class:`InputError` with one sentence for an unknown or not rejected id, or an unknown VEN."""
        t = schema.outbox
        if ids is not None and ven is not None:
            raise InputError("Choose the rejected reports by outbox id or by VEN, not both.")
        if ids is not None:
            wanted = list(dict.fromkeys(int(i) for i in ids))
            states = dict(conn.execute(sa.select(t.c.id, t.c.state).where(t.c.id.in_(wanted))).all()) if wanted else {}
            for outbox_id in wanted:
                if outbox_id not in states:
                    raise InputError(f"No report with outbox id {outbox_id} in the outbox "
                                     "(`ven outbox --rows` lists them).")
                if states[outbox_id] != "rejected":
                    raise InputError(f"Outbox report {outbox_id} is {states[outbox_id]} (waiting to be sent), "
                                     "not rejected.")
            return wanted, sa.and_(t.c.id.in_(wanted), t.c.state == "rejected")
        where = t.c.state == "rejected"
        if ven is not None:
            r = schema.resources
            known = conn.execute(sa.select(r.c.id).where(r.c.ven == ven).limit(1)).first() or \
                conn.execute(sa.select(t.c.id).where(t.c.ven == ven).limit(1)).first()
            if known is None:
                raise InputError(f"Unknown VEN {ven!r}: no resource in the store and no report in the outbox "
                                 "belongs to it.")
            where = sa.and_(where, t.c.ven == ven)
        return [int(i) for i in conn.execute(sa.select(t.c.id).where(where).order_by(t.c.id)).scalars()], where

    def outbox_select_rejected(self, ids: Sequence[int] | None = None, ven: str | None = None) -> list[dict[str, Any]]:
        """The rejected reports (rows without payloads, oldest first) named by ``ids``, or of ``ven``, or all
        when neither is given; an unknown or not rejected id, or an unknown VEN, raises :class:`InputError`."""
        t = schema.outbox
        cols = [c for c in t.c if c.name != "payload"]
        with self.engine.connect() as conn:
            _, where = self._rejected_selection(conn, ids, ven)
            return [dict(row._mapping) for row in conn.execute(sa.select(*cols).where(where).order_by(t.c.id))]

    def outbox_requeue(self, ids: Sequence[int] | None = None, ven: str | None = None,
                       now: float | None = None) -> list[int]:
        """Send rejected reports again: the chosen ones (as :meth:`outbox_select_rejected`) become ``pending``,
        due at ``now`` (default: at once), attempts and last error kept.  All or nothing; returns their ids."""
        t = schema.outbox
        due = time.time() if now is None else now
        with self.engine.begin() as conn:
            chosen, where = self._rejected_selection(conn, ids, ven)
            if chosen:
                conn.execute(t.update().where(where).values(state="pending", next_attempt_at=due))
            return chosen

    def outbox_drop(self, ids: Sequence[int] | None = None, ven: str | None = None) -> list[int]:
        """Delete rejected reports deliberately (chosen as :meth:`outbox_select_rejected`); pending reports are
        never touched.  All or nothing; returns the deleted ids."""
        t = schema.outbox
        with self.engine.begin() as conn:
            chosen, where = self._rejected_selection(conn, ids, ven)
            if chosen:
                conn.execute(t.delete().where(where))
            return chosen

    def outbox_retarget(self, moves: Sequence[tuple[str, str, str, str]],
                        aside: Sequence[tuple[str, str, str]] = ()) -> tuple[int, int]:
        """In one transaction: reports (waiting or set aside) of each ``(old program id, old event id, new program id,
        new event id)`` get the new ids in their columns and JSON and wait to be sent again; reports of each
        ``(program id, event id, reason)`` in ``aside`` are set aside with the reason.  Returns ``(moved, set aside)``."""
        t = schema.outbox
        moved = set_aside = 0
        with self.engine.begin() as conn:
            for old_program, old_event, new_program, new_event in moves:
                rows = conn.execute(sa.select(t.c.id, t.c.payload).where(
                    t.c.program_id == old_program, t.c.event_id == old_event)).all()
                for row in rows:
                    report = json.loads(row.payload)
                    report["programID"], report["eventID"] = new_program, new_event
                    conn.execute(t.update().where(t.c.id == row.id).values(
                        program_id=new_program, event_id=new_event, payload=json.dumps(report, separators=(",", ":")),
                        state="pending", next_attempt_at=0,
                        last_error=f"moved from program {old_program} / event {old_event}: the VTN re-created them"))
                moved += len(rows)
            for program_id, event_id, reason in aside:
                set_aside += conn.execute(t.update().where(t.c.program_id == program_id, t.c.event_id == event_id)
                                          .values(state="rejected", last_error=reason[:2000])).rowcount
        return moved, set_aside

    def outbox_counts(self) -> dict[str, int]:
        """``{"pending": n, "rejected": m}``."""
        t = schema.outbox
        with self.engine.connect() as conn:
            counts = dict(conn.execute(sa.select(t.c.state, sa.func.count()).group_by(t.c.state)).all())
        return {"pending": counts.get("pending", 0), "rejected": counts.get("rejected", 0)}

    def outbox_list(self, state: str | None = None) -> list[dict[str, Any]]:
        """Outbox rows without payloads (id, ven, state, attempts, last_error …), oldest first."""
        t = schema.outbox
        cols = [c for c in t.c if c.name != "payload"]
        query = sa.select(*cols).order_by(t.c.id)
        if state:
            query = query.where(t.c.state == state)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]
