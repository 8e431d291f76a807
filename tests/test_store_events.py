"""Event state, opt-outs and resource groups in the store (SQLite, and PostgreSQL when VEN_TEST_POSTGRES_URL is
set): the first (received, seed) of a VEN and event is kept, opt-outs and groups are all or nothing."""

from __future__ import annotations

import pytest

from venclient.errors import InputError
from venclient.model import OPT_OUT_ALL, Resource
from venclient.runtime import Runtime
from fixtures.core import make_settings


def resource(i: int, ven: str = "Herning") -> Resource:
    return Resource(resource_id=f"res-{i}", resource_name=f"Bar {i}", resource_type="DSR", resource_sub_type="bars",
                    meter_point_id=f"7070575{i:05d}", ven=ven)


def test_the_first_received_time_and_seed_of_a_ven_and_event_are_kept(any_store):
    assert any_store.event_states("Herning", {"e1": (1000.0, 42), "e2": (1001.0, 7)}) == {
        "e1": (1000.0, 42), "e2": (1001.0, 7)}
    # a later run proposes new values: the kept ones win, a new event is stored
    kept = any_store.event_states("Herning", {"e1": (2000.0, 1), "e3": (2001.0, 3)})
    assert kept == {"e1": (1000.0, 42), "e3": (2001.0, 3)}
    # per VEN: another VEN draws its own
    assert any_store.event_states("Aarhus", {"e1": (3000.0, 9)}) == {"e1": (3000.0, 9)}
    assert any_store.event_states("Herning", {}) == {}


def test_event_state_survives_reopening_the_store(tmp_path):
    first = Runtime.create(make_settings(tmp_path))
    first.store().event_states("Herning", {"e1": (1000.5, 2**61 + 3)})
    first.close()
    again = Runtime.create(make_settings(tmp_path))
    try:
        assert again.store().event_states("Herning", {"e1": (5.0, 5)}) == {"e1": (1000.5, 2**61 + 3)}
    finally:
        again.close()


def test_opt_outs_per_resource_and_for_all(any_store):
    any_store.insert_resources([resource(1), resource(2)])
    assert any_store.opt_out("e1", ["res-1"]) == 1
    assert any_store.opt_out("e1", ["res-1", "res-2"]) == 1  # res-1 already out
    assert any_store.opt_out("e2") == 1
    assert any_store.opt_outs() == {"e1": {"res-1", "res-2"}, "e2": {OPT_OUT_ALL}}
    assert any_store.opt_outs(["e2", "e9"]) == {"e2": {OPT_OUT_ALL}}
    assert any_store.opt_in("e1", ["res-2"]) == 1
    assert any_store.opt_outs(["e1"]) == {"e1": {"res-1"}}
    assert any_store.opt_in("e2") == 1
    assert any_store.opt_outs() == {"e1": {"res-1"}}


def test_an_opt_out_naming_an_unknown_resource_changes_nothing(any_store):
    any_store.insert_resources([resource(1)])
    with pytest.raises(InputError, match="res-9"):
        any_store.opt_out("e1", ["res-1", "res-9"])
    assert any_store.opt_outs() == {}


def test_forgetting_an_event_drops_its_state_and_opt_outs(any_store):
    any_store.insert_resources([resource(1)])
    any_store.event_states("Herning", {"e1": (1.0, 1), "e2": (2.0, 2)})
    any_store.opt_out("e1", ["res-1"])
    assert any_store.event_states_forget(["e1"]) == 2
    assert any_store.opt_outs() == {}
    assert any_store.event_states("Herning", {"e1": (9.0, 9), "e2": (9.0, 9)}) == {"e1": (9.0, 9), "e2": (2.0, 2)}


def test_resource_groups_are_set_cleared_and_found(any_store):
    any_store.insert_resources([resource(1), resource(2), resource(3)])
    assert any_store.set_resource_group(["res-1", "res-2"], "north") == 2
    assert any_store.set_resource_group(["res-3"], "south") == 1
    assert any_store.resource_groups() == {"res-1": "north", "res-2": "north", "res-3": "south"}
    assert any_store.resources_in_groups(["north"]) == ["res-1", "res-2"]
    assert any_store.resources_in_groups(["south", "west"]) == ["res-3"]
    assert any_store.set_resource_group(["res-2"], "south") == 1  # moved
    assert any_store.resource_groups(["res-2"]) == {"res-2": "south"}
    assert any_store.set_resource_group(["res-1"], None) == 1
    assert any_store.resources_in_groups(["north"]) == []
    with pytest.raises(InputError, match="res-9"):
        any_store.set_resource_group(["res-3", "res-9"], "west")
    assert any_store.resource_groups(["res-3"]) == {"res-3": "south"}
