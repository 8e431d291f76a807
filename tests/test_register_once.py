"""Registration through stalls and odd conflicts, against the real local VTN behind a fault injector: a create
whose answer never came is looked up by ``resourceName`` (adopted when it arrived, created again when surely
absent), so the VTN never holds a load twice and the store holds the VTN's ids."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from venclient.model import APPROVED, PENDING
from venclient.engine.register import Registrar
from venclient.runtime import Runtime
from fixtures.run import wait_until
from fixtures.samples import small_fleet
from fixtures.vtn import json_body
from fixtures.vtn_runtime import vtn_settings


@pytest.fixture
def runtime(tmp_path, faulty_vtn):
    """A Runtime on a one-VEN fleet (4 resources, 24 loads) talking to the faulty VTN with a 1 s timeout."""
    server, _ = faulty_vtn
    rt = Runtime.create(vtn_settings(tmp_path, server.url, **{"vtn.timeout_seconds": 1.0}))
    small_fleet(rt.store(), rt.settings.h5_simulator.h5_path, resources=4, vens=1)
    yield rt
    rt.close()


def register(runtime: Runtime) -> Any:
    async def go():
        async with runtime.transport() as transport:
            registrar = Registrar(runtime.store(), transport, vtn_url=runtime.settings.vtn.url)
            return (await registrar.register_vens(runtime.store().get_ven_list())).vens[0]
    return asyncio.run(go())


def vtn_resources(state, ven: str) -> list[dict[str, Any]]:
    ven_id = state.vens.id_for_name(ven)
    return list(state.resources.get(ven_id, [])) if ven_id else []


def assert_store_matches_vtn(runtime: Runtime, state) -> None:
    """Every load is APPROVED with the id the VTN holds for its name; the VTN holds each name once."""
    store = runtime.store()
    [ven] = store.get_ven_list()
    on_vtn = vtn_resources(state, ven)
    names = [r["resourceName"] for r in on_vtn]
    assert len(names) == len(set(names)), "a resource was created twice"
    loads = store.list_loads(ven=ven)
    assert len(on_vtn) == len(loads)
    assert {l.resource_name_on_vtn: l.vtn_resource_id for l in loads} == {r["resourceName"]: r["id"] for r in on_vtn}
    assert {l.registration_status for l in loads} == {APPROVED}


def posts(faults) -> int:
    return sum(1 for method, path in faults.seen if method == "POST" and path.endswith("/resources"))


def test_stalled_creates_are_adopted_not_duplicated(runtime, faulty_vtn):
    server, faults = faulty_vtn
    stalled = faults.add("POST", "/resources", stall=2.0, times=5)  # the VTN creates them, its answer comes late
    result = register(runtime)
    assert stalled.hits == 5
    assert (result.registered, result.adopted, result.failed) == (19, 5, 0)  # every stalled load adopted
    assert posts(faults) == 24  # no stalled create was sent again
    assert_store_matches_vtn(runtime, server.state)


def test_creates_that_reach_the_vtn_late_are_not_duplicated(runtime, faulty_vtn):
    """The request is held before the VTN (a slow proxy): the look-up finds nothing yet, the load is created
    again, and the late original meets the name taken (409) — one resource per name, and the store has its id."""
    server, faults = faulty_vtn
    late = faults.add("POST", "/resources", delay=2.0, times=3)
    result = register(runtime)
    assert late.hits == 3 and result.failed == 0
    assert wait_until(lambda: late.done == 3, timeout=30)  # the late originals arrived (and met the name taken)
    assert_store_matches_vtn(runtime, server.state)


def test_a_409_with_an_empty_list_body_is_resolved_by_look_up(runtime, faulty_vtn):
    server, faults = faulty_vtn
    store = runtime.store()
    [ven] = store.get_ven_list()
    first = store.list_loads(ven=ven)[0]

    async def make_it_on_the_vtn() -> str:  # another run made it and crashed before storing the id
        async with runtime.transport() as transport:
            ven_obj = await transport.find_or_create_ven(ven)
            return (await transport.create_resource(ven_obj.id, {"resourceName": first.resource_name_on_vtn})).id

    existing_id = asyncio.run(make_it_on_the_vtn())
    conflict = faults.add("POST", "/resources", status=409, body=b"[]", times=1)
    result = register(runtime)
    assert conflict.hits == 1 and result.failed == 0 and result.adopted >= 1
    assert store.list_loads(ven=ven)[0].vtn_resource_id == existing_id
    assert_store_matches_vtn(runtime, server.state)


def test_a_409_for_a_name_the_vtn_does_not_list_fails_that_load_in_one_sentence(runtime, faulty_vtn):
    server, faults = faulty_vtn
    faults.add("POST", "/resources", status=409, body=json_body({"title": "Conflict", "status": 409}), times=1)
    result = register(runtime)
    assert result.failed == 1 and result.registered == 23
    failed = [l for l in runtime.store().list_loads() if l.registration_status == PENDING]
    assert len(failed) == 1 and failed[0].vtn_resource_id is None
    assert len(vtn_resources(server.state, runtime.store().get_ven_list()[0])) == 23
    register(runtime)  # the next run creates it
    assert_store_matches_vtn(runtime, server.state)


def test_a_stalled_ven_create_is_adopted(runtime, faulty_vtn):
    server, faults = faulty_vtn
    faults.add("POST", "/vens", stall=2.0, times=1)
    result = register(runtime)
    assert result.error is None and result.failed == 0
    assert len(server.state.vens) == 1
    assert_store_matches_vtn(runtime, server.state)
