"""The resource store on SQLite (and PostgreSQL when VEN_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import pytest

from venclient.errors import InputError
from venclient.model import APPROVED, PENDING, SUSPENDED, Connection, Load, Resource


def make_resource(i: int, ven: str = "Herning", **kw) -> Resource:
    values = dict(resource_id=f"res-{i:04d}", resource_name=f"Bar {i}", resource_type="DSR",
                  resource_sub_type="bars", meter_point_id=f"707057500{i:09d}", ven=ven,
                  capacities={"MAX_POWER_CONSUMPTION": 25.0}, location={"longitude": 8.97, "latitude": 56.13},
                  address=f"Bredgade {i}, 7400 Herning")
    values.update(kw)
    return Resource(**values)


def load_rows(resource_id: str, meter: str = "m1") -> list[tuple]:
    from venclient.model import LOAD_COMPONENTS

    return [(f"{resource_id}-{c}", resource_id, c, name, meter) for c, name in LOAD_COMPONENTS.items()]


def snapshot(store) -> tuple:
    return (store.statistics(), [(r.resource_id, r.registration_status, r.h5_meter_id, r.connection_id)
                                 for r in store.list_resources()])


def test_insert_and_read_back(any_store):
    any_store.insert_resources([make_resource(i) for i in range(3)] + [make_resource(9, ven="Aalborg")])
    r = any_store.get_resource("res-0001")
    assert r.resource_name == "Bar 1" and r.capacities == {"MAX_POWER_CONSUMPTION": 25.0}
    assert r.location["latitude"] == 56.13 and r.registration_status == PENDING and r.enabled
    assert any_store.get_ven_list() == ["Aalborg", "Herning"]
    assert [x.resource_id for x in any_store.get_resources_by_ven_and_status("Herning", PENDING)] == [
        "res-0000", "res-0001", "res-0002"]
    assert any_store.get_resource("nope") is None


def test_duplicate_resource_changes_nothing(any_store):
    any_store.insert_resources([make_resource(1)])
    before = snapshot(any_store)
    with pytest.raises(InputError, match="Resource res-0001 already exists"):
        any_store.insert_resources([make_resource(2), make_resource(1)])
    with pytest.raises(InputError, match="appears twice"):
        any_store.insert_resources([make_resource(3), make_resource(3)])
    assert snapshot(any_store) == before


def test_status_updates_are_all_or_nothing(any_store):
    any_store.insert_resources([make_resource(i) for i in range(3)])
    any_store.update_resource_status("res-0000", APPROVED)
    assert any_store.get_resource("res-0000").registration_status == APPROVED
    before = snapshot(any_store)
    with pytest.raises(InputError, match="Unknown resource res-9999"):
        any_store.set_resources_status(["res-0001", "res-9999"], SUSPENDED)
    with pytest.raises(InputError, match="Unknown status 'DONE'"):
        any_store.set_resources_status(["res-0001"], "DONE")
    with pytest.raises(InputError, match="Unknown VEN 'Nowhere'"):
        any_store.set_ven_status("Nowhere", APPROVED)
    assert snapshot(any_store) == before
    assert any_store.set_ven_status("Herning", SUSPENDED) == 3


def test_loads_seed_operations(any_store):
    any_store.insert_resources([make_resource(i) for i in range(2)])
    any_store.update_resource_h5_meter("res-0000", "m7")
    assert any_store.get_resource("res-0000").h5_meter_id == "m7"
    any_store.insert_load(Load(load_id="L0", resource_id="res-0000", load_component="load_0",
                               load_name="Base Load", h5_meter_id="m7"))
    n = any_store.bulk_insert_loads([{"load_id": f"L{i}", "resource_id": "res-0000", "load_component": f"load_{i}",
                                      "h5_meter_id": "m7"} for i in range(1, 6)])
    assert n == 5
    loads = any_store.get_loads_by_resource("res-0000")
    assert [l.load_component for l in loads] == [f"load_{i}" for i in range(6)]
    assert loads[2].load_name == "HVAC" and loads[2].registration_status == PENDING
    assert len(any_store.get_loads_by_h5_meter("m7")) == 6
    any_store.update_load_vtn_resource_id("L3", "vtn-3")
    l3 = [l for l in any_store.get_loads_by_resource("res-0000") if l.load_id == "L3"][0]
    assert (l3.vtn_resource_id, l3.registration_status) == ("vtn-3", APPROVED)
    stats = any_store.get_load_statistics()
    assert stats["loads"] == 6 and stats["loads_by_component"]["load_5"] == 1 and stats["unique_h5_meters"] == 1
    assert any_store.clear_all_loads() == 6 and any_store.count_loads() == 0


def test_bad_loads_change_nothing(any_store):
    any_store.insert_resources([make_resource(0)])
    any_store.assign_meters_and_insert_loads([("res-0000", "m1")], load_rows("res-0000"))
    before = snapshot(any_store)
    with pytest.raises(InputError, match="Loads already exist; use --force"):
        any_store.assign_meters_and_insert_loads([("res-0000", "m2")], load_rows("res-0000", "m2"))
    with pytest.raises(InputError, match="names resource ghost, which does not exist"):
        any_store.assign_meters_and_insert_loads([("res-0000", "m2")], load_rows("ghost", "m2"), replace=True)
    with pytest.raises(InputError, match="duplicate"):
        any_store.bulk_insert_loads([{"load_id": "res-0000-load_0", "resource_id": "res-0000",
                                      "load_component": "load_0", "h5_meter_id": "m1"}])
    assert snapshot(any_store) == before
    assert any_store.get_resource("res-0000").h5_meter_id == "m1"


def test_replace_loads_in_one_transaction(any_store):
    any_store.insert_resources([make_resource(0)])
    any_store.assign_meters_and_insert_loads([("res-0000", "m1")], load_rows("res-0000"))
    any_store.assign_meters_and_insert_loads([("res-0000", "m2")], load_rows("res-0000", "m2"), replace=True)
    assert {l.h5_meter_id for l in any_store.get_loads_by_resource("res-0000")} == {"m2"}
    assert any_store.get_resource("res-0000").h5_meter_id == "m2"


def test_statistics_shape(any_store):
    any_store.insert_resources([make_resource(i) for i in range(4)] +
                               [make_resource(10, ven="Aalborg", resource_type="EV",
                                              resource_sub_type="chargingstations")])
    any_store.assign_meters_and_insert_loads([("res-0000", "m1"), ("res-0001", "m2")],
                                             load_rows("res-0000") + load_rows("res-0001", "m2"))
    s = any_store.statistics()
    assert s["resources"] == 5 and s["vens"] == 2 and s["loads"] == 12
    assert s["loads_by_component"] == {f"load_{i}": 2 for i in range(6)}
    assert s["unique_h5_meters"] == 2 and s["resources_with_h5_meter"] == 2
    assert s["by_status"] == {"PENDING": 5, "APPROVED": 0, "SUSPENDED": 0}
    assert s["by_type"] == {"DSR": 4, "EV": 1} and s["by_sub_type"]["chargingstations"] == 1
    assert s["by_ven"] == {"Aalborg": 1, "Herning": 4}


def test_connections_never_touch_loads(any_store):
    any_store.insert_resources([make_resource(0), make_resource(1)])
    any_store.assign_meters_and_insert_loads([("res-0000", "m1")], load_rows("res-0000"))
    loads_before = any_store.get_loads_by_resource("res-0000")
    any_store.connect_resources(["res-0000"], Connection(id=None, type="filereader", file="/data/r0.csv"))
    reader = any_store.resource_connections("res-0000")["reader"]
    assert reader.type == "filereader" and reader.file == "/data/r0.csv"
    any_store.connect_resources(["res-0000"], Connection(id=None, type="modbustcp", actortype="writer",
                                                         host="127.0.0.1", port=5020, params={"unit": 3}))
    conns = any_store.resource_connections("res-0000")
    assert conns["writer"].params == {"unit": 3} and conns["reader"].type == "filereader"
    assert any_store.get_loads_by_resource("res-0000") == loads_before
    with pytest.raises(InputError, match="Unknown resource ghost"):
        any_store.connect_resources(["res-0001", "ghost"], Connection(id=None, type="mqtt"))
    assert any_store.resource_connections("res-0001")["reader"] is None


def test_collection_rows_follow_status_and_connection(any_store):
    any_store.insert_resources([make_resource(0), make_resource(1), make_resource(2, ven="Aalborg")])
    any_store.assign_meters_and_insert_loads(
        [("res-0000", "m1"), ("res-0001", "m1"), ("res-0002", "m1")],
        load_rows("res-0000") + load_rows("res-0001") + load_rows("res-0002"))
    assert any_store.collection_rows() == []
    any_store.set_resources_status(["res-0000", "res-0001", "res-0002"], APPROVED)
    any_store.connect_resources(["res-0001"], Connection(id=None, type="filereader", file="x.csv"))
    rows = any_store.collection_rows(["Herning"])
    assert len(rows) == 12 and {r[6] for r in rows} == {"Herning"}
    assert {r[8] for r in rows if r[1] == "res-0000"} == {"h5sim"}
    assert {r[8] for r in rows if r[1] == "res-0001"} == {"filereader"}
    assert len(any_store.collection_rows()) == 18 and any_store.collection_rows([]) == []
    assert any_store.load_counts()["Herning"] == (12, 2)
    assert sum(n for n, _ in any_store.load_counts().values()) == 18
    assert any_store.load_counts(["Herning", "Nowhere"]) == {"Herning": (12, 2)}


def test_vens_and_outbox(any_store):
    any_store.set_ven_vtn_id("Herning", "ven-1")
    any_store.set_ven_vtn_id("Herning", "ven-2")
    assert any_store.get_ven_vtn_id("Herning") == "ven-2" and any_store.ven_vtn_ids() == {"Herning": "ven-2"}
    ids = any_store.outbox_add([{"ven": "Herning", "program_id": "p", "event_id": "e", "tick_ms": 1,
                                 "payload": f'{{"n":{n}}}'} for n in range(3)])
    assert [r["id"] for r in any_store.outbox_due()] == ids
    assert [any_store.outbox_payload(i) for i in ids] == ['{"n":0}', '{"n":1}', '{"n":2}']
    any_store.outbox_mark_attempt(ids[0])
    any_store.outbox_retry_later(ids[0], "503", next_attempt_at=1e12)
    any_store.outbox_reject(ids[1], "400 bad report")
    assert [r["id"] for r in any_store.outbox_due()] == [ids[2]]
    assert any_store.outbox_delete([ids[2]]) == 1
    assert any_store.outbox_payload(ids[2]) is None
    rows = {r["id"]: r for r in any_store.outbox_list()}
    assert rows[ids[1]]["state"] == "rejected" and rows[ids[1]]["last_error"] == "400 bad report"
    assert rows[ids[0]]["attempts"] == 1 and rows[ids[0]]["last_error"] == "503"


def test_bulk_load_insert_checks_resources_and_changes_nothing(any_store):
    any_store.insert_resources([make_resource(i) for i in range(1000)])
    rows = [row for i in range(1000) for row in load_rows(f"res-{i:04d}")]  # 6,000 loads: the bulk path
    bad = rows[:-1] + [("ghost-load", "ghost", "load_5", "Other Appliances", "m1")]
    with pytest.raises(InputError, match="ghost"):
        any_store.assign_meters_and_insert_loads([("res-0000", "m9")], bad)
    assert any_store.count_loads() == 0 and any_store.get_resource("res-0000").h5_meter_id is None
    assert any_store.assign_meters_and_insert_loads([(f"res-{i:04d}", "m1") for i in range(1000)], rows) == 6000
    assert any_store.get_load_statistics()["loads_by_component"]["load_3"] == 1000
    with pytest.raises(InputError):  # foreign keys are enforced again after the bulk path
        any_store.bulk_insert_loads([{"load_id": "x", "resource_id": "ghost", "load_component": "load_0",
                                      "h5_meter_id": "m1"}])
