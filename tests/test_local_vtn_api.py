"""The local VTN's HTTP API, spoken to directly with httpx; every answer is validated against the spec."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from fixtures.vtn import BL_CLIENT, token  # the `http` fixture comes from fixtures.vtn


async def test_token_endpoint(http):
    answer = await http.post("auth/token", data={"grant_type": "client_credentials", "client_id": "ven-dev",
                                                  "client_secret": "ven-dev-secret"})
    body = answer.json()
    assert answer.status_code == 200 and body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert set(body["scope"].split()) == {"read_all", "write_reports", "write_subscriptions", "write_vens"}
    bad = await http.post("auth/token", data={"grant_type": "client_credentials", "client_id": "ven-dev",
                                               "client_secret": "nope"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_client"


async def test_token_endpoint_rejects_other_grants(local_vtn):
    async with httpx.AsyncClient(base_url=local_vtn.url + "/") as raw:  # not spec-checked: a bad request on purpose
        grant = await raw.post("auth/token", data={"grant_type": "password", "client_id": "a", "client_secret": "b"})
        missing = await raw.post("auth/token", data={"grant_type": "client_credentials"})
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"


async def test_token_with_http_basic_client_auth(http):
    basic = base64.b64encode(b"bl-dev:bl-dev-secret").decode()
    answer = await http.post("auth/token", data={"grant_type": "client_credentials", "client_id": "bl-dev",
                                                  "client_secret": "bl-dev-secret"},
                             headers={"Authorization": f"Basic {basic}"})
    assert "write_programs" in answer.json()["scope"]


async def test_requests_without_a_valid_token_are_forbidden(http):
    for headers in ({}, {"Authorization": "Bearer made-up"}, {"Authorization": "Basic eDp5"}):
        answer = await http.get("programs", headers=headers)
        assert answer.status_code == 403 and answer.json()["status"] == 403


async def test_create_answers_201_with_the_full_object(http):
    auth = await token(http)
    ven = (await http.post("vens", json={"venName": "Aalborg"}, headers=auth))
    assert ven.status_code == 201
    body = ven.json()
    assert set(body) >= {"id", "createdDateTime", "modificationDateTime", "objectType", "venName"}
    assert body["objectType"] == "VEN"
    resource = await http.post(f"vens/{body['id']}/resources", headers=auth,
                               json={"resourceName": "r1_load_0", "attributes": [{"type": "X", "values": [1]}]})
    assert resource.status_code == 201
    assert resource.json()["venID"] == body["id"] and resource.json()["objectType"] == "RESOURCE"


async def test_duplicates_are_409_problems(http):
    auth = await token(http)
    ven_id = (await http.post("vens", json={"venName": "Aarhus"}, headers=auth)).json()["id"]
    duplicate = await http.post("vens", json={"venName": "Aarhus"}, headers=auth)
    assert duplicate.status_code == 409 and duplicate.json()["title"] == "Conflict"
    assert (await http.post(f"vens/{ven_id}/resources", json={"resourceName": "a"}, headers=auth)).status_code == 201
    again = await http.post(f"vens/{ven_id}/resources", json={"resourceName": "a"}, headers=auth)
    assert again.status_code == 409 and "'a'" in again.json()["detail"]
    other = (await http.post("vens", json={"venName": "Odense"}, headers=auth)).json()["id"]
    same_name_elsewhere = await http.post(f"vens/{other}/resources", json={"resourceName": "a"}, headers=auth)
    assert same_name_elsewhere.status_code == 201  # resourceName is unique within a VEN only


async def test_unknown_ids_are_404_problems(http):
    auth = await token(http)
    for path in ("vens/nope", "vens/nope/resources", "programs/nope", "events/nope", "reports/nope",
                 "subscriptions/nope"):
        answer = await http.get(path, headers=auth)
        assert answer.status_code == 404, path
        assert answer.json()["detail"].endswith("'nope'.")
    ven_id = (await http.post("vens", json={"venName": "Vejle"}, headers=auth)).json()["id"]
    assert (await http.get(f"vens/{ven_id}/resources/nope", headers=auth)).status_code == 404


@pytest.mark.parametrize("query", ["limit=51", "limit=-1", "skip=-3", "limit=ten"])
async def test_bad_paging_is_400(local_vtn, query):
    # sent without the contract transport: the request itself breaks the spec on purpose
    async with httpx.AsyncClient(base_url=local_vtn.url + "/") as raw:
        auth = await token(raw)
        answer = await raw.get(f"programs?{query}", headers=auth)
    assert answer.status_code == 400 and answer.json()["title"] == "Bad Request"


async def test_invalid_bodies_are_400(local_vtn):
    async with httpx.AsyncClient(base_url=local_vtn.url + "/") as raw:
        auth = await token(raw)
        for body in (b"{", b"[]", b'{"venName": ""}', b'{"venName": 5}', b'{"attributes": []}'):
            answer = await raw.post("vens", content=body, headers={**auth, "Content-Type": "application/json"})
            assert answer.status_code == 400, body
            assert answer.json()["detail"].startswith("The body is not a valid ven")
        assert local_vtn.state.vens.by_id == {}


async def test_invalid_reports_are_400_and_nothing_is_stored(local_vtn, vtn_state):
    event = next(iter(vtn_state.events))
    good_resource = {"resourceName": "r1_load_0", "intervalPeriod": {"start": "2025-01-15T13:00:00Z",
                                                                      "duration": "PT15S"},
                     "intervals": [{"id": 0, "payloads": [{"type": "USAGE", "values": [0.5]}]}]}
    base = {"programID": event["programID"], "eventID": event["id"], "clientName": "Herning"}
    bad_bodies = [
        {**base, "resources": [{**good_resource, "intervals": [{"id": 0}]}]},                 # no payloads
        {**base, "resources": [{**good_resource, "intervalPeriod": {"start": "yesterday"}}]},  # not a time
        {**base, "resources": [{**good_resource, "intervalPeriod": {"start": "2025-01-15T13:00:00Z",
                                                                    "duration": "15 s"}}]},   # not a duration
        {**base, "programID": "has space", "resources": [good_resource]},                      # not an id
        {**base, "clientName": "", "resources": [good_resource]},                              # empty name
        {k: v for k, v in base.items() if k != "eventID"} | {"resources": [good_resource]},    # no eventID
    ]
    async with httpx.AsyncClient(base_url=local_vtn.url + "/") as raw:
        auth = await token(raw)
        for body in bad_bodies:
            answer = await raw.post("reports", json=body, headers=auth)
            assert answer.status_code == 400, body
            assert answer.json()["detail"].startswith("The body is not a valid report")
        assert len(local_vtn.state.reports) == 0
        ok = await raw.post("reports", json={**base, "resources": [good_resource]}, headers=auth)
        assert ok.status_code == 201 and ok.json()["resources"] == [good_resource]
        assert len(local_vtn.state.reports) == 1


async def test_paging_with_skip_and_limit(http):
    auth = await token(http)
    ven_id = (await http.post("vens", json={"venName": "Kolding"}, headers=auth)).json()["id"]
    for i in range(7):
        await http.post(f"vens/{ven_id}/resources", json={"resourceName": f"r{i}"}, headers=auth)
    page = await http.get(f"vens/{ven_id}/resources", params={"skip": 2, "limit": 3}, headers=auth)
    assert [r["resourceName"] for r in page.json()] == ["r2", "r3", "r4"]
    by_name = await http.get(f"vens/{ven_id}/resources", params={"resourceName": "r5"}, headers=auth)
    assert [r["resourceName"] for r in by_name.json()] == ["r5"]


async def test_target_filters(http):
    auth = await token(http, BL_CLIENT)
    programs = [(await http.post("programs", headers=auth, json={
        "programName": name, "targets": [{"type": "GROUP", "values": groups}]})).json() for name, groups in
        (("north", ["DK1"]), ("south", ["DK2"]), ("both", ["DK1", "DK2"]))]
    assert all("id" in p for p in programs)

    async def names(**params: Any) -> list[str]:
        answer = await http.get("programs", params=params, headers=auth)
        return [p["programName"] for p in answer.json()]

    assert await names(targetType="GROUP", targetValues="DK1") == ["north", "both"]
    assert await names(targetType="GROUP", targetValues=["DK2"]) == ["south", "both"]
    assert await names(targetType="CITY") == []


async def test_search_filters_for_events_reports_subscriptions(http):
    bl = await token(http, BL_CLIENT)
    ven = await token(http)
    program = (await http.post("programs", json={"programName": "p"}, headers=bl)).json()
    event = (await http.post("events", headers=bl, json={
        "programID": program["id"], "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]}]})).json()
    report = {"programID": program["id"], "eventID": event["id"], "clientName": "Aalborg", "resources": []}
    assert (await http.post("reports", json=report, headers=ven)).status_code == 201
    assert len((await http.get("events", params={"programID": program["id"]}, headers=ven)).json()) == 1
    assert len((await http.get("reports", params={"clientName": "Aalborg"}, headers=ven)).json()) == 1
    assert (await http.get("reports", params={"eventID": "other"}, headers=ven)).json() == []
    subscription = {"clientName": "Aalborg", "programID": program["id"], "objectOperations": [
        {"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": "http://127.0.0.1:9/cb"}]}
    assert (await http.post("subscriptions", json=subscription, headers=ven)).status_code == 201
    assert len((await http.get("subscriptions", params={"objects": "EVENT"}, headers=ven)).json()) == 1
    assert (await http.get("subscriptions", params={"objects": "REPORT"}, headers=ven)).json() == []


async def test_update_and_delete_keep_identity(http):
    auth = await token(http)
    ven = (await http.post("vens", json={"venName": "Horsens"}, headers=auth)).json()
    resource = (await http.post(f"vens/{ven['id']}/resources", json={"resourceName": "a"}, headers=auth)).json()
    put = await http.put(f"vens/{ven['id']}/resources/{resource['id']}", headers=auth,
                         json={"resourceName": "b", "attributes": [{"type": "X", "values": ["y"]}]})
    assert put.status_code == 200
    assert put.json()["id"] == resource["id"] and put.json()["createdDateTime"] == resource["createdDateTime"]
    listed = await http.get(f"vens/{ven['id']}/resources", params={"resourceName": "b"}, headers=auth)
    assert [r["id"] for r in listed.json()] == [resource["id"]]
    assert (await http.delete(f"vens/{ven['id']}/resources/{resource['id']}", headers=auth)).status_code == 200
    assert (await http.get(f"vens/{ven['id']}/resources", headers=auth)).json() == []
    assert (await http.delete(f"vens/{ven['id']}", headers=auth)).json()["venName"] == "Horsens"


async def test_deleting_a_program_removes_its_events(http, local_vtn):
    bl = await token(http, BL_CLIENT)
    program = (await http.post("programs", json={"programName": "gone"}, headers=bl)).json()
    await http.post("events", headers=bl, json={
        "programID": program["id"], "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]}]})
    before = len(local_vtn.state.events)
    assert (await http.delete(f"programs/{program['id']}", headers=bl)).status_code == 200
    assert len(local_vtn.state.events) == before - 1


async def test_event_for_an_unknown_program_is_400(http):
    bl = await token(http, BL_CLIENT)
    answer = await http.post("events", headers=bl, json={
        "programID": "nope", "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]}]})
    assert answer.status_code == 400 and "programID 'nope'" in answer.json()["detail"]


def test_contract_checker_catches_violations(contract):
    request = httpx.Request("POST", "http://127.0.0.1:1/openadr3/3.0.1/vens", json={"venName": ""})
    response = httpx.Response(201, json={"venName": "x", "id": "not an id!"})
    errors = contract.check(request, request.read(), response, response.read())
    assert any("request" in e for e in errors) and any("response" in e for e in errors)
    contract.errors.clear()
