"""What the demo shows at its end, from the reports the local VTN received during the run: the fleet's usage per
tick as a chart in the terminal (plotext, the event window marked) and the energy before, during and after the
demand-response event per VEN.

Each report resource carries its tick in ``intervalPeriod.start``; its ``USAGE`` values are kWh (the demo's
metering event asks for KWH).  Pure functions of the reports, so tests check the numbers without a terminal.
"""

from __future__ import annotations

import shutil
import sys
from datetime import datetime
from typing import Iterable, Mapping, TextIO

from venclient.plugins.demo.dr_event import SHED_LEVELS, ShedWindow

PHASES = ("before", "during", "after")
MIN_CHART_COLUMNS = 60  # narrower than this (or not a terminal): one plain line instead of the chart
CHART_HEIGHT = 18

#: per VEN, kWh per tick time
UsageSeries = dict[str, dict[datetime, float]]


def usage_series(reports_by_ven: Mapping[str, Iterable]) -> UsageSeries:
    """Per VEN, the ``USAGE`` kWh of all its resources per tick (a resource's ``intervalPeriod.start``)."""
    series: UsageSeries = {}
    for ven, reports in reports_by_ven.items():
        per_tick = series.setdefault(ven, {})
        for report in reports:
            for resource in report.resources:
                start = resource.interval_period.start if resource.interval_period else None
                if start is None:
                    continue
                for interval in resource.intervals:
                    for payload in interval.payloads:
                        if payload.type == "USAGE":
                            energy = sum(v for v in payload.values if isinstance(v, (int, float)))
                            per_tick[start] = per_tick.get(start, 0.0) + energy
    return series


def energy_columns() -> list[str]:
    """The energy table's columns: before, one per interval (its SIMPLE level), during (their sum), after."""
    return ["VEN", "before", *(f"SIMPLE {level}" for level in SHED_LEVELS), "during", "after"]


def energy_by_phase(series: UsageSeries, window: ShedWindow) -> dict[str, dict[str, float]]:
    """Per VEN, kWh ``before``, ``during`` and ``after`` the event window, and per interval (keys 0, 1, 2)."""
    totals: dict[str, dict] = {}
    for ven, per_tick in series.items():
        phases = totals.setdefault(ven, {**dict.fromkeys(PHASES, 0.0), **dict.fromkeys(range(len(SHED_LEVELS)), 0.0)})
        for moment, energy in per_tick.items():
            phases[window.phase(moment)] += energy
            interval = window.interval(moment)
            if interval is not None:
                phases[interval] += energy
    return totals


def energy_rows(series: UsageSeries, window: ShedWindow, targeted: str) -> list[tuple]:
    """The energy table's rows (:func:`energy_columns`): per VEN (marked when targeted) the kWh, then the ticks
    each column covers."""
    keys = ["before", *range(len(SHED_LEVELS)), "during", "after"]
    ticks = {key: 0 for key in keys}
    for moment in {m for per_tick in series.values() for m in per_tick}:
        ticks[window.phase(moment)] += 1
        if window.interval(moment) is not None:
            ticks[window.interval(moment)] += 1
    rows: list[tuple] = []
    for ven, phases in energy_by_phase(series, window).items():
        rows.append((f"{ven} (event)" if ven == targeted else ven, *(round(phases[key], 3) for key in keys)))
    rows.append(("ticks", *(ticks[key] for key in keys)))
    return rows


def fleet_usage(series: UsageSeries) -> tuple[list[datetime], list[float]]:
    """The whole fleet's kWh per tick, in time order."""
    total: dict[datetime, float] = {}
    for per_tick in series.values():
        for moment, energy in per_tick.items():
            total[moment] = total.get(moment, 0.0) + energy
    times = sorted(total)
    return times, [total[t] for t in times]


def usage_chart(series: UsageSeries, window: ShedWindow, width: int, height: int = CHART_HEIGHT) -> str:
    """The chart as text: the fleet's and each VEN's kWh per tick (hours from the first tick), the event's start,
    interval boundaries and end as vertical lines."""
    import plotext as plt  # loads with the chart only

    times, fleet = fleet_usage(series)
    origin = times[0]

    def hours(moment: datetime) -> float:
        return (moment - origin).total_seconds() / 3600.0

    plt.clear_figure()
    plt.plotsize(width, height)
    plt.plot([hours(t) for t in times], fleet, label="fleet", marker="braille")
    for ven, per_tick in sorted(series.items()):
        moments = sorted(per_tick)
        plt.plot([hours(t) for t in moments], [per_tick[t] for t in moments], label=ven, marker="braille")
    step = window.step.total_seconds() / 3600.0
    for n in range(4):
        plt.vertical_line(hours(window.start) + n * step, color="red")
    plt.title("Fleet usage, kWh per tick (red lines: the event's intervals)")
    plt.xlabel(f"hours from {origin:%Y-%m-%d %H:%M} UTC")
    text = plt.build()
    plt.clear_figure()
    return text


def plain_usage_line(series: UsageSeries, window: ShedWindow) -> str:
    """One line instead of the chart: the fleet's mean kWh per tick before, during and after the event."""
    times, fleet = fleet_usage(series)
    means = []
    for phase in PHASES:
        values = [e for t, e in zip(times, fleet) if window.phase(t) == phase]
        means.append(f"{phase} {sum(values) / len(values):.3f}" if values else f"{phase} –")
    return (f"Fleet usage, mean kWh per tick (event {window.start:%Y-%m-%d %H:%M}–{window.end:%Y-%m-%d %H:%M} "
            f"UTC): " + ", ".join(means))


def show_usage(series: UsageSeries, window: ShedWindow, out: TextIO | None = None) -> str:
    """Print the chart when ``out`` (stdout) is a terminal at least :data:`MIN_CHART_COLUMNS` wide, else the plain
    line; returns what was printed."""
    out = out or sys.stdout
    columns = shutil.get_terminal_size((0, 0)).columns
    wide = bool(getattr(out, "isatty", lambda: False)()) and columns >= MIN_CHART_COLUMNS
    text = usage_chart(series, window, width=min(columns, 160)) if wide and any(series.values()) else \
        plain_usage_line(series, window)
    print(text, file=out)
    return text
