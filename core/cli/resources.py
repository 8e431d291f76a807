"""``ven resources``: list resources, set their status, connect them to meter sources and writers, test, write.

A resource's reader connection picks the meter source that reads it (``h5sim`` when it has none); swapping
it never touches the resource's loads.  Options map onto :class:`venclient.model.Connection` the same way on the
command line and in a ``--from FILE.toml`` (``[[resource]]`` tables)::

    [[resource]]
    id = "26ef1a4f-…"              # or ids = ["…", "…"]
    type = "modbustcp"             # any kind an enabled plugin serves
    host = "192.168.1.50"          # port = 502 (TCP) or the serial device for modbusrtu
    unit = 3                       # → params.unit
    map = "sdm630"                 # → params.map
    channel = { load_0 = "total_power" }   # → params.channels
    params = { word_order = "little" }     # any other kind-specific option
    # file = "…" (filereader), broker = "mqtt://host:1883", topic, preset, writer = true,
    # username, password_env = "MQTT_PASSWORD" (stored as the reference "env:MQTT_PASSWORD")

Every connection is checked by the plugin serving its kind (``validate_connection``) before anything is
stored; a TOML file is checked in full and stored in one transaction.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
import tomllib
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional
from urllib.parse import urlsplit

import typer

from venclient.clock import Clock
from venclient.errors import InputError
from venclient.model import COMPONENT_INDEX, LOAD_COMPONENTS, READER, STATUSES, WRITER, Connection, Resource
from venclient.cli.output import console, print_json, print_wide, table

SERIAL_KINDS = ("modbusrtu",)
MQTT_SCHEMES = {"mqtt": (1883, False), "tcp": (1883, False), "mqtts": (8883, True), "ssl": (8883, True)}
TOML_KEYS = frozenset({"id", "ids", "type", "file", "host", "port", "unit", "map", "broker", "topic", "preset",
                       "channel", "channels", "param", "params", "writer", "username", "password_env"})
DEFAULT_TEST_TIMEOUT = 30.0


# ------------------------------------------------------------------------------------------ connections
def _component_name(name: str, where: str) -> str:
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


def parse_broker(url: str) -> tuple[str, int, bool, str | None]:
    """``mqtt://user@host:1883`` → (host, port, tls, username); a password in the URL is refused."""
    parts = urlsplit(url if "://" in url else f"mqtt://{url}")
    if parts.scheme not in MQTT_SCHEMES or not parts.hostname:
        raise InputError(f"--broker must look like mqtt://host:1883 (or mqtts://host:8883), got {url!r}.")
    if parts.password:
        raise InputError("Do not put the MQTT password in --broker; give --password-env NAME and set that "
                         "environment variable.")
    default_port, tls = MQTT_SCHEMES[parts.scheme]
    try:
        port = parts.port or default_port
    except ValueError:
        raise InputError(f"--broker has an invalid port: {url!r}.") from None
    return parts.hostname, port, tls, parts.username


def build_connection(kind: str, *, file: str | None = None, host: str | None = None, port: Any = None,
                     unit: int | None = None, map_name: str | None = None, broker: str | None = None,
                     topic: str | None = None, preset: str | None = None, channels: Any = None,
                     params: Any = None, writer: bool = False, username: str | None = None,
                     password_env: str | None = None, where: str = "") -> Connection:
    """A :class:`Connection` from the ``connect`` options (or the same keys of a TOML table).

    ``port`` is the serial device for ``modbusrtu`` (→ ``params.serial_port``) and a TCP port otherwise;
    ``unit``/``map_name``/``preset``/``channels`` go to ``params``; ``broker`` gives host, port and TLS.
    """
    prefix = f"{where}: " if where else ""
    kind = str(kind or "").strip().lower()
    if not kind:
        raise InputError(f"{prefix}the connection type is missing (--type KIND).")
    options = parse_pairs(params, "--param")
    conn_host, conn_port = host, None
    if broker:
        if host:
            raise InputError(f"{prefix}give either --broker or --host, not both.")
        conn_host, conn_port, tls, url_user = parse_broker(str(broker))
        username = username or url_user
        if tls:
            options.setdefault("tls", True)
    if port not in (None, ""):
        if kind in SERIAL_KINDS:
            options["serial_port"] = str(port)
        else:
            if broker:
                raise InputError(f"{prefix}the port is part of --broker; drop --port.")
            try:
                conn_port = int(str(port))
            except ValueError:
                raise InputError(f"{prefix}--port must be a TCP port number for {kind}, got {port!r}.") from None
            if not 1 <= conn_port <= 65535:
                raise InputError(f"{prefix}--port must be from 1 to 65535, got {conn_port}.")
    if unit is not None:
        options["unit"] = unit
    if map_name:
        options["map"] = map_name
    if preset:
        options["preset"] = preset
    channel_map = parse_pairs(channels, "--channel")
    if channel_map:
        options["channels"] = {_component_name(k, f"{prefix}--channel"): v for k, v in channel_map.items()}
    password = None
    if password_env:
        name = str(password_env).removeprefix("env:")
        if not name.replace("_", "").isalnum():
            raise InputError(f"{prefix}--password-env takes an environment variable name, got {password_env!r}.")
        password = f"env:{name}"
    return Connection(id=None, type=kind, actortype=WRITER if writer else READER, host=conn_host or None,
                      port=conn_port, topic=topic or None, file=str(file) if file else None,
                      username=username or None, password=password, params=options)


def check_connection(runtime: Any, connection: Connection, sources: Mapping[str, Any] | None = None,
                     writers: Mapping[str, Any] | None = None) -> None:
    """Raise InputError unless an enabled plugin serves the connection's kind and accepts its options."""
    sources = runtime.meter_sources() if sources is None else sources
    kind = connection.type
    if connection.actortype == WRITER:
        writers = runtime.writers() if writers is None else writers
        handler = writers.get(kind)
        if handler is None:
            known = ", ".join(sorted(writers)) or "none"
            raise InputError(f"No enabled plugin writes connection kind {kind!r}; writer kinds: {known}.")
        validate = getattr(handler, "validate_connection", None) or getattr(sources.get(kind),
                                                                             "validate_connection", None)
    else:
        handler = sources.get(kind)
        if handler is None:
            known = ", ".join(sorted(sources)) or "none"
            raise InputError(f"Unknown connection kind {kind!r}: the enabled plugins serve {known}.")
        validate = getattr(handler, "validate_connection", None)
    if callable(validate):
        validate(connection)


def _toml_entry(entry: Any, number: int, path: Path) -> tuple[list[str], Connection]:
    where = f"{path} [[resource]] #{number}"
    if not isinstance(entry, dict):
        raise InputError(f"{where} must be a table.")
    unknown = sorted(set(entry) - TOML_KEYS)
    if unknown:
        raise InputError(f"{where} has unknown key {unknown[0]!r} (known: {', '.join(sorted(TOML_KEYS))}).")
    ids = entry.get("ids", [entry["id"]] if "id" in entry else [])
    if isinstance(ids, str) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise InputError(f"{where} needs id = \"RESOURCE_ID\" or ids = [\"…\", …].")
    where = f"{where} (resource {ids[0]})"
    unit = entry.get("unit")
    if unit is not None and (isinstance(unit, bool) or not isinstance(unit, int)):
        raise InputError(f"{where}: unit must be an integer, got {unit!r}.")
    channels = entry.get("channels", entry.get("channel"))
    params = entry.get("params", entry.get("param"))
    for name, value in (("channel", channels), ("params", params)):
        if value is not None and not isinstance(value, dict):
            raise InputError(f"{where}: {name} must be a table such as {{ key = \"value\" }}.")
    connection = build_connection(
        entry.get("type", ""), file=entry.get("file"), host=entry.get("host"), port=entry.get("port"), unit=unit,
        map_name=entry.get("map"), broker=entry.get("broker"), topic=entry.get("topic"), preset=entry.get("preset"),
        channels=channels, params=params, writer=bool(entry.get("writer", False)), username=entry.get("username"),
        password_env=entry.get("password_env"), where=where)
    return list(ids), connection


def load_connect_file(path: Path) -> list[tuple[list[str], Connection]]:
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
    return [_toml_entry(entry, number, path) for number, entry in enumerate(entries, start=1)]


def connect_from_file(runtime: Any, path: Path) -> tuple[int, int]:
    """Validate every table of ``path``, then store all connections in one transaction; (resources, tables)."""
    entries = load_connect_file(path)
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


def describe_connection(connection: Connection | None) -> str:
    """``h5sim``, ``filereader /data/x.csv``, ``modbustcp 10.0.0.5:502 unit 3`` …"""
    if connection is None:
        return "h5sim"
    params = connection.params or {}
    parts = [connection.type]
    if connection.file:
        parts.append(connection.file)
    if connection.host:
        parts.append(f"{connection.host}:{connection.port}" if connection.port else connection.host)
    if params.get("serial_port"):
        parts.append(str(params["serial_port"]))
    if connection.topic:
        parts.append(connection.topic)
    parts.extend(f"{key} {params[key]}" for key in ("unit", "map", "preset") if key in params)
    return " ".join(parts)


def _connection_json(connection: Connection | None) -> dict[str, Any] | None:
    if connection is None:
        return None
    data = asdict(connection)
    data.pop("created_at", None)
    return data


def _resource_json(resource: Resource, connection: Connection | None) -> dict[str, Any]:
    return {"resource_id": resource.resource_id, "resource_name": resource.resource_name,
            "resource_type": resource.resource_type, "resource_sub_type": resource.resource_sub_type,
            "ven": resource.ven, "registration_status": resource.registration_status,
            "meter_point_id": resource.meter_point_id, "h5_meter_id": resource.h5_meter_id,
            "enabled": resource.enabled, "connection_type": connection.type if connection else "h5sim",
            "connection": _connection_json(connection)}


def _status(value: str) -> str:
    status = value.strip().upper()
    if status not in STATUSES:
        raise InputError(f"Unknown status {value!r}: use one of {', '.join(STATUSES)}.")
    return status


def _accepts(function: Any, name: str) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


# ------------------------------------------------------------------------------------------ commands
def build_resources_app() -> typer.Typer:
    """The ``ven resources`` command group."""
    app = typer.Typer(help="Resources: list, status, meter connections (reader / writer), test, write.",
                      no_args_is_help=True)

    @app.command("list")
    def list_cmd(
        ctx: typer.Context,
        ven: Optional[str] = typer.Option(None, "--ven", help="Only this VEN."),
        status: Optional[str] = typer.Option(None, "--status", help="Only PENDING, APPROVED or SUSPENDED."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    ) -> None:
        """Resources with their VEN, status, H5 meter and reader connection."""
        store = ctx.obj.store()
        resources = store.list_resources(ven=ven, status=_status(status) if status else None)
        connections = store.connections_by_id(r.connection_id for r in resources if r.connection_id is not None)
        pairs = [(r, connections.get(r.connection_id) if r.connection_id is not None else None) for r in resources]
        if as_json:
            print_json([_resource_json(r, c) for r, c in pairs])
            return
        title = f"{len(resources):,} resources" + (f" of {ven}" if ven else "") + (f" ({status.upper()})"
                                                                                  if status else "")
        print_wide(table(title, ["resource_id", "name", "VEN", "status", "h5 meter", "reader"],
                              [(r.resource_id, r.resource_name, r.ven, r.registration_status, r.h5_meter_id or "",
                                describe_connection(c)) for r, c in pairs]))

    @app.command("set-status")
    def set_status_cmd(
        ctx: typer.Context,
        resource_ids: Optional[list[str]] = typer.Argument(None, help="Resource ids (or use --ven)."),
        ven: Optional[str] = typer.Option(None, "--ven", help="Every resource of this VEN."),
        status: str = typer.Option(..., "--status", help="APPROVED, PENDING or SUSPENDED."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    ) -> None:
        """Set the registration status of some resources, or of every resource of a VEN."""
        new_status = _status(status)
        if bool(resource_ids) == bool(ven):
            raise InputError("Give either resource ids or --ven, not both and not neither.")
        store = ctx.obj.store()
        count = store.set_ven_status(ven, new_status) if ven else store.set_resources_status(resource_ids,
                                                                                           new_status)
        if as_json:
            print_json({"updated": count, "status": new_status, "ven": ven})
        else:
            console().print(f"{count:,} resource{'s' if count != 1 else ''} set to {new_status}.")

    @app.command("connect")
    def connect_cmd(
        ctx: typer.Context,
        resource_ids: Optional[list[str]] = typer.Argument(None, help="Resource ids to connect."),
        kind: Optional[str] = typer.Option(None, "--type", help="Connection kind: h5sim, filereader, modbustcp, "
                                                                "modbusrtu, mqtt, or a plugin's own."),
        file: Optional[str] = typer.Option(None, "--file", help="filereader: the CSV / JSON-lines file."),
        host: Optional[str] = typer.Option(None, "--host", help="Meter or gateway host."),
        port: Optional[str] = typer.Option(None, "--port", help="TCP port, or the serial device for modbusrtu."),
        unit: Optional[int] = typer.Option(None, "--unit", help="Modbus unit id (1–247)."),
        map_name: Optional[str] = typer.Option(None, "--map", help="Modbus register map (sdm630, sdm120, generic)."),
        broker: Optional[str] = typer.Option(None, "--broker", help="MQTT broker, mqtt://host:1883."),
        topic: Optional[str] = typer.Option(None, "--topic", help="MQTT topic."),
        preset: Optional[str] = typer.Option(None, "--preset", help="MQTT payload preset."),
        channel: Optional[list[str]] = typer.Option(None, "--channel", help="LOAD=CHANNEL, e.g. "
                                                                            "load_0=total_power (repeat)."),
        param: Optional[list[str]] = typer.Option(None, "--param", help="KEY=VALUE kind option (repeat)."),
        writer: bool = typer.Option(False, "--writer", help="A writer connection (acts on loads) instead "
                                                            "of a reader."),
        username: Optional[str] = typer.Option(None, "--username", help="User name for the meter/broker."),
        password_env: Optional[str] = typer.Option(None, "--password-env",
                                                   help="Environment variable holding the password."),
        from_file: Optional[Path] = typer.Option(None, "--from", help="Many resources from a TOML file of "
                                                                      "\\[\\[resource]] tables."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    ) -> None:
        """Connect resources to a meter source (reader) or writer; their loads are untouched."""
        runtime = ctx.obj
        if from_file is not None:
            if resource_ids or kind:
                raise InputError("--from takes everything from the file; drop the resource ids and --type.")
            count, tables = connect_from_file(runtime, from_file)
            if as_json:
                print_json({"connected": count, "tables": tables, "file": str(from_file)})
            else:
                console().print(f"Connected {count:,} resource connection{'s' if count != 1 else ''} from "
                                f"{tables} table{'s' if tables != 1 else ''} of {from_file}.")
            return
        if not resource_ids:
            raise InputError("Name the resources to connect (or use --from FILE.toml).")
        if not kind:
            raise InputError("--type is missing: the connection kind (h5sim, filereader, modbustcp, …).")
        connection = build_connection(kind, file=file, host=host, port=port, unit=unit, map_name=map_name,
                                      broker=broker, topic=topic, preset=preset, channels=channel, params=param,
                                      writer=writer, username=username, password_env=password_env)
        check_connection(runtime, connection)
        count = runtime.store().connect_resources(resource_ids, connection)
        if as_json:
            print_json({"connected": count, "connection": _connection_json(connection)})
        else:
            console().print(f"{count:,} resource{'s' if count != 1 else ''} now "
                            f"{'written through' if writer else 'read from'} {describe_connection(connection)}.")

    @app.command("test")
    def test_cmd(
        ctx: typer.Context,
        resource_id: str = typer.Argument(..., help="The resource to read once."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    ) -> None:
        """Read one resource once through its reader connection; print the values and how long it took."""
        runtime = ctx.obj
        store = runtime.store()
        resource = store.get_resource(resource_id)
        if resource is None:
            raise InputError(f"Unknown resource {resource_id}.")
        connection = store.resource_connections(resource_id)["reader"] or Connection(id=None, type="h5sim")
        sources = runtime.meter_sources()
        source = sources.get(connection.type)
        if source is None:
            raise InputError(f"Resource {resource_id} is read through {connection.type!r}, which no enabled "
                             f"plugin serves (served: {', '.join(sorted(sources)) or 'none'}).")
        test_read = getattr(source, "test_read", None)
        if not callable(test_read):
            raise InputError(f"The {connection.type} source ({type(source).__name__}) cannot read one resource "
                             f"on its own; use `ven collect` instead.")
        extra: dict[str, Any] = {}
        if _accepts(test_read, "resource"):
            extra["resource"] = resource
        if _accepts(test_read, "tick"):
            timeline = source.timeline() if callable(getattr(source, "timeline", None)) else None
            extra["tick"] = Clock.from_settings(runtime.settings, timeline).tick
        timeout = max(float(runtime.settings.get("collect.source_timeout_seconds", 5.0)), DEFAULT_TEST_TIMEOUT)
        started = time.perf_counter()
        try:
            values = asyncio.run(asyncio.wait_for(test_read(connection, **extra), timeout))
        except asyncio.TimeoutError:
            raise InputError(f"Reading resource {resource_id} through {describe_connection(connection)} took "
                             f"longer than {timeout:g} s.") from None
        elapsed_ms = (time.perf_counter() - started) * 1000
        if as_json:
            print_json({"resource_id": resource_id, "connection": describe_connection(connection),
                        "values": values, "elapsed_ms": round(elapsed_ms, 2)})
            return
        console().print(table(f"{resource_id} via {describe_connection(connection)} — {elapsed_ms:.1f} ms",
                              ["load", "component", "watts"],
                              [(name, LOAD_COMPONENTS[name], "—" if values.get(name) is None
                                else f"{values[name]:,.1f}") for name in LOAD_COMPONENTS]))

    @app.command("write")
    def write_cmd(
        ctx: typer.Context,
        resource_id: str = typer.Argument(..., help="The resource to act on."),
        value: float = typer.Option(..., "--value", help="The value to write (e.g. a limit in W, or 0/1)."),
        load: str = typer.Option("load_0", "--load", help="The load component to act on."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    ) -> None:
        """Write a value for one load through the resource's writer connection."""
        runtime = ctx.obj
        store = runtime.store()
        component = _component_name(load, "--load")
        if store.get_resource(resource_id) is None:
            raise InputError(f"Unknown resource {resource_id}.")
        connection = store.resource_connections(resource_id)["writer"]
        if connection is None:
            raise InputError(f"Resource {resource_id} has no writer connection; add one with `ven resources "
                             f"connect {resource_id} --type KIND --writer …`.")
        writers = runtime.writers()
        writer = writers.get(connection.type)
        if writer is None:
            raise InputError(f"Resource {resource_id} writes through {connection.type!r}, which no enabled plugin "
                             f"writes (writer kinds: {', '.join(sorted(writers)) or 'none'}).")
        target = next((l for l in store.get_loads_by_resource(resource_id) if l.load_component == component), None)
        if target is None:
            raise InputError(f"Resource {resource_id} has no load {component}; run `ven loads generate`.")
        started = time.perf_counter()
        asyncio.run(writer.write(connection, target, value))
        elapsed_ms = (time.perf_counter() - started) * 1000
        if as_json:
            print_json({"resource_id": resource_id, "load": component, "value": value,
                        "connection": describe_connection(connection), "elapsed_ms": round(elapsed_ms, 2)})
        else:
            console().print(f"Wrote {value:g} to {component} of {resource_id} via "
                            f"{describe_connection(connection)} in {elapsed_ms:.1f} ms.")

    return app


def add_commands(app: typer.Typer) -> None:
    """Add ``ven resources`` to the root app."""
    app.add_typer(build_resources_app(), name="resources")
