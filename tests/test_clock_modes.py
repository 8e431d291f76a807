"""The clock: replay follows the seeds (index from 0, wraps, cached length, H5 timestamps); wallclock picks
the row for the current time of year; one clock object gives every caller the same tick."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from venclient.clock import Clock, Tick
from venclient.errors import SettingsError
from fixtures.core import make_settings

START = datetime(2025, 1, 15, 13, tzinfo=timezone.utc)
HOURS = 8741
TIMELINE = START.timestamp() + 3600.0 * np.arange(HOURS)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_replay_starts_at_zero_and_reports_the_data_timestamps():
    clock = Clock(TIMELINE[:5])
    assert clock.mode == "replay" and clock.index == 0 and clock.length == 5
    assert clock.tick == Tick(0, START)
    assert clock.tick.timestamp_ms == int(START.timestamp() * 1000)
    assert clock.increase_time() == 1
    assert clock.tick.time == utc(2025, 1, 15, 14)


def test_replay_wraps_to_zero_after_the_last_row():
    clock = Clock(TIMELINE[:3])
    assert [clock.increase_time() for _ in range(7)] == [1, 2, 0, 1, 2, 0, 1]
    assert clock.tick.time == utc(2025, 1, 15, 14)
    assert clock.reset() == 0


def test_tick_is_stable_until_increase_time():
    clock = Clock(TIMELINE[:3], start_index=2)
    first = clock.tick
    assert clock.tick is first and clock.index == 2
    clock.increase_time()
    assert clock.tick != first and clock.index == 0


def test_wallclock_picks_the_same_hour_of_the_year_in_the_data():
    now = utc(2026, 3, 10, 15, 42, 7)
    clock = Clock(TIMELINE, "wallclock", now=lambda: now)
    row = clock.index
    assert datetime.fromtimestamp(TIMELINE[row], timezone.utc) == utc(2025, 3, 10, 15)
    assert clock.tick.time == now  # simulated values, reported now


def test_wallclock_early_january_maps_into_the_data_s_second_year():
    clock = Clock(TIMELINE, "wallclock", now=lambda: utc(2027, 1, 3, 8, 30))
    assert datetime.fromtimestamp(TIMELINE[clock.index], timezone.utc) == utc(2026, 1, 3, 8)


def test_wallclock_in_the_gap_takes_the_nearest_edge_and_leap_day_becomes_28_february():
    # Data ends 2026-01-14 13:00 and starts 2025-01-15 13:00: 15 January 02:00 falls between them.
    clock = Clock(TIMELINE, "wallclock", now=lambda: utc(2027, 1, 15, 2))
    assert clock.index == HOURS - 1
    leap = Clock(TIMELINE, "wallclock", now=lambda: utc(2028, 2, 29, 6))
    assert datetime.fromtimestamp(TIMELINE[leap.index], timezone.utc) == utc(2025, 2, 28, 6)


def test_wallclock_increase_time_follows_the_wall_clock():
    moments = iter([utc(2026, 5, 1, 10), utc(2026, 5, 1, 12, 5)])
    clock = Clock(TIMELINE, "wallclock", now=lambda: next(moments))
    first = clock.index
    assert clock.increase_time() == first + 2
    assert clock.tick.time == utc(2026, 5, 1, 12, 5)


def test_without_simulated_data_the_clock_is_the_wall_clock():
    now = utc(2026, 6, 1, 9)
    for mode in ("replay", "wallclock"):
        clock = Clock(None, mode, now=lambda: now)
        assert clock.length == 0 and clock.tick == Tick(0, now)
        assert clock.increase_time() == 0


def test_mode_comes_from_settings_and_is_validated(tmp_path):
    settings = make_settings(tmp_path, clock={"mode": "wallclock"})
    assert Clock.from_settings(settings, TIMELINE).mode == "wallclock"
    assert Clock.from_settings(make_settings(tmp_path), TIMELINE).mode == "replay"
    with pytest.raises(SettingsError, match="clock.mode must be replay or wallclock"):
        make_settings(tmp_path, clock={"mode": "sometimes"})
    with pytest.raises(ValueError):
        Clock(TIMELINE, "sometimes")


def test_a_timeline_that_does_not_increase_is_refused():
    with pytest.raises(ValueError, match="increasing"):
        Clock([3.0, 2.0, 1.0])
