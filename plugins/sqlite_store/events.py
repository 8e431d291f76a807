"""What the event scheduler keeps across restarts — event state, opt-outs and resource groups: the
:class:`venclient.protocols.EventStateRecords` and :class:`venclient.protocols.ResourceGroups` parts of
:class:`venclient.plugins.sqlite_store.store.SqlResourceStore` (mixed into it)."""

from __future__ import annotations

from typing import Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection as SaConnection

from venclient.errors import InputError
from venclient.model import OPT_OUT_ALL
from venclient.plugins.sqlite_store import schema
from venclient.plugins.sqlite_store.sql import SqlBase

CHUNK = 900  # ids per IN (...) list


def _chunks(ids: Sequence[str]) -> list[Sequence[str]]:
    return [ids[start:start + CHUNK] for start in range(0, len(ids), CHUNK)]


class EventStateMethods(SqlBase):
    """:class:`venclient.protocols.EventStateRecords` and :class:`venclient.protocols.ResourceGroups` on
    SQLAlchemy Core."""

    # ------------------------------------------------------------------ event state
    def event_states(self, ven: str, proposed: Mapping[str, tuple[float, int]]) -> dict[str, tuple[float, int]]:
        """The ``(received_at, seed)`` kept for ``ven`` per event id of ``proposed`` (new ones stored first)."""
        t = schema.event_state
        ids = sorted(proposed)
        if not ids:
            return {}
        for attempt in range(2):  # another process (`ven events timeline`) may store some first: theirs win
            try:
                with self.engine.begin() as conn:
                    kept = self._states(conn, ven, ids)
                    new = [{"ven": ven, "event_id": i, "received_at": float(proposed[i][0]),
                            "seed": int(proposed[i][1])} for i in ids if i not in kept]
                    if new:
                        conn.execute(t.insert(), new)
                        kept.update({row["event_id"]: (row["received_at"], row["seed"]) for row in new})
                return kept
            except sa.exc.IntegrityError:
                if attempt:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _states(conn: SaConnection, ven: str, ids: Sequence[str]) -> dict[str, tuple[float, int]]:
        t = schema.event_state
        found: dict[str, tuple[float, int]] = {}
        for chunk in _chunks(ids):
            rows = conn.execute(sa.select(t.c.event_id, t.c.received_at, t.c.seed)
                                .where(t.c.ven == ven, t.c.event_id.in_(chunk)))
            found.update({event_id: (float(received), int(seed)) for event_id, received, seed in rows})
        return found

    def event_states_forget(self, event_ids: Sequence[str]) -> int:
        """Delete the states and opt-outs of ``event_ids``."""
        gone = 0
        with self.engine.begin() as conn:
            for chunk in _chunks(list(event_ids)):
                for table in (schema.event_state, schema.event_opt_outs):
                    gone += conn.execute(table.delete().where(table.c.event_id.in_(chunk))).rowcount or 0
        return gone

    # ------------------------------------------------------------------ opt-outs
    def opt_out(self, event_id: str, resource_ids: Sequence[str] | None = None) -> int:
        """Opt ``resource_ids`` (``None``: every resource) out of ``event_id``; returns how many are new."""
        t = schema.event_opt_outs
        wanted = [OPT_OUT_ALL] if resource_ids is None else sorted(set(resource_ids))
        with self.engine.begin() as conn:
            if resource_ids is not None:
                self._check_resources(conn, wanted)
            kept = set(conn.execute(sa.select(t.c.resource_id).where(t.c.event_id == event_id)).scalars())
            new = [{"event_id": event_id, "resource_id": r} for r in wanted if r not in kept]
            if new:
                conn.execute(t.insert(), new)
        return len(new)

    def opt_in(self, event_id: str, resource_ids: Sequence[str] | None = None) -> int:
        """Remove the opt-outs of ``resource_ids`` (``None``: every opt-out of ``event_id``)."""
        t = schema.event_opt_outs
        statement = t.delete().where(t.c.event_id == event_id)
        if resource_ids is not None:
            statement = statement.where(t.c.resource_id.in_(sorted(set(resource_ids))))
        with self.engine.begin() as conn:
            return conn.execute(statement).rowcount or 0

    def opt_outs(self, event_ids: Sequence[str] | None = None) -> dict[str, set[str]]:
        """``{event id: opted-out resource ids}``."""
        t = schema.event_opt_outs
        found: dict[str, set[str]] = {}
        with self.engine.connect() as conn:
            if event_ids is None:
                rows = list(conn.execute(sa.select(t.c.event_id, t.c.resource_id)))
            else:
                rows = [row for chunk in _chunks(list(event_ids))
                        for row in conn.execute(sa.select(t.c.event_id, t.c.resource_id)
                                                .where(t.c.event_id.in_(chunk)))]
        for event_id, resource_id in rows:
            found.setdefault(event_id, set()).add(resource_id)
        return found

    def _check_resources(self, conn: SaConnection, resource_ids: Sequence[str]) -> None:
        missing = sorted(set(resource_ids) - self._existing_resource_ids(conn, list(resource_ids)))
        if missing:
            raise InputError(f"Unknown resource {missing[0]!r}" + (f" (and {len(missing) - 1} more)"
                                                                   if len(missing) > 1 else "") + ".")

    # ------------------------------------------------------------------ groups
    def set_resource_group(self, resource_ids: Sequence[str], group: str | None) -> int:
        """Put ``resource_ids`` in ``group`` (``None``: no group), all or nothing."""
        t = schema.resource_groups
        ids = sorted(set(resource_ids))
        if group is not None and not group.strip():
            raise InputError("A group name must not be empty (clear a group with --clear).")
        with self.engine.begin() as conn:
            self._check_resources(conn, ids)
            for chunk in _chunks(ids):
                conn.execute(t.delete().where(t.c.resource_id.in_(chunk)))
            if group is not None and ids:
                conn.execute(t.insert(), [{"resource_id": r, "group_name": group} for r in ids])
        return len(ids)

    def resource_groups(self, resource_ids: Sequence[str] | None = None) -> dict[str, str]:
        """``{resource id: group}``."""
        t = schema.resource_groups
        with self.engine.connect() as conn:
            if resource_ids is None:
                return {r: g for r, g in conn.execute(sa.select(t.c.resource_id, t.c.group_name))}
            found: dict[str, str] = {}
            for chunk in _chunks(list(resource_ids)):
                found.update({r: g for r, g in conn.execute(sa.select(t.c.resource_id, t.c.group_name)
                                                            .where(t.c.resource_id.in_(chunk)))})
            return found

    def resources_in_groups(self, groups: Sequence[str]) -> list[str]:
        """The resource ids in any of ``groups``, sorted."""
        t = schema.resource_groups
        if not groups:
            return []
        with self.engine.connect() as conn:
            return sorted(conn.execute(sa.select(t.c.resource_id).where(t.c.group_name.in_(list(groups))))
                          .scalars())
