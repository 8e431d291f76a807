"""The history baseline method (venclient.engine.baseline): the mean power of the same UTC clock hour on the last
10 days without events, at least 3 days, else no baseline."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest

from venclient.engine.baseline import (DAY, HOUR, BaselineMethod, baselines_by_load, history_rows, history_window,
                                       hour_start, same_hour_baseline)

import numpy as np

AT = datetime(2024, 3, 20, 14, 25, tzinfo=timezone.utc).timestamp()  # 14:25 UTC: the 14:00 hour
HOUR_14 = hour_start(AT)


def day_rows(watts_by_day: dict[int, float], *, hour: int = HOUR_14, seconds: float = HOUR,
             events: set[int] = frozenset()) -> list[tuple[int, float, float, bool]]:
    """One row per ``days back: watts`` at the same hour (energy = watts over ``seconds``), event days flagged."""
    return [(hour - back * DAY, watts * seconds / HOUR, seconds, back in events)
            for back, watts in watts_by_day.items()]


def test_ten_event_free_days_give_their_mean():
    watts = {back: 100.0 + 10 * back for back in range(1, 11)}
    value = same_hour_baseline(AT, day_rows(watts))
    assert value.watts == pytest.approx(sum(watts.values()) / 10)
    assert value.hours == tuple(HOUR_14 - back * DAY for back in range(1, 11))  # newest first


def test_event_days_are_skipped_whole_and_older_days_take_their_place():
    watts = {back: 100.0 * back for back in range(1, 13)}
    rows = day_rows(watts)
    # an event at another hour of day 2 and in the same hour of day 5: both days are left out
    rows.append((HOUR_14 - 2 * DAY + 3 * HOUR, 0.0, 0.0, True))
    rows = [(h, e, s, ev or h == HOUR_14 - 5 * DAY) for h, e, s, ev in rows]
    value = same_hour_baseline(AT, rows)
    used = [1, 3, 4, 6, 7, 8, 9, 10, 11, 12]
    assert value.days == 10 and value.hours == tuple(HOUR_14 - b * DAY for b in used)
    assert value.watts == pytest.approx(sum(100.0 * b for b in used) / 10)


def test_fewer_than_three_days_is_no_baseline():
    value = same_hour_baseline(AT, day_rows({1: 500.0, 4: 700.0}))
    assert math.isnan(value.watts) and value.days == 2
    assert math.isnan(same_hour_baseline(AT, []).watts)
    # three event-free days are enough
    assert same_hour_baseline(AT, day_rows({1: 500.0, 4: 700.0, 6: 900.0})).watts == pytest.approx(700.0)


def test_twelve_days_use_only_the_last_ten():
    watts = {back: float(back) for back in range(1, 13)}
    value = same_hour_baseline(AT, day_rows(watts))
    assert value.days == 10 and value.watts == pytest.approx(sum(range(1, 11)) / 10)


def test_other_hours_today_and_short_hours_do_not_count():
    rows = day_rows({back: 100.0 for back in range(1, 5)})
    rows += day_rows({back: 9000.0 for back in range(1, 5)}, hour=HOUR_14 + HOUR)  # the 15:00 hour
    rows.append((HOUR_14, 5000.0, HOUR, False))                                    # today's own hour
    rows += day_rows({5: 4000.0}, seconds=HOUR / 4)                                # read a quarter of the hour
    value = same_hour_baseline(AT, rows)
    assert value.watts == pytest.approx(100.0) and value.days == 4
    # with a coverage of a quarter the short hour counts, by its mean power over the seconds read
    loose = same_hour_baseline(AT, rows, BaselineMethod(min_coverage=0.25))
    assert loose.days == 5 and loose.watts == pytest.approx((4 * 100.0 + 4000.0) / 5)


def test_method_parameters_are_honoured():
    rows = day_rows({back: float(back) for back in range(1, 8)})
    assert same_hour_baseline(AT, rows, BaselineMethod(days=3)).watts == pytest.approx(2.0)
    assert math.isnan(same_hour_baseline(AT, rows, BaselineMethod(min_days=8)).watts)


def test_by_load_groups_rows_and_gives_nan_to_loads_without_history():
    rows = [("a", h, e, s, ev) for h, e, s, ev in day_rows({1: 10.0, 2: 20.0, 3: 30.0})]
    rows += [("b", h, e, s, ev) for h, e, s, ev in day_rows({1: 1.0, 2: 1.0})]
    values = baselines_by_load(AT, rows, ["a", "b", "c"])
    assert values["a"].watts == pytest.approx(20.0)
    assert math.isnan(values["b"].watts) and math.isnan(values["c"].watts)


def test_window_ends_before_the_day_of_the_target():
    since, until = history_window(AT, BaselineMethod(history_days=14))
    assert until == HOUR_14 - 14 * HOUR and since == until - 14 * DAY


def test_tick_rows_count_read_loads_and_flag_controlled_ones():
    ids = np.array(["a", "b", "c", "d"], dtype=object)
    power = np.array([1000.0, np.nan, 500.0, 200.0])
    ok = np.array([True, False, True, False])
    controlled = np.array([False, True, True, False])
    rows = history_rows(ids, power, ok, controlled, HOUR_14, 900.0)
    assert rows == [("a", HOUR_14, 250.0, 900.0, 0), ("b", HOUR_14, 0.0, 0.0, 1), ("c", HOUR_14, 125.0, 900.0, 1)]


def test_settings_give_the_method_and_refuse_more_min_days_than_days(tmp_path):
    from venclient.errors import SettingsError
    from venclient.testing import make_settings

    method = BaselineMethod.from_settings(make_settings(tmp_path, baseline={"days": 5, "min_days": 2}))
    assert (method.days, method.min_days, method.min_coverage, method.history_days) == (5, 2, 0.5, 14)
    with pytest.raises(SettingsError, match=r"baseline.min_days \(6\) is above baseline.days \(5\)"):
        BaselineMethod.from_settings(make_settings(tmp_path, baseline={"days": 5, "min_days": 6}))
