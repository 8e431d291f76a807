"""Resource store plugin: the seeds' schema on SQLAlchemy Core (SQLite by default, PostgreSQL by URL).

Hook implementations: :mod:`venclient.plugins.sqlite_store.hooks`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from venclient.lazy import lazy_attributes

if TYPE_CHECKING:  # pragma: no cover
    from venclient.plugins.sqlite_store.store import SqlResourceStore

__getattr__ = lazy_attributes(__name__, {"SqlResourceStore": "store"})  # the heavy module loads on first use

__all__ = ["SqlResourceStore"]
