"""The readings backlog in the store (SQLite, and PostgreSQL when configured): ticks kept compactly with a shared
layout, read back oldest first, and moved to the outbox in one transaction — all or nothing."""

from __future__ import annotations

import numpy as np
import pytest



def tick_rows(ven: str, tick_index: int, values: list[float], layout: str = "L1\nL2") -> dict:
    power = np.array(values, dtype="<f8")
    return {"ven": ven, "tick_index": tick_index, "tick_ms": 1_700_000_000_000 + tick_index * 1000,
            "digest": f"d-{ven}-{layout}", "load_ids": layout, "power": power.tobytes(),
            "quality": np.zeros(len(values), dtype="u1").tobytes()}


def report_item(ven: str, n: int) -> dict:
    return {"ven": ven, "program_id": "p", "event_id": "e", "tick_ms": n, "payload": f'{{"reportName":"{ven}{n}"}}'}


def test_ticks_are_kept_with_their_state_and_read_back_oldest_first(any_store):
    first = any_store.backlog_add([tick_rows("A", 5, [1.0, 2.0]), tick_rows("B", 5, [3.0, np.nan])],
                                  state={"clock.replay_row": "5"})
    second = any_store.backlog_add([tick_rows("A", 6, [4.0, 5.0])], state={"clock.replay_row": "6"})
    assert second == first + 1
    assert any_store.get_state("clock.replay_row") == "6"
    assert any_store.backlog_ticks() == 2 and any_store.backlog_ticks(["B"]) == 1
    rows = any_store.backlog_oldest(ticks=1)
    assert [(r["ven"], r["tick_index"]) for r in rows] == [("A", 5), ("B", 5)]
    assert rows[0]["load_ids"] == "L1\nL2"
    values = np.frombuffer(rows[1]["power"], dtype="<f8")
    assert values[0] == 3.0 and np.isnan(values[1])
    assert [r["tick_index"] for r in any_store.backlog_oldest(["A"], ticks=5)] == [5, 6]


def test_moving_a_tick_to_the_outbox_is_one_transaction(any_store):
    any_store.backlog_add([tick_rows("A", 1, [1.0, 2.0])])
    any_store.backlog_add([tick_rows("A", 2, [1.0, 2.0])])
    rows = any_store.backlog_oldest(ticks=1)
    broken = [report_item("A", 1), {"ven": "A", "program_id": "p", "event_id": "e", "tick_ms": 1}]  # no payload
    with pytest.raises(Exception):
        any_store.backlog_to_outbox([r["id"] for r in rows], iter(broken))
    assert any_store.backlog_ticks() == 2 and any_store.outbox_counts()["pending"] == 0  # nothing changed
    ids = any_store.backlog_to_outbox([r["id"] for r in rows], iter([report_item("A", 1), report_item("A", 1.5)]))
    assert len(ids) == 2 and ids == sorted(ids)
    assert any_store.backlog_ticks() == 1 and any_store.outbox_counts()["pending"] == 2
    assert [r["tick_index"] for r in any_store.backlog_oldest(ticks=9)] == [2]


def test_dropping_the_oldest_ticks_and_their_unused_layouts(any_store):
    for i in range(4):
        any_store.backlog_add([tick_rows("A", i, [float(i), 0.0], layout="L1\nL2" if i < 2 else "L1\nL3")])
    assert any_store.backlog_drop_oldest(ticks=2) == 2
    assert [r["tick_index"] for r in any_store.backlog_oldest(ticks=9)] == [2, 3]
    assert {r["load_ids"] for r in any_store.backlog_oldest(ticks=9)} == {"L1\nL3"}
    with any_store.engine.connect() as conn:  # the layout of the dropped ticks went with them
        import sqlalchemy as sa
        layouts = conn.execute(sa.text("SELECT load_ids FROM backlog_layouts")).scalars().all()
    assert layouts == ["L1\nL3"]
    assert any_store.backlog_drop_oldest(ticks=5) == 2 and any_store.backlog_ticks() == 0
    assert any_store.backlog_drop_oldest(ticks=1) == 0
