"""Reader and writer connections: the :class:`venclient.protocols.ConnectionRecords` part of
:class:`venclient.plugins.sqlite_store.store.SqlResourceStore` (mixed into it)."""

from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection as SaConnection

from venclient.errors import InputError
from venclient.model import Connection
from venclient.plugins.sqlite_store import schema
from venclient.plugins.sqlite_store.sql import SqlBase, json_value


class ConnectionMethods(SqlBase):
    """:class:`venclient.protocols.ConnectionRecords` on SQLAlchemy Core."""

    @staticmethod
    def _connection_values(c: Connection) -> dict[str, Any]:
        return {"type": c.type, "actortype": c.actortype, "host": c.host, "port": c.port, "topic": c.topic,
                "file": c.file, "username": c.username, "password": c.password,
                "params": json.dumps(c.params or {})}

    def add_connection(self, connection: Connection) -> int:
        """Insert a connection; returns its id."""
        with self.engine.begin() as conn:
            return self._add_connection(conn, connection)

    def _add_connection(self, conn: SaConnection, connection: Connection) -> int:
        result = conn.execute(schema.connections.insert().values(**self._connection_values(connection)))
        return int(result.inserted_primary_key[0])

    @staticmethod
    def _to_connection(row: Any) -> Connection:
        m = row._mapping
        return Connection(id=m["id"], type=m["type"], actortype=m["actortype"], host=m["host"], port=m["port"],
                          topic=m["topic"], file=m["file"], username=m["username"], password=m["password"],
                          params=json_value(m["params"]), created_at=m["created_at"])

    def get_connection(self, connection_id: int) -> Connection | None:
        """One connection by id, or ``None``."""
        t = schema.connections
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.id == connection_id)).first()
        return self._to_connection(row) if row else None

    def list_connections(self) -> list[Connection]:
        """Every connection, by id."""
        with self.engine.connect() as conn:
            return [self._to_connection(r) for r in conn.execute(sa.select(schema.connections)
                                                                 .order_by(schema.connections.c.id))]

    def connect_resources(self, resource_ids: Sequence[str], connection: Connection) -> int:
        """Give each resource its own copy of ``connection`` (reader or writer), all or nothing.

        A resource's loads are never touched; an ``h5sim`` reader puts a resource back on simulation.
        """
        return self.connect_many([(rid, connection) for rid in dict.fromkeys(resource_ids)])

    def connect_many(self, pairs: Sequence[tuple[str, Connection]]) -> int:
        """Connect each ``(resource_id, connection)`` pair in one transaction (bulk from a TOML file)."""
        ids = [rid for rid, _ in pairs]
        r = schema.resources
        with self.engine.begin() as conn:
            missing = set(ids) - self._existing_resource_ids(conn, ids)
            if missing:
                raise InputError(f"Unknown resource {sorted(missing)[0]}; no connection was changed.")
            for rid, connection in pairs:
                column = "writer_connection_id" if connection.actortype == "writer" else "connection_id"
                conn_id = self._add_connection(conn, connection)
                conn.execute(r.update().where(r.c.resource_id == rid)
                             .values({column: conn_id, "updated_at": sa.func.current_timestamp()}))
        return len(pairs)

    def resource_connections(self, resource_id: str) -> dict[str, Connection | None]:
        """``{"reader": Connection|None, "writer": Connection|None}`` of one resource."""
        res = self._resource_connection_ids(resource_id)
        return {"reader": self.get_connection(res[0]) if res[0] else None,
                "writer": self.get_connection(res[1]) if res[1] else None}

    def _resource_connection_ids(self, resource_id: str) -> tuple[int | None, int | None]:
        r = schema.resources
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(r.c.connection_id, r.c.writer_connection_id)
                               .where(r.c.resource_id == resource_id)).first()
        if row is None:
            raise InputError(f"Unknown resource {resource_id}.")
        return row[0], row[1]

    def connections_by_id(self, ids: Iterable[int]) -> dict[int, Connection]:
        """Connections for the given ids."""
        ids = sorted({int(i) for i in ids if i is not None})
        t = schema.connections
        out: dict[int, Connection] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 900):
                for row in conn.execute(sa.select(t).where(t.c.id.in_(ids[start:start + 900]))):
                    out[row.id] = self._to_connection(row)
        return out
