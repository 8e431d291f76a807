"""In-place schema migration: create missing tables, add missing columns and indexes, keep every row.

Older databases from the prototype lack ``resources.h5_meter_id``, ``resources.registration_status`` or the
``loads`` table; they are brought up to date without touching existing data.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection as SaConnection

from venclient.plugins.sqlite_store import schema


def _constant_default(column: sa.Column) -> str | None:
    default = column.server_default
    if default is None:
        return None
    arg = getattr(default, "arg", None)
    if isinstance(arg, str):
        return "'" + arg.replace("'", "''") + "'"
    return None  # non-constant (CURRENT_TIMESTAMP): SQLite cannot add it with ALTER TABLE


def migrate_schema(conn: SaConnection) -> list[str]:
    """Bring the database on ``conn`` to :mod:`venclient.plugins.sqlite_store.schema`; return the changes made."""
    changes: list[str] = []
    inspector = sa.inspect(conn)
    existing_tables = set(inspector.get_table_names())
    for table in schema.metadata.sorted_tables:
        if table.name not in existing_tables:
            table.create(conn)
            changes.append(f"created table {table.name}")
            continue
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in columns:
                continue
            ddl_type = column.type.compile(dialect=conn.dialect)
            default = _constant_default(column)
            sql = f'ALTER TABLE {table.name} ADD COLUMN {column.name} {ddl_type}'
            if default is not None:
                sql += f" DEFAULT {default}"
            conn.exec_driver_sql(sql)
            changes.append(f"added column {table.name}.{column.name}")
        indexes = {ix["name"] for ix in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in indexes:
                index.create(conn)
                changes.append(f"created index {index.name}")
    return changes
