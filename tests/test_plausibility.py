"""Plausibility bounds for readings: from a connection's limits, a resource's capacities, or a wide fallback."""

from __future__ import annotations

import numpy as np
import pytest

from venclient.plausibility import (DEFAULT_MARGIN, FALLBACK_LIMIT_W, MIN_SPAN_W, StreakWarnings, implausible,
                                    load_bounds)


def test_capacities_in_kw_give_bounds_in_watts_with_the_margin():
    low, high = load_bounds({"MAX_POWER_CONSUMPTION": 20.0, "MAX_POWER_EXPORT": 4.0})
    assert (low, high) == (-4000.0 * DEFAULT_MARGIN, 20000.0 * DEFAULT_MARGIN)


def test_zero_export_still_allows_a_small_negative_trickle():
    low, high = load_bounds({"MAX_POWER_CONSUMPTION": 5, "MAX_POWER_EXPORT": 0})
    assert low == -MIN_SPAN_W and high == 7500.0


def test_connection_limits_win_over_capacities():
    assert load_bounds({"MAX_POWER_CONSUMPTION": 5}, {"max_watts": 900, "min_watts": -50}) == (-50.0, 900.0)
    assert load_bounds({}, {"max_watts": "900"}) == (-FALLBACK_LIMIT_W, 900.0)


@pytest.mark.parametrize("capacities", [None, {}, {"MAX_POWER_CONSUMPTION": "lots"},
                                        {"MAX_POWER_CONSUMPTION": float("nan")}])
def test_unknown_capacities_fall_back_to_the_wide_limit(capacities):
    assert load_bounds(capacities) == (-FALLBACK_LIMIT_W, FALLBACK_LIMIT_W)


def test_the_mask_flags_absurd_and_infinite_values_but_not_missing_ones():
    values = np.array([-1e308, 12.0, np.nan, np.inf, -np.inf, 30001.0, -6001.0, 0.0])
    low = np.full(len(values), -6000.0)
    high = np.full(len(values), 30000.0)
    assert implausible(values, low, high).tolist() == [True, False, False, True, True, True, True, False]


def test_streaks_warn_once_until_the_connection_reads_well_again():
    streaks = StreakWarnings()
    assert streaks.update({1, 2}, {1, 2, 3}) == {1, 2}
    assert streaks.update({1, 2}, {1, 2, 3}) == set()
    assert streaks.update({2}, {1, 2, 3}) == set()  # 1 recovered
    assert streaks.update({1}, {1, 2, 3}) == {1}  # 1's new streak; 2 recovered
    assert streaks.update({2}, {2}) == {2}
