"""Loads and the lean rows hot paths read: the :class:`venclient.protocols.LoadRecords` part of
:class:`venclient.plugins.sqlite_store.store.SqlResourceStore` (mixed into it)."""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any, Iterable, Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection as SaConnection

from venclient.errors import InputError
from venclient.model import (APPROVED, H5SIM_KIND, LOAD_COMPONENTS, PENDING, CollectionRow, Load, LoadRow)
from venclient.plugins.sqlite_store import schema
from venclient.plugins.sqlite_store.sql import SqlBase, integrity_reason

BULK_INDEX_THRESHOLD = 5000  # rows above which a bulk load rebuilds secondary indexes instead of updating them


LOAD_COLUMNS = LoadRow._fields  # the columns a load row inserts, in order



class LoadMethods(SqlBase):
    """:class:`venclient.protocols.LoadRecords` on SQLAlchemy Core."""

    @staticmethod
    def _load_row(load: Load | dict[str, Any]) -> tuple:
        get = load.get if isinstance(load, dict) else lambda k, d=None: getattr(load, k, d)
        component = get("load_component")
        return (get("load_id"), get("resource_id"), component, get("load_name") or LOAD_COMPONENTS.get(component),
                get("h5_meter_id"), get("vtn_resource_id"), get("registration_status") or PENDING)

    def _check_load_resources(self, conn: SaConnection, rows: list[tuple]) -> None:
        """Raise InputError naming the first resource id a load row refers to that does not exist."""
        wanted = {row[1] for row in rows}
        if len(wanted) > 2000:  # one scan beats many IN (...) lookups
            known = set(conn.execute(sa.select(schema.resources.c.resource_id)).scalars())
        else:
            known = self._existing_resource_ids(conn, sorted(wanted))
        missing = wanted - known
        if missing:
            raise InputError(f"Loads could not be inserted (a load names resource {sorted(missing)[0]}, "
                             "which does not exist); nothing was changed.")

    def _insert_load_rows(self, conn: SaConnection, rows: Sequence[tuple]) -> None:
        """Insert rows of the first ``len(row)`` ``LOAD_COLUMNS`` (the rest take their defaults)."""
        if not rows:
            return
        self._check_load_resources(conn, rows)
        columns = LOAD_COLUMNS[:len(rows[0])]
        sql = f"INSERT INTO loads ({', '.join(columns)}) VALUES ({self._placeholders(conn, len(columns))})"
        try:
            self._executemany(conn, sql, rows)
        except sa.exc.IntegrityError as err:
            raise InputError(f"Loads could not be inserted ({integrity_reason(err)}); nothing was changed.") from None

    def insert_load(self, load: Load) -> None:
        """*(seeds)* Insert one load."""
        self.bulk_insert_loads([load])

    def bulk_insert_loads(self, loads: Iterable[Load | dict[str, Any]]) -> int:
        """*(seeds)* Insert loads in one transaction; returns the count."""
        rows = [self._load_row(load) for load in loads]
        with self.engine.begin() as conn:
            self._insert_load_rows(conn, rows)
        return len(rows)

    def assign_meters_and_insert_loads(self, assignments: Sequence[tuple[str, str]], loads: Sequence[dict[str, Any]]
                                       | Sequence[tuple], replace: bool = False) -> int:
        """One transaction: (if ``replace``) delete all loads, set each resource's h5_meter_id, insert loads.

        ``loads`` are dicts or tuples ``(load_id, resource_id, load_component, load_name, h5_meter_id)``.
        Without ``replace``, existing loads make it fail with InputError and nothing changes.
        """
        # Tuples of the five generated columns go in as they are (vtn_resource_id NULL, status PENDING by default).
        rows = (loads if loads and isinstance(loads[0], tuple) and all(len(row) == 5 for row in loads)
                else [self._load_row(row) if isinstance(row, dict) else tuple(row) + (None, PENDING)[len(row) - 5:]
                      for row in loads])
        with self._bulk_connection(rows) as conn:
            if replace:
                conn.execute(schema.loads.delete())
            elif conn.execute(sa.select(sa.func.count()).select_from(schema.loads)).scalar_one():
                raise InputError("Loads already exist; use --force to replace them.")
            self._executemany(conn, self._sql(conn, "UPDATE resources SET h5_meter_id = ?, "
                                                    "updated_at = CURRENT_TIMESTAMP WHERE resource_id = ?"),
                              [(meter, rid) for rid, meter in assignments])
            # The table is empty here: building the secondary indexes once after the insert is cheaper
            # than maintaining them row by row (116k loads: ~0.3 s saved).
            secondary = [ix for ix in schema.loads.indexes if not ix.unique]
            bulk = len(rows) >= BULK_INDEX_THRESHOLD
            if bulk:
                for index in secondary:
                    index.drop(conn)
            self._insert_load_rows(conn, rows)
            if bulk:
                for index in secondary:
                    index.create(conn)
        return len(rows)

    @contextlib.contextmanager
    def _bulk_connection(self, rows: list[tuple]) -> Iterator[SaConnection]:
        """A transaction for a bulk load insert.  On SQLite the per-row foreign-key lookup is switched off for
        this transaction only; ``_insert_load_rows`` checks every referenced resource with one set comparison."""
        if self.engine.dialect.name != "sqlite" or len(rows) < BULK_INDEX_THRESHOLD:
            with self.engine.begin() as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # _insert_load_rows checks the resources itself
            conn.commit()
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()

    @staticmethod
    def _to_load(row: Any) -> Load:
        m = row._mapping
        return Load(id=m["id"], load_id=m["load_id"], resource_id=m["resource_id"],
                    load_component=m["load_component"], load_name=m["load_name"], h5_meter_id=m["h5_meter_id"],
                    vtn_resource_id=m["vtn_resource_id"], registration_status=m["registration_status"] or PENDING,
                    last_error=m["last_error"], created_at=m["created_at"], updated_at=m["updated_at"])

    def get_loads_by_resource(self, resource_id: str) -> list[Load]:
        """*(seeds)* Loads of one resource, ordered by component."""
        t = schema.loads
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.resource_id == resource_id).order_by(t.c.load_component))
            return [self._to_load(r) for r in rows]

    def get_loads_by_h5_meter(self, h5_meter_id: str) -> list[Load]:
        """*(seeds)* Loads simulated from one H5 meter."""
        t = schema.loads
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.h5_meter_id == h5_meter_id)
                                .order_by(t.c.resource_id, t.c.load_component))
            return [self._to_load(r) for r in rows]

    def list_loads(self, ven: str | None = None) -> list[Load]:
        """Every load, optionally of one VEN, ordered by resource and component."""
        t, r = schema.loads, schema.resources
        query = sa.select(t).order_by(t.c.resource_id, t.c.load_component)
        if ven is not None:
            query = query.join(r, r.c.resource_id == t.c.resource_id).where(r.c.ven == ven)
        with self.engine.connect() as conn:
            return [self._to_load(row) for row in conn.execute(query)]

    def load_tuples(self, ven: str) -> list[LoadRow]:
        """The loads of one VEN as :class:`LoadRow`, by resource and component (a lean read for indexes over
        the whole fleet)."""
        sql = (f"SELECT {', '.join('l.' + c for c in LoadRow._fields)} FROM loads l "
               "JOIN resources r ON r.resource_id = l.resource_id WHERE r.ven = ? "
               "ORDER BY l.resource_id, l.load_component")
        with self.engine.connect() as conn:
            return list(map(LoadRow._make, conn.exec_driver_sql(self._sql(conn, sql), (ven,))))

    def collection_rows(self, vens: Sequence[str] | None = None, status: str = APPROVED) -> list[CollectionRow]:
        """Loads to collect (:class:`CollectionRow`) of enabled resources with ``status``, ordered by VEN,
        resource and component.  ``connection_type`` is ``h5sim`` when the resource has no reader connection."""
        sql = ("SELECT l.load_id, l.resource_id, l.load_component, l.h5_meter_id, r.connection_id, "
               "r.meter_point_id, r.ven, l.vtn_resource_id, COALESCE(c.type, ?) "
               "FROM loads l JOIN resources r ON r.resource_id = l.resource_id "
               "LEFT JOIN connections c ON c.id = r.connection_id "
               "WHERE r.registration_status = ? AND r.enabled = 1")
        params: list[Any] = [H5SIM_KIND, status]
        if vens is not None:
            vens = list(vens)
            if not vens:
                return []
            sql += f" AND r.ven IN ({', '.join('?' * len(vens))})"
            params.extend(vens)
        sql += " ORDER BY r.ven, l.resource_id, l.load_component"
        with self.engine.connect() as conn:
            return list(map(CollectionRow._make, conn.exec_driver_sql(self._sql(conn, sql), tuple(params))))

    def load_counts(self, vens: Sequence[str] | None = None) -> dict[str, tuple[int, int]]:
        """``{ven: (loads, resources with loads)}`` of ``vens`` (or every VEN); VENs without loads are absent."""
        r, t = schema.resources, schema.loads
        query = (sa.select(r.c.ven, sa.func.count(), sa.func.count(sa.distinct(t.c.resource_id)))
                 .select_from(t.join(r, r.c.resource_id == t.c.resource_id)).group_by(r.c.ven))
        if vens is not None:
            query = query.where(r.c.ven.in_(list(vens)))
        with self.engine.connect() as conn:
            return {ven: (loads, resources) for ven, loads, resources in conn.execute(query) if ven is not None}

    def count_loads(self) -> int:
        """How many loads the store holds."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(schema.loads)).scalar_one()

    def clear_all_loads(self) -> int:
        """*(seeds)* Delete every load; returns how many."""
        with self.engine.begin() as conn:
            return conn.execute(schema.loads.delete()).rowcount

    def get_load_statistics(self) -> dict[str, Any]:
        """*(seeds)* Load counts: total, by component, by status, unique H5 meters."""
        t = schema.loads
        by_component: Counter[str] = Counter()
        by_status: Counter[str] = Counter()
        registered = 0
        with self.engine.connect() as conn:  # one grouped scan for the counts, one index scan for the meters
            for component, status, count, with_id in conn.execute(
                    sa.select(t.c.load_component, t.c.registration_status, sa.func.count(),
                              sa.func.count(t.c.vtn_resource_id)).group_by(t.c.load_component,
                                                                           t.c.registration_status)):
                by_component[component] += count
                by_status[status] += count
                registered += with_id
            meters = conn.execute(sa.select(sa.func.count(sa.distinct(t.c.h5_meter_id)))).scalar_one()
        return {"loads": sum(by_component.values()),
                "loads_by_component": {k: by_component.get(k, 0) for k in LOAD_COMPONENTS},
                "loads_by_status": dict(by_status), "unique_h5_meters": meters, "loads_registered": registered}
