"""``SqlResourceStore``: the ResourceStore on SQLAlchemy Core, for SQLite (default) and PostgreSQL.

Every public write is one transaction.  Bulk paths use the driver's ``executemany`` with positional
tuples, because building 116k SQLAlchemy parameter dicts costs more than the insert itself.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection as SaConnection

from venclient.errors import InputError, SettingsError, VenError
from venclient.model import (APPROVED, H5SIM_KIND, LOAD_COMPONENTS, PENDING, STATUSES, CollectionRow, Connection, Load,
                              LoadRow, Resource)
from venclient.plugins.sqlite_store import schema
from venclient.plugins.sqlite_store.backlog import BacklogMethods
from venclient.plugins.sqlite_store.leases import LeaseMethods
from venclient.plugins.sqlite_store.migrate import migrate_schema
from venclient.plugins.sqlite_store.write_errors import translate_write_errors

RESOURCE_COLUMNS = ("resource_id", "resource_name", "resource_type", "resource_sub_type", "meter_point_id",
                    "connection_id", "capacities", "location", "address", "ven", "enabled", "reporting",
                    "registration_status", "h5_meter_id")
BULK_INDEX_THRESHOLD = 5000  # rows above which a bulk load rebuilds secondary indexes instead of updating them
LOAD_COLUMNS = LoadRow._fields  # the columns a load row inserts, in order


def _json_load(text: Any) -> Any:
    if text in (None, ""):
        return {}
    if isinstance(text, (dict, list)):
        return text
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return {}


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise InputError(f"Unknown status {status!r}: use one of {', '.join(STATUSES)}.")


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


class SqlResourceStore(BacklogMethods, LeaseMethods):
    """Resources, loads, connections, VENs, the outbox, the readings backlog and VEN leases in an SQLAlchemy
    database (the backlog and lease methods live in their own modules of this plugin)."""

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

    # ------------------------------------------------------------------------------------ lifecycle
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

    def _placeholders(self, conn: SaConnection, n: int) -> str:
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        return ", ".join([mark] * n)

    def _executemany(self, conn: SaConnection, sql: str, rows: list[tuple]) -> None:
        if rows:
            conn.exec_driver_sql(sql, rows)

    def _sql(self, conn: SaConnection, sql: str) -> str:
        return sql if conn.dialect.paramstyle == "qmark" else sql.replace("?", "%s")

    # ------------------------------------------------------------------------------------ resources
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
            _check_status(row[12])
        with self.engine.begin() as conn:
            existing = self._existing_resource_ids(conn, ids)
            if existing:
                raise InputError(f"Resource {sorted(existing)[0]} already exists in the store; nothing was imported.")
            sql = (f"INSERT INTO resources ({', '.join(RESOURCE_COLUMNS)}) "
                   f"VALUES ({self._placeholders(conn, len(RESOURCE_COLUMNS))})")
            self._executemany(conn, sql, rows)
        return len(rows)

    def _existing_resource_ids(self, conn: SaConnection, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        t = schema.resources
        for start in range(0, len(ids), 900):
            chunk = ids[start:start + 900]
            found.update(conn.execute(sa.select(t.c.resource_id).where(t.c.resource_id.in_(chunk))).scalars())
        return found

    @staticmethod
    def _to_resource(row: Any) -> Resource:
        m = row._mapping
        return Resource(
            id=m["id"], resource_id=m["resource_id"], resource_name=m["resource_name"],
            resource_type=m["resource_type"], resource_sub_type=m["resource_sub_type"],
            meter_point_id=m["meter_point_id"], ven=m["ven"], capacities=_json_load(m["capacities"]),
            location=_json_load(m["location"]), address=m["address"] or "", enabled=bool(m["enabled"]),
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
            _check_status(status)
            query = query.where(t.c.registration_status == status)
        with self.engine.connect() as conn:
            return [self._to_resource(row) for row in conn.execute(query)]

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
        _check_status(status)
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
        _check_status(status)
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

    # ------------------------------------------------------------------------------------ loads
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
            raise InputError(f"Loads could not be inserted ({_integrity_reason(err)}); nothing was changed.") from None

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

    def update_load_vtn_resource_id(self, load_id: str, vtn_resource_id: str, status: str = APPROVED) -> None:
        """*(seeds)* Record the VTN's id for a load (and its status) after registration."""
        self.record_registrations([(load_id, vtn_resource_id)], status=status)

    def record_registrations(self, results: Sequence[tuple[str, str]], status: str = APPROVED) -> int:
        """Store ``(load_id, vtn_resource_id)`` pairs in one transaction, clearing any last error."""
        _check_status(status)
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

    # ------------------------------------------------------------------------------------ connections
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
                          params=_json_load(m["params"]), created_at=m["created_at"])

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

    # ------------------------------------------------------------------------------------ collection
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

    # ------------------------------------------------------------------------------------ registration
    REGISTRATION_COLUMNS = ("load_id", "resource_id", "load_component", "load_name", "h5_meter_id",
                            "vtn_resource_id", "resource_name", "resource_type", "resource_sub_type",
                            "meter_point_id", "capacities", "location", "address", "ven")

    def registration_rows(self, ven: str, only_unregistered: bool = True) -> list[dict[str, Any]]:
        """Loads of ``ven`` joined with their resource (dicts of ``REGISTRATION_COLUMNS``), by resource and
        component; with ``only_unregistered`` just those without a VTN id or not yet APPROVED."""
        sql = ("SELECT l.load_id, l.resource_id, l.load_component, l.load_name, l.h5_meter_id, l.vtn_resource_id, "
               "r.resource_name, r.resource_type, r.resource_sub_type, r.meter_point_id, r.capacities, r.location, "
               "r.address, r.ven FROM loads l JOIN resources r ON r.resource_id = l.resource_id WHERE r.ven = ?")
        if only_unregistered:
            sql += " AND (l.vtn_resource_id IS NULL OR l.registration_status <> 'APPROVED')"
        sql += " ORDER BY l.resource_id, l.load_component"
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(self._sql(conn, sql), (ven,)).all()
        out = []
        for row in rows:
            item = dict(zip(self.REGISTRATION_COLUMNS, row))
            item["capacities"] = _json_load(item["capacities"])
            item["location"] = _json_load(item["location"])
            out.append(item)
        return out

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

    # ------------------------------------------------------------------------------------ VENs
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

    # ------------------------------------------------------------------------------------ outbox
    def outbox_add(self, items: Iterable[dict[str, Any]], state: dict[str, str] | None = None) -> list[int]:
        """Persist reports before sending (dicts with ven, program_id, event_id, tick_ms, payload JSON text),
        and ``state`` entries (see :meth:`set_state`) in the same transaction: a tick's reports and the
        position it advanced to are stored together or not at all."""
        t = schema.outbox
        ids = []
        with self.engine.begin() as conn:
            for item in items:
                ids.append(int(conn.execute(t.insert().values(**item)).inserted_primary_key[0]))
            for key, value in (state or {}).items():
                self._set_state(conn, key, value)
        return ids

    # ------------------------------------------------------------------------------------ runtime state
    def get_state(self, key: str) -> str | None:
        """A value a previous run left (``None`` when never set)."""
        t = schema.runtime_state
        with self.engine.connect() as conn:
            return conn.execute(sa.select(t.c.value).where(t.c.key == key)).scalar_one_or_none()

    def set_state(self, key: str, value: str) -> None:
        """Remember ``value`` under ``key`` for the next run."""
        with self.engine.begin() as conn:
            self._set_state(conn, key, value)

    @staticmethod
    def _set_state(conn: SaConnection, key: str, value: str) -> None:
        t = schema.runtime_state
        updated = conn.execute(t.update().where(t.c.key == key).values(
            value=value, updated_at=sa.func.current_timestamp())).rowcount
        if not updated:
            conn.execute(t.insert().values(key=key, value=value))

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


def _integrity_reason(err: sa.exc.IntegrityError) -> str:
    text = str(err.orig).splitlines()[0]
    if "UNIQUE" in text.upper() or "duplicate key" in text:
        return f"duplicate id: {text}"
    if "FOREIGN KEY" in text.upper() or "foreign key" in text:
        return f"a load names a resource that does not exist: {text}"
    return text
