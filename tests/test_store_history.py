"""Hourly load history in the store (SQLite, and PostgreSQL when VEN_TEST_POSTGRES_URL is set): added hours sum,
the event flag sticks, rows go in the tick's transaction, survive a reopen and are pruned by age."""

from __future__ import annotations

import pytest

from venclient.engine.baseline import DAY, HOUR, HistoryWrite
from venclient.errors import InputError
from venclient.plugins.sqlite_store.store import SqlResourceStore
from venclient.protocols import HistoryRecords

H0 = 1_710_000_000 // HOUR * HOUR


def row(load_id: str, hour: int, energy: float, seconds: float, event: int = 0) -> dict:
    return {"load_id": load_id, "hour_start": hour, "energy_wh": energy, "seconds": seconds, "event": event}


def test_added_hours_sum_and_the_event_flag_sticks(any_store):
    assert isinstance(any_store, HistoryRecords)
    any_store.history_add([row("a", H0, 100.0, 900.0), row("b", H0, 5.0, 900.0)])
    any_store.history_add([row("a", H0, 50.0, 900.0, event=1), row("a", H0 + HOUR, 1.0, 10.0)])
    any_store.history_add([row("a", H0, 25.0, 900.0, event=0)])
    assert any_store.history_read(["a", "b"], H0, H0 + 2 * HOUR) == [
        ("a", H0, 175.0, 2700.0, True), ("a", H0 + HOUR, 1.0, 10.0, False), ("b", H0, 5.0, 900.0, False)]
    assert any_store.history_read(["a"], H0 + HOUR, H0 + 2 * HOUR) == [("a", H0 + HOUR, 1.0, 10.0, False)]
    assert any_store.history_read(["nobody"], 0, H0 * 2) == []


def test_a_bad_row_changes_nothing(any_store):
    any_store.history_add([row("a", H0, 1.0, 1.0)])
    for bad, says in ((row("a", H0 + 5, 1.0, 1.0), "not the start of a UTC hour"),
                      ({"load_id": "a", "hour_start": H0}, "lacks energy_wh"),
                      (row("a", H0, "lots", 1.0), "wrong type"),
                      (row("a", H0, 1.0, -1.0), "seconds must be 0 or more")):
        with pytest.raises(InputError, match=says):
            any_store.history_add([row("b", H0, 1.0, 1.0), bad])
    assert any_store.history_read(["a", "b"], 0, H0 * 2) == [("a", H0, 1.0, 1.0, False)]


def test_prune_deletes_only_older_hours(any_store):
    any_store.history_add([row("a", H0 - 15 * DAY, 1.0, 1.0), row("a", H0 - 14 * DAY, 2.0, 1.0),
                           row("b", H0 - 20 * DAY, 3.0, 1.0), row("a", H0, 4.0, 1.0)])
    any_store.history_add([], prune_before=H0 - 14 * DAY)
    assert any_store.history_read(["a", "b"], 0, H0 * 2) == [("a", H0 - 14 * DAY, 2.0, 1.0, False),
                                                             ("a", H0, 4.0, 1.0, False)]


def test_tick_writes_carry_history_in_their_transaction(any_store):
    write = HistoryWrite([("a", H0, 10.0, 15.0, 0)])
    any_store.outbox_add([], {"clock.replay_row": "3"}, history=write)
    any_store.backlog_add([], {"clock.replay_row": "4"}, history=HistoryWrite([("a", H0, 10.0, 15.0, 1)],
                                                                              prune_before=H0))
    assert any_store.history_read(["a"], H0, H0 + HOUR) == [("a", H0, 20.0, 30.0, True)]
    assert any_store.get_state("clock.replay_row") == "4"
    # a tick the store refuses stores none of its history
    bad = {"ven": None, "program_id": "p", "event_id": "e", "tick_ms": 0, "payload": "{}"}  # ven is NOT NULL
    with pytest.raises(Exception):
        any_store.outbox_add([bad], {"clock.replay_row": "5"}, history=HistoryWrite([("a", H0, 99.0, 15.0, 0)]))
    assert any_store.history_read(["a"], H0, H0 + HOUR) == [("a", H0, 20.0, 30.0, True)]
    assert any_store.get_state("clock.replay_row") == "4"


def test_history_survives_reopening_the_store(tmp_path):
    url = f"sqlite:///{tmp_path / 'resources.db'}"
    store = SqlResourceStore(url)
    store.history_add([row("a", H0, 7.0, 3600.0)])
    store.close()
    again = SqlResourceStore(url)
    try:
        assert again.history_read(["a"], H0, H0 + HOUR) == [("a", H0, 7.0, 3600.0, False)]
    finally:
        again.close()


def test_reading_one_hour_of_day_keeps_that_hour_and_the_event_hours(any_store):
    any_store.history_add([row("a", H0 - DAY, 1.0, 1.0), row("a", H0 - DAY + HOUR, 2.0, 1.0),
                           row("a", H0 - 2 * DAY + 5 * HOUR, 0.0, 0.0, event=1), row("a", H0 - 2 * DAY, 3.0, 1.0)])
    assert any_store.history_read(["a"], 0, H0, hour_of_day=H0 % DAY) == [
        ("a", H0 - 2 * DAY, 3.0, 1.0, False), ("a", H0 - 2 * DAY + 5 * HOUR, 0.0, 0.0, True),
        ("a", H0 - DAY, 1.0, 1.0, False)]


def test_history_baseline_reads_once_per_hour_and_fills_only_what_no_source_gave(any_store):
    import numpy as np

    from venclient.engine.baseline import BaselineMethod, HistoryBaseline

    any_store.history_add([row(load_id, H0 - back * DAY, watts * back, 3600.0)
                           for load_id, watts in (("a", 100.0), ("b", 10.0)) for back in range(1, 4)])
    ids = np.array(["a", "b", "c"], dtype=object)
    history = HistoryBaseline(any_store, BaselineMethod())
    assert history.stale(H0 + 60, ids)
    assert history.refresh(H0 + 60, ids)[:2].tolist() == [200.0, 20.0]
    assert not history.stale(H0 + 3599, ids)              # the same hour: no store read
    assert history.stale(H0 + HOUR, ids)                  # the next hour
    assert history.stale(H0 + 60, ids.copy())             # other loads (a new plan)
    # positions 4, 1, 2 of a 5-load plan; position 4 already has a source baseline
    source = np.array([np.nan, np.nan, np.nan, 7.0, 5.0])
    filled = history.fill(source.copy(), np.array([4, 1, 2]), 5)
    assert np.isnan(filled[0]) and filled[1] == 20.0 and np.isnan(filled[2]) and filled[3] == 7.0 and filled[4] == 5.0
    made = history.fill(None, np.array([0, 1, 2]), 3)
    assert made[:2].tolist() == [200.0, 20.0] and np.isnan(made[2])
    # the tick's write prunes once per hour, after the store took it
    write = history.write(H0 + 60, 15.0, ids, np.array([1.0, 2.0, np.nan]), np.array([True, True, False]),
                          np.zeros(3, dtype=bool))
    assert write.prune_before == H0 - 14 * DAY and len(write.rows) == 2
    history.written(write, H0 + 60)
    again = history.write(H0 + 75, 15.0, ids, np.ones(3), np.ones(3, dtype=bool), np.zeros(3, dtype=bool))
    assert again.prune_before is None
