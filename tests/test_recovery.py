"""Recovery when the VTN forgets: the VEN ids it answers 404 for, the names behind old ids, the outbox moved to new ids.

The VTN is the local VTN; "forgetting" is what a restart without storage does: every object gone, the demo program
and its metering event seeded again under new ids.
"""

from __future__ import annotations

import asyncio

from venclient.engine.outbox import Outbox
from venclient.engine.recovery import NAMES_KEY, VtnRecovery
from fixtures.run import register_all
from fixtures.samples import small_fleet
from venclient.plugins.local_vtn import DEMO_EVENT, DEMO_PROGRAM, seed_demo
from venclient.plugins.local_vtn.state import STATE_FORMAT


def forget_everything(state) -> None:
    """What a VTN restarted without storage looks like: empty, then the demo program and event seeded anew."""
    state.load_snapshot({"format": STATE_FORMAT})
    seed_demo(state)


async def listing(runtime):
    async with runtime.transport() as vtn:
        programs = {p.id: p for p in await vtn.list_programs()}
        return programs, await vtn.list_events()


def report(ven: str, program_id: str, event_id: str, name: str, resource: str = "R1_load_0") -> dict:
    """A report of ``ven``'s load ``resource`` (the local VTN checks it is registered under that VEN)."""
    return {"programID": program_id, "eventID": event_id, "clientName": ven, "reportName": name,
            "resources": [{"resourceName": resource, "intervalPeriod": {"start": "2026-12-02T13:00:00Z",
                                                                           "duration": "PT15M"},
                           "intervals": [{"id": 0, "payloads": [{"type": "USAGE", "values": [1.0]}]}]}]}


def test_a_forgetful_vtn_is_noticed_and_registration_and_outbox_follow_it(vtn_runtime, local_vtn):
    store = vtn_runtime.store()
    fleet = small_fleet(store, vtn_runtime.settings.h5_simulator.h5_path, resources=6, vens=2)
    register_all(vtn_runtime)
    recovery = VtnRecovery(store, fleet.vens)
    programs, events = asyncio.run(listing(vtn_runtime))
    assert recovery.remember(programs, events) is False  # first sight: nothing changed
    old_program = next(pid for pid, p in programs.items() if p.program_name == DEMO_PROGRAM)
    old_event = next(e.id for e in events if e.event_name == DEMO_EVENT)
    outbox = Outbox(store)
    own = {ven: store.list_loads(ven=ven)[0].resource_name_on_vtn for ven in fleet.vens}
    asyncio.run(outbox.put([report(fleet.vens[0], old_program, old_event, "a", own[fleet.vens[0]]),
                            report(fleet.vens[1], old_program, old_event, "b", own[fleet.vens[1]]),
                            report(fleet.vens[1], "p-gone", "e-gone", "c")]))
    assert VtnRecovery(store, fleet.vens).remember(programs, events) is False  # same names, read from the store

    forget_everything(local_vtn.state)
    programs, events = asyncio.run(listing(vtn_runtime))
    assert recovery.remember(programs, events) is True  # the demo program is back under another id

    async def check() -> list[str]:
        async with vtn_runtime.transport() as vtn:
            return await recovery.forgotten_vens(vtn)
    assert asyncio.run(check()) == fleet.vens
    loads = len(store.list_loads())
    assert asyncio.run(recovery.forget(fleet.vens)) == loads
    assert all(store.get_ven_vtn_id(v) is None for v in fleet.vens)
    assert all(l.vtn_resource_id is None and "404" in l.last_error for l in store.list_loads())

    result = recovery.retarget_outbox(programs, events)
    new_program = next(pid for pid, p in programs.items() if p.program_name == DEMO_PROGRAM)
    new_event = next(e.id for e in events if e.event_name == DEMO_EVENT)
    assert (result.moved, result.set_aside) == (2, 1)
    assert result.reasons == ["program id 'p-gone' is unknown to the VTN and to us"]
    rows = {row["id"]: row for row in store.outbox_list()}
    pending = [r for r in rows.values() if r["state"] == "pending"]
    assert {(r["program_id"], r["event_id"]) for r in pending} == {(new_program, new_event)}
    for row in pending:
        payload = store.outbox_payload(row["id"])
        assert f'"programID":"{new_program}"' in payload and f'"eventID":"{new_event}"' in payload
    assert [r["state"] for r in rows.values()].count("rejected") == 1

    register_all(vtn_runtime)  # registration creates the VENs and loads again

    async def deliver():
        async with vtn_runtime.transport() as vtn:
            return await outbox.flush(vtn)
    assert asyncio.run(deliver()).sent == 2
    assert sorted(r["reportName"] for r in local_vtn.state.reports) == ["a", "b"]


def test_names_are_kept_in_the_store_so_a_restart_still_knows_what_old_ids_meant(vtn_runtime, local_vtn):
    store = vtn_runtime.store()
    fleet = small_fleet(store, vtn_runtime.settings.h5_simulator.h5_path, resources=2, vens=1)
    programs, events = asyncio.run(listing(vtn_runtime))
    VtnRecovery(store, fleet.vens).remember(programs, events)
    assert DEMO_PROGRAM in store.get_state(NAMES_KEY)
    forget_everything(local_vtn.state)
    programs, events = asyncio.run(listing(vtn_runtime))
    assert VtnRecovery(store, fleet.vens).remember(programs, events) is True  # a new process, same store


def test_a_report_whose_event_is_gone_is_set_aside_with_the_reason(vtn_runtime, local_vtn):
    store = vtn_runtime.store()
    fleet = small_fleet(store, vtn_runtime.settings.h5_simulator.h5_path, resources=2, vens=1)
    recovery = VtnRecovery(store, fleet.vens)
    programs, events = asyncio.run(listing(vtn_runtime))
    recovery.remember(programs, events)
    program_id = next(iter(programs))
    event_id = events[0].id
    asyncio.run(Outbox(store).put([report(fleet.vens[0], program_id, event_id, "x")]))
    local_vtn.state.events.remove(event_id)  # the program stays, its event is deleted
    programs, events = asyncio.run(listing(vtn_runtime))
    result = recovery.retarget_outbox(programs, events)
    assert (result.moved, result.set_aside) == (0, 1)
    assert result.reasons == [f"event {DEMO_EVENT!r} of program {DEMO_PROGRAM!r} no longer exists on the VTN"]
    assert store.outbox_list()[0]["state"] == "rejected"
