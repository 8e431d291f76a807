"""``ven demo``: the whole product on one machine in about a minute.

1. meter data — ``config/examplemeterdata/load_data.h5`` unless it exists;
2. a small fleet — a few Danish towns (one VEN each), ~150 resources, six loads each — unless the store
   has resources; every resource gets an H5 meter and loads unless it has loads;
3. the local VTN in this process on a free loopback port, with the demo program and its metering event
   (USAGE in kWh), its state kept in ``config/local_vtn.json`` so ``ven vtn serve --state`` can carry on;
4. registration of every VEN and load;
5. a demand-response event ``demo-shed`` for one VEN in the middle of the run's replay window (three intervals,
   ``SIMPLE`` 1, 2, 0: :mod:`venclient.plugins.demo.dr_event`), which the scheduler and the simulated fleet follow;
6. a few dozen ticks of ``ven run`` at high speed;
7. what the VTN received per VEN during this run, read back from the VTN over HTTP: a chart of the fleet's usage
   with the event window marked, the energy before / during / after the event per VEN
   (:mod:`venclient.plugins.demo.usage`), and the table of reports, resources and kWh.

This plugin composes other default plugins (samples, h5_simulator, local_vtn) on purpose: it is the
integration of the defaults, and uses each only through what its package exports (``__all__``).  It needs nothing but the machine it runs on.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from venclient.openadr import Report
from venclient.cli.output import console, progress, table
from venclient.engine.register import Registrar, select_vens
from venclient.clock import REPLAY
from venclient.engine.run import REPLAY_ROW_KEY, RunOptions, VenRunner
from venclient.plugins.demo.dr_event import ShedWindow, put_shed_event, replay_tick_times, shed_window
from venclient.plugins.demo.usage import UsageSeries, energy_columns, energy_rows, show_usage, usage_series
from venclient.runtime import Runtime

log = logging.getLogger(__name__)

DEMO_TOWNS = ("Herning", "Aalborg", "Vejle", "Randers")
VTN_STATE_FILE = "local_vtn.json"


@dataclass
class DemoOptions:
    """Sizes of the demo (the defaults are what ``make demo`` runs)."""

    resources: int = 150
    towns: tuple[str, ...] = DEMO_TOWNS
    seed: int = 7
    ticks: int = 36
    interval_seconds: float = 15.0
    speed: float = 150.0
    meters: int = 153
    hours: int = 8741


def ensure_meter_data(runtime: Runtime, options: DemoOptions) -> str:
    """Generate the H5 file unless it exists; returns what was done."""
    from venclient.plugins.h5_simulator import write_meterdata

    path = Path(runtime.settings.h5_simulator.h5_path)
    if path.is_file():
        return f"meter data: using {path}"
    with progress(transient=True) as bar:
        task = bar.add_task("Generating meter data", total=options.meters)
        write_meterdata(path, meters=options.meters, hours=options.hours, seed=options.seed,
                        progress=lambda n: bar.advance(task, n))
    return f"meter data: generated {path} ({options.meters} meters × {options.hours} hours)"


def ensure_fleet(runtime: Runtime, options: DemoOptions) -> list[str]:
    """Generate the small fleet and its loads where missing; returns what was done."""
    from venclient.plugins.samples import generate_fleet, generate_loads, load_towns

    store = runtime.store()
    done = []
    if store.count_resources() == 0:
        towns = [t for t in load_towns() if t.name in options.towns]
        fleet = generate_fleet(options.resources, options.seed, towns=towns)
        store.insert_resources(fleet)
        done.append(f"fleet: generated {len(fleet)} resources in {len({r.ven for r in fleet})} VENs")
    else:
        done.append(f"fleet: using the {store.count_resources()} resources in the store")
    if store.count_loads() == 0:
        generated = generate_loads(store, runtime.settings.h5_simulator.h5_path, seed=options.seed)
        done.append(f"loads: created {generated.loads} loads on {generated.meters_used} meters")
    else:
        done.append(f"loads: using the {store.count_loads()} loads in the store")
    return done


async def _register(runtime: Runtime, vens: list[str]) -> dict[str, Any]:
    with progress() as bar:
        overall = bar.add_task("Registering loads", total=None)
        seen: dict[str, int] = {}

        def on_progress(ven: str, done: int, total: int) -> None:
            seen[ven] = total
            bar.update(overall, total=sum(seen.values()) or None, advance=1 if total else 0)

        async with runtime.transport() as transport:
            registrar = Registrar(runtime.store(), transport, vtn_url=runtime.settings.vtn.url, progress=on_progress)
            summary = await registrar.register_vens(vens)
    return summary.as_dict()


@dataclass
class DemoResult:
    """What the demo shows at its end: the per-VEN table rows of what the VTN received, the usage per tick, and
    the demand-response event's window and VEN (``None`` when the run had none)."""

    rows: list[tuple]
    series: UsageSeries = field(default_factory=dict)
    window: ShedWindow | None = None
    targeted: str | None = None


async def reports_from_vtn(runtime: Runtime, vens: list[str], event_id: str | None,
                           since: datetime | None = None) -> dict[str, list[Report]]:
    """Per VEN, the reports the VTN holds for ``event_id`` (created at or after ``since``, when given), read back
    over HTTP."""
    found = {}
    async with runtime.transport() as transport:
        for ven in vens:
            reports: list[Report] = await transport.list_reports(client_name=ven, event_id=event_id)
            if since is not None:
                reports = [r for r in reports if r.created_date_time is None or r.created_date_time >= since]
            found[ven] = reports
    return found


def received_rows(reports_by_ven: dict[str, list[Report]]) -> list[tuple]:
    """Per VEN: reports, distinct resources and USAGE kWh."""
    rows = []
    for ven, reports in reports_by_ven.items():
        resources: set[str] = set()
        energy = 0.0
        for report in reports:
            for resource in report.resources:
                resources.add(resource.resource_name)
                for interval in resource.intervals:
                    for payload in interval.payloads:
                        if payload.type == "USAGE":
                            energy += sum(v for v in payload.values if isinstance(v, (int, float)))
        rows.append((ven, len(reports), len(resources), round(energy, 3)))
    return rows


def plan_shed_event(runtime: Runtime, options: DemoOptions) -> ShedWindow | None:
    """The window of the demand-response event in this run's replay ticks (``None`` with the wall clock, without
    meter data, or when the replay wraps during the run)."""
    from venclient.plugins.h5_simulator import H5MeterSource

    if str(runtime.settings.get("clock.mode", REPLAY) or REPLAY).lower() != REPLAY:
        return None
    timeline = H5MeterSource(runtime.settings.h5_simulator.h5_path).timeline()
    if timeline is None or not len(timeline):
        return None
    saved = runtime.store().get_state(REPLAY_ROW_KEY)
    start_row = int(saved) + 1 if saved is not None and saved.isdigit() else 0
    return shed_window(replay_tick_times(timeline, start_row, options.ticks))


def run_demo(runtime: Runtime, options: DemoOptions) -> DemoResult:
    """Every step of the demo; returns what it shows at its end."""
    from venclient.plugins.local_vtn import LocalVtnServer, VtnState, load_state, seed_demo
    from venclient.plugins.samples import open_store_to_fill

    out = console()
    open_store_to_fill(runtime)  # the demo makes config/resources.db (and config/) when missing
    out.print(ensure_meter_data(runtime, options))
    for line in ensure_fleet(runtime, options):
        out.print(line)
    config_dir = Path(runtime.settings.h5_simulator.h5_path).parent.parent
    state_file = config_dir / VTN_STATE_FILE
    state = VtnState()
    load_state(state_file, state)
    seeded = seed_demo(state)
    vens = select_vens(runtime.store())
    window = plan_shed_event(runtime, options)
    targeted = vens[0] if vens and window is not None else None
    if targeted is not None:
        put_shed_event(state, seeded["program"]["id"], window, targeted)
    with LocalVtnServer(state, "127.0.0.1", 0, state_file=state_file) as server:
        runtime.settings.set("vtn.url", server.url)
        runtime.settings.set("vtn.token_url", "")
        out.print(f"local VTN: {server.url} (state in {state_file}); program {seeded['program']['programName']}, "
                  f"event {seeded['event']['eventName']} asks for USAGE in kWh")
        if targeted is not None:
            hours = window.step.total_seconds() / 3600
            out.print(f"demand response: event demo-shed asks {targeted} for SIMPLE 1, 2, 0 from "
                      f"{window.start:%Y-%m-%d %H:%M} to {window.end:%Y-%m-%d %H:%M} UTC ({hours:g} h each, data time)")
        else:
            out.print("demand response: no event (the demo adds one only when it replays meter data without wrapping)")
        registration = asyncio.run(_register(runtime, vens))
        out.print(f"registration: {registration['loads_registered']} loads registered now "
                  f"({registration['loads_already_registered']} already), {registration['vens_registered']} new "
                  f"of {registration['total_vens']} VENs, {registration['loads_failed']} failed "
                  f"({registration['seconds']:.1f} s)")
        run_options = RunOptions.from_settings(runtime.settings, vens=vens, interval_seconds=options.interval_seconds,
                                               speed=options.speed, max_ticks=options.ticks, register=False,
                                               poll_seconds=options.interval_seconds * 4)
        started = datetime.now(timezone.utc)
        started = started.replace(microsecond=started.microsecond // 1000 * 1000)  # the VTN stamps milliseconds
        stats = asyncio.run(VenRunner(runtime, run_options).run())
        out.print(f"ran {len(stats.ticks)} ticks at {options.speed:g}× speed: {stats.reports_built} reports built, "
                  f"{stats.reports_sent} sent")
        reports = asyncio.run(reports_from_vtn(runtime, vens, seeded["event"]["id"], since=started))
    return DemoResult(received_rows(reports), usage_series(reports), window, targeted)


def print_usage(result: DemoResult) -> None:
    """The chart (or its plain line) and the energy table before / during / after the event."""
    if result.window is None or result.targeted is None:
        return
    show_usage(result.series, result.window)
    console().print(table(f"Energy per VEN around the event demo-shed for {result.targeted} (kWh; during = its "
                          f"three intervals)", energy_columns(),
                          energy_rows(result.series, result.window, result.targeted)))


def print_received(rows: list[tuple]) -> None:
    """The final table."""
    totals = ("total", sum(r[1] for r in rows), sum(r[2] for r in rows), round(sum(r[3] for r in rows), 3))
    console().print(table("What the VTN received", ["VEN", "reports", "resources", "energy kWh"], rows + [totals]))
