"""What the VTN calls our VENs and loads: the :class:`venclient.protocols.RegistrationRecords` part of
:class:`venclient.plugins.sqlite_store.store.SqlResourceStore` (mixed into it)."""

from __future__ import annotations

from typing import Sequence

import sqlalchemy as sa

from venclient.model import APPROVED, LoadRow, RegistrationRow
from venclient.plugins.sqlite_store import schema
from venclient.plugins.sqlite_store.sql import SqlBase, check_status, json_value


class RegistrationMethods(SqlBase):
    """:class:`venclient.protocols.RegistrationRecords` on SQLAlchemy Core."""

    REGISTRATION_COLUMNS = tuple(RegistrationRow.__annotations__)  # load columns, then their resource's

    def registration_rows(self, ven: str, only_unregistered: bool = True) -> list[RegistrationRow]:
        """Loads of ``ven`` joined with their resource (dicts of ``REGISTRATION_COLUMNS``), by resource and
        component; with ``only_unregistered`` just those without a VTN id or not yet APPROVED."""
        columns = ", ".join(("l." if c in LoadRow._fields else "r.") + c for c in self.REGISTRATION_COLUMNS)
        sql = f"SELECT {columns} FROM loads l JOIN resources r ON r.resource_id = l.resource_id WHERE r.ven = ?"
        if only_unregistered:
            sql += " AND (l.vtn_resource_id IS NULL OR l.registration_status <> 'APPROVED')"
        sql += " ORDER BY l.resource_id, l.load_component"
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(self._sql(conn, sql), (ven,)).all()
        out = []
        for row in rows:
            item = dict(zip(self.REGISTRATION_COLUMNS, row))
            item["capacities"] = json_value(item["capacities"])
            item["location"] = json_value(item["location"])
            out.append(item)
        return out

    def update_load_vtn_resource_id(self, load_id: str, vtn_resource_id: str, status: str = APPROVED) -> None:
        """*(seeds)* Record the VTN's id for a load (and its status) after registration."""
        self.record_registrations([(load_id, vtn_resource_id)], status=status)

    def record_registrations(self, results: Sequence[tuple[str, str]], status: str = APPROVED) -> int:
        """Store ``(load_id, vtn_resource_id)`` pairs in one transaction, clearing any last error."""
        check_status(status)
        with self.engine.begin() as conn:
            self._executemany(conn, self._sql(conn, "UPDATE loads SET vtn_resource_id = ?, registration_status = ?, "
                                                    "last_error = NULL, updated_at = CURRENT_TIMESTAMP "
                                                    "WHERE load_id = ?"),
                              [(vtn_id, status, load_id) for load_id, vtn_id in results])
        return len(results)

    def record_registration_failures(self, failures: Sequence[tuple[str, str]]) -> int:
        """Keep loads PENDING with ``(load_id, error)`` recorded, for the next run to retry."""
        with self.engine.begin() as conn:
            self._executemany(conn, self._sql(conn, "UPDATE loads SET registration_status = 'PENDING', "
                                                    "last_error = ?, updated_at = CURRENT_TIMESTAMP "
                                                    "WHERE load_id = ?"),
                              [(error[:2000], load_id) for load_id, error in failures])
        return len(failures)

    def refresh_resource_registration(self, ven: str | None = None) -> int:
        """PENDING resources whose loads are all APPROVED become APPROVED (SUSPENDED ones stay); returns count."""
        sql = ("UPDATE resources SET registration_status = 'APPROVED', updated_at = CURRENT_TIMESTAMP "
               "WHERE registration_status = 'PENDING' "
               "AND EXISTS (SELECT 1 FROM loads l WHERE l.resource_id = resources.resource_id) "
               "AND NOT EXISTS (SELECT 1 FROM loads l WHERE l.resource_id = resources.resource_id "
               "AND (l.registration_status <> 'APPROVED' OR l.vtn_resource_id IS NULL))")
        params: tuple = ()
        if ven is not None:
            sql += " AND ven = ?"
            params = (ven,)
        with self.engine.begin() as conn:
            return conn.exec_driver_sql(self._sql(conn, sql), params).rowcount

    def clear_registrations(self, load_ids: Sequence[str], reason: str) -> int:
        """Forget the VTN ids of loads the VTN no longer has (they become PENDING for the next run)."""
        with self.engine.begin() as conn:
            self._executemany(conn, self._sql(conn, "UPDATE loads SET vtn_resource_id = NULL, registration_status = "
                                                    "'PENDING', last_error = ?, updated_at = CURRENT_TIMESTAMP "
                                                    "WHERE load_id = ?"),
                              [(reason, load_id) for load_id in load_ids])
            conn.exec_driver_sql(self._sql(conn, "UPDATE resources SET registration_status = 'PENDING' "
                                                 "WHERE registration_status = 'APPROVED' AND resource_id IN "
                                                 "(SELECT resource_id FROM loads WHERE vtn_resource_id IS NULL)"))
        return len(load_ids)

    def get_ven_vtn_id(self, ven_name: str) -> str | None:
        """The VTN's id of a VEN, if registered."""
        t = schema.vens
        with self.engine.connect() as conn:
            return conn.execute(sa.select(t.c.vtn_ven_id).where(t.c.ven_name == ven_name)).scalar_one_or_none()

    def get_ven_registration(self, ven_name: str) -> tuple[str | None, str | None]:
        """``(vtn_ven_id, vtn_url)`` the VEN was registered with, or ``(None, None)``."""
        t = schema.vens
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.c.vtn_ven_id, t.c.vtn_url).where(t.c.ven_name == ven_name)).first()
        return (row[0], row[1]) if row else (None, None)

    def set_ven_vtn_id(self, ven_name: str, vtn_ven_id: str, vtn_url: str | None = None) -> None:
        """Remember a VEN's VTN id (insert or update)."""
        t = schema.vens
        with self.engine.begin() as conn:
            updated = conn.execute(t.update().where(t.c.ven_name == ven_name).values(
                vtn_ven_id=vtn_ven_id, vtn_url=vtn_url, updated_at=sa.func.current_timestamp())).rowcount
            if not updated:
                conn.execute(t.insert().values(ven_name=ven_name, vtn_ven_id=vtn_ven_id, vtn_url=vtn_url))

    def clear_ven_vtn_id(self, ven_name: str) -> None:
        """Forget a VEN's VTN id (the VTN no longer knows it); the next registration finds or creates it again."""
        t = schema.vens
        with self.engine.begin() as conn:
            conn.execute(t.update().where(t.c.ven_name == ven_name).values(
                vtn_ven_id=None, updated_at=sa.func.current_timestamp()))

    def forget_ven_registration(self, ven_name: str, reason: str) -> int:
        """Forget the VTN ids of a VEN and of all its loads in one transaction (the VTN no longer has them), so the
        next registration creates them again; statuses stay, so collection goes on.  Returns how many loads."""
        with self.engine.begin() as conn:
            conn.execute(schema.vens.update().where(schema.vens.c.ven_name == ven_name).values(
                vtn_ven_id=None, updated_at=sa.func.current_timestamp()))
            return conn.exec_driver_sql(self._sql(conn, (
                "UPDATE loads SET vtn_resource_id = NULL, last_error = ?, updated_at = CURRENT_TIMESTAMP "
                "WHERE resource_id IN (SELECT resource_id FROM resources WHERE ven = ?)")), (reason[:2000], ven_name)).rowcount

    def ven_vtn_ids(self) -> dict[str, str]:
        """``{ven_name: vtn_ven_id}`` for every registered VEN."""
        t = schema.vens
        with self.engine.connect() as conn:
            return dict(conn.execute(sa.select(t.c.ven_name, t.c.vtn_ven_id).where(t.c.vtn_ven_id.is_not(None))).all())
