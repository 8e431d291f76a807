"""``ven vtn ping``, ``ven programs`` and ``ven events``: look at the configured VTN; ``ven events opt-out`` /
``opt-in``: keep loads from being acted on for one event (kept in the store, read by ``ven run``'s scheduler);
``ven events timeline``: the upcoming and active intervals as ``ven run`` plans them."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Optional

import typer

from venclient.cli.groups import command_group
from venclient.errors import InputError
from venclient.model import OPT_OUT_ALL
from venclient.cli.output import console, plural, print_json, table
from venclient.vtn_errors import VtnError
from venclient.safe_text import LOG_LIMIT, printable

if TYPE_CHECKING:  # pragma: no cover - the OpenADR models load when a command reads the VTN
    from venclient.openadr import Event, Program

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
    """List the VTN's events (all, or of one program); ``opt-out`` / ``opt-in`` for one event."""
    if ctx.invoked_subcommand is not None:
        return
    found, names = asyncio.run(_events(ctx.obj.transport(), program))
    if as_json:
        print_json([e.to_wire() for e in found])
        return
    console().print(table(
        plural(len(found), "event") + (f" of program {program}" if program else ""),
        ["name", "program", "priority", "start", "duration", "intervals", "payloads", "reports"],
        [_event_row(e, names) for e in found]))


async def _event_id(transport: Any, name: str) -> str:
    """The id of the VTN's event whose id or eventName is ``name`` (``name`` itself when none is)."""
    async with transport:
        found = await transport.list_events()
    return next((e.id for e in found if e.id and name in (e.id, e.event_name)), name)


def _opt_store(ctx: typer.Context) -> Any:
    from venclient.protocols import EventStateRecords

    store = ctx.obj.store()
    if not isinstance(store, EventStateRecords):
        raise InputError("The configured store keeps no opt-outs.")
    return store


def _resolve_event(ctx: typer.Context, event: str, lookup: bool) -> str:
    """``event`` as an event id: looked up by id or name at the VTN unless ``lookup`` is off or it is away."""
    if not lookup:
        return event
    try:
        return asyncio.run(_event_id(ctx.obj.transport(), event))
    except (VtnError, OSError) as err:
        console(stderr=True).print(printable(f"The VTN could not be asked which event {event!r} is ({err}); taken "
                                             f"as its id.", LOG_LIMIT), markup=False)  # err may quote the VTN
        return event


RESOURCE_OPTION = typer.Option(None, "--resource", help="Only this resource id; repeat for more. Default: every "
                                                        "resource.")
LOOKUP_OPTION = typer.Option(True, "--lookup/--no-lookup", help="Find the event by id or name at the VTN "
                                                                "(--no-lookup: EVENT is the id).")


def opt_out(ctx: typer.Context, event: str = typer.Argument(..., help="The event's id or eventName."),
            resource: Optional[list[str]] = RESOURCE_OPTION, lookup: bool = LOOKUP_OPTION,
            as_json: bool = JSON_OPTION) -> None:
    """Opt loads out of an event: ``ven run`` does not act on them for it (a load acted on gets its writer's
    release value), and plugins see it in ``ven_event_interval``'s ``opted_out``."""
    store = _opt_store(ctx)
    event_id = _resolve_event(ctx, event, lookup)
    added = store.opt_out(event_id, list(resource) if resource else None)
    _print_opt_outs(store, event_id, as_json, f"{plural(added, 'new opt-out')} for event {event_id}")


def opt_in(ctx: typer.Context, event: str = typer.Argument(..., help="The event's id or eventName."),
           resource: Optional[list[str]] = RESOURCE_OPTION, lookup: bool = LOOKUP_OPTION,
           as_json: bool = JSON_OPTION) -> None:
    """Undo opt-outs of an event (of the given resources, or every one)."""
    store = _opt_store(ctx)
    event_id = _resolve_event(ctx, event, lookup)
    removed = store.opt_in(event_id, list(resource) if resource else None)
    _print_opt_outs(store, event_id, as_json, f"{plural(removed, 'opt-out')} of event {event_id} removed")


def _print_opt_outs(store: Any, event_id: str, as_json: bool, what: str) -> None:
    left = sorted(store.opt_outs([event_id]).get(event_id, set()))
    if as_json:
        print_json({"event_id": event_id, "opted_out": left})
        return
    everything = OPT_OUT_ALL in left
    now = ("every resource" if everything else ", ".join(left)) if left else "nothing"
    console().print(f"{what}; opted out now: {now}.")


async def _programs_and_events(transport: Any) -> tuple[dict[str, Program], list[Event]]:
    async with transport:
        found = await transport.list_programs()
        return {p.id: p for p in found if p.id}, await transport.list_events()


def timeline(ctx: typer.Context,
             ven: Optional[list[str]] = typer.Option(None, "--ven", help="Only this VEN; repeat for more. Default: "
                                                                         "setting `vens`, else all."),
             as_json: bool = JSON_OPTION) -> None:
    """Upcoming and active intervals of the VTN's events as ``ven run`` plans them: start, end, values, whether
    each wins on priority, targeted loads and opt-outs."""
    from datetime import datetime, timezone

    from venclient.engine.register import select_vens
    from venclient.engine.scheduler import EventScheduler, OptOuts
    from venclient.protocols import EventStateRecords
    from venclient.engine.targets import LoadDirectory
    from venclient.engine.timeline_view import timeline_rows

    runtime = ctx.obj
    store = runtime.store()
    vens = select_vens(store, ven or runtime.settings.get("vens") or None)
    programs, found = asyncio.run(_programs_and_events(runtime.transport()))
    now = datetime.now(timezone.utc)
    scheduler = EventScheduler(store, {}, LoadDirectory(store, vens), lambda: now)
    plans = scheduler.plan(found, programs)
    opted = ({i: OptOuts.of(ids) for i, ids in store.opt_outs(list(plans)).items()}
             if isinstance(store, EventStateRecords) else {})
    rows = timeline_rows(plans, opted, now)
    if as_json:
        print_json(rows)
        return
    console().print(table(
        f"{plural(len(rows), 'upcoming or active interval')} of {plural(len(plans), 'event')}",
        ["event", "VENs", "interval", "payload", "values", "start", "end", "priority", "wins", "loads", "opted out"],
        [(row["event"], ", ".join(row["vens"]) if len(row["vens"]) <= 2 else f"{len(row['vens'])} VENs",
          f"{row['interval']}" + (f".{row['sub']}" if row["sub"] else "") + (" (now)" if row["active"] else ""),
          row["payload"], ", ".join(str(v) for v in row["values"]), row["start"] or "", row["end"] or "open",
          "" if row["priority"] is None else row["priority"], "yes" if row["wins"] else "no", row["loads"],
          row["opted_out"]) for row in rows]))


def add_commands(app: typer.Typer) -> None:
    """Register ``ven vtn ping``, ``ven programs`` and ``ven events`` (with ``opt-out`` / ``opt-in``) on the
    root app."""
    command_group(app, "vtn", VTN_GROUP_HELP).command("ping")(ping)
    app.command("programs")(programs)
    events_app = typer.Typer(invoke_without_command=True)
    events_app.callback()(events)
    events_app.command("opt-out")(opt_out)
    events_app.command("opt-in")(opt_in)
    events_app.command("timeline")(timeline)
    app.add_typer(events_app, name="events")
