"""The backlog codec: a tick's readings as one row of bytes per VEN, read back onto the collector's plan — the
same plan gives the same arrays; a plan whose loads changed gets the values of the loads it still has."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np

from venclient.engine.backlog import ReadingsBacklog
from venclient.clock import Tick
from venclient.engine.collect import _build_plan
from venclient.model import QUALITY_MISSING, QUALITY_OK, QUALITY_STALE, CollectionRow, Readings

SERVED = {"h5sim": object()}


def plan_of(loads: list[tuple[str, str, str]]):
    """A plan from ``(ven, resource_id, component)`` triples (load id = ``{resource}-{component}``)."""
    rows = [CollectionRow(f"{r}-{c}", r, c, "m1", None, "mp", ven, f"vtn-{r}-{c}", "h5sim") for ven, r, c in loads]
    return _build_plan([rows], lambda ids: {}, SERVED)


def readings_for(plan, power, quality) -> Readings:
    return Readings(timestamp_ms=1_736_946_000_000, load_ids=plan.load_ids, resource_ids=plan.resource_ids,
                    components=plan.components, power_w=np.array(power, dtype=float),
                    quality=np.array(quality, dtype=np.uint8))


TICK = Tick(7, datetime(2025, 1, 15, 13, 0, tzinfo=timezone.utc))


def with_ids(rows: list[dict]) -> list[dict]:
    return [{**row, "id": n, "tick_no": 1} for n, row in enumerate(rows)]


def test_a_tick_round_trips_on_the_same_plan():
    plan = plan_of([("A", "r1", "load_0"), ("A", "r1", "load_1"), ("B", "r2", "load_0")])
    readings = readings_for(plan, [1.5, np.nan, 3.25], [QUALITY_OK, QUALITY_MISSING, QUALITY_STALE])
    codec = ReadingsBacklog()
    rows = codec.rows(TICK, readings, plan)
    assert [row["ven"] for row in rows] == ["A", "B"]
    assert len(rows[0]["power"]) == 2 * 8 and len(rows[0]["quality"]) == 2  # 9 bytes per load, no row per load
    assert rows[0]["load_ids"] == "r1-load_0\nr1-load_1" and rows[0]["digest"] != rows[1]["digest"]
    (kept,) = list(codec.ticks(with_ids(rows), plan))
    assert kept.tick == TICK and kept.row_ids == [0, 1]
    np.testing.assert_array_equal(kept.readings.power_w, readings.power_w)
    np.testing.assert_array_equal(kept.readings.quality, readings.quality)


def test_a_tick_read_back_onto_a_changed_plan_keeps_the_loads_it_still_has():
    old = plan_of([("A", "r1", "load_0"), ("A", "r1", "load_1"), ("A", "r2", "load_0")])
    readings = readings_for(old, [10.0, 20.0, 30.0], [QUALITY_OK] * 3)
    codec = ReadingsBacklog()
    rows = with_ids(codec.rows(TICK, readings, old))
    new = plan_of([("A", "r1", "load_1"), ("A", "r3", "load_0"), ("A", "r2", "load_0")])  # r1-load_0 gone, r3 new
    (kept,) = list(ReadingsBacklog().ticks(rows, new))
    assert kept.readings.power_w[0] == 20.0 and kept.readings.power_w[2] == 30.0
    assert np.isnan(kept.readings.power_w[1]) and kept.readings.quality[1] == QUALITY_MISSING


def test_only_the_vens_asked_for_are_kept_and_ticks_are_grouped_by_number():
    plan = plan_of([("A", "r1", "load_0"), ("B", "r2", "load_0")])
    codec = ReadingsBacklog()
    first = codec.rows(TICK, readings_for(plan, [1.0, 2.0], [0, 0]), plan, vens=["B"])
    assert [row["ven"] for row in first] == ["B"]
    second = codec.rows(Tick(8, TICK.time), readings_for(plan, [3.0, 4.0], [0, 0]), plan)
    rows = [{**first[0], "id": 1, "tick_no": 1}] + [{**row, "id": 2 + n, "tick_no": 2} for n, row in enumerate(second)]
    ticks = list(codec.ticks(rows, plan))
    assert [t.tick.index for t in ticks] == [7, 8] and [t.row_ids for t in ticks] == [[1], [2, 3]]
    assert np.isnan(ticks[0].readings.power_w[0]) and ticks[0].readings.power_w[1] == 2.0
