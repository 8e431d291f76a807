"""Report plans from every timeline example of the OpenADR 3 User Guide §7.5 (and Examples 8.3-1, 8.6-1, 8.7-1).

Intervals are hourly from midnight unless said otherwise, so "end of interval 3" is 04:00.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from venclient.engine.report_plan import (OPEN_INTERVALS, SUB_INTERVALS, collapse_overdue, report_plan)
from venclient.openadr import Event

UTC = timezone.utc
DAY = datetime(2025, 3, 14, tzinfo=UTC)
RECEIVED = DAY - timedelta(days=1)


def hour(h: float) -> datetime:
    return DAY + timedelta(hours=h)


def event(intervals: int | None = 4, descriptor: dict | None = None, *, payloads: bool = True, **fields) -> Event:
    body = {"id": "e1", "programID": "p1", "reportDescriptors": [{"payloadType": "USAGE", **(descriptor or {})}],
            **fields}
    body.setdefault("intervalPeriod", {"start": DAY.isoformat(), "duration": "PT1H"})
    # None: a 'report-only' event without intervals (3.0.1 requires the list, so it is empty)
    body["intervals"] = [{"id": 100 + i, "payloads": [{"type": "PRICE", "values": [i]}] if payloads else []}
                         for i in range(intervals or 0)]
    return Event.model_validate(body)


def plan_of(e: Event, **kw):
    return report_plan(e, e.report_descriptors[0], received=RECEIVED, **kw)


def shape(plan) -> list[tuple]:
    """(due hour, covered interval ids) per report."""
    return [(None if r.due is None else (r.due - DAY) / timedelta(hours=1), r.interval_ids) for r in plan.reports]


def test_historical_reporting_with_defaults_is_one_report_at_the_end_of_the_last_interval():
    plan = plan_of(event())
    assert shape(plan) == [(4, [100, 101, 102, 103])]
    assert plan.historical and not plan.ad_hoc and not plan.endless
    assert [(s.start, s.end) for s in plan.reports[0].intervals] == [(hour(i), hour(i + 1)) for i in range(4)]


def test_example_8_3_24_hourly_prices_usage_report_after_the_24th_hour():
    e = event(24, {"readingType": "DIRECT_READ", "units": "KWH", "startInterval": -1, "numIntervals": -1,
                   "historical": True, "frequency": -1, "repeat": 1})
    assert shape(plan_of(e)) == [(24, [100 + i for i in range(24)])]


def test_forecast_reporting_is_one_report_before_the_first_interval_covering_all():
    assert shape(plan_of(event(4, {"historical": False}))) == [(0, [100, 101, 102, 103])]


def test_subset_of_intervals_start_1_num_3():
    # the anchor reading (see the module docstring): the report is generated at interval 1, covering it and
    # what precedes it, up to 3 intervals
    assert shape(plan_of(event(5, {"startInterval": 1, "numIntervals": 3}))) == [(2, [100, 101])]
    # as a forecast the same subset runs forward from the anchor: intervals 1, 2, 3
    assert shape(plan_of(event(5, {"startInterval": 1, "numIntervals": 3, "historical": False}))) == [
        (1, [101, 102, 103])]


def test_periodic_reporting_three_reports_each_after_two_intervals():
    e = event(6, {"startInterval": 1, "numIntervals": 2, "frequency": 2, "repeat": 3})
    assert shape(plan_of(e)) == [(2, [100, 101]), (4, [102, 103]), (6, [104, 105])]


def test_periodic_reporting_every_4_hours_of_24():
    e = event(24, {"startInterval": 3, "numIntervals": 4, "frequency": 4, "repeat": 6})
    assert shape(plan_of(e)) == [(4 * (k + 1), [100 + 4 * k + i for i in range(4)]) for k in range(6)]


def test_rolling_forecasts():
    e = event(5, {"startInterval": 0, "numIntervals": 3, "frequency": 1, "repeat": 3, "historical": False})
    assert shape(plan_of(e)) == [(0, [100, 101, 102]), (1, [101, 102, 103]), (2, [102, 103, 104])]


def test_repeat_beyond_the_intervals_stops_at_the_last_interval():
    e = event(4, {"startInterval": 1, "numIntervals": 2, "frequency": 2, "repeat": 5})
    assert shape(plan_of(e)) == [(2, [100, 101]), (4, [102, 103])]


def test_looping_intervals_report_each_pass_with_the_same_ids():
    e = event(3, {"repeat": -1}, duration="P9999Y")
    plan = plan_of(e, until=hour(12))
    assert shape(plan) == [(3 * (k + 1), [100, 101, 102]) for k in range(4)]
    assert plan.endless
    assert [s.loop for s in plan.reports[2].intervals] == [2, 2, 2]


def test_looping_for_a_week_with_default_repeat_is_one_report():
    assert shape(plan_of(event(24, duration="P7D"))) == [(24, [100 + i for i in range(24)])]


def test_ad_hoc_reports_are_planned_per_interval_and_flagged():
    plan = plan_of(event(3, {"frequency": 0}))
    assert plan.ad_hoc and shape(plan) == [(1, [100]), (2, [101]), (3, [102])]


def test_report_only_event_with_ven_determined_intervals_is_one_ad_hoc_report():
    e = event(None, {"frequency": 0}, intervalPeriod=None)
    plan = plan_of(e)
    assert plan.ad_hoc and plan.implied and shape(plan) == [(None, [])]


def test_example_8_6_do_it_now_report_only_event_with_open_intervals():
    e = event(None, {"payloadType": "STORAGE_CHARGE_LEVEL", "frequency": 0, "reportIntervals": "OPEN_INTERVALS"},
              intervalPeriod={"start": "0001-01-01", "duration": "PT0H"})
    plan = plan_of(e)
    assert plan.ad_hoc and plan.report_intervals == OPEN_INTERVALS and shape(plan) == [(None, [])]


def test_report_only_event_with_bl_determined_intervals_plans_like_any_event():
    assert shape(plan_of(event(3, {"frequency": 1, "repeat": 3}, payloads=False))) == [
        (1, [100]), (2, [101]), (3, [102])]


def test_example_8_7_implied_intervals_rolling_48_hour_forecast_every_hour_forever():
    e = event(None, {"payloadType": "LOAD_SHED_DELTA_AVAILABLE", "startInterval": 0, "numIntervals": 48,
                     "historical": False, "frequency": 1, "repeat": -1})
    plan = plan_of(e, until=hour(10))
    assert plan.implied and plan.endless and not plan.historical
    assert [r.due for r in plan.reports] == [hour(h) for h in range(11)]
    assert all(r.interval_ids == list(range(r.number, r.number + 48)) for r in plan.reports)
    assert plan.reports[3].intervals[0].start == hour(3) and plan.reports[3].intervals[-1].end == hour(51)


def test_continuous_metering_report_only_event_every_interval_forever():
    """Issue 14 part 7's reading of 'report every interval, forever' in spec terms."""
    e = event(None, {"frequency": 1, "repeat": -1, "numIntervals": 1},
              intervalPeriod={"start": DAY.isoformat(), "duration": "PT15S"})
    plan = plan_of(e, until=DAY + timedelta(minutes=1))
    assert [(r.due - DAY).total_seconds() for r in plan.reports] == [15, 30, 45, 60]
    assert [r.interval_ids for r in plan.reports] == [[0], [1], [2], [3]]


def test_sub_intervals_are_carried_for_the_builder():
    assert plan_of(event(2, {"reportIntervals": "SUB_INTERVALS"})).report_intervals == SUB_INTERVALS


def test_a_cancelled_event_plans_nothing():
    assert plan_of(event(2, intervalPeriod={"start": "0001-01-01", "duration": "PT0S"})).reports == ()


def test_do_it_now_reporting_sends_only_the_latest_overdue_report_at_once():
    e = event(6, {"startInterval": 1, "numIntervals": 2, "frequency": 2, "repeat": 3})
    plan = plan_of(e)
    kept = collapse_overdue(plan, obtained=hour(4.5))
    assert [(r.number, r.due, r.interval_ids) for r in kept] == [(1, hour(4.5), [102, 103]),
                                                                  (2, hour(6), [104, 105])]
    assert collapse_overdue(plan, obtained=hour(0)) == list(plan.reports)


def test_due_between_picks_the_reports_of_a_tick():
    plan = plan_of(event(6, {"frequency": 1, "repeat": -1, "numIntervals": 1}))
    assert [r.number for r in plan.due_between(hour(1), hour(3))] == [1, 2]
