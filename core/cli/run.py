"""``ven run`` (the long-running VEN) and ``ven outbox`` (what waits to be sent, and why; ``retry`` and ``drop``
for the reports the VTN rejected)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any, Optional

import typer

from venclient.cli.output import console, json_logs_active, plural, print_json, table
from venclient.errors import InputError

# The run engine loads when `ven run` runs, not when `ven --help` lists it.


def run_command(
    ctx: typer.Context,
    ven: Optional[list[str]] = typer.Option(None, "--ven", help="Only this VEN (town); repeat for more. "
                                                                 "Default: setting `vens`, else all."),
    interval: Optional[float] = typer.Option(None, "--interval", min=0.001,
                                             help="Seconds between ticks, divided by --speed (reporting.interval_seconds, "
                                                  "default 15); a replayed tick stands for one H5 row."),
    speed: float = typer.Option(1.0, "--speed", min=0.001, help="Run simulated time X times faster than real time."),
    once: bool = typer.Option(False, "--once", help="One tick, flush, exit."),
    ticks: Optional[int] = typer.Option(None, "--ticks", min=1, help="Stop after N ticks."),
    register: bool = typer.Option(True, "--register/--no-register", help="Register new loads before and while running."),
    subscribe: Optional[bool] = typer.Option(None, "--subscribe/--no-subscribe",
                                             help="Also take the VTN's event notifications (events.subscribe)."),
) -> None:
    """Run the VEN: keep registration in sync, collect every tick, report through the outbox, follow events.

    Stop with Ctrl-C or SIGTERM: the current tick finishes, the outbox is flushed, sources are closed.
    """
    from venclient.engine.run import RunOptions, VenRunner
    from venclient.memory import limit_malloc_arenas

    runtime = ctx.obj
    limit_malloc_arenas(int(runtime.settings.get("memory.malloc_arenas", 2)))  # before any worker thread
    options = RunOptions.from_settings(runtime.settings, vens=ven or None, interval_seconds=interval, speed=speed,
                                       once=once, max_ticks=ticks, register=register, subscribe=subscribe)
    stats = asyncio.run(VenRunner(runtime, options).run())
    counts = runtime.store().outbox_counts()
    summary = (f"Stopped after {len(stats.ticks)} ticks: {stats.reports_built} reports built, {stats.reports_sent} "
               f"sent, {counts['pending']} waiting in the outbox, {counts['rejected']} rejected by the VTN.")
    if json_logs_active():  # stderr carries JSON lines only: the summary is a record, its figures fields
        logging.getLogger("venclient.run").info(summary, extra={
            "ticks": len(stats.ticks), "reports_built": stats.reports_built, "reports_sent": stats.reports_sent,
            "outbox_pending": counts["pending"], "outbox_rejected": counts["rejected"]})
    else:
        console(stderr=True).print(summary)


def outbox_command(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON."),
                   rows: bool = typer.Option(False, "--rows", help="List every report, not just the summary.")) -> None:
    """Reports waiting to be sent (and those the VTN rejected), per VEN, with the last error.

    `ven outbox retry` sends rejected reports again; `ven outbox drop` deletes them.
    """
    if ctx.invoked_subcommand is not None:
        return
    store = ctx.obj.store()
    items = store.outbox_list()
    summary: dict[str, dict[str, Any]] = defaultdict(lambda: {"pending": 0, "rejected": 0, "last_error": None,
                                                              "oldest_tick_ms": None})
    for item in items:
        entry = summary[item["ven"]]
        entry[item["state"]] += 1
        entry["last_error"] = item["last_error"] or entry["last_error"]
        if item["state"] == "pending" and entry["oldest_tick_ms"] is None:
            entry["oldest_tick_ms"] = item["tick_ms"]
    if as_json:
        data: dict[str, Any] = {"pending": sum(1 for i in items if i["state"] == "pending"),
                                "rejected": sum(1 for i in items if i["state"] == "rejected"),
                                "by_ven": dict(summary)}
        data["rejected_reports"] = [{"id": i["id"], "ven": i["ven"], "event_id": i["event_id"],
                                     "tick_ms": i["tick_ms"], "reason": i["last_error"]}
                                    for i in items if i["state"] == "rejected"]
        if rows:
            data["reports"] = [{k: (str(v) if k == "created_at" and v is not None else v) for k, v in i.items()}
                               for i in items]
        print_json(data)
        return
    if not items:
        console().print("The outbox is empty: every report was accepted by the VTN.")
        return
    console().print(table("Outbox", ["VEN", "pending", "rejected", "last error"],
                          [(ven, e["pending"], e["rejected"], (e["last_error"] or "")[:100])
                           for ven, e in sorted(summary.items())]))
    if rows:
        console().print(table(None, ["id", "VEN", "event", "state", "attempts", "last error"],
                              [(i["id"], i["ven"], i["event_id"], i["state"], i["attempts"], (i["last_error"] or "")[:80])
                               for i in items]))


ALL_OPTION = typer.Option(False, "--all", help="Every rejected report.")
ID_OPTION = typer.Option(None, "--id", help="The rejected report with this outbox id (see `ven outbox --rows`); "
                                            "repeat for more.")
VEN_OPTION = typer.Option(None, "--ven", help="Every rejected report of this VEN.")
JSON_OPTION = typer.Option(False, "--json", help="Print JSON for scripts.")


def _selection(everything: bool, ids: Optional[list[int]], ven: Optional[str], verb: str) -> dict[str, Any]:
    """The store's selector for exactly one of ``--all``, ``--id N`` and ``--ven V``."""
    given = [name for name, value in (("--all", everything), ("--id", ids), ("--ven", ven)) if value]
    if len(given) != 1:
        raise InputError(f"Say which rejected reports to {verb}: give exactly one of --all, --id N or --ven V"
                         + (f" (got {' and '.join(given)})." if given else "."))
    return {"ids": list(ids) if ids else None, "ven": ven}


def _whose(selector: dict[str, Any]) -> str:
    if selector["ven"]:
        return f" of VEN {selector['ven']}"
    if selector["ids"]:
        return f" ({', '.join(f'id {i}' for i in selector['ids'])})"
    return ""


def outbox_retry_command(ctx: typer.Context, everything: bool = ALL_OPTION, ids: Optional[list[int]] = ID_OPTION,
                         ven: Optional[str] = VEN_OPTION, as_json: bool = JSON_OPTION) -> None:
    """Send rejected reports again: they become pending, due at once (their attempts are kept).

    The running `ven run` (or the next one) sends them in their VEN's order.
    """
    selector = _selection(everything, ids, ven, "retry")
    retried = ctx.obj.store().outbox_requeue(**selector)
    if as_json:
        print_json({"retried": len(retried), "ids": retried})
        return
    if not retried:
        console().print(f"No rejected reports{_whose(selector)}: nothing to retry.")
        return
    console().print(f"{plural(len(retried), 'rejected report')}{_whose(selector)} will be sent again "
                    "(by `ven run`).")


def outbox_drop_command(ctx: typer.Context, everything: bool = ALL_OPTION, ids: Optional[list[int]] = ID_OPTION,
                        ven: Optional[str] = VEN_OPTION,
                        yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
                        as_json: bool = JSON_OPTION) -> None:
    """Delete rejected reports for good (pending reports are never touched); asks first unless --yes."""
    selector = _selection(everything, ids, ven, "drop")
    store = ctx.obj.store()
    chosen = store.outbox_select_rejected(**selector)
    if chosen and not yes:
        question = f"Delete {plural(len(chosen), 'rejected report')}{_whose(selector)} for good?"
        if not typer.confirm(question, default=False, err=True):
            console(stderr=True).print("Nothing was dropped.")
            raise typer.Exit(1)
    dropped = store.outbox_drop(ids=[row["id"] for row in chosen]) if chosen else []
    if as_json:
        print_json({"dropped": len(dropped), "ids": dropped})
        return
    if not dropped:
        console().print(f"No rejected reports{_whose(selector)}: nothing to drop.")
        return
    console().print(f"Deleted {plural(len(dropped), 'rejected report')}{_whose(selector)}.")


def add_commands(app: typer.Typer) -> None:
    """Attach ``ven run`` and the ``ven outbox`` group (summary, ``retry``, ``drop``) to the root app."""
    app.command("run")(run_command)
    outbox = typer.Typer(no_args_is_help=False)
    outbox.callback(invoke_without_command=True)(outbox_command)
    outbox.command("retry")(outbox_retry_command)
    outbox.command("drop")(outbox_drop_command)
    app.add_typer(outbox, name="outbox")
