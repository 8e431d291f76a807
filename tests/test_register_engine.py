"""Registration against the real local VTN on loopback: exactly once, resumable, 409-safe."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from venclient.model import APPROVED, PENDING, Resource
from venclient.engine.register import Registrar, register_loads_parallel, resource_payload, sample_registration
from venclient.engine.verify import verify
from fixtures.samples import small_fleet
import pytest

pytestmark = pytest.mark.both_vtn_shapes  # end to end: against the plain VTN and one with every quirk


def register(runtime, vens=None, **kw) -> dict[str, Any]:
    async def go():
        async with runtime.transport() as transport:
            registrar = Registrar(runtime.store(), transport, vtn_url=runtime.settings.vtn.url, **kw)
            return (await registrar.register_vens(vens or runtime.store().get_ven_list())).as_dict()
    return asyncio.run(go())


def vtn_resources(state, ven_name: str) -> dict[str, str]:
    ven = next(v for v in state.vens if v["venName"] == ven_name)
    return {r["resourceName"]: r["id"] for r in state.resources.get(ven["id"], [])}


def test_two_vens_registered_and_rerun_registers_nothing(vtn_runtime, local_vtn):
    store = vtn_runtime.store()
    fleet = small_fleet(store, vtn_runtime.settings.h5_simulator.h5_path, resources=24, vens=2)
    first = register(vtn_runtime)
    assert first["total_vens"] == 2 and first["vens_registered"] == 2
    assert first["loads_registered"] == 24 * 6 and first["loads_failed"] == 0 and first["failed_vens"] == []
    for ven in fleet.vens:
        on_vtn = vtn_resources(local_vtn.state, ven)
        loads = store.list_loads(ven=ven)
        assert len(on_vtn) == len(loads)
        assert {l.resource_name_on_vtn: l.vtn_resource_id for l in loads} == on_vtn  # the store holds the VTN's ids
        assert all(l.registration_status == APPROVED for l in loads)
        assert store.get_ven_vtn_id(ven) == next(v["id"] for v in local_vtn.state.vens if v["venName"] == ven)
    assert {r.registration_status for r in store.list_resources()} == {APPROVED}
    second = register(vtn_runtime)
    assert second["loads_registered"] == 0 and second["loads_adopted"] == 0
    assert sum(len(vtn_resources(local_vtn.state, v)) for v in fleet.vens) == 24 * 6
    assert len(local_vtn.state.vens) == 2


def test_attributes_carry_what_the_seeds_registered(vtn_runtime, local_vtn):
    store = vtn_runtime.store()
    small_fleet(store, vtn_runtime.settings.h5_simulator.h5_path, resources=3, vens=1)
    register(vtn_runtime)
    resource = store.list_resources()[0]
    load = store.get_loads_by_resource(resource.resource_id)[2]
    ven = next(v for v in local_vtn.state.vens if v["venName"] == resource.ven)
    stored = next(r for r in local_vtn.state.resources[ven["id"]] if r["id"] == load.vtn_resource_id)
    attrs = {a["type"]: a["values"] for a in stored["attributes"]}
    assert stored["resourceName"] == f"{resource.resource_id}_load_2"
    assert attrs["DESCRIPTION"] == [f"{resource.resource_name} - HVAC"]
    assert attrs["LOAD_COMPONENT"] == ["load_2"] and attrs["LOAD_NAME"] == ["HVAC"]
    assert attrs["SERVICE_LOCATION"] == [resource.meter_point_id] and attrs["H5_METER_ID"] == [load.h5_meter_id]
    assert attrs["LOCATION"] == [resource.location["longitude"], resource.location["latitude"]]
    assert attrs["MAX_POWER_CONSUMPTION"] == [resource.capacities["MAX_POWER_CONSUMPTION"]]
    assert attrs["RESOURCE_TYPE"] == [resource.resource_type]


def test_duplicate_display_names_in_one_town(vtn_runtime, local_vtn):
    store = vtn_runtime.store()
    twins = [Resource(resource_id=f"twin-{i}", resource_name="Café Central", resource_type="DSR",
                      resource_sub_type="restaurant", meter_point_id=f"70705750000000000{i}", ven="Herning")
             for i in range(2)]
    store.insert_resources(twins)
    store.assign_meters_and_insert_loads([(t.resource_id, "m1") for t in twins],
                                         [(f"{t.resource_id}-{c}", t.resource_id, c, None, "m1")
                                          for t in twins for c in ("load_0", "load_1")])
    result = register(vtn_runtime)
    assert result["loads_registered"] == 4 and result["loads_failed"] == 0
    names = vtn_resources(local_vtn.state, "Herning")
    assert sorted(names) == ["twin-0_load_0", "twin-0_load_1", "twin-1_load_0", "twin-1_load_1"]
    assert len(set(names.values())) == 4


def test_conflict_for_a_resource_only_the_vtn_knows_is_adopted(vtn_runtime, local_vtn):
    store = vtn_runtime.store()
    small_fleet(store, vtn_runtime.settings.h5_simulator.h5_path, resources=2, vens=1)
    row = store.registration_rows(store.get_ven_list()[0])[0]

    async def precreate() -> str:
        async with vtn_runtime.transport() as transport:
            ven = await transport.find_or_create_ven(row["ven"])
            created = await transport.create_resource(ven.id, resource_payload(row))
            return created.id

    existing_id = asyncio.run(precreate())
    result = register(vtn_runtime)
    assert result["loads_adopted"] == 1 and result["loads_registered"] == 12 and result["loads_failed"] == 0
    load = next(l for l in store.list_loads() if l.load_id == row["load_id"])
    assert load.vtn_resource_id == existing_id
    assert len(vtn_resources(local_vtn.state, row["ven"])) == 12  # no duplicate on the VTN


class FlakyResources:
    """ASGI wrapper failing a seeded 10 % of resource POSTs with 503 before they reach the VTN."""

    def __init__(self, app, rate=0.1, seed=3):
        self.app, self.rate, self.random, self.failed = app, rate, random.Random(seed), 0

    async def __call__(self, scope, receive, send):
        if (scope["type"] == "http" and scope["method"] == "POST" and scope["path"].endswith("/resources")
                and self.random.random() < self.rate):
            self.failed += 1
            await send({"type": "http.response.start", "status": 503, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"overloaded"})
            return
        await self.app(scope, receive, send)


def test_vtn_failing_ten_percent_with_503(tmp_path, vtn_state):
    from fixtures.vtn_runtime import vtn_settings
    from venclient.plugins.local_vtn import LocalVtnServer
    from venclient.runtime import Runtime

    holder = {}
    server = LocalVtnServer(vtn_state, app_wrapper=lambda app: holder.setdefault("flaky", FlakyResources(app))).start()
    runtime = Runtime.create(vtn_settings(tmp_path, server.url, **{"vtn.retries": 0}))
    try:
        store = runtime.store()
        small_fleet(store, runtime.settings.h5_simulator.h5_path, resources=40, vens=2)
        first = register(runtime)
        assert holder["flaky"].failed > 0
        assert first["loads_failed"] == holder["flaky"].failed  # no retries: every 503 is a recorded failure
        pending = [l for l in store.list_loads() if l.registration_status == PENDING]
        assert len(pending) == first["loads_failed"] and all("503" in l.last_error for l in pending)
        for _ in range(10):  # each run retries what failed; bounded
            if not [l for l in store.list_loads() if l.registration_status == PENDING]:
                break
            register(runtime)
        loads = store.list_loads()
        assert all(l.registration_status == APPROVED and l.last_error is None for l in loads)
        total_on_vtn = sum(len(vtn_resources(server.state, v)) for v in store.get_ven_list())
        assert total_on_vtn == len(loads) == 240
        report = asyncio.run(_verify(runtime))
        assert report.clean, report.as_dict()
    finally:
        runtime.close()
        server.stop()


async def _verify(runtime, repair=False):
    async with runtime.transport() as transport:
        store = runtime.store()
        return await verify(store, transport, store.get_ven_list(), repair=repair, vtn_url=runtime.settings.vtn.url)


def test_verify_finds_and_repairs_differences(vtn_runtime, local_vtn):
    store = vtn_runtime.store()
    small_fleet(store, vtn_runtime.settings.h5_simulator.h5_path, resources=4, vens=1)
    register(vtn_runtime)
    assert asyncio.run(_verify(vtn_runtime)).clean
    ven = store.get_ven_list()[0]
    loads = store.list_loads(ven=ven)
    ven_id = store.get_ven_vtn_id(ven)
    # the store forgets one id, holds a wrong one for another; the VTN loses a third and gains a stranger
    store.clear_registrations([loads[0].load_id], "test")
    store.record_registrations([(loads[1].load_id, "wrong-id")])
    lost = loads[2]

    async def change_the_vtn():
        async with vtn_runtime.transport() as transport:
            await transport.delete_resource(ven_id, lost.vtn_resource_id)
            await transport.create_resource(ven_id, {"resourceName": "stranger"})
    asyncio.run(change_the_vtn())
    report = asyncio.run(_verify(vtn_runtime)).as_dict()
    assert not report["clean"]
    assert report["missing_on_vtn"] == 1 and report["unknown_on_vtn"] == 1 and report["id_mismatch"] == 2
    repaired = asyncio.run(_verify(vtn_runtime, repair=True))
    assert repaired.repaired == {"adopted_ids": 2, "forgotten_ids": 1, "forgotten_vens": 0}
    register(vtn_runtime)  # recreates the lost one
    final = asyncio.run(_verify(vtn_runtime)).as_dict()
    assert final["missing_on_vtn"] == 0 and final["id_mismatch"] == 0 and final["unregistered"] == 0
    assert final["unknown_on_vtn"] == 1  # the stranger is reported, never deleted


def test_seed_api_batches(vtn_runtime, local_vtn):
    store = vtn_runtime.store()
    fleet = small_fleet(store, vtn_runtime.settings.h5_simulator.h5_path, resources=12, vens=2)
    stats = asyncio.run(register_loads_parallel(vtn_runtime, fleet.vens[0], batch_size=5, delay_between_batches=0.01))
    assert set(stats) == {"success", "ven_id", "total_loads", "registered", "failed", "vtn_ids_mapped"}
    assert stats["success"] and stats["ven_id"] == fleet.vens[0]
    assert stats["registered"] == stats["vtn_ids_mapped"] == stats["total_loads"] == len(store.list_loads(fleet.vens[0]))
    summary = asyncio.run(sample_registration(vtn_runtime, limit_vens=2, batch_size=10, delay_between_batches=0.01))
    assert summary["total_vens"] == 2 and summary["loads_failed"] == 0
    assert summary["loads_registered"] == len(store.list_loads(fleet.vens[1]))  # the first VEN had nothing left


def test_every_fully_registered_resource_is_approved_with_many_vens_at_once(vtn_runtime, local_vtn):
    """VENs run concurrently and share one result writer: no VEN may judge its resources before its results
    are stored (a resource left PENDING would never be collected)."""
    store = vtn_runtime.store()
    small_fleet(store, vtn_runtime.settings.h5_simulator.h5_path, resources=120, vens=6)
    result = register(vtn_runtime, concurrency=3)
    assert result["loads_failed"] == 0
    assert {r.registration_status for r in store.list_resources()} == {APPROVED}


def test_verify_counts_vens_the_vtn_forgot_and_repair_clears_their_ids(vtn_runtime, local_vtn):
    """A VTN restarted without its storage answers 404 for our VEN ids: every load of those VENs is missing on the
    VTN (not '0 missing'), --repair forgets the VEN and load ids, and the next registration rebuilds everything."""
    store = vtn_runtime.store()
    fleet = small_fleet(store, vtn_runtime.settings.h5_simulator.h5_path, resources=4, vens=2)
    register(vtn_runtime)
    loads = len(store.list_loads())
    local_vtn.state.load_snapshot({"format": "venclient-local-vtn"})  # everything forgotten, as after amnesia
    report = asyncio.run(_verify(vtn_runtime))
    data = report.as_dict()
    assert not report.clean
    assert data["vens_missing_on_vtn"] == 2 and data["missing_on_vtn"] == loads and data["unregistered"] == 0
    assert all(v.ven_missing and v.error is None for v in report.vens)
    repaired = asyncio.run(_verify(vtn_runtime, repair=True))
    assert repaired.repaired == {"adopted_ids": 0, "forgotten_ids": loads, "forgotten_vens": 2}
    assert all(store.get_ven_vtn_id(ven) is None for ven in fleet.vens)
    assert {l.registration_status for l in store.list_loads()} == {PENDING}
    assert repaired.as_dict()["unregistered"] == loads  # after the repair: nothing known, everything to register
    register(vtn_runtime)
    assert asyncio.run(_verify(vtn_runtime)).clean
    assert len(local_vtn.state.vens) == 2 and local_vtn.state.resource_count == loads
