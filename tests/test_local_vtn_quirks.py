"""The local VTN's quirks (``--quirks``): each one, spoken to with raw httpx, misbehaves exactly as documented,
and the plain VTN does not.  Expectations come from the spec: RFC 3339 date-times, problem objects, OAuth2
token answers, query filters, ``READ/CREATE/UPDATE/DELETE`` in subscriptions, ``POST/PUT/DELETE`` in
notifications."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from venclient.errors import InputError
from fixtures.vtn import BL_CLIENT, VEN_CLIENT, VTN_SHAPES, ServeProcess, checked_transport, run_ven
from venclient.plugins.local_vtn import DEMO_EVENT, DEMO_PROGRAM
from venclient.plugins.local_vtn.quirks import ALL_STALL_SECONDS, QUIRK_HELP, Quirks

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
SPACED_NANOSECONDS = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9}$")
NO_ZONE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")
HTTP_DATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$")


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------
def token(http: httpx.Client, client: tuple[str, str] = VEN_CLIENT) -> dict[str, str]:
    answer = http.post("auth/token", data={"grant_type": "client_credentials", "client_id": client[0],
                                            "client_secret": client[1]})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def client_for(server: Any) -> httpx.Client:
    return httpx.Client(base_url=server.url + "/", timeout=10)


def report_body(program_id: str, event_id: str, name: str, client_name: str = "Aalborg") -> dict[str, Any]:
    return {"programID": program_id, "eventID": event_id, "clientName": client_name, "reportName": name,
            "resources": [{"resourceName": "r1_load_0", "intervals": [
                {"id": 0, "payloads": [{"type": "USAGE", "values": [1.5]}]}]}]}


def demo_ids(http: httpx.Client, auth: dict[str, str]) -> tuple[str, str]:
    programs = http.get("programs", headers=auth).json()
    program_id = next(p["id"] for p in programs if p["programName"] == DEMO_PROGRAM)
    events = http.get("events", headers=auth).json()
    return program_id, next(e["id"] for e in events if e["eventName"] == DEMO_EVENT)


def wait_until(condition: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(condition())


# --------------------------------------------------------------------------------------------------
# the Quirks value object
# --------------------------------------------------------------------------------------------------
def test_quirks_parse_names_all_and_a_stall():
    some = Quirks.parse(" timestamps, EMPTY-409 ,")
    assert some.timestamps and some.empty_409 and not some.amnesia and some.stall_seconds is None
    assert some.names == ["timestamps", "empty-409"] and str(some) == "timestamps,empty-409"
    assert Quirks.parse(["stall:2.5", "amnesia"]) == Quirks(stall_seconds=2.5, amnesia=True)
    everything = Quirks.parse("all")
    assert everything == Quirks.all() and everything.stall_seconds == ALL_STALL_SECONDS
    assert len(everything.names) == len(QUIRK_HELP)
    assert Quirks.parse("stall:3,all").stall_seconds == 3.0 == Quirks.parse("all,stall:3").stall_seconds
    assert Quirks.parse("stall:0").stall_seconds == 0.0 and Quirks.parse("stall:0")
    assert not Quirks() and not Quirks.parse(None) and not Quirks.parse("") and not Quirks.parse([])
    assert str(Quirks()) == "none"


@pytest.mark.parametrize("given, expected", [
    ("bogus", "unknown quirk 'bogus' (valid: timestamps, empty-409,"),
    ("timestamps,filter-ignored", "unknown quirk 'filter-ignored'"),
    ("stall", "stall needs a number of seconds of 0 or more, as in stall:5, got 'stall'."),
    ("stall:-1", "got 'stall:-1'."),
    ("stall:soon", "got 'stall:soon'."),
    ("stall:nan", "got 'stall:nan'."),
    ("amnesia:3", "quirk 'amnesia' takes no argument"),
], ids=["unknown", "misspelt", "stall-without-seconds", "stall-negative", "stall-not-a-number", "stall-nan",
        "argument-to-a-flag"])
def test_quirks_parse_refuses_bad_names_in_one_sentence(given, expected):
    with pytest.raises(InputError) as raised:
        Quirks.parse(given, "--quirks")
    message = str(raised.value)
    assert message.startswith("--quirks: ") and expected in message
    assert message.endswith(".") and "\n" not in message


# --------------------------------------------------------------------------------------------------
# timestamps
# --------------------------------------------------------------------------------------------------
def server_timestamps(objects: list[dict[str, Any]]) -> list[Any]:
    return [obj[key] for obj in objects for key in ("createdDateTime", "modificationDateTime")]


def test_timestamps_quirk_answers_odd_server_timestamps(make_local_vtn):
    plain, odd = make_local_vtn(), make_local_vtn(quirks="timestamps")
    seen: dict[str, list[Any]] = {}
    for name, server in (("plain", plain), ("odd", odd)):
        with client_for(server) as http:
            auth = token(http)
            created = [http.post("vens", json={"venName": f"town-{i}"}, headers=auth).json() for i in range(8)]
            listed = http.get("vens", headers=auth).json()
            assert listed == created  # GET shows what the create answered: the stored objects are consistent
            seen[name] = server_timestamps(created + http.get("programs", headers=auth).json()
                                           + http.get("events", headers=auth).json())
    assert all(isinstance(v, str) and RFC3339.match(v) for v in seen["plain"]), seen["plain"]
    odd_values = seen["odd"]
    assert not any(isinstance(v, str) and RFC3339.match(v) for v in odd_values), odd_values
    forms = {"spaced-nanoseconds": [v for v in odd_values if isinstance(v, str) and SPACED_NANOSECONDS.match(v)],
             "no-zone": [v for v in odd_values if isinstance(v, str) and NO_ZONE.match(v)],
             "epoch-ms": [v for v in odd_values if isinstance(v, int)],
             "http-date": [v for v in odd_values if isinstance(v, str) and HTTP_DATE.match(v)]}
    assert all(forms.values()), forms  # the forms rotate: every one appears
    assert sum(map(len, forms.values())) == len(odd_values)  # and nothing else does
    now_ms = time.time() * 1000
    assert all(abs(v - now_ms) < 3_600_000 for v in forms["epoch-ms"])  # milliseconds of the present, not seconds


def test_timestamps_quirk_still_changes_modification_time_on_every_update(make_local_vtn):
    with client_for(make_local_vtn(quirks="timestamps")) as http:
        auth = token(http)
        ven = http.post("vens", json={"venName": "Odense"}, headers=auth).json()
        versions = [ven]
        for i in range(9):  # quickly, many in the same second: forms with whole seconds would repeat
            answer = http.put(f"vens/{ven['id']}", json={"venName": "Odense", "attributes": [
                {"type": "ROUND", "values": [i]}]}, headers=auth)
            assert answer.status_code == 200, answer.text
            versions.append(answer.json())
    modified = [v["modificationDateTime"] for v in versions]
    assert all(a != b for a, b in zip(modified, modified[1:])), modified
    assert {v["createdDateTime"] for v in versions} == {ven["createdDateTime"]}


# --------------------------------------------------------------------------------------------------
# empty-409
# --------------------------------------------------------------------------------------------------
def test_empty_409_quirk_answers_an_empty_list(make_local_vtn):
    for quirks in (None, "empty-409"):
        with client_for(make_local_vtn(quirks=quirks)) as http:
            auth = token(http)
            ven_id = http.post("vens", json={"venName": "Aarhus"}, headers=auth).json()["id"]
            http.post(f"vens/{ven_id}/resources", json={"resourceName": "a"}, headers=auth)
            conflicts = [http.post("vens", json={"venName": "Aarhus"}, headers=auth),
                         http.post(f"vens/{ven_id}/resources", json={"resourceName": "a"}, headers=auth)]
            missing = http.get("vens/no-such-ven", headers=auth)
        assert [c.status_code for c in conflicts] == [409, 409]
        assert all(c.headers["content-type"] == "application/json" for c in conflicts)
        if quirks:
            assert [c.content for c in conflicts] == [b"[]", b"[]"]
        else:
            assert [c.json()["status"] for c in conflicts] == [409, 409]
            assert all(c.json()["title"] == "Conflict" and "Aarhus" in conflicts[0].json()["detail"] for c in conflicts)
        assert missing.status_code == 404 and missing.json()["status"] == 404  # other errors stay problems


# --------------------------------------------------------------------------------------------------
# token-no-expiry
# --------------------------------------------------------------------------------------------------
def test_token_no_expiry_quirk_omits_expires_in_and_lists_scopes(make_local_vtn):
    answers = {}
    for quirks in (None, "token-no-expiry"):
        with client_for(make_local_vtn(quirks=quirks)) as http:
            answer = http.post("auth/token", data={"grant_type": "client_credentials", "client_id": VEN_CLIENT[0],
                                                    "client_secret": VEN_CLIENT[1]})
            body = answer.json()
            usable = http.get("programs", headers={"Authorization": f"Bearer {body['access_token']}"})
        assert answer.status_code == 200 and body["token_type"] == "Bearer" and usable.status_code == 200
        answers[quirks] = body
    scopes = {"read_all", "write_reports", "write_subscriptions", "write_vens"}
    assert answers[None]["expires_in"] == 3600 and set(answers[None]["scope"].split()) == scopes
    odd = answers["token-no-expiry"]
    assert "expires_in" not in odd and isinstance(odd["scope"], list) and set(odd["scope"]) == scopes


# --------------------------------------------------------------------------------------------------
# filters-ignored
# --------------------------------------------------------------------------------------------------
def filtered_counts(server: Any, extra: dict[str, Any]) -> dict[str, int]:
    """How many objects each filtered search answers, with the query ``extra`` added (``skip`` or nothing)."""
    with client_for(server) as http:
        auth, bl = token(http), token(http, BL_CLIENT)
        program_id, event_id = demo_ids(http, auth)
        other = http.post("programs", json={"programName": "other"}, headers=bl).json()["id"]
        http.post("events", json={"programID": other, "eventName": "e", "intervals": [
            {"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]}]}, headers=bl)
        vens = [http.post("vens", json={"venName": name}, headers=auth).json()["id"] for name in ("A", "B")]
        for name in ("r1_load_0", "r2_load_0", "r3_load_0"):  # A and B report r1_load_0: the VTN checks it is theirs
            http.post(f"vens/{vens[0]}/resources", json={"resourceName": name}, headers=auth)
        http.post(f"vens/{vens[1]}/resources", json={"resourceName": "r1_load_0"}, headers=auth)
        for client_name in ("A", "B"):
            assert http.post("reports", json=report_body(program_id, event_id, f"rep-{client_name}", client_name),
                             headers=auth).status_code == 201
            http.post("subscriptions", headers=auth, json={"clientName": client_name, "programID": program_id,
                      "objectOperations": [{"objects": ["EVENT"], "operations": ["CREATE"],
                                            "callbackUrl": "http://127.0.0.1:9/cb"}]})

        def count(path: str, **query: Any) -> int:
            answer = http.get(path, params={**query, **extra}, headers=auth)
            assert answer.status_code == 200, answer.text
            return len(answer.json())

        return {"venName": count("vens", venName="A"),
                "resourceName": count(f"vens/{vens[0]}/resources", resourceName="r1_load_0"),
                "events programID": count("events", programID=other),
                "reports eventID+clientName": count("reports", eventID=event_id, clientName="A"),
                "reports programID": count("reports", programID=other),
                "subscriptions clientName": count("subscriptions", clientName="A")}


def test_filters_ignored_quirk_pages_over_everything_when_skip_is_given(make_local_vtn):
    filtered = {"venName": 1, "resourceName": 1, "events programID": 1, "reports eventID+clientName": 1,
                "reports programID": 0, "subscriptions clientName": 1}
    everything = {"venName": 2, "resourceName": 3, "events programID": 2, "reports eventID+clientName": 2,
                  "reports programID": 2, "subscriptions clientName": 2}
    assert filtered_counts(make_local_vtn(), {"skip": 0}) == filtered  # the plain VTN filters with skip too
    assert filtered_counts(make_local_vtn(quirks="filters-ignored"), {}) == filtered  # without skip: filters work
    assert filtered_counts(make_local_vtn(quirks="filters-ignored"), {"skip": 0}) == everything


# --------------------------------------------------------------------------------------------------
# stall
# --------------------------------------------------------------------------------------------------
def test_stall_quirk_counts_every_third_create_per_kind(make_local_vtn):
    server = make_local_vtn(quirks="stall:0")
    with client_for(server) as http:
        auth = token(http)
        program_id, event_id = demo_ids(http, auth)
        ven_id = http.post("vens", json={"venName": "Vejle"}, headers=auth).json()["id"]
        for i in range(7):  # reports interleaved with resources: each kind counts on its own
            assert http.post("reports", json=report_body(program_id, event_id, f"r{i}"), headers=auth).status_code == 201
            if i % 2:
                assert http.post(f"vens/{ven_id}/resources", json={"resourceName": f"res{i}"},
                                 headers=auth).status_code == 201
        assert http.post("vens", json={"venName": "Vejle"}, headers=auth).status_code == 409  # not a create
    staller = server.app.state.staller
    assert staller.created == {"reports": 7, "resources": 3, "vens": 1}
    assert server.stalled == {"reports": 2, "resources": 1}
    plain = make_local_vtn()
    assert plain.app.state.staller is None and plain.stalled == {}


async def test_stall_quirk_stores_at_once_and_answers_late_without_blocking_others(make_local_vtn):
    server = make_local_vtn(quirks="stall:5")
    state = server.state
    async with httpx.AsyncClient(base_url=server.url + "/", timeout=30) as http:
        answer = await http.post("auth/token", data={"grant_type": "client_credentials", "client_id": VEN_CLIENT[0],
                                                      "client_secret": VEN_CLIENT[1]})
        auth = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        program_id = state.programs.id_for_name(DEMO_PROGRAM)
        event_id = next(iter(state.events))["id"]
        for i in range(2):
            assert (await http.post("reports", json=report_body(program_id, event_id, f"r{i}"),
                                    headers=auth)).status_code == 201
        with pytest.raises(httpx.ReadTimeout):  # the third is not answered in time…
            await http.post("reports", json=report_body(program_id, event_id, "r2"), headers=auth, timeout=0.5)
        assert [r["reportName"] for r in state.reports] == ["r0", "r1", "r2"]  # …yet it was stored at once

        first_vens = [await http.post("vens", json={"venName": n}, headers=auth) for n in ("first", "second")]
        assert [v.status_code for v in first_vens] == [201, 201]
        third_vens = asyncio.create_task(http.post("vens", json={"venName": "third"}, headers=auth))
        assert await asyncio.to_thread(wait_until, lambda: state.vens.id_for_name("third") is not None)
        # the stalled create is stored; meanwhile other requests are answered
        listed = await http.get("vens", headers=auth)
        assert {v["venName"] for v in listed.json()} == {"first", "second", "third"}
        assert not third_vens.done()
        late = await third_vens
        assert late.status_code == 201 and late.json()["id"] == state.vens.id_for_name("third")
    assert server.stalled == {"reports": 1, "vens": 1}


# --------------------------------------------------------------------------------------------------
# restart and amnesia
# --------------------------------------------------------------------------------------------------
def test_restart_keeps_the_port_and_the_objects_but_forgets_tokens(make_local_vtn):
    server = make_local_vtn()
    url = server.url
    with client_for(server) as http:
        auth = token(http)
        ven = http.post("vens", json={"venName": "Kolding"}, headers=auth).json()
        ids = demo_ids(http, auth)
        assert server.restart() is server
        assert server.url == url and server.restarts == 1
        assert http.get("vens", headers=auth).status_code == 403  # issued tokens are forgotten
        auth = token(http)
        assert http.get(f"vens/{ven['id']}", headers=auth).json() == ven
        assert demo_ids(http, auth) == ids


def test_amnesia_restart_forgets_everything_and_reseeds_the_demo_with_new_ids(make_local_vtn):
    server = make_local_vtn(quirks="amnesia")
    url = server.url
    state = server.state
    with client_for(server) as http:
        auth = token(http)
        ven = http.post("vens", json={"venName": "Horsens"}, headers=auth).json()
        http.post(f"vens/{ven['id']}/resources", json={"resourceName": "r"}, headers=auth)
        old_program, old_event = demo_ids(http, auth)
        server.restart()
        assert server.url == url and server.state is state
        assert http.get("vens", headers=auth).status_code == 403
        auth = token(http)
        assert http.get(f"vens/{ven['id']}", headers=auth).status_code == 404
        assert http.get("vens", headers=auth).json() == []
        new_program, new_event = demo_ids(http, auth)
        assert len(http.get("programs", headers=auth).json()) == 1 and len(http.get("events", headers=auth).json()) == 1
    assert new_program != old_program and new_event != old_event
    assert state.counts() == {"programs": 1, "events": 1, "reports": 0, "subscriptions": 0, "vens": 0, "resources": 0}


def test_serve_with_amnesia_neither_loads_nor_keeps_the_state_file(tmp_path: Path, serve_process):
    state_file = tmp_path / "vtn.json"
    first = ServeProcess("--port", "0", "--state", str(state_file), "--quirks", "amnesia")
    serve_process.append(first)
    assert "(not loaded: amnesia)" in " ".join(first.lines) and "quirks amnesia" in " ".join(first.lines)
    with client_for(first) as http:
        auth = token(http)
        before = demo_ids(http, auth)
        http.post("vens", json={"venName": "Silkeborg"}, headers=auth)
    assert first.stop() == 0
    saved = json.loads(state_file.read_text())
    assert [v["venName"] for v in saved["vens"]] == ["Silkeborg"]  # written like any state file…

    second = ServeProcess("--port", "0", "--state", str(state_file), "--quirks", "amnesia")
    serve_process.append(second)
    assert "1 program, 1 event, 0 VENs" in " ".join(second.lines)
    with client_for(second) as http:
        auth = token(http)
        after = demo_ids(http, auth)
        assert http.get("vens", headers=auth).json() == []  # …but never read back
    assert after[0] != before[0] and after[1] != before[1]
    assert second.stop() == 0
    kept = json.loads(state_file.read_text())
    assert kept["vens"] == [] and [p["id"] for p in kept["programs"]] == [after[0]]


def test_serve_with_an_unknown_quirk_is_one_sentence_and_exit_2():
    out = run_ven("vtn", "serve", "--port", "0", "--quirks", "timestamps,bogus", env={"COLUMNS": "400"})
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "Error: --quirks: unknown quirk 'bogus' (valid: timestamps, empty-409, token-no-expiry, filters-ignored, "
        "stall:SECONDS, amnesia, notify-http-verbs, notify-double-encoded, all)."]


def test_serve_takes_quirks_from_the_setting(serve_process):
    server = ServeProcess("--port", "0", env={"VEN_LOCAL_VTN__QUIRKS": "token-no-expiry,empty-409"})
    serve_process.append(server)
    assert "quirks empty-409, token-no-expiry" in " ".join(server.lines)
    with client_for(server) as http:
        answer = http.post("auth/token", data={"grant_type": "client_credentials", "client_id": VEN_CLIENT[0],
                                                "client_secret": VEN_CLIENT[1]}).json()
    assert "expires_in" not in answer
    bad = run_ven("vtn", "serve", "--port", "0", env={"VEN_LOCAL_VTN__QUIRKS": '["amnesia", "forgetful"]',
                                                       "COLUMNS": "400"})
    assert bad.returncode == 2 and bad.stderr.strip().startswith("Error: local_vtn.quirks: unknown quirk 'forgetful'")


# --------------------------------------------------------------------------------------------------
# notifications: notify-http-verbs, notify-double-encoded
# --------------------------------------------------------------------------------------------------
def subscribe_and_change_an_event(server: Any, receiver: Any, operations: list[str]) -> tuple[httpx.Response, Any]:
    """Subscribe to EVENT ``operations`` of the demo program, then create, update and delete an event."""
    with client_for(server) as http:
        auth, bl = token(http), token(http, BL_CLIENT)
        program_id, _ = demo_ids(http, auth)
        subscription = http.post("subscriptions", headers=auth, json={
            "clientName": "Aalborg", "programID": program_id, "objectOperations": [
                {"objects": ["EVENT"], "operations": operations, "callbackUrl": receiver.url}]})
        if subscription.status_code != 201:
            return subscription, None
        event = {"programID": program_id, "eventName": "peak", "intervals": [
            {"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]}]}
        event_id = http.post("events", json=event, headers=bl).json()["id"]
        http.put(f"events/{event_id}", json={**event, "priority": 3}, headers=bl)
        http.delete(f"events/{event_id}", headers=bl)
        listed = http.get("subscriptions", headers=auth).json()
    return subscription, listed


def test_notify_http_verbs_quirk_spells_operations_the_other_way_round(make_local_vtn, webhook_receiver):
    server = make_local_vtn(quirks="notify-http-verbs")
    with client_for(server) as http:  # the spec's spelling is accepted too, and stored in the HTTP one
        auth = token(http)
        program_id, _ = demo_ids(http, auth)
        spec_spelt = http.post("subscriptions", headers=auth, json={
            "clientName": "Aarhus", "programID": program_id, "objectOperations": [
                {"objects": ["PROGRAM"], "operations": ["READ", "CREATE"], "callbackUrl": "http://127.0.0.1:9/x"}]})
        assert spec_spelt.status_code == 201 and spec_spelt.json()["objectOperations"][0]["operations"] == ["GET", "POST"]
        renamed = http.put(f"subscriptions/{spec_spelt.json()['id']}", headers=auth, json={
            **spec_spelt.json(), "objectOperations": [
                {"objects": ["PROGRAM"], "operations": ["UPDATE"], "callbackUrl": "http://127.0.0.1:9/x"}]})
        assert renamed.status_code == 200 and renamed.json()["objectOperations"][0]["operations"] == ["PUT"]
        http.delete(f"subscriptions/{spec_spelt.json()['id']}", headers=auth)
    subscription, listed = subscribe_and_change_an_event(server, webhook_receiver, ["POST", "PUT", "DELETE"])
    assert subscription.status_code == 201
    assert subscription.json()["objectOperations"][0]["operations"] == ["POST", "PUT", "DELETE"]
    assert [s["objectOperations"][0]["operations"] for s in listed] == [["POST", "PUT", "DELETE"]]
    received = webhook_receiver.wait_for(3)
    assert sorted(body["operation"] for _, body in received) == ["CREATE", "DELETE", "UPDATE"]


def test_plain_vtn_keeps_the_spec_spelling_of_operations(make_local_vtn, webhook_receiver):
    server = make_local_vtn()
    refused, _ = subscribe_and_change_an_event(server, webhook_receiver, ["POST"])
    assert refused.status_code == 400 and "operations" in refused.json()["detail"]
    subscription, listed = subscribe_and_change_an_event(server, webhook_receiver, ["CREATE", "UPDATE", "DELETE"])
    assert subscription.status_code == 201
    assert [s["objectOperations"][0]["operations"] for s in listed] == [["CREATE", "UPDATE", "DELETE"]]
    received = webhook_receiver.wait_for(3)
    assert all(isinstance(body, dict) for _, body in received)  # plain JSON, not a string of JSON
    assert sorted(body["operation"] for _, body in received) == ["DELETE", "POST", "PUT"]


def test_notify_double_encoded_quirk_sends_a_json_string_of_json(make_local_vtn, webhook_receiver):
    server = make_local_vtn(quirks="notify-double-encoded")
    subscription, _ = subscribe_and_change_an_event(server, webhook_receiver, ["CREATE", "UPDATE", "DELETE"])
    assert subscription.status_code == 201
    received = webhook_receiver.wait_for(3)
    assert len(received) == 3 and all(isinstance(body, str) for _, body in received)
    inner = [json.loads(body) for _, body in received]
    assert sorted(n["operation"] for n in inner) == ["DELETE", "POST", "PUT"]
    assert {n["objectType"] for n in inner} == {"EVENT"} and all(n["object"]["eventName"] == "peak" for n in inner)


# --------------------------------------------------------------------------------------------------
# the fixtures
# --------------------------------------------------------------------------------------------------
async def test_any_vtn_runs_plain_and_with_every_quirk(any_vtn, request, contract):
    shape = request.node.callspec.id
    assert any_vtn.quirks == VTN_SHAPES[shape] and bool(any_vtn.quirks) == (shape == "all-quirks")
    transport = checked_transport(any_vtn, contract)
    assert (transport is None) == (shape == "all-quirks")
    async with httpx.AsyncClient(base_url=any_vtn.url + "/", transport=transport) as http:
        body = (await http.post("auth/token", data={"grant_type": "client_credentials", "client_id": VEN_CLIENT[0],
                                                     "client_secret": VEN_CLIENT[1]})).json()
    assert ("expires_in" in body) == (shape == "plain")
    assert contract.checked == (1 if shape == "plain" else 0)  # the plain answer was checked against the spec


def test_quirky_vtn_has_every_quirk_with_a_short_stall(quirky_vtn):
    assert quirky_vtn.quirks == Quirks.all() and quirky_vtn.quirks.stall_seconds == ALL_STALL_SECONDS
    with client_for(quirky_vtn) as http:
        auth = token(http)
        programs = http.get("programs", headers=auth).json()
    assert not any(isinstance(v, str) and RFC3339.match(v) for v in server_timestamps(programs))
