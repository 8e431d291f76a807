"""The HTTP transport against the local VTN; every request and response is validated against the spec."""

from __future__ import annotations

import asyncio

import pytest

from venclient.openadr import (
    Event,
    Interval,
    IntervalPeriod,
    ObjectOperation,
    Report,
    ReportResource,
    Resource,
    Subscription,
    ValuesMap,
    Ven,
    values_map,
)
from venclient.protocols import VtnTransport
from venclient.vtn_errors import VtnAuthError, VtnBadRequest, VtnConflict, VtnNotFound
from fixtures.vtn import ContractTransport, make_config, sample_event, sample_program
from venclient.plugins.local_vtn import DEMO_EVENT, DEMO_PROGRAM
from venclient.plugins.openadr_http import HttpVtnTransport


def test_transport_satisfies_the_protocol(vtn_url):
    assert isinstance(HttpVtnTransport(make_config(vtn_url)), VtnTransport)


async def test_find_or_create_ven_is_idempotent(ven_transport, vtn_state):
    first = await ven_transport.find_or_create_ven("Aalborg")
    again = await ven_transport.find_or_create_ven("Aalborg")
    assert first.id == again.id and first.ven_name == "Aalborg" and first.object_type == "VEN"
    assert first.created_date_time is not None
    assert [v.ven_name for v in await ven_transport.list_vens()] == ["Aalborg"]
    assert len(vtn_state.vens) == 1


async def test_create_resource_returns_the_full_object_and_409_on_duplicate(ven_transport):
    ven = await ven_transport.find_or_create_ven("Aarhus")
    resource = Resource(resource_name="res-1_load_0",
                        attributes=[values_map("LOAD_NAME", "Base Load"), values_map("METER_POINT", "571313")])
    created = await ven_transport.create_resource(ven.id, resource)
    assert created.id and created.ven_id == ven.id and created.object_type == "RESOURCE"
    assert created.attributes == resource.attributes
    with pytest.raises(VtnConflict) as caught:
        await ven_transport.create_resource(ven.id, resource)
    err = caught.value
    assert err.status == 409 and err.method == "POST" and err.url.endswith(f"/vens/{ven.id}/resources")
    assert "res-1_load_0" in str(err) and "already" in str(err)
    found = await ven_transport.find_resource(ven.id, "res-1_load_0")
    assert found is not None and found.id == created.id
    assert await ven_transport.find_resource(ven.id, "nope") is None


async def test_list_resources_pages_until_a_short_page(ven_transport, vtn_state):
    ven = await ven_transport.find_or_create_ven("Odense")
    names = [f"r{i:03d}_load_{i % 6}" for i in range(123)]
    await asyncio.gather(*(ven_transport.create_resource(ven.id, Resource(resource_name=n)) for n in names))
    listed = await ven_transport.list_resources(ven.id)
    assert sorted(r.resource_name for r in listed) == sorted(names)
    assert len({r.id for r in listed}) == 123
    assert vtn_state.resource_count == 123


async def test_unknown_ven_is_not_found(ven_transport):
    with pytest.raises(VtnNotFound, match="No VEN with id 'missing'"):
        await ven_transport.create_resource("missing", Resource(resource_name="x"))


async def test_programs_and_events_of_the_demo(ven_transport):
    programs = await ven_transport.list_programs()
    assert [p.program_name for p in programs] == [DEMO_PROGRAM]
    program = await ven_transport.find_program(DEMO_PROGRAM)
    assert program is not None and await ven_transport.find_program("nope") is None
    events = await ven_transport.list_events(program.id)
    assert [e.event_name for e in events] == [DEMO_EVENT]
    usage = events[0].report_descriptors[0]
    assert (usage.payload_type, usage.units, usage.reading_type) == ("USAGE", "KWH", "DIRECT_READ")
    assert events[0].interval_period.duration == "PT15M"
    assert await ven_transport.list_events("unknown-program") == []


async def test_business_role_manages_programs_and_events(bl_transport, ven_transport):
    program = await bl_transport.create_program(sample_program("summer"))
    event = await bl_transport.create_event(sample_event(program.id, targets=[values_map("VEN_NAME", "Aalborg")]))
    assert event.program_id == program.id and event.object_type == "EVENT"
    changed = await bl_transport.update_event(event.id, event.model_copy(update={"priority": 3}))
    assert changed.priority == 3 and changed.id == event.id and changed.created_date_time == event.created_date_time
    assert [e.priority for e in await ven_transport.list_events(program.id)] == [3]
    deleted = await bl_transport.delete_event(event.id)
    assert deleted.id == event.id
    with pytest.raises(VtnNotFound):
        await ven_transport.get_event(event.id)
    with pytest.raises(VtnConflict):
        await bl_transport.create_program(sample_program("summer"))


async def test_ven_role_may_not_write_programs(ven_transport):
    with pytest.raises(VtnAuthError, match="lacks scope write_programs"):
        await ven_transport.create_program(sample_program("mine"))


async def test_reports_are_recorded_and_filtered(ven_transport, vtn_state):
    program = await ven_transport.find_program(DEMO_PROGRAM)
    event = (await ven_transport.list_events(program.id))[0]
    period = IntervalPeriod(start="2024-05-01T10:00:00Z", duration="PT15M")
    report = Report(program_id=program.id, event_id=event.id, client_name="Aalborg", report_name="usage",
                    resources=[ReportResource(resource_name=f"r{i}_load_0", interval_period=period,
                                              intervals=[Interval(id=0, payloads=[ValuesMap(type="USAGE", values=[0.25 * i])])])
                               for i in range(3)])
    created = await ven_transport.create_report(report)
    assert created.id and created.client_name == "Aalborg" and len(created.resources) == 3
    assert [r.id for r in await ven_transport.list_reports(program_id=program.id)] == [created.id]
    assert [r.id for r in await ven_transport.list_reports(event_id=event.id, client_name="Aalborg")] == [created.id]
    assert await ven_transport.list_reports(client_name="Aarhus") == []
    assert len(vtn_state.reports) == 1


async def test_report_for_unknown_event_is_a_bad_request(ven_transport):
    program = await ven_transport.find_program(DEMO_PROGRAM)
    with pytest.raises(VtnBadRequest, match="eventID 'nope'"):
        await ven_transport.create_report(Report(program_id=program.id, event_id="nope", client_name="x",
                                                 resources=[]))


async def test_subscriptions_create_list_delete(ven_transport):
    program = await ven_transport.find_program(DEMO_PROGRAM)
    subscription = Subscription(client_name="Aalborg", program_id=program.id, object_operations=[
        ObjectOperation(objects=["EVENT"], operations=["CREATE", "UPDATE", "DELETE"],
                        callback_url="http://127.0.0.1:9/callback")])
    created = await ven_transport.create_subscription(subscription)
    assert created.id and created.object_operations[0].callback_url == "http://127.0.0.1:9/callback"
    assert [s.id for s in await ven_transport.list_subscriptions(client_name="Aalborg")] == [created.id]
    await ven_transport.delete_subscription(created.id)
    assert await ven_transport.list_subscriptions() == []


async def test_static_bearer_token(local_vtn, contract):
    local_vtn.state.add_token("static-test-token", "ven-dev")
    config = make_config(local_vtn.url, client=None, token="static-test-token")
    async with HttpVtnTransport(config, http_transport=ContractTransport(contract)) as vtn:
        assert vtn.auth_mode == "token"
        assert len(await vtn.list_programs()) == 1
        assert vtn.stats.token_fetches == 0


async def test_raw_request_and_ven_dicts(ven_transport):
    ven = await ven_transport.create_ven({"venName": "Vejle", "attributes": [{"type": "CITY", "values": ["Vejle"]}]})
    assert isinstance(ven, Ven) and ven.attributes[0].values == ["Vejle"]
    response = await ven_transport.raw("GET", f"/vens/{ven.id}")
    assert response.json()["venName"] == "Vejle"
    with pytest.raises(VtnConflict):
        await ven_transport.create_ven(Ven(ven_name="Vejle"))


async def test_events_are_plain_models(bl_transport):
    program = await bl_transport.create_program(sample_program("p2"))
    body = {"programID": program.id, "eventName": "dict-event",
            "intervals": [{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [5.5]}]}]}
    event = await bl_transport.create_event(body)
    assert isinstance(event, Event) and event.intervals[0].payloads[0].values == [5.5]
