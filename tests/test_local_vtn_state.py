"""The local VTN's in-memory state: indexes, paging, the demo seed, and the JSON state file."""

from __future__ import annotations

import json
import time

import pytest

from venclient.errors import InputError
from venclient.openadr import Resource
from fixtures.vtn import make_config
from venclient.plugins.local_vtn import DEMO_EVENT, DEMO_PROGRAM, LocalVtnServer, VtnState, load_state, seed_demo
from venclient.plugins.local_vtn.state import Collection, save_state
from venclient.plugins.openadr_http import HttpVtnTransport


def test_collection_indexes_and_pages():
    things = Collection("VEN", "venName")
    for i in range(120):
        things.add({"id": f"id{i}", "venName": f"v{i}"})
    assert [o["id"] for o in things.page(100, 50)] == [f"id{i}" for i in range(100, 120)]
    assert things.id_for_name("v7") == "id7"
    things.replace({"id": "id7", "venName": "renamed"})
    assert things.id_for_name("v7") is None and things.id_for_name("renamed") == "id7"
    assert [o["id"] for o in things.page(7, 1)] == ["id7"]  # a replaced object keeps its place
    things.remove("id0")
    assert things.page(0, 1)[0]["id"] == "id1" and len(things) == 119
    odd = things.page(0, 3, keep=lambda o: int(o["id"][2:]) % 2 == 1)
    assert [o["id"] for o in odd] == ["id1", "id3", "id5"]


def test_seed_demo_is_idempotent():
    state = VtnState()
    first = seed_demo(state)
    second = seed_demo(state)
    assert first["program"]["id"] == second["program"]["id"] and first["event"]["id"] == second["event"]["id"]
    assert len(state.programs) == 1 and len(state.events) == 1
    assert first["program"]["programName"] == DEMO_PROGRAM and first["event"]["eventName"] == DEMO_EVENT
    descriptor = first["event"]["reportDescriptors"][0]
    assert (descriptor["payloadType"], descriptor["units"], descriptor["readingType"]) == ("USAGE", "KWH", "DIRECT_READ")


def test_tokens_expire_and_can_be_revoked():
    now = [0.0]
    state = VtnState(token_ttl_seconds=10, clock=lambda: now[0])
    client = state.client("ven-dev", "ven-dev-secret")
    assert client is not None and state.client("ven-dev", "wrong") is None
    token, ttl = state.issue_token(client)
    assert ttl == 10 and state.token_client(token) is client
    now[0] = 10.5
    assert state.token_client(token) is None
    token, _ = state.issue_token(client)
    assert state.revoke_tokens() >= 1 and state.token_client(token) is None


async def test_state_file_round_trip(tmp_path):
    path = tmp_path / "vtn-state.json"
    state = VtnState()
    seed_demo(state)
    with LocalVtnServer(state, state_file=path) as server:
        async with HttpVtnTransport(make_config(server.url)) as vtn:
            ven = await vtn.find_or_create_ven("Aalborg")
            for i in range(60):
                await vtn.create_resource(ven.id, Resource(resource_name=f"r{i}"))
    data = json.loads(path.read_text())
    assert data["format"] == "venclient-local-vtn" and len(data["resources"]) == 60

    restored = VtnState()
    assert load_state(path, restored) is True
    assert restored.counts() == {"programs": 1, "events": 1, "reports": 0, "subscriptions": 0, "vens": 1,
                                 "resources": 60}
    with LocalVtnServer(restored) as server:
        async with HttpVtnTransport(make_config(server.url)) as vtn:
            again = await vtn.find_or_create_ven("Aalborg")
            assert again.id == ven.id
            assert len(await vtn.list_resources(ven.id)) == 60
            assert (await vtn.find_resource(ven.id, "r59")) is not None


async def test_state_is_saved_on_shutdown_not_per_request(tmp_path):
    path = tmp_path / "state.json"
    with LocalVtnServer(VtnState(), state_file=path, save_interval=1000) as server:
        async with HttpVtnTransport(make_config(server.url)) as vtn:
            ven = await vtn.find_or_create_ven("Esbjerg")
            for i in range(20):
                await vtn.create_resource(ven.id, Resource(resource_name=f"r{i}"))
        assert not path.exists()  # 21 writes, no save yet
    assert len(json.loads(path.read_text())["resources"]) == 20
    assert not list(tmp_path.glob(".state.json.*.tmp"))  # atomic writes leave no temporary files


async def test_state_is_saved_periodically_while_running(tmp_path):
    path = tmp_path / "state.json"
    with LocalVtnServer(VtnState(), state_file=path, save_interval=0.1) as server:
        async with HttpVtnTransport(make_config(server.url)) as vtn:
            await vtn.find_or_create_ven("Ribe")
        deadline = time.monotonic() + 10
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [v["venName"] for v in json.loads(path.read_text())["vens"]] == ["Ribe"]
        assert server.app.state.saver.saves >= 1


def test_missing_state_file_is_a_new_state(tmp_path):
    assert load_state(tmp_path / "new.json", VtnState()) is False


@pytest.mark.parametrize("content, message", [
    (b"{not json", "Cannot read the local VTN state file"),
    (b'{"programs": []}', "is not a local VTN state file"),
    (b'{"format": "venclient-local-vtn", "resources": [{"id": "x"}]}', "is damaged"),
])
def test_bad_state_file_is_one_sentence(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as caught:
        load_state(path, VtnState())
    assert str(path) in str(caught.value)


def test_save_state_replaces_atomically(tmp_path):
    path = tmp_path / "s.json"
    path.write_text("old")
    save_state({"format": "venclient-local-vtn", "vens": []}, path)
    assert json.loads(path.read_text())["vens"] == []


@pytest.mark.parametrize("batch_bytes", [1, 50, 1 << 20])
def test_streamed_save_is_the_snapshot_byte_for_byte(tmp_path, monkeypatch, batch_bytes):
    """The file written object by object is exactly ``orjson.dumps(snapshot)``, whatever the batch boundaries."""
    import orjson

    from venclient.plugins.local_vtn import state as state_module

    monkeypatch.setattr(state_module, "SAVE_BATCH_BYTES", batch_bytes)
    state = VtnState()
    seed_demo(state)
    for n in range(7):
        state.reports.add(state.stamp({"programID": "p", "eventID": "e", "clientName": f"ven{n}",
                                       "resources": [{"resourceName": f"r{n}", "intervals": []}]}, "REPORT"))
    snapshot = state.snapshot()
    snapshot["empty"] = []
    path = tmp_path / "s.json"
    save_state(snapshot, path)
    assert path.read_bytes() == orjson.dumps(snapshot)
    loaded = VtnState()
    assert load_state(path, loaded) and loaded.counts() == state.counts()


def test_a_long_save_pushes_the_next_one_back(tmp_path):
    """Saves take at most SAVE_SHARE of the time: after a save of t seconds the next waits t * (1/share - 1)."""
    from venclient.plugins.local_vtn.saver import SAVE_SHARE, StateSaver

    saver = StateSaver(VtnState(), tmp_path / "s.json", interval=5.0)
    assert saver.pause() == 5.0
    saver.last_save_seconds = 4.0
    assert saver.pause() == pytest.approx(4.0 * (1 / SAVE_SHARE - 1))
    saver.last_save_seconds = 0.5
    assert saver.pause() == 5.0
