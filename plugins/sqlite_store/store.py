"""``SqlResourceStore``: the ResourceStore on SQLAlchemy Core, for SQLite (default) and PostgreSQL.

Every public write is one transaction.  Bulk paths use the driver's ``executemany`` with positional
tuples, because building 116k SQLAlchemy parameter dicts costs more than the insert itself.  The methods live in
one module per store protocol (``resources``, ``loads``, ``connections``, ``registration``, ``outbox``, ``state``,
``backlog``, ``leases``, ``events``, ``accumulators``, ``history``); this module opens the database and composes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from venclient.errors import SettingsError, VenError
from venclient.plugins.sqlite_store.accumulators import AccumulatorMethods
from venclient.plugins.sqlite_store.backlog import BacklogMethods
from venclient.plugins.sqlite_store.connections import ConnectionMethods
from venclient.plugins.sqlite_store.events import EventStateMethods
from venclient.plugins.sqlite_store.history import HistoryMethods
from venclient.plugins.sqlite_store.leases import LeaseMethods
from venclient.plugins.sqlite_store.loads import LoadMethods
from venclient.plugins.sqlite_store.migrate import migrate_schema
from venclient.plugins.sqlite_store.outbox import OutboxMethods
from venclient.plugins.sqlite_store.registration import RegistrationMethods
from venclient.plugins.sqlite_store.resources import ResourceMethods
from venclient.plugins.sqlite_store.state import StateMethods
from venclient.plugins.sqlite_store.write_errors import translate_write_errors


def make_engine(url: str) -> sa.Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and enforced foreign keys."""
    if url.startswith("postgresql://"):
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    else:
        engine = sa.create_engine(url, pool_pre_ping=True)
    translate_write_errors(engine, url)  # a full disk or read-only store: StoreUnavailable, one sentence
    return engine


def _sqlite_file(url: str) -> Path | None:
    """The absolute file path of a SQLite ``url`` (``sqlite:///relative.db`` is relative to the working folder);
    ``None`` for in-memory SQLite and for other databases."""
    if not url.startswith("sqlite"):
        return None
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return None  # make_engine names the bad URL
    database = parsed.database or ""
    if str(parsed.query.get("uri", "")).lower() in ("true", "1") and database.startswith("file:"):
        if str(parsed.query.get("mode", "")) == "memory":
            return None
        database = database[len("file:"):].split("?", 1)[0]
    if database in ("", ":memory:"):
        return None
    return Path(database).expanduser().absolute()


class SqlResourceStore(ResourceMethods, LoadMethods, ConnectionMethods, RegistrationMethods, OutboxMethods,
                       StateMethods, BacklogMethods, LeaseMethods, EventStateMethods, AccumulatorMethods,
                       HistoryMethods):
    """Resources, loads, connections, VENs, the outbox, runtime state, the readings backlog, VEN leases and event
    state (with opt-outs and resource groups), event interval totals and hourly load history in an SQLAlchemy database: one part per :mod:`venclient.protocols`
    store protocol, each in its own module of this plugin; this class opens, migrates and closes the database."""

    def __init__(self, url: str, *, auto_migrate: bool = True, create: bool = True):
        """Open (and with ``auto_migrate`` bring up to date) the database at ``url``.

        ``create`` says whether a SQLite database that does not exist yet may be made: with ``True`` its folder
        and file are created and listed in :attr:`created`; with ``False`` a missing folder or file is a
        :class:`SettingsError` naming the path (exit status 2), so a mistyped ``database_url`` never becomes a
        new, empty store.  Server databases (PostgreSQL) are never created here.
        """
        self.url = url
        self.created: list[str] = self._ensure_sqlite_dir(url, create)
        try:
            self.engine = make_engine(url)
        except (sa.exc.ArgumentError, ModuleNotFoundError) as err:
            raise VenError(f"Cannot open the database {url!r}: {err}.", exit_code=2) from err
        self.migrations: list[str] = self.migrate() if auto_migrate else []

    @staticmethod
    def _ensure_sqlite_dir(url: str, create: bool = True) -> list[str]:
        """Check (``create=False``) or make (``create=True``) the folder and file of a SQLite ``url``; returns
        what was made (``"the folder …"``, ``"the database …"``), nothing for in-memory and server databases."""
        path = _sqlite_file(url)
        if path is None:
            return []
        folder = path.parent
        if not create:
            if not folder.is_dir():
                raise SettingsError(f"database_url points at {path}, but the folder {folder} does not exist: "
                                    f"check the path, or create a store with `ven samples generate`, "
                                    f"`ven samples import` or `ven demo`.")
            if not path.exists():
                raise SettingsError(f"database_url points at {path}, which does not exist: check the path, or "
                                    f"create a store there with `ven samples generate`, `ven samples import` "
                                    f"or `ven demo`.")
            return []
        made = []
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            made.append(f"the folder {folder}")
        if not path.exists():
            made.append(f"the database {path}")
        return made

    def migrate(self) -> list[str]:
        """Create missing tables, columns and indexes in place; return a line per change."""
        try:
            with self.engine.begin() as conn:
                return migrate_schema(conn)
        except sa.exc.OperationalError as err:
            raise VenError(f"Cannot open the database {self.url}: {err.orig}.", exit_code=2) from err

    def close(self) -> None:
        """Dispose of the connection pool."""
        self.engine.dispose()
