"""``ven register``: register VENs and loads with the VTN, or ``--verify`` (and ``--repair``) the result."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Optional

import typer

from venclient.cli.output import console, print_json, progress
from venclient.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from venclient.engine.register import Registrar, RegistrationSummary
    from venclient.engine.verify import VerifyReport

# The engines (SQLAlchemy, httpx, pydantic) load when the command runs, not when `ven --help` lists it.


INTERRUPTED_EXIT = 130  # the shell's status for a process ended by SIGINT


def _print_summary(summary: RegistrationSummary) -> None:
    """The human summary of what this run did (also after Ctrl-C)."""
    data = summary.as_dict()
    out = console()
    line = "=" * 70
    out.print(line)
    out.print("REGISTRATION SUMMARY" + ("  (interrupted: what was done before Ctrl-C)" if summary.interrupted else ""))
    out.print(line)
    out.print(f"{'Total VENs processed:':<31}{data['total_vens']}")
    out.print(f"{'VENs registered now:':<31}{data['vens_registered']}  (created or adopted on the VTN by this run)")
    out.print(f"{'VENs already registered:':<31}{data['vens_already_registered']}")
    out.print(f"{'Total loads registered:':<31}{data['loads_registered']}"
              + (f"  ({data['loads_adopted']} already on the VTN, adopted)" if data["loads_adopted"] else ""))
    out.print(f"{'Loads already registered:':<31}{data['loads_already_registered']}  (by an earlier run)")
    out.print(f"{'Total loads failed:':<31}{data['loads_failed']}")
    if summary.interrupted:
        out.print(f"{'Loads not attempted:':<31}{data['loads_not_attempted']}")
        out.print(f"{'VENs not started:':<31}{len(data['vens_not_started'])}"
                  + (f"  ({', '.join(data['vens_not_started'][:10])})" if data["vens_not_started"] else ""))
    out.print(f"{'Failed VENs:':<31}{len(data['failed_vens'])}"
              + (f"  ({', '.join(data['failed_vens'][:10])})" if data["failed_vens"] else ""))
    out.print(f"{'Seconds:':<31}{data['seconds']}")
    out.print(line)
    for ven in summary.vens:
        if ven.error:
            out.print(f"  {ven.error}")
    if summary.interrupted:
        out.print("Interrupted: run `ven register` again to register the rest (nothing is registered twice).")


def _print_verify(report: VerifyReport) -> None:
    data = report.as_dict()
    out = console()
    for ven in report.vens:
        if not ven.clean:
            out.print(f"{ven.ven}: " + ("the VTN does not know this VEN (its stored id answers 404), " if ven.ven_missing
                                        else "") + f"{len(ven.missing_on_vtn)} missing on the VTN, {len(ven.unknown_on_vtn)} unknown "
                      f"to the store, {len(ven.id_mismatch)} id mismatches, {ven.unregistered} not registered"
                      + (f", error: {ven.error}" if ven.error else ""))
    if data["repaired"]:
        out.print(f"Repaired the store: adopted {data['repaired']['adopted_ids']} VTN ids, forgot "
                  f"{data['repaired']['forgotten_ids']} load ids and {data['repaired']['forgotten_vens']} VEN ids the "
                  "VTN lost (run `ven register` to recreate them).")
    verdict = "Store and VTN agree" if report.clean else "Store and VTN differ"
    out.print(f"{verdict}: {len(report.vens)} VENs ({data['vens_missing_on_vtn']} unknown to the VTN), "
              f"{data['missing_on_vtn']} loads missing on the VTN, "
              f"{data['unknown_on_vtn']} unknown to the store, {data['id_mismatch']} id mismatches, "
              f"{data['unregistered']} loads not registered.")


async def _register(runtime: Any, vens: list[str], concurrency: int, rate: Optional[float],
                    show_progress: bool) -> RegistrationSummary:
    """Register ``vens``; a Ctrl-C (the cancellation ``asyncio.run`` makes of SIGINT) returns the summary of what
    was done, with ``interrupted`` set, instead of raising."""
    from venclient.engine.register import RegistrationSummary

    started: list[Registrar] = []
    try:
        return await _register_all(runtime, vens, concurrency, rate, show_progress, started)
    except asyncio.CancelledError:
        summary = started[0].last_summary if started else None
        summary = summary if summary is not None else RegistrationSummary(not_started=list(vens))
        summary.interrupted = True
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()  # handled: the command ends normally (and exits 130)
        return summary


async def _register_all(runtime: Any, vens: list[str], concurrency: int, rate: Optional[float],
                        show_progress: bool, started: list[Registrar]) -> RegistrationSummary:
    """The registration itself; the :class:`Registrar` is appended to ``started`` once made."""
    from venclient.engine.register import Registrar

    store = runtime.store()
    totals = {ven: 0 for ven in vens}
    bars = progress(transient=False) if show_progress else None
    overall = bars.add_task("all VENs", total=len(vens)) if bars else None
    ven_tasks: dict[str, Any] = {}

    def on_progress(ven: str, done: int, total: int) -> None:
        if bars is None:
            return
        if ven not in ven_tasks:
            ven_tasks[ven] = bars.add_task(f"  {ven}", total=total)
        bars.update(ven_tasks[ven], completed=done, total=total)
        if done >= total:
            bars.remove_task(ven_tasks[ven])
            bars.advance(overall)
        totals[ven] = done

    async with runtime.transport() as transport:
        registrar = Registrar(store, transport, vtn_url=runtime.settings.vtn.url, concurrency=concurrency,
                              rate=rate, progress=on_progress)
        started.append(registrar)
        if bars:
            with bars:
                return await registrar.register_vens(vens)
        return await registrar.register_vens(vens)


async def _verify(runtime: Any, vens: list[str], repair: bool) -> VerifyReport:
    from venclient.engine.verify import verify

    async with runtime.transport() as transport:
        return await verify(runtime.store(), transport, vens, repair=repair, vtn_url=runtime.settings.vtn.url)


def register_command(
    ctx: typer.Context,
    ven: Optional[list[str]] = typer.Option(None, "--ven", help="Only this VEN (town); repeat for more."),
    limit_vens: Optional[int] = typer.Option(None, "--limit-vens", min=1, help="Only the first N VENs."),
    concurrency: int = typer.Option(50, "--concurrency", min=1, max=1000, help="Requests in flight at most."),
    rate: Optional[float] = typer.Option(None, "--rate", min=0.1, help="Requests per second at most."),
    verify_only: bool = typer.Option(False, "--verify", help="Compare the store with the VTN; exit 1 if they differ."),
    repair: bool = typer.Option(False, "--repair", help="With --verify: fix the store side from the VTN."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Register every VEN and every load with the VTN (resumable; safe to run again).

    The summary counts what this run did; Ctrl-C stops it, prints the summary so far and exits 130.
    """
    from venclient.engine.lease import LeaseContext, VenLeases, lease_seconds
    from venclient.engine.register import select_vens

    runtime = ctx.obj
    if repair and not verify_only:
        raise InputError("--repair only works together with --verify.")
    vens = select_vens(runtime.store(), ven, limit_vens)
    if not vens:
        raise InputError("The store holds no resources: run `ven samples generate` and `ven loads generate` first.")
    if repair or not verify_only:  # writes registrations: needs the VENs' leases (refused while `ven run` holds one)
        ctx.with_resource(LeaseContext(VenLeases(runtime.store(), vens, command="ven register",
                                                 seconds=lease_seconds(runtime.settings))))
    if verify_only:
        report = asyncio.run(_verify(runtime, vens, repair))
        print_json(report.as_dict()) if as_json else _print_verify(report)
        raise typer.Exit(0 if report.clean else 1)
    summary = asyncio.run(_register(runtime, vens, concurrency, rate, show_progress=not as_json))
    print_json(summary.as_dict()) if as_json else _print_summary(summary)
    if summary.interrupted:
        raise typer.Exit(INTERRUPTED_EXIT)
    if summary.as_dict()["failed_vens"]:
        raise typer.Exit(1)


def add_commands(app: typer.Typer) -> None:
    """Attach ``ven register`` to the root app."""
    app.command("register")(register_command)
