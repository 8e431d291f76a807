"""The store's outbox methods: ``maybe_delivered`` bookkeeping, and requeue / drop of rejected reports, all or
nothing (on SQLite, and on PostgreSQL when configured)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from venclient.errors import InputError
from venclient.runtime import Runtime
from fixtures.core import make_settings


def add(store, vens: list[str]) -> list[int]:
    return store.outbox_add({"ven": ven, "program_id": "p", "event_id": "e", "tick_ms": i,
                             "payload": json.dumps({"reportName": f"{ven}:{i}"})} for i, ven in enumerate(vens))


def by_id(store) -> dict[int, dict]:
    return {r["id"]: r for r in store.outbox_list()}


def test_maybe_delivered_follows_the_attempts(any_store):
    [row] = add(any_store, ["Aalborg"])
    any_store.outbox_mark_attempt(row)
    assert by_id(any_store)[row]["maybe_delivered"] == 1  # a crash now leaves it in doubt
    any_store.outbox_retry_later(row, "connection refused", 10.0, maybe_delivered=False)
    assert by_id(any_store)[row]["maybe_delivered"] == 0 and by_id(any_store)[row]["next_attempt_at"] == 10.0
    any_store.outbox_mark_attempt(row)
    any_store.outbox_retry_later(row, "timed out", 20.0)
    assert by_id(any_store)[row]["maybe_delivered"] == 1 and by_id(any_store)[row]["attempts"] == 2
    any_store.outbox_reject(row, "400 bad")
    assert by_id(any_store)[row]["maybe_delivered"] == 0 and by_id(any_store)[row]["state"] == "rejected"


def test_requeue_and_drop_are_all_or_nothing(any_store):
    rows = add(any_store, ["Aalborg", "Aalborg", "Herning", "Herning"])
    for row in rows[:3]:
        any_store.outbox_mark_attempt(row)
        any_store.outbox_reject(row, "400 bad")
    with pytest.raises(InputError, match=f"Outbox report {rows[3]} is pending"):
        any_store.outbox_requeue(ids=[rows[0], rows[3]])
    with pytest.raises(InputError, match="No report with outbox id 12345"):
        any_store.outbox_drop(ids=[rows[0], 12345])
    with pytest.raises(InputError, match="Unknown VEN 'Skagen'"):
        any_store.outbox_drop(ven="Skagen")
    with pytest.raises(InputError, match="not both"):
        any_store.outbox_select_rejected(ids=[rows[0]], ven="Aalborg")
    assert any_store.outbox_counts() == {"pending": 1, "rejected": 3}
    assert [r["id"] for r in any_store.outbox_select_rejected(ven="Aalborg")] == rows[:2]
    assert any_store.outbox_requeue(ids=[], ven=None) == []
    assert any_store.outbox_requeue(ven="Aalborg", now=42.0) == rows[:2]
    current = by_id(any_store)
    assert [(current[r]["state"], current[r]["attempts"], current[r]["next_attempt_at"]) for r in rows[:2]] == \
        [("pending", 1, 42.0), ("pending", 1, 42.0)]
    assert any_store.outbox_drop() == [rows[2]]
    assert sorted(by_id(any_store)) == [rows[0], rows[1], rows[3]]
    assert any_store.outbox_drop(ven="Herning") == []  # a known VEN without rejected reports


def test_an_older_outbox_gets_the_column_and_stays_on_the_safe_side(tmp_path):
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.executescript("""
        CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, ven TEXT NOT NULL, program_id TEXT,
            event_id TEXT, tick_ms BIGINT, payload TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, next_attempt_at FLOAT NOT NULL DEFAULT 0,
            created_at DATETIME DEFAULT CURRENT_TIMESTAMP);
        INSERT INTO outbox (ven, payload, attempts) VALUES ('Aalborg', '{"reportName": "a"}', 1);
    """)
    conn.commit()
    conn.close()
    runtime = Runtime.create(make_settings(tmp_path, database_url=f"sqlite:///{db}"))
    try:
        store = runtime.store()
        assert "added column outbox.maybe_delivered" in store.migrations
        [row] = store.outbox_list()
        assert row["maybe_delivered"] == 1  # an attempt of an older version may have arrived: it is looked up
    finally:
        runtime.close()
