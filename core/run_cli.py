"""``ven run`` (the long-running VEN) and ``ven outbox`` (what waits to be sent, and why)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any, Optional

import typer

from core.memory import limit_malloc_arenas
from core.output import console, print_json, table
from core.run import RunOptions, VenRunner


def run_command(
    ctx: typer.Context,
    ven: Optional[list[str]] = typer.Option(None, "--ven", help="Only this VEN (town); repeat for more. "
                                                                 "Default: setting `vens`, else all."),
    interval: Optional[float] = typer.Option(None, "--interval", min=0.001,
                                             help="Seconds between ticks (reporting.interval_seconds, default 15)."),
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
    runtime = ctx.obj
    limit_malloc_arenas(int(runtime.settings.get("memory.malloc_arenas", 2)))  # before any worker thread
    options = RunOptions.from_settings(runtime.settings, vens=ven or None, interval_seconds=interval, speed=speed,
                                       once=once, max_ticks=ticks, register=register, subscribe=subscribe)
    stats = asyncio.run(VenRunner(runtime, options).run())
    counts = runtime.store().outbox_counts()
    console(stderr=True).print(
        f"Stopped after {len(stats.ticks)} ticks: {stats.reports_built} reports built, {stats.reports_sent} sent, "
        f"{counts['pending']} waiting in the outbox, {counts['rejected']} rejected by the VTN.")


def outbox_command(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON."),
                   rows: bool = typer.Option(False, "--rows", help="List every report, not just the summary.")) -> None:
    """Reports waiting to be sent (and those the VTN rejected), per VEN, with the last error."""
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


def add_run_commands(app: typer.Typer) -> None:
    """Attach ``ven run`` and ``ven outbox`` to the root app."""
    app.command("run")(run_command)
    app.command("outbox")(outbox_command)
