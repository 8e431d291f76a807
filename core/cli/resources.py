"""``ven resources``: list resources, set their status, connect them to meter sources and writers, test, write.

A resource's reader connection picks the meter source that reads it (``h5sim`` when it has none); swapping
it never touches the resource's loads.  How options (and ``--from FILE.toml`` tables) become a connection is
:mod:`venclient.cli.connections`; ``connect`` shows the options of every enabled plugin
(hook ``ven_connection_options``) next to the core ones.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from venclient.errors import InputError
from venclient.model import LOAD_COMPONENTS, STATUSES, Connection, Resource
from venclient.cli.connections import (build_connection, check_connection, component_name,
                                       connect_from_file, connection_json, describe_connection, kind_options)
from venclient.cli.plugin_options import PLUGIN_VALUES, PluginOptionsCommand
from venclient.cli.output import console, print_json, print_wide, table

DEFAULT_TEST_TIMEOUT = 30.0


def _resource_json(resource: Resource, connection: Connection | None) -> dict[str, Any]:
    return {"resource_id": resource.resource_id, "resource_name": resource.resource_name,
            "resource_type": resource.resource_type, "resource_sub_type": resource.resource_sub_type,
            "ven": resource.ven, "registration_status": resource.registration_status,
            "meter_point_id": resource.meter_point_id, "h5_meter_id": resource.h5_meter_id,
            "enabled": resource.enabled, "connection_type": connection.type if connection else "h5sim",
            "connection": connection_json(connection)}


def _describer(runtime: Any) -> Callable[[Connection | None], str]:
    """:func:`describe_connection` with the connection options of ``runtime``'s plugins."""
    by_kind = kind_options(runtime.pm)
    return lambda connection: describe_connection(connection, by_kind)


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
    """The ``ven resources`` command group; ``connect`` takes the plugins' connection options too."""
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
        store, describe = ctx.obj.store(), _describer(ctx.obj)
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
                                describe(c)) for r, c in pairs]))

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

    @app.command("connect", cls=PluginOptionsCommand)
    def connect_cmd(
        ctx: typer.Context,
        resource_ids: Optional[list[str]] = typer.Argument(None, help="Resource ids to connect."),
        kind: Optional[str] = typer.Option(None, "--type", help="Connection kind: h5sim, filereader, modbustcp, "
                                                                "modbusrtu, mqtt, or a plugin's own."),
        file: Optional[str] = typer.Option(None, "--file", help="filereader: the CSV / JSON-lines file."),
        host: Optional[str] = typer.Option(None, "--host", help="Meter or gateway host."),
        port: Optional[str] = typer.Option(None, "--port", help="TCP port, or what the kind's plugin makes of "
                                                                "it (the serial device for modbusrtu)."),
        topic: Optional[str] = typer.Option(None, "--topic", help="MQTT topic."),
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
        by_kind = kind_options(runtime.pm)
        describe = _describer(runtime)
        plugin_values = ctx.meta.get(PLUGIN_VALUES, {})
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
        connection = build_connection(kind, file=file, host=host, port=port, topic=topic, channels=channel,
                                      params=param, writer=writer, username=username, password_env=password_env,
                                      by_kind=by_kind, **plugin_values)
        check_connection(runtime, connection)
        count = runtime.store().connect_resources(resource_ids, connection)
        if as_json:
            print_json({"connected": count, "connection": connection_json(connection)})
        else:
            console().print(f"{count:,} resource{'s' if count != 1 else ''} now "
                            f"{'written through' if writer else 'read from'} {describe(connection)}.")

    @app.command("test")
    def test_cmd(
        ctx: typer.Context,
        resource_id: str = typer.Argument(..., help="The resource to read once."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    ) -> None:
        """Read one resource once through its reader connection; print the values and how long it took."""
        runtime = ctx.obj
        describe = _describer(runtime)
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
        from venclient.protocols import HasTimeline, ReadsOnDemand

        if not isinstance(source, ReadsOnDemand):
            raise InputError(f"The {connection.type} source ({type(source).__name__}) cannot read one resource "
                             f"on its own; use `ven collect` instead.")
        test_read = source.test_read
        extra: dict[str, Any] = {}
        if _accepts(test_read, "resource"):
            extra["resource"] = resource
        if _accepts(test_read, "tick"):
            timeline = source.timeline() if isinstance(source, HasTimeline) else None
            from venclient.clock import Clock  # numpy: only when a meter is read

            extra["tick"] = Clock.from_settings(runtime.settings, timeline).tick
        timeout = max(float(runtime.settings.get("collect.source_timeout_seconds", 5.0)), DEFAULT_TEST_TIMEOUT)
        started = time.perf_counter()
        try:
            values = asyncio.run(asyncio.wait_for(test_read(connection, **extra), timeout))
        except asyncio.TimeoutError:
            raise InputError(f"Reading resource {resource_id} through {describe(connection)} took "
                             f"longer than {timeout:g} s.") from None
        elapsed_ms = (time.perf_counter() - started) * 1000
        if as_json:
            print_json({"resource_id": resource_id, "connection": describe(connection),
                        "values": values, "elapsed_ms": round(elapsed_ms, 2)})
            return
        console().print(table(f"{resource_id} via {describe(connection)} — {elapsed_ms:.1f} ms",
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
        describe = _describer(runtime)
        store = runtime.store()
        component = component_name(load, "--load")
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
                        "connection": describe(connection), "elapsed_ms": round(elapsed_ms, 2)})
        else:
            console().print(f"Wrote {value:g} to {component} of {resource_id} via "
                            f"{describe(connection)} in {elapsed_ms:.1f} ms.")

    return app


def add_commands(app: typer.Typer) -> None:
    """Add ``ven resources`` to the root app."""
    app.add_typer(build_resources_app(), name="resources")
