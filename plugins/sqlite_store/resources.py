"""Resources and their VENs: the :class:`venclient.protocols.ResourceRecords` part of
:class:`venclient.plugins.sqlite_store.store.SqlResourceStore` (mixed into it)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection as SaConnection

from venclient.errors import InputError
from venclient.model import (H5SIM_KIND, PENDING, STATUSES, Resource)
from venclient.plugins.sqlite_store import schema
from venclient.plugins.sqlite_store.sql import SqlBase, check_status, json_value

RESOURCE_COLUMNS = ("resource_id", "resource_name", "resource_type", "resource_sub_type", "meter_point_id",
                    "connection_id", "capacities", "location", "address", "ven", "enabled", "reporting",
                    "registration_status", "h5_meter_id")



class ResourceMethods(SqlBase):
    """:class:`venclient.protocols.ResourceRecords` on SQLAlchemy Core."""

    @staticmethod
    def _resource_row(r: Resource) -> tuple:
        return (r.resource_id, r.resource_name, r.resource_type, r.resource_sub_type, r.meter_point_id,
                r.connection_id, json.dumps(r.capacities or {}), json.dumps(r.location or {}), r.address,
                r.ven, int(bool(r.enabled)), int(bool(r.reporting)), r.registration_status or PENDING,
                r.h5_meter_id)

    def insert_resources(self, resources: Iterable[Resource]) -> int:
        """Insert resources in one transaction; a duplicate resource_id fails the batch with its id."""
        rows = [self._resource_row(r) for r in resources]
        ids = [row[0] for row in rows]
        dupes = [rid for rid, n in Counter(ids).items() if n > 1]
        if dupes:
            raise InputError(f"Resource id {dupes[0]} appears twice in the input; nothing was imported.")
        for row in rows:
            check_status(row[12])
        with self.engine.begin() as conn:
            existing = self._existing_resource_ids(conn, ids)
            if existing:
                raise InputError(f"Resource {sorted(existing)[0]} already exists in the store; nothing was imported.")
            sql = (f"INSERT INTO resources ({', '.join(RESOURCE_COLUMNS)}) "
                   f"VALUES ({self._placeholders(conn, len(RESOURCE_COLUMNS))})")
            self._executemany(conn, sql, rows)
        return len(rows)

    @staticmethod
    def _to_resource(row: Any) -> Resource:
        m = row._mapping
        return Resource(
            id=m["id"], resource_id=m["resource_id"], resource_name=m["resource_name"],
            resource_type=m["resource_type"], resource_sub_type=m["resource_sub_type"],
            meter_point_id=m["meter_point_id"], ven=m["ven"], capacities=json_value(m["capacities"]),
            location=json_value(m["location"]), address=m["address"] or "", enabled=bool(m["enabled"]),
            reporting=bool(m["reporting"]), registration_status=m["registration_status"] or PENDING,
            h5_meter_id=m["h5_meter_id"], connection_id=m["connection_id"],
            created_at=m["created_at"], updated_at=m["updated_at"])

    def get_resource(self, resource_id: str) -> Resource | None:
        """*(seeds)* One resource by id, or ``None``."""
        t = schema.resources
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.resource_id == resource_id)).first()
        return self._to_resource(row) if row else None

    def list_resources(self, ven: str | None = None, status: str | None = None) -> list[Resource]:
        """Resources, optionally filtered by VEN and registration status, ordered by VEN and id."""
        t = schema.resources
        query = sa.select(t).order_by(t.c.ven, t.c.resource_id)
        if ven is not None:
            query = query.where(t.c.ven == ven)
        if status is not None:
            check_status(status)
            query = query.where(t.c.registration_status == status)
        with self.engine.connect() as conn:
            return [self._to_resource(row) for row in conn.execute(query)]

    def resource_capacities(self, vens: Sequence[str]) -> dict[str, dict[str, Any]]:
        """``{resource_id: capacities}`` of the resources of ``vens`` with capacities (one column, no objects)."""
        t = schema.resources
        out: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for resource_id, text in conn.execute(sa.select(t.c.resource_id, t.c.capacities)
                                                  .where(t.c.ven.in_(list(vens)))):
                capacities = json_value(text) if text else None
                if isinstance(capacities, dict) and capacities:
                    out[resource_id] = capacities
        return out

    def resource_ids(self) -> list[str]:
        """Every resource id, sorted."""
        t = schema.resources
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(t.c.resource_id).order_by(t.c.resource_id)).scalars())

    def count_resources(self) -> int:
        """How many resources the store holds."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(schema.resources)).scalar_one()

    def get_ven_list(self) -> list[str]:
        """*(seeds)* Distinct VEN names, sorted."""
        t = schema.resources
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(t.c.ven).where(t.c.ven.is_not(None)).distinct()
                                     .order_by(t.c.ven)).scalars())

    def get_resources_by_ven_and_status(self, ven: str, status: str) -> list[Resource]:
        """*(seeds)* Resources of a VEN with the given registration status."""
        return self.list_resources(ven=ven, status=status)

    def update_resource_status(self, resource_id: str, status: str) -> None:
        """*(seeds)* Set one resource's status; an unknown id raises InputError."""
        self.set_resources_status([resource_id], status)

    def set_resources_status(self, resource_ids: Sequence[str], status: str) -> int:
        """Set the status of many resources, all or nothing; an unknown id raises InputError."""
        check_status(status)
        ids = list(dict.fromkeys(resource_ids))
        t = schema.resources
        with self.engine.begin() as conn:
            missing = set(ids) - self._existing_resource_ids(conn, ids)
            if missing:
                raise InputError(f"Unknown resource {sorted(missing)[0]}; no status was changed.")
            for start in range(0, len(ids), 900):
                conn.execute(t.update().where(t.c.resource_id.in_(ids[start:start + 900]))
                             .values(registration_status=status, updated_at=sa.func.current_timestamp()))
        return len(ids)

    def set_ven_status(self, ven: str, status: str) -> int:
        """Set the status of every resource of a VEN; an unknown VEN raises InputError."""
        check_status(status)
        t = schema.resources
        with self.engine.begin() as conn:
            result = conn.execute(t.update().where(t.c.ven == ven)
                                  .values(registration_status=status, updated_at=sa.func.current_timestamp()))
            if result.rowcount == 0:
                raise InputError(f"Unknown VEN {ven!r}: no resource belongs to it.")
            return result.rowcount

    def update_resource_h5_meter(self, resource_id: str, h5_meter_id: str) -> None:
        """*(seeds)* Assign an H5 meter to a resource."""
        t = schema.resources
        with self.engine.begin() as conn:
            result = conn.execute(t.update().where(t.c.resource_id == resource_id)
                                  .values(h5_meter_id=h5_meter_id, updated_at=sa.func.current_timestamp()))
            if result.rowcount == 0:
                raise InputError(f"Unknown resource {resource_id}.")

    def statistics(self) -> dict[str, Any]:
        """Everything ``ven db status`` shows, as a JSON-ready dict."""
        r = schema.resources

        def grouped(conn: SaConnection, column: Any) -> dict[str, int]:
            rows = conn.execute(sa.select(column, sa.func.count()).group_by(column).order_by(column)).all()
            return {str(k): v for k, v in rows}

        with self.engine.connect() as conn:
            resources = conn.execute(sa.select(sa.func.count()).select_from(r)).scalar_one()
            with_meter = conn.execute(sa.select(sa.func.count()).select_from(r)
                                      .where(r.c.h5_meter_id.is_not(None))).scalar_one()
            by_status = grouped(conn, r.c.registration_status)
            by_type = grouped(conn, r.c.resource_type)
            by_sub_type = grouped(conn, r.c.resource_sub_type)
            by_ven = grouped(conn, r.c.ven)
            # A literal, not a bound parameter: the GROUP BY repeats the expression, and must match it exactly.
            kind = sa.func.coalesce(schema.connections.c.type, sa.literal_column(f"'{H5SIM_KIND}'")).label("kind")
            by_connection = dict(conn.execute(
                sa.select(kind, sa.func.count())
                .select_from(r.outerjoin(schema.connections, r.c.connection_id == schema.connections.c.id))
                .group_by(kind)).all())
        stats: dict[str, Any] = {"database": self.url.split("@")[-1], "resources": resources,
                                 "vens": len(by_ven)}
        stats.update(self.get_load_statistics())
        stats.update({"resources_with_h5_meter": with_meter,
                      "by_status": {s: by_status.get(s, 0) for s in STATUSES} | by_status,
                      "by_type": by_type, "by_sub_type": by_sub_type, "by_connection": by_connection,
                      "by_ven": by_ven})
        return stats
