"""The transport never repeats a POST that may have reached the VTN, and bounds every request (size, deadline).

Against the real local VTN behind a fault injector: a ``stall`` lets the VTN act and holds its answer, so the
client times out on a request that did arrive.
"""

from __future__ import annotations

import logging
import socket

import pytest

from venclient.errors import SettingsError
from venclient.openadr import Resource
from venclient.vtn_errors import VtnResponseTooLarge, VtnServerError, VtnTimeout, VtnUnreachable
from fixtures.vtn import json_body, make_config
from venclient.plugins.openadr_http import HttpVtnTransport, VtnConfig


@pytest.fixture
def server(faulty_vtn):
    return faulty_vtn[0]


@pytest.fixture
def faults(faulty_vtn):
    return faulty_vtn[1]


def posts(faults, suffix: str) -> int:
    return sum(1 for method, path in faults.seen if method == "POST" and path.endswith(suffix))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_a_post_whose_answer_times_out_is_not_repeated(server, faults):
    async with HttpVtnTransport(make_config(server.url, timeout_seconds=1.0, retries=3)) as vtn:
        ven = await vtn.find_or_create_ven("Aalborg")
        faults.add("POST", "/resources", stall=3.0)
        with pytest.raises(VtnTimeout) as caught:
            await vtn.create_resource(ven.id, Resource(resource_name="r1_load_0"))
        assert caught.value.maybe_delivered
        assert str(caught.value).endswith("whether the VTN acted on it is unknown.")
        assert posts(faults, "/resources") == 1 and vtn.stats.retries == 0
    assert [r["resourceName"] for r in server.state.resources[ven.id]] == ["r1_load_0"]  # it did arrive, once


async def test_a_get_whose_answer_times_out_is_still_retried(server, faults):
    faults.add("GET", "/programs", stall=2.5)
    async with HttpVtnTransport(make_config(server.url, timeout_seconds=1.0, retries=1)) as vtn:
        assert len(await vtn.list_programs()) == 1
        assert vtn.stats.retries == 1


async def test_a_post_that_surely_did_not_arrive_is_retried():
    url = f"http://127.0.0.1:{_free_port()}/openadr3/3.0.1"
    async with HttpVtnTransport(make_config(url, client=None, retries=2)) as vtn:
        with pytest.raises(VtnUnreachable) as caught:
            await vtn.create_report({"programID": "p", "eventID": "e", "clientName": "c", "resources": []})
        assert not caught.value.maybe_delivered and vtn.stats.retries == 2
        assert str(caught.value) == f"Cannot reach the VTN at {url}: connection refused."


@pytest.mark.parametrize("status", [503, 429, 408])
async def test_a_post_answered_not_processed_is_retried(server, faults, status):
    fault = faults.add("POST", "/vens", status=status, body=json_body({"title": "busy", "status": status}))
    async with HttpVtnTransport(make_config(server.url)) as vtn:
        ven = await vtn.create_ven({"venName": "Skagen"})
    assert fault.hits == 1 and ven.ven_name == "Skagen"
    assert [v["venName"] for v in server.state.vens] == ["Skagen"]


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_a_post_answered_with_an_ambiguous_5xx_is_not_repeated(server, faults, status):
    fault = faults.add("POST", "/vens", status=status, content_type="text/html", times=5,
                       body=b"<html><title>Gateway</title></html>")
    async with HttpVtnTransport(make_config(server.url, retries=3)) as vtn:
        with pytest.raises(VtnServerError) as caught:
            await vtn.create_ven({"venName": "Skagen"})
        assert caught.value.maybe_delivered and caught.value.status == status
        assert fault.hits == 1
        # the same answer to a GET is retried as before
        get = faults.add("GET", "/vens", status=status, times=1)
        assert await vtn.list_vens() == []
        assert get.hits == 1 and vtn.stats.retries == 1


async def test_find_or_create_ven_after_a_stalled_create_adopts_instead_of_creating_again(server, faults):
    faults.add("POST", "/vens", stall=2.5)
    async with HttpVtnTransport(make_config(server.url, timeout_seconds=1.0)) as vtn:
        ven = await vtn.find_or_create_ven("Randers")
    assert [v["venName"] for v in server.state.vens] == ["Randers"]
    assert ven.id == server.state.vens.id_for_name("Randers")
    assert posts(faults, "/vens") == 1


async def test_find_or_create_ven_after_a_create_that_never_arrived_creates_again(server, faults):
    faults.add("POST", "/vens", status=502, body=b"", times=1)  # unknown outcome; the look-up finds nothing
    async with HttpVtnTransport(make_config(server.url)) as vtn:
        ven = await vtn.find_or_create_ven("Randers")
    assert [v["venName"] for v in server.state.vens] == ["Randers"] and ven.ven_name == "Randers"
    assert posts(faults, "/vens") == 2


# ------------------------------------------------------------------ bounded requests
async def test_an_answer_bigger_than_max_response_bytes_is_abandoned(server, faults):
    faults.add("GET", "/programs", status=200, body=b"[" + b" " * (2 << 20) + b"]")  # with a Content-Length
    async with HttpVtnTransport(make_config(server.url, max_response_bytes=1 << 20)) as vtn:
        with pytest.raises(VtnResponseTooLarge) as caught:
            await vtn.list_programs()
        assert str(caught.value) == (f"The VTN's answer to GET {server.url}/programs?skip=0&limit=50 is larger than "
                                     "vtn.max_response_bytes (1 MiB), so it was abandoned.")
        assert vtn.stats.retries == 0
        assert len(await vtn.list_programs()) == 1  # the connection pool is fine afterwards


async def test_a_streamed_answer_is_cut_off_at_max_response_bytes_without_reading_it_all(server, faults):
    piece = b" " * 65536
    endless = faults.add("GET", "/events", status=200, body=piece, chunk=len(piece), body_repeats=20_000)  # 1.3 GB
    async with HttpVtnTransport(make_config(server.url, max_response_bytes=1 << 20)) as vtn:
        with pytest.raises(VtnResponseTooLarge, match="larger than vtn.max_response_bytes"):
            await vtn.list_events()
    assert endless.pieces_sent < 2_000  # the client went away after about 1 MiB (plus socket buffers), not 1.3 GB


async def test_a_trickling_answer_is_ended_by_the_request_deadline(server, faults):
    trickle = faults.add("GET", "/programs", status=200, body=b"[" + b" " * 200 + b"]", chunk=1, trickle=0.2)
    async with HttpVtnTransport(make_config(server.url, timeout_seconds=1.0, request_deadline_seconds=1.5,
                                            retries=0)) as vtn:
        with pytest.raises(VtnTimeout) as caught:
            await vtn.list_programs()
    assert str(caught.value) == (f"The VTN at {server.url} did not finish answering GET {server.url}/programs within "
                                 "vtn.request_deadline_seconds (1.5 s).")
    assert trickle.pieces_sent < 202  # each piece came well within the 1 s read timeout; the deadline ended it


async def test_a_trickling_answer_to_a_post_has_an_unknown_outcome(server, faults):
    faults.add("POST", "/vens", status=201, body=json_body({"id": "x", "venName": "Ry"}), chunk=1, trickle=0.2)
    async with HttpVtnTransport(make_config(server.url, timeout_seconds=1.0, request_deadline_seconds=1.5)) as vtn:
        with pytest.raises(VtnTimeout) as caught:
            await vtn.create_ven({"venName": "Ry"})
    assert caught.value.maybe_delivered and posts(faults, "/vens") == 1


def test_the_deadline_may_not_be_shorter_than_the_timeout():
    with pytest.raises(SettingsError, match=r"^vtn.request_deadline_seconds \(5 s\) must not be shorter than "
                                            r"vtn.timeout_seconds \(10 s\)"):
        VtnConfig(url="http://127.0.0.1:1/openadr3/3.0.1", timeout_seconds=10, request_deadline_seconds=5)


def test_bounds_come_from_settings_with_defaults(tmp_path):
    from venclient.runtime import Runtime
    from fixtures.core import make_settings

    runtime = Runtime.create(make_settings(tmp_path, **{"vtn.url": "http://127.0.0.1:1/openadr3/3.0.1"}))
    try:
        config = VtnConfig.from_settings(runtime.settings)
    finally:
        runtime.close()
    assert config.max_response_bytes == 64 * 1024 * 1024 and config.request_deadline_seconds == 60.0


@pytest.mark.parametrize(("key", "value", "message"), [
    ("VEN_VTN__MAX_RESPONSE_BYTES", "@int 10", "vtn.max_response_bytes must be a whole number of bytes"),
    ("VEN_VTN__REQUEST_DEADLINE_SECONDS", "@float 0", "vtn.request_deadline_seconds must be a number of seconds"),
])
def test_invalid_bounds_are_one_sentence(tmp_path, key, value, message):
    from fixtures.vtn import run_ven

    result = run_ven("settings", env={key: value, "VEN_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


async def test_verify_tls_off_warns_once_per_transport(server, caplog):
    caplog.set_level(logging.WARNING, logger="venclient.vtn")
    vtn = HttpVtnTransport(make_config(server.url, verify_tls=False))
    async with vtn:
        await vtn.list_programs()
    async with vtn:  # opened again: no second warning
        await vtn.list_programs()
    warnings = [r.getMessage() for r in caplog.records if "verify_tls" in r.getMessage()]
    assert warnings == [f"vtn.verify_tls is off: the VTN's TLS certificate is not checked, so anyone on the network "
                        f"path could impersonate the VTN at {server.url}."]
    caplog.clear()
    async with HttpVtnTransport(make_config(server.url)) as checked:
        await checked.list_programs()
    assert not [r for r in caplog.records if "verify_tls" in r.getMessage()]
