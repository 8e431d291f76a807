"""``ven collect``: the seeds' ``collect_next_metering`` for some VENs, printed as a table or JSON."""

from __future__ import annotations

import asyncio
from typing import Any, Optional

from typing import TYPE_CHECKING

import typer

from venclient.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from venclient.engine.collect import Collector
    from venclient.model import Readings

# The engine, numpy and rich load when the command runs, not when `ven --help` lists it.


def readings_json(collector: Collector, readings: Readings, vens: list[str]) -> dict[str, Any]:
    """``{resource_id: {"meter_point_id": …, "readings": [{"timestamp", "load_id", "power_w"}, …]}}``."""
    from venclient.engine.simulator import resource_meter_data

    out: dict[str, Any] = {}
    for ven in vens:
        data = resource_meter_data(collector.plan, readings, collector.plan.ven_slice(ven), readings.timestamp_ms)
        for resource_id, item in data.items():
            out[resource_id] = {"meter_point_id": item.meter_point_id,
                                "readings": [{"timestamp": r.timestamp, "load_id": r.load_id, "power_w": r.power_w}
                                             for r in item.readings]}
    return out


def readings_rows(collector: Collector, readings: Readings, ven: str) -> list[tuple[Any, ...]]:
    """One table row per resource: id, meter point, six values (``—`` missing, ``~`` stale)."""
    import numpy as np

    from venclient.engine.collect import tidy_watts
    from venclient.model import LOAD_COMPONENTS, QUALITY_OK, QUALITY_STALE

    plan = collector.plan
    positions = plan.ven_slice(ven)
    bounds = plan.resource_bounds(positions).tolist()
    watts = tidy_watts(readings.power_w)
    rows = []
    for start, stop in zip(bounds[:-1], bounds[1:]):
        cells = {name: "—" for name in LOAD_COMPONENTS}
        for i in range(start, stop):
            quality = int(readings.quality[i])
            if quality in (QUALITY_OK, QUALITY_STALE) and not np.isnan(watts[i]):
                cells[plan.components[i]] = f"{watts[i]:,.1f}" + ("~" if quality == QUALITY_STALE else "")
        rows.append((plan.resource_ids[start], plan.meter_point_ids[start], *cells.values()))
    return rows


async def _collect(runtime: Any, vens: list[str], ticks: int, interval: float, start_index: int | None,
                   as_json: bool) -> None:
    import numpy as np

    from venclient.cli.output import console, print_json, print_wide, table
    from venclient.clock import Clock
    from venclient.engine.collect import Collector
    from venclient.model import LOAD_COMPONENTS, QUALITY_OK

    documents: list[dict[str, Any]] = []
    async with Collector.from_runtime(runtime, vens=vens) as collector:
        timeline = collector.timeline()
        clock = Clock.from_settings(runtime.settings, timeline, start_index=start_index or 0)
        for number in range(ticks):
            if number:
                if interval:
                    await asyncio.sleep(interval)
                clock.increase_time()
            tick = clock.tick
            readings = await collector.collect(tick)
            if as_json:
                documents.append(readings_json(collector, readings, vens))
                continue
            for ven in vens:
                if collector.plan.ven_slice(ven).stop == collector.plan.ven_slice(ven).start:
                    console(stderr=True).print(f"{ven} has no APPROVED resources with loads to collect.")
                    continue
                ok = int(np.count_nonzero(readings.quality[collector.plan.ven_slice(ven)] == QUALITY_OK))
                print_wide(table(
                    f"{ven} — tick {tick.index} at {tick.time.isoformat()} ({clock.mode}), {ok:,} values",
                    ["resource_id", "meter point", *LOAD_COMPONENTS], readings_rows(collector, readings, ven)))
    if as_json:
        print_json(documents[0] if ticks == 1 else documents)


def add_commands(app: typer.Typer) -> None:
    """Add ``ven collect`` to the root app."""

    @app.command("collect")
    def collect_cmd(
        ctx: typer.Context,
        ven: list[str] = typer.Option(..., "--ven", help="The VEN to collect (repeat for several)."),
        ticks: int = typer.Option(1, "--ticks", min=1, max=100_000, help="How many ticks to collect."),
        interval: float = typer.Option(0.0, "--interval", min=0.0,
                                       help="Seconds to wait between ticks (0: replay as fast as possible)."),
        start_index: Optional[int] = typer.Option(None, "--index", min=0,
                                                  help="Replay: the data row of the first tick (default 0)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON: one object {resource_id: {meter_point_id, "
                                                           "readings}} for one tick; a list of such objects, one "
                                                           "per tick, for --ticks N > 1."),
    ) -> None:
        """Readings of every APPROVED resource of the VENs at the current tick (the seeds' collect_next_metering).

        Values missing for a tick (unknown meter, late source) are left out of the JSON; stale values (a
        file reader whose newest reading is too old) are left out of the JSON and marked ~ in the table.
        """
        runtime = ctx.obj
        known = set(runtime.store().get_ven_list())
        unknown = [v for v in ven if v not in known]
        if unknown:
            sample = ", ".join(sorted(known)[:8]) + (" …" if len(known) > 8 else "")
            raise InputError(f"Unknown VEN {unknown[0]!r}" + (f"; known VENs: {sample}." if known else
                                                              "; the store has no resources yet."))
        asyncio.run(_collect(runtime, list(dict.fromkeys(ven)), ticks, interval, start_index, as_json))
