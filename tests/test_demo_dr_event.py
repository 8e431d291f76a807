"""``ven demo`` adds a demand-response event (SIMPLE 1, 2, 0 for one VEN in the middle of its replay window), the
simulated fleet responds, and the demo ends with a usage chart (a plain line without a terminal) and a table of the
energy before / during / after the event per VEN whose numbers add up to what the VTN received."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta, timezone

from fixtures.vtn import run_ven
from venclient.engine.timeline import event_timeline
from venclient.plugins.demo.dr_event import ShedWindow, replay_tick_times, shed_event, shed_window
from venclient.plugins.demo.usage import energy_rows, show_usage, usage_chart

HOUR = timedelta(hours=1)
T0 = datetime(2025, 1, 15, 13, tzinfo=timezone.utc)


def hourly(n: int, start: datetime = T0) -> list[datetime]:
    return [start + k * HOUR for k in range(n)]


def test_the_window_is_the_middle_third_of_the_run_in_three_equal_intervals():
    window = shed_window(hourly(36))
    assert (window.start, window.step, window.end) == (T0 + 12 * HOUR, 4 * HOUR, T0 + 24 * HOUR)
    assert [window.phase(t) for t in (T0, T0 + 12 * HOUR, T0 + 23 * HOUR, T0 + 24 * HOUR)] == \
        ["before", "during", "during", "after"]
    assert [window.interval(T0 + k * HOUR) for k in (11, 12, 16, 20, 23, 24)] == [None, 0, 1, 2, 2, None]
    small = shed_window(hourly(3))
    assert (small.start, small.step) == (T0 + HOUR, HOUR)  # at least one tick per interval
    timeline = [t.timestamp() for t in hourly(10)]
    assert replay_tick_times(timeline, 8, 4) == [T0 + 8 * HOUR, T0 + 9 * HOUR, T0, T0 + HOUR]
    assert shed_window(replay_tick_times(timeline, 8, 4)) is None  # the replay wraps: no event


def test_the_event_asks_one_ven_for_simple_one_two_zero():
    event = shed_event("p1", ShedWindow(T0, 2 * HOUR), "Aalborg")
    assert [i.payloads[0].values for i in event.intervals] == [[1], [2], [0]]
    assert event.targets[0].type == "VEN_NAME" and event.targets[0].values == ["Aalborg"]
    slots = event_timeline(event, received=T0 - HOUR).slots  # as the scheduler plans it
    assert [(s.start, s.end, s.values) for s in slots] == [(T0, T0 + 2 * HOUR, (1,)),
                                                           (T0 + 2 * HOUR, T0 + 4 * HOUR, (2,)),
                                                           (T0 + 4 * HOUR, T0 + 6 * HOUR, (0,))]


def test_the_chart_renders_without_a_terminal_and_the_plain_line_stands_in_for_it():
    window = ShedWindow(T0 + 3 * HOUR, HOUR)
    series = {"A": {t: 1.0 + (0.5 if window.phase(t) == "during" else 0.0) for t in hourly(9)},
              "B": {t: 2.0 for t in hourly(9)}}
    chart = re.sub(r"\x1b\[[0-9;]*m", "", usage_chart(series, window, width=100, height=15))  # no colours
    lines = chart.splitlines()
    assert len(lines) >= 10 and "Fleet usage" in chart and "hours from 2025-01-15 13:00 UTC" in chart
    printed = show_usage(series, window, out=io.StringIO())  # not a terminal: one plain line
    assert printed.count("\n") == 0 and "before 3.000, during 3.500, after 3.000" in printed
    rows = energy_rows(series, window, "A")
    assert rows[0] == ("A (event)", 3.0, 1.5, 1.5, 1.5, 4.5, 3.0) and rows[-1] == ("ticks", 3, 1, 1, 1, 3, 3)


def table_rows(stdout: str, title: str) -> dict[str, list[float]]:
    """The rows of a printed table (first cell → the numbers), from the line with ``title`` to the table's end."""
    lines = stdout.splitlines()
    start = next(n for n, line in enumerate(lines) if title in line)
    rows: dict[str, list[float]] = {}
    for line in lines[start:]:
        if line.startswith("└"):
            break
        cells = [c.strip() for c in line.strip("│┃").split("│")]
        if len(cells) > 1 and cells[0] and all(re.fullmatch(r"[\d,]+(?:\.\d+)?", c) for c in cells[1:]):
            rows[cells[0]] = [float(c.replace(",", "")) for c in cells[1:]]
    return rows


def test_the_demo_sheds_for_the_targeted_ven_and_its_energy_table_adds_up(tmp_path):
    config = tmp_path / "config"
    env = {"VEN_DATABASE_URL": f"sqlite:///{config / 'resources.db'}",
           "VEN_H5_PATH": str(config / "examplemeterdata" / "load_data.h5"), "COLUMNS": "160"}
    done = run_ven("demo", "--ticks", "18", "--resources", "20", env=env, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    said = re.search(r"event demo-shed asks (\w+) for SIMPLE 1, 2, 0", done.stdout)
    assert said, done.stdout
    targeted = said.group(1)
    assert "Fleet usage, mean kWh per tick" in done.stdout  # stdout is no terminal: the plain line
    energy = table_rows(done.stdout, "Energy per VEN around the event")
    received = table_rows(done.stdout, "What the VTN received")
    assert energy.pop("ticks") == [6, 2, 2, 2, 6, 6]  # before | SIMPLE 1, 2, 0 | during | after
    assert {ven.removesuffix(" (event)") for ven in energy} == set(received) - {"total"}
    assert f"{targeted} (event)" in energy
    for ven, (before, one, two, zero, during, after) in energy.items():
        assert abs(during - (one + two + zero)) < 0.002, ven  # each rounded to Wh
        assert abs(before + during + after - received[ven.split()[0]][2]) < 0.003, ven  # every report counted
    target = energy.pop(f"{targeted} (event)")
    # the targeted VEN draws less under SIMPLE 2 than before, relative to every VEN the event leaves alone (the
    # same hours of the same day: the daily pattern cancels; SIMPLE 0 holds the rebound, so 'during' may not show it)
    for ven, other in energy.items():
        assert target[2] / target[0] < other[2] / other[0], (ven, target, other)
    assert target[2] / 2 < target[0] / 6  # SIMPLE 2's kWh per tick is below the hours before
