"""The local VTN's memory: every object indexed for constant-time writes and lookups, plus clients and tokens.

Objects are stored as wire dicts (camelCase, JSON-ready) and never mutated once stored — an update stores a
new dict — so a snapshot for saving is a cheap list of references, safe to serialise in another thread.
Indexes: by id per collection, by unique name (``programName``, ``venName``, and ``resourceName`` within its
VEN), and creation order for O(limit) paging.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

import orjson

from venclient.errors import InputError

READ_ALL = "read_all"
VEN_SCOPES = frozenset({"read_all", "write_reports", "write_subscriptions", "write_vens"})
BL_SCOPES = VEN_SCOPES | {"write_programs", "write_events"}
ROLE_SCOPES = {"VEN": VEN_SCOPES, "BL": BL_SCOPES}
STATE_FORMAT = "venclient-local-vtn"
STATE_VERSION = 1


@dataclass(frozen=True)
class VtnClient:
    """A client allowed to fetch tokens: role ``VEN`` or ``BL`` (business logic, may write programs/events)."""

    client_id: str
    client_secret: str
    role: str = "VEN"
    static_token: str | None = None

    @property
    def scopes(self) -> frozenset[str]:
        """The OAuth scopes of the client's role."""
        return ROLE_SCOPES[self.role]


def development_clients() -> list[VtnClient]:
    """The well-known development clients: ``ven-dev``/``ven-dev-secret`` (VEN), ``bl-dev``/``bl-dev-secret`` (BL)."""
    return [VtnClient("ven-dev", "ven-dev-secret", "VEN"), VtnClient("bl-dev", "bl-dev-secret", "BL")]


def clients_from_settings(entries: Any) -> list[VtnClient]:
    """Clients from ``local_vtn.clients`` (a list of tables with client_id, client_secret, role, token)."""
    clients = []
    for index, entry in enumerate(entries or []):
        if not hasattr(entry, "get") or not entry.get("client_id") or not entry.get("client_secret"):
            raise InputError(f"local_vtn.clients[{index}] needs a client_id and a client_secret.")
        role = str(entry.get("role", "VEN")).upper()
        if role not in ROLE_SCOPES:
            raise InputError(f"local_vtn.clients[{index}].role must be VEN or BL, got {role!r}.")
        clients.append(VtnClient(str(entry["client_id"]), str(entry["client_secret"]), role,
                                 entry.get("token") or None))
    return clients


def now_text() -> str:
    """The current UTC time as the spec's dateTime text (milliseconds, ``Z``)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id() -> str:
    """A URL-safe object id."""
    return uuid.uuid4().hex


class Collection:
    """Objects of one type by id in creation order, optionally unique by a name field.

    ``max_items``: keep at most that many; adding one more drops the oldest first (``None``: no bound).
    """

    def __init__(self, object_type: str, name_field: str | None = None, max_items: int | None = None):
        self.object_type = object_type
        self.name_field = name_field
        self.max_items = max_items
        self.by_id: dict[str, dict[str, Any]] = {}
        self.by_name: dict[str, str] = {}
        self._order: list[str] = []

    def __len__(self) -> int:
        return len(self.by_id)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.by_id.values())

    def get(self, object_id: str) -> dict[str, Any] | None:
        """The object with ``object_id`` or ``None``."""
        return self.by_id.get(object_id)

    def id_for_name(self, name: str) -> str | None:
        """The id of the object with that unique name, or ``None``."""
        return self.by_name.get(name)

    def emptied(self) -> "Collection":
        """A new empty collection of the same type, name field and bound."""
        return Collection(self.object_type, self.name_field, self.max_items)

    def add(self, obj: dict[str, Any]) -> None:
        """Store a new object (the caller checked the unique name); beyond ``max_items`` the oldest is dropped."""
        object_id = obj["id"]
        self.by_id[object_id] = obj
        self._order.append(object_id)
        if self.name_field:
            self.by_name[obj[self.name_field]] = object_id
        if self.max_items is not None and len(self._order) > self.max_items:
            self._drop_oldest(len(self._order) - self.max_items)

    def _drop_oldest(self, count: int) -> None:
        dropped = self._order[:count]
        del self._order[:count]
        for object_id in dropped:
            obj = self.by_id.pop(object_id)
            if self.name_field and self.by_name.get(obj[self.name_field]) == object_id:
                del self.by_name[obj[self.name_field]]

    def replace(self, obj: dict[str, Any]) -> None:
        """Store a new version of an existing object, keeping its place."""
        old = self.by_id[obj["id"]]
        self.by_id[obj["id"]] = obj
        if self.name_field and old[self.name_field] != obj[self.name_field]:
            del self.by_name[old[self.name_field]]
            self.by_name[obj[self.name_field]] = obj["id"]

    def remove(self, object_id: str) -> dict[str, Any]:
        """Delete and return an object (O(n) in the collection size; deletes are rare)."""
        obj = self.by_id.pop(object_id)
        self._order.remove(object_id)
        if self.name_field:
            self.by_name.pop(obj[self.name_field], None)
        return obj

    def page(self, skip: int, limit: int,
             keep: Callable[[dict[str, Any]], bool] | None = None) -> list[dict[str, Any]]:
        """Objects ``skip``…``skip+limit`` in creation order, of those ``keep`` accepts (all by default)."""
        if keep is None:
            by_id = self.by_id
            return [by_id[i] for i in self._order[skip:skip + limit]]
        return list(islice((o for o in self.by_id.values() if keep(o)), skip, skip + limit))


@dataclass
class VtnState:
    """Everything the local VTN knows; see the module docstring for the indexes.

    ``version`` increases with every write (the saver compares it to decide whether to save).
    Tokens live only in memory: after a restart clients fetch new ones (the transport does so on 403).
    ``server_time``: ``None`` stamps RFC 3339 texts (:func:`now_text`); otherwise it is called with the
    ``modificationDateTime`` being replaced (``None`` on create) and returns the value to stamp — the
    ``timestamps`` quirk's :class:`venclient.plugins.local_vtn.odd_timestamps.OddTimestamps`.
    ``max_reports``: keep at most that many reports, dropping the oldest first (``None``: every report).
    """

    clients: list[VtnClient] = field(default_factory=development_clients)
    token_ttl_seconds: float = 3600.0
    clock: Callable[[], float] = time.monotonic
    programs: Collection = field(default_factory=lambda: Collection("PROGRAM", "programName"))
    events: Collection = field(default_factory=lambda: Collection("EVENT"))
    reports: Collection = field(default_factory=lambda: Collection("REPORT"))
    subscriptions: Collection = field(default_factory=lambda: Collection("SUBSCRIPTION"))
    vens: Collection = field(default_factory=lambda: Collection("VEN", "venName"))
    resources: dict[str, Collection] = field(default_factory=dict)
    version: int = 0
    resource_count: int = 0
    server_time: Callable[[Any], Any] | None = None
    max_reports: int | None = None

    def __post_init__(self) -> None:
        self.reports.max_items = self.max_reports
        self._clients = {c.client_id: c for c in self.clients}
        self._tokens: dict[str, tuple[VtnClient, float]] = {}
        for client in self.clients:
            if client.static_token:
                self._tokens[client.static_token] = (client, float("inf"))

    # ------------------------------------------------------------------ auth
    def client(self, client_id: str, client_secret: str) -> VtnClient | None:
        """The client with these credentials, or ``None``."""
        client = self._clients.get(client_id)
        if client is None or not secrets.compare_digest(client.client_secret, client_secret):
            return None
        return client

    def issue_token(self, client: VtnClient, ttl: float | None = None) -> tuple[str, float]:
        """A new bearer token for ``client`` and its lifetime in seconds."""
        ttl = self.token_ttl_seconds if ttl is None else ttl
        now = self.clock()
        if len(self._tokens) > 10_000:
            self._tokens = {t: v for t, v in self._tokens.items() if v[1] > now}
        token = secrets.token_urlsafe(24)
        self._tokens[token] = (client, now + ttl)
        return token, ttl

    def add_token(self, token: str, client_id: str, ttl: float | None = None) -> None:
        """Accept ``token`` for the client ``client_id`` (tests hand out tokens issued elsewhere)."""
        client = self._clients[client_id]
        self._tokens[token] = (client, float("inf") if ttl is None else self.clock() + ttl)

    def token_client(self, token: str) -> VtnClient | None:
        """The client a live token belongs to, or ``None`` (unknown or expired)."""
        entry = self._tokens.get(token)
        if entry is None or entry[1] <= self.clock():
            return None
        return entry[0]

    def revoke_tokens(self) -> int:
        """Forget every issued token (as a VTN restart would); return how many. Static tokens stay."""
        issued = {t for t, (c, _) in self._tokens.items() if t != c.static_token}
        for token in issued:
            del self._tokens[token]
        return len(issued)

    # ------------------------------------------------------------------ objects
    def stamp(self, obj: dict[str, Any], object_type: str, *, previous: dict[str, Any] | None = None) -> dict[str, Any]:
        """Set ``id``, timestamps and ``objectType`` (keeping id and creation time of ``previous``)."""
        if self.server_time is None:
            now: Any = now_text()
        else:
            now = self.server_time(previous.get("modificationDateTime") if previous is not None else None)
        if previous is None:
            obj["id"] = new_id()
            obj["createdDateTime"] = now
        else:
            obj["id"] = previous["id"]
            obj["createdDateTime"] = previous["createdDateTime"]
        obj["modificationDateTime"] = now
        obj["objectType"] = object_type
        self.version += 1
        return obj

    def ven_resources(self, ven_id: str) -> Collection:
        """The resource collection of a VEN (created empty on first use)."""
        collection = self.resources.get(ven_id)
        if collection is None:
            collection = self.resources[ven_id] = Collection("RESOURCE", "resourceName")
        return collection

    def add_resource(self, ven_id: str, obj: dict[str, Any]) -> None:
        """Store a new resource of a VEN."""
        self.ven_resources(ven_id).add(obj)
        self.resource_count += 1

    def remove_resource(self, ven_id: str, resource_id: str) -> dict[str, Any]:
        """Delete a resource of a VEN."""
        obj = self.resources[ven_id].remove(resource_id)
        self.resource_count -= 1
        self.version += 1
        return obj

    def remove_ven(self, ven_id: str) -> dict[str, Any]:
        """Delete a VEN and its resources."""
        obj = self.vens.remove(ven_id)
        removed = self.resources.pop(ven_id, None)
        self.resource_count -= len(removed) if removed else 0
        self.version += 1
        return obj

    def forget_objects(self) -> None:
        """Drop every object and every issued token (a VTN restarted without its storage); clients stay."""
        for name in ("programs", "events", "reports", "subscriptions", "vens"):
            collection: Collection = getattr(self, name)
            setattr(self, name, collection.emptied())
        self.resources = {}
        self.resource_count = 0
        self.revoke_tokens()
        self.version += 1

    def counts(self) -> dict[str, int]:
        """How many objects of each kind are stored."""
        return {"programs": len(self.programs), "events": len(self.events), "reports": len(self.reports),
                "subscriptions": len(self.subscriptions), "vens": len(self.vens),
                "resources": self.resource_count}

    # ------------------------------------------------------------------ persistence
    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready picture of the objects (references to the immutable stored dicts)."""
        return {"format": STATE_FORMAT, "version": STATE_VERSION,
                "programs": list(self.programs), "events": list(self.events), "reports": list(self.reports),
                "subscriptions": list(self.subscriptions), "vens": list(self.vens),
                "resources": [r for ven_id in list(self.resources) for r in list(self.resources[ven_id])]}

    def load_snapshot(self, data: dict[str, Any], source: str = "the state file") -> None:
        """Replace the objects with those of a :meth:`snapshot` (tokens are not part of it)."""
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise InputError(f"{source} is not a local VTN state file (no \"format\": \"{STATE_FORMAT}\").")
        for name in ("programs", "events", "reports", "subscriptions", "vens"):
            collection: Collection = getattr(self, name)
            kept = collection.emptied()
            objects = data.get(name) or []
            for obj in objects if kept.max_items is None else objects[max(0, len(objects) - kept.max_items):]:
                kept.add(obj)
            setattr(self, name, kept)
        self.resources = {}
        self.resource_count = 0
        for obj in data.get("resources") or []:
            self.add_resource(obj["venID"], obj)
        self.version += 1


SAVE_BATCH_BYTES = 1 << 20  # encoded objects are written in batches of about this size


def write_snapshot(snapshot: dict[str, Any], handle: BinaryIO) -> None:
    """Write ``orjson.dumps(snapshot)`` to ``handle``, byte for byte, one stored object at a time.

    A fleet's state is hundreds of MB (116k resources, thousands of reports of up to MBs each): encoding it in
    one ``orjson.dumps`` call held the GIL for seconds while saving in a worker thread — every request of the
    VTN waited that long — and built the whole file as one bytes object.  Object by object, the GIL is held for
    one object at most and memory holds about :data:`SAVE_BATCH_BYTES` of encoded text.
    """
    handle.write(b"{")
    for n, (key, value) in enumerate(snapshot.items()):
        handle.write(b"," if n else b"")
        handle.write(orjson.dumps(key) + b":")
        if not isinstance(value, list):
            handle.write(orjson.dumps(value))
            continue
        handle.write(b"[")
        batch: list[bytes] = []
        size = 0
        for i, obj in enumerate(value):
            encoded = orjson.dumps(obj)
            batch.append(encoded)
            size += len(encoded)
            if size >= SAVE_BATCH_BYTES:
                handle.write((b"," if i >= len(batch) else b"") + b",".join(batch))
                batch, size = [], 0
        if batch:
            handle.write((b"," if len(value) > len(batch) else b"") + b",".join(batch))
        handle.write(b"]")
    handle.write(b"}")


def save_state(snapshot: dict[str, Any], path: Path) -> None:
    """Write a snapshot atomically: a temporary file in the same folder, fsync, then rename over ``path``.

    The file is ``orjson.dumps(snapshot)``, written object by object (:func:`write_snapshot`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write_snapshot(snapshot, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_state(path: Path, state: VtnState) -> bool:
    """Fill ``state`` from ``path``; ``False`` when the file does not exist yet. Bad files raise InputError."""
    if not path.exists():
        return False
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as err:
        raise InputError(f"Cannot read the local VTN state file {path}: {err}.") from None
    try:
        state.load_snapshot(data, str(path))
    except (KeyError, TypeError) as err:
        raise InputError(f"The local VTN state file {path} is damaged (missing {err}).") from None
    return True
