"""Listings that send a filter also filter the answer on our side: against a VTN that ignores ``venName``,
``resourceName``, ``programID``, ``eventID`` and ``clientName`` when ``skip`` is given (as some VTNs in the
field do), nothing of another VEN, resource, program, event or client comes back, and paging still ends."""

from __future__ import annotations

import json
import os

import httpx
import pytest

from venclient.engine.events import EventEngine
from venclient.runtime import Runtime
from fixtures.samples import run_ven_inprocess
from fixtures.vtn import BL_CLIENT, make_config, sample_event, sample_program
from fixtures.vtn_runtime import vtn_settings
from venclient.plugins.local_vtn import DEMO_PROGRAM
from venclient.plugins.openadr_http import HttpVtnTransport


@pytest.fixture
def ignoring_vtn(faulty_vtn):
    """The local VTN ignoring query filters whenever ``skip`` is given."""
    server, injector = faulty_vtn
    injector.ignore_filters_with_skip = True
    return server, injector


@pytest.fixture
async def two_programs(ignoring_vtn):
    """Programs P and Q with three events each (plus the demo program and its event)."""
    server, _ = ignoring_vtn
    async with HttpVtnTransport(make_config(server.url, BL_CLIENT)) as bl:
        ids = {}
        for name in ("P", "Q"):
            program = await bl.create_program(sample_program(name))
            ids[name] = program.id
            for i in range(3):
                await bl.create_event(sample_event(program.id, name=f"{name}-event-{i}"))
    return ids


async def test_the_vtn_really_ignores_the_filters(ignoring_vtn, two_programs):
    server, _ = ignoring_vtn
    async with HttpVtnTransport(make_config(server.url)) as vtn:
        answer = await vtn.raw("GET", "/events", params={"programID": two_programs["P"], "skip": 0, "limit": 50})
    assert {e["programID"] for e in answer.json()} >= {two_programs["P"], two_programs["Q"]}


async def test_events_of_one_program_only(ignoring_vtn, two_programs):
    server, _ = ignoring_vtn
    async with HttpVtnTransport(make_config(server.url)) as vtn:
        events = await vtn.list_events(program_id=two_programs["Q"])
        assert sorted(e.event_name for e in events) == ["Q-event-0", "Q-event-1", "Q-event-2"]
        assert len(await vtn.list_events()) == 7


def test_ven_events_program_shows_only_that_programs_events(ignoring_vtn, two_programs, tmp_path, monkeypatch):
    server, _ = ignoring_vtn
    for key in [k for k in os.environ if k.startswith("VEN_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("VEN_DATABASE_URL", f"sqlite:///{tmp_path / 'resources.db'}")
    monkeypatch.setenv("VEN_VTN__URL", server.url)
    shown = run_ven_inprocess("events", "--program", "P", "--json")
    assert shown.exit_code == 0, shown.stderr
    events = json.loads(shown.stdout)
    assert sorted(e["eventName"] for e in events) == ["P-event-0", "P-event-1", "P-event-2"]
    assert {e["programID"] for e in events} == {two_programs["P"]}


async def test_followed_programs_see_only_their_events(ignoring_vtn, two_programs, tmp_path):
    server, _ = ignoring_vtn
    runtime = Runtime.create(vtn_settings(tmp_path, server.url))
    try:
        async with runtime.transport() as transport:
            engine = EventEngine(runtime, transport, [], programs=["Q"])
            changes = await engine.poll()
    finally:
        runtime.close()
    assert sorted(c.event.event_name for c in changes) == ["Q-event-0", "Q-event-1", "Q-event-2"]
    assert {e.program_id for e in engine.tracker.events.values()} == {two_programs["Q"]}


async def test_vens_and_resources_by_name_across_pages(ignoring_vtn):
    server, faults = ignoring_vtn
    async with HttpVtnTransport(make_config(server.url)) as vtn:
        created = [await vtn.create_ven({"venName": f"town-{i:02d}"}) for i in range(60)]  # more than a page
        assert [v.id for v in await vtn.list_vens("town-55")] == [created[55].id]
        assert (await vtn.find_ven("town-57")).id == created[57].id
        assert await vtn.find_ven("nowhere") is None
        ven = created[3]
        made = [await vtn.create_resource(ven.id, {"resourceName": f"r{i}_load_0"}) for i in range(55)]
        assert (await vtn.find_resource(ven.id, "r52_load_0")).id == made[52].id
        assert await vtn.find_resource(ven.id, "r99_load_0") is None
    pages = [path for method, path in faults.seen if method == "GET" and path.endswith("/vens")]
    assert pages  # the listings above did page through the unfiltered answers


async def test_reports_and_subscriptions_of_one_client_only(ignoring_vtn):
    server, _ = ignoring_vtn
    state = server.state
    program_id = state.programs.id_for_name(DEMO_PROGRAM)
    event_id = next(iter(state.events))["id"]
    async with HttpVtnTransport(make_config(server.url)) as vtn:
        for client in ("Aalborg", "Herning"):
            for i in range(30):
                await vtn.create_report({"programID": program_id, "eventID": event_id, "clientName": client,
                                         "reportName": f"{client}:{i}", "resources": []})
        reports = await vtn.list_reports(event_id=event_id, client_name="Herning")
        assert len(reports) == 30 and {r.client_name for r in reports} == {"Herning"}
        assert (await vtn.find_report("Herning:29", event_id=event_id, client_name="Herning"))["reportName"] == \
            "Herning:29"
        # the same name under another client is not ours
        assert await vtn.find_report("Herning:29", event_id=event_id, client_name="Aalborg") is None
        for client in ("Aalborg", "Herning"):
            await vtn.create_subscription({"clientName": client, "programID": program_id, "objectOperations": [
                {"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": "http://127.0.0.1:1/cb"}]})
        subscriptions = await vtn.list_subscriptions(client_name="Aalborg")
        assert [s.client_name for s in subscriptions] == ["Aalborg"]


async def test_paging_still_ends_when_the_vtn_ignores_skip_too(ignoring_vtn):
    """A VTN that answers every page with the first one is detected (not read 100,000 times)."""
    server, _ = ignoring_vtn
    from venclient.vtn_errors import VtnProtocolError

    async with HttpVtnTransport(make_config(server.url)) as vtn:
        for i in range(50):
            await vtn.create_ven({"venName": f"v{i}"})
        first_page = (await vtn.raw("GET", "/vens", params={"skip": 0, "limit": 50})).content

        class SamePage(httpx.AsyncBaseTransport):
            async def handle_async_request(self, request):
                return httpx.Response(200, content=first_page, headers={"content-type": "application/json"})

        async with HttpVtnTransport(make_config(server.url, client=None), http_transport=SamePage()) as broken:
            with pytest.raises(VtnProtocolError, match="ignores `skip`"):
                await broken.list_vens("v1")
