"""Resource store plugin: the seeds' schema on SQLAlchemy Core (SQLite by default, PostgreSQL by URL).

Hook implementations: :mod:`venclient.plugins.sqlite_store.hooks`.
"""

from venclient.plugins.sqlite_store.store import SqlResourceStore

__all__ = ["SqlResourceStore"]
