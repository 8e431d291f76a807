"""Connections from ``ven resources connect`` options or ``[[resource]]`` TOML tables: build, check, store.

Options map onto :class:`venclient.model.Connection` the same way on the command line and in a
``--from FILE.toml``::

    [[resource]]
    id = "26ef1a4f-…"              # or ids = ["…", "…"]
    type = "modbustcp"             # any kind an enabled plugin serves
    host = "192.168.1.50"          # port = 502
    channel = { load_0 = "total_power" }   # → params.channels
    params = { word_order = "little" }     # any other kind-specific option
    writer = true                  # a writer connection instead of a reader
    # file = "…", topic = "…", username = "…", password_env = "MQTT_PASSWORD" (stored as "env:MQTT_PASSWORD")
    # plus the options of the plugin serving the kind (modbus: unit, map; mqtt: broker, preset …)

The core knows only the options every connection has; each plugin adds and parses its own
(:mod:`venclient.connection_options`, hook ``ven_connection_options``).  Every connection is checked by the
plugin serving its kind (``validate_connection``) before anything is stored; a TOML file is checked in full
and stored in one transaction.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable, Mapping

from venclient.connection_options import ConnectionDraft, ConnectionOption, ConnectionOptions, options_by_kind
from venclient.errors import InputError
from venclient.model import COMPONENT_INDEX, LOAD_COMPONENTS, READER, WRITER, Connection

CORE_TOML_KEYS = frozenset({"id", "ids", "type", "file", "host", "port", "topic", "channel", "channels", "param",
                            "params", "writer", "username", "password_env"})
TEXT_TOML_KEYS = ("type", "file", "host", "topic", "username", "password_env")  # a table's keys that take text
KindOptions = Mapping[str, ConnectionOptions]


def kind_options(pm: Any) -> dict[str, ConnectionOptions]:
    """``{kind: ConnectionOptions}`` of every enabled plugin answering ``ven_connection_options``."""
    return options_by_kind(pm.hook.ven_connection_options())


def plugin_options(by_kind: KindOptions) -> list[ConnectionOption]:
    """Every plugin option once, in plugin order, for the command line and the TOML keys."""
    seen: dict[str, ConnectionOption] = {}
    for options in dict.fromkeys(by_kind.values()):
        for option in options.options:
            seen.setdefault(option.name, option)
    return list(seen.values())


def component_name(name: str, where: str) -> str:
    """``load_2`` or ``HVAC`` → ``load_2``; anything else raises InputError naming ``where``."""
    key = name.strip()
    if key in COMPONENT_INDEX:
        return key
    for component, label in LOAD_COMPONENTS.items():
        if label.lower() == key.lower():
            return component
    raise InputError(f"{where} names {name!r}, which is not a load component (load_0 … load_5 or a name "
                     f"such as 'Water Heater').")


def _value(text: str) -> Any:
    """``3`` → 3, ``true`` → True, ``{"a": 1}`` → dict, anything else stays text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_pairs(items: Iterable[str] | Mapping[str, Any] | None, option: str) -> dict[str, Any]:
    """``["a=1", "b=x"]`` (or a TOML table) → ``{"a": 1, "b": "x"}``; a malformed item raises InputError."""
    if items is None:
        return {}
    if isinstance(items, Mapping):
        return dict(items)
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise InputError(f"{option} takes KEY=VALUE, got {item!r}.")
        out[key.strip()] = _value(value.strip())
    return out


def _apply_plugin_options(draft: ConnectionDraft, by_kind: KindOptions, values: Mapping[str, Any]) -> None:
    """Hand the plugin options given to the plugin serving ``draft.kind``; refuse those of other kinds."""
    given = {name: value for name, value in values.items() if value is not None}
    own = by_kind.get(draft.kind)
    own_names = {option.name for option in own.options} if own else set()
    for name in given:
        if name in own_names:
            continue
        owners = [kind for kind, options in by_kind.items() if any(o.name == name for o in options.options)]
        flag = next((o.flag for o in plugin_options(by_kind) if o.name == name), f"--{name}")
        if not owners:
            raise draft.fail(f"{flag} is not an option of any enabled plugin.")
        raise draft.fail(f"{flag} is an option of {', '.join(owners)} connections, not of {draft.kind}.")
    if own is not None and given:
        own.apply(draft, given)


def _tcp_port(draft: ConnectionDraft) -> int | None:
    if draft.port in (None, ""):
        return None
    try:
        port = int(str(draft.port))
    except ValueError:
        raise draft.fail(f"--port must be a TCP port number for {draft.kind}, got {draft.port!r}.") from None
    if not 1 <= port <= 65535:
        raise draft.fail(f"--port must be from 1 to 65535, got {port}.")
    return port


def build_connection(kind: str, *, file: str | None = None, host: str | None = None, port: Any = None,
                     topic: str | None = None, channels: Any = None, params: Any = None, writer: bool = False,
                     username: str | None = None, password_env: str | None = None, where: str = "",
                     by_kind: KindOptions | None = None, **plugin_values: Any) -> Connection:
    """A :class:`Connection` from the ``connect`` options (or the same keys of a TOML table).

    ``by_kind`` (from :func:`kind_options`) parses ``plugin_values``, the options plugins add, for the kind
    they serve; an option of another kind is an InputError.  What is left of ``port`` is a TCP port;
    ``channels`` (``LOAD=CHANNEL``) goes to ``params.channels`` and ``password_env`` becomes ``env:NAME``.
    """
    prefix = f"{where}: " if where else ""
    kind = str(kind or "").strip().lower()
    if not kind:
        raise InputError(f"{prefix}the connection type is missing (--type KIND).")
    draft = ConnectionDraft(kind=kind, where=prefix, host=host, port=port, username=username,
                            params=parse_pairs(params, "--param"))
    _apply_plugin_options(draft, by_kind or {}, plugin_values)
    conn_port = _tcp_port(draft)
    channel_map = parse_pairs(channels, "--channel")
    if channel_map:
        draft.params["channels"] = {component_name(k, f"{prefix}--channel"): v for k, v in channel_map.items()}
    password = None
    if password_env:
        name = str(password_env).removeprefix("env:")
        if not name.replace("_", "").isalnum():
            raise InputError(f"{prefix}--password-env takes an environment variable name, got {password_env!r}.")
        password = f"env:{name}"
    return Connection(id=None, type=kind, actortype=WRITER if writer else READER, host=draft.host or None,
                      port=conn_port, topic=topic or None, file=str(file) if file else None,
                      username=draft.username or None, password=password, params=draft.params)


def check_connection(runtime: Any, connection: Connection, sources: Mapping[str, Any] | None = None,
                     writers: Mapping[str, Any] | None = None) -> None:
    """Raise InputError unless an enabled plugin serves the connection's kind and accepts its options."""
    from venclient.protocols import ValidatesConnections

    sources = runtime.meter_sources() if sources is None else sources
    kind = connection.type
    if connection.actortype == WRITER:
        writers = runtime.writers() if writers is None else writers
        handler = writers.get(kind)
        if handler is None:
            known = ", ".join(sorted(writers)) or "none"
            raise InputError(f"No enabled plugin writes connection kind {kind!r}; writer kinds: {known}.")
        checkers = (handler, sources.get(kind))  # a writer without its own check: the kind's source checks
    else:
        handler = sources.get(kind)
        if handler is None:
            known = ", ".join(sorted(sources)) or "none"
            raise InputError(f"Unknown connection kind {kind!r}: the enabled plugins serve {known}.")
        checkers = (handler,)
    checker = next((c for c in checkers if isinstance(c, ValidatesConnections)), None)
    if checker is not None:
        checker.validate_connection(connection)


def _toml_entry(entry: Any, number: int, path: Path, by_kind: KindOptions) -> tuple[list[str], Connection]:
    where = f"{path} [[resource]] #{number}"
    if not isinstance(entry, dict):
        raise InputError(f"{where} must be a table.")
    options = {option.key: option for option in plugin_options(by_kind)}
    known = CORE_TOML_KEYS | set(options)
    unknown = sorted(set(entry) - known)
    if unknown:
        raise InputError(f"{where} has unknown key {unknown[0]!r} (known: {', '.join(sorted(known))}).")
    ids = entry.get("ids", [entry["id"]] if "id" in entry else [])
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise InputError(f"{where} needs id = \"RESOURCE_ID\" or ids = [\"…\", …].")
    where = f"{where} (resource {ids[0]})"
    for key in TEXT_TOML_KEYS:
        if entry.get(key) is not None and not isinstance(entry[key], str):
            raise InputError(f"{where}: {key} must be text, got {entry[key]!r}.")
    if "port" in entry and (isinstance(entry["port"], bool) or not isinstance(entry["port"], (int, str))):
        raise InputError(f"{where}: port must be a number or a serial device, got {entry['port']!r}.")
    if "writer" in entry and not isinstance(entry["writer"], bool):
        raise InputError(f"{where}: writer must be true or false, got {entry['writer']!r}.")
    plugin_values: dict[str, Any] = {}
    for key, option in options.items():
        value = entry.get(key)
        if value is not None and option.type in (int, float) and (
                isinstance(value, bool) or not isinstance(value, int if option.type is int else (int, float))):
            kind_of = "an integer" if option.type is int else "a number"
            raise InputError(f"{where}: {key} must be {kind_of}, got {value!r}.")
        if value is not None and option.type is str and not isinstance(value, str):
            raise InputError(f"{where}: {key} must be text, got {value!r}.")
        plugin_values[option.name] = value
    channels = entry.get("channels", entry.get("channel"))
    params = entry.get("params", entry.get("param"))
    for name, value in (("channel", channels), ("params", params)):
        if value is not None and not isinstance(value, dict):
            raise InputError(f"{where}: {name} must be a table such as {{ key = \"value\" }}.")
    connection = build_connection(
        entry.get("type", ""), file=entry.get("file"), host=entry.get("host"), port=entry.get("port"),
        topic=entry.get("topic"), channels=channels, params=params, writer=bool(entry.get("writer", False)),
        username=entry.get("username"), password_env=entry.get("password_env"), where=where, by_kind=by_kind,
        **plugin_values)
    return list(ids), connection


def load_connect_file(path: Path, by_kind: KindOptions | None = None) -> list[tuple[list[str], Connection]]:
    """The ``[[resource]]`` tables of a TOML file as (resource ids, connection); InputError names the table."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"The connections file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"The connections file {path} cannot be read: {err}.") from None
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"The connections file {path} is not valid TOML: {err}.") from None
    entries = data.get("resource")
    if not isinstance(entries, list) or not entries:
        raise InputError(f"The connections file {path} has no [[resource]] tables.")
    return [_toml_entry(entry, number, path, by_kind or {}) for number, entry in enumerate(entries, start=1)]


def connect_from_file(runtime: Any, path: Path) -> tuple[int, int]:
    """Validate every table of ``path``, then store all connections in one transaction; (resources, tables)."""
    entries = load_connect_file(path, kind_options(runtime.pm))
    sources, writers = runtime.meter_sources(), runtime.writers()
    pairs: list[tuple[str, Connection]] = []
    seen: dict[tuple[str, str], int] = {}
    for number, (ids, connection) in enumerate(entries, start=1):
        try:
            check_connection(runtime, connection, sources, writers)
        except InputError as err:
            raise InputError(f"{path} [[resource]] #{number} (resource {ids[0]}): {err}") from None
        for rid in ids:
            key = (rid, connection.actortype)
            if key in seen:
                raise InputError(f"{path}: resource {rid} gets a {connection.actortype} connection in both "
                                 f"[[resource]] #{seen[key]} and #{number}.")
            seen[key] = number
            pairs.append((rid, connection))
    store = runtime.store()
    store.connect_many(pairs)
    return len(pairs), len(entries)


def describe_connection(connection: Connection | None, by_kind: KindOptions | None = None) -> str:
    """``h5sim``, ``filereader /data/x.csv``, ``modbustcp 10.0.0.5:502 unit 3`` …

    The ``params`` are described by the plugin serving the kind (``ConnectionOptions.describe``).
    """
    if connection is None:
        return "h5sim"
    params = connection.params or {}
    parts = [connection.type]
    if connection.file:
        parts.append(connection.file)
    if connection.host:
        parts.append(f"{connection.host}:{connection.port}" if connection.port else connection.host)
    if connection.topic:
        parts.append(connection.topic)
    options = (by_kind or {}).get(connection.type)
    if options is not None and options.describe is not None:
        parts.extend(options.describe(params))
    return " ".join(parts)


def connection_json(connection: Connection | None) -> dict[str, Any] | None:
    """The connection as a JSON-ready dict (no ``created_at``), or ``None``."""
    if connection is None:
        return None
    data = asdict(connection)
    data.pop("created_at", None)
    return data
