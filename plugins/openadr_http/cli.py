"""``ven vtn ping``, ``ven programs`` and ``ven events``: look at the configured VTN."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import typer

from venclient.cli.groups import command_group
from venclient.errors import InputError
from venclient.openadr import Event, Program
from venclient.cli.output import console, plural, print_json, table
from venclient.vtn_errors import VtnError

JSON_OPTION = typer.Option(False, "--json", help="Print JSON for scripts instead of a table.")
VTN_GROUP_HELP = "Talk to an OpenADR 3.0.1 VTN, or run the local development VTN."




async def _ping(transport: Any) -> dict[str, Any]:
    started = time.perf_counter()
    async with transport:
        authenticate = getattr(transport, "authenticate", None)
        scopes = list(await authenticate()) if authenticate is not None else []
        programs = await transport.list_programs()
        events = await transport.list_events()
    return {"ok": True, "url": getattr(transport, "base", None), "auth": getattr(transport, "auth_mode", None),
            "scopes": scopes, "programs": len(programs), "events": len(events),
            "elapsed_ms": round((time.perf_counter() - started) * 1000, 1)}


def ping(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """Authenticate with the VTN and count its programs and events."""
    transport = ctx.obj.transport()
    url = getattr(transport, "base", None) or ctx.obj.settings.get("vtn.url")
    try:
        result = asyncio.run(_ping(transport))
    except VtnError as err:
        if as_json:
            print_json({"ok": False, "url": url, "error": str(err)})
            raise typer.Exit(err.exit_code) from None
        raise
    if as_json:
        print_json(result)
        return
    auth = {"client_credentials": f"as client {ctx.obj.settings.get('vtn.client_id')!r}",
            "token": "with the configured bearer token", "none": "without authentication"}.get(result["auth"], "")
    console().print(f"The VTN at {result['url']} answered {auth} in {result['elapsed_ms']:g} ms: "
                    f"{plural(result['programs'], 'program')}, {plural(result['events'], 'event')}.")


def _program_row(program: Program) -> tuple[Any, ...]:
    created = program.created_date_time.isoformat(timespec="seconds") if program.created_date_time else ""
    return (program.program_name, program.id or "", program.program_type or "", program.retailer_name or "",
            created)


async def _programs(transport: Any) -> list[Program]:
    async with transport:
        return await transport.list_programs()


def programs(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """List the VTN's programs."""
    found = asyncio.run(_programs(ctx.obj.transport()))
    if as_json:
        print_json([p.to_wire() for p in found])
        return
    console().print(table(f"{plural(len(found), 'program')}", ["name", "id", "type", "retailer", "created"],
                          [_program_row(p) for p in found]))


async def _events(transport: Any, program_name: str | None) -> tuple[list[Event], dict[str, str]]:
    async with transport:
        all_programs = await transport.list_programs()
        names = {p.id: p.program_name for p in all_programs if p.id}
        program_id = None
        if program_name is not None:
            program_id = next((p.id for p in all_programs if p.program_name == program_name), None)
            if program_id is None:
                known = ", ".join(sorted(names.values())) or "none"
                raise InputError(f"No program named {program_name!r} on the VTN at "
                                 f"{getattr(transport, 'base', 'the VTN')} (programs: {known}).")
        return await transport.list_events(program_id), names


def _event_row(event: Event, names: dict[str, str]) -> tuple[Any, ...]:
    period = event.interval_period
    start = period.start.isoformat(timespec="minutes") if period and period.start else ""
    payloads = sorted({p.type for i in event.intervals for p in i.payloads})
    reports = sorted({f"{d.payload_type}" + (f" {d.units}" if d.units else "") for d in event.report_descriptors or ()})
    return (event.event_name or event.id or "", names.get(event.program_id, event.program_id),
            "" if event.priority is None else event.priority, start, (period.duration or "") if period else "",
            len(event.intervals), ", ".join(payloads), ", ".join(reports))


def events(ctx: typer.Context,
           program: str = typer.Option(None, "--program", help="Only events of the program with this name."),
           as_json: bool = JSON_OPTION) -> None:
    """List the VTN's events (all, or of one program)."""
    found, names = asyncio.run(_events(ctx.obj.transport(), program))
    if as_json:
        print_json([e.to_wire() for e in found])
        return
    console().print(table(
        plural(len(found), "event") + (f" of program {program}" if program else ""),
        ["name", "program", "priority", "start", "duration", "intervals", "payloads", "reports"],
        [_event_row(e, names) for e in found]))


def add_commands(app: typer.Typer) -> None:
    """Register ``ven vtn ping``, ``ven programs`` and ``ven events`` on the root app."""
    command_group(app, "vtn", VTN_GROUP_HELP).command("ping")(ping)
    app.command("programs")(programs)
    app.command("events")(events)
