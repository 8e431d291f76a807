"""Transport behaviour under faults, against a real server on loopback (the local VTN behind a fault injector)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from venclient.openadr import Resource
from venclient.vtn_errors import (
    VtnAuthError,
    VtnConflict,
    VtnServerError,
    VtnTimeout,
    VtnUnreachable,
)
from fixtures.vtn import json_body, make_config
from venclient.plugins.local_vtn import LocalVtnServer, VtnState
from venclient.plugins.openadr_http import HttpVtnTransport


@pytest.fixture
def server(faulty_vtn):
    return faulty_vtn[0]


@pytest.fixture
def faults(faulty_vtn):
    return faulty_vtn[1]


async def test_503_then_success(server, faults):
    fault = faults.add("GET", "/programs", status=503, body=json_body({"title": "Service Unavailable", "status": 503}))
    async with HttpVtnTransport(make_config(server.url)) as vtn:
        assert len(await vtn.list_programs()) == 1
        assert fault.hits == 1 and vtn.stats.retries == 1


async def test_503_until_retries_run_out(server, faults):
    faults.add("GET", "/programs", status=503, body=b"maintenance", content_type="text/plain", times=10)
    async with HttpVtnTransport(make_config(server.url, retries=2)) as vtn:
        with pytest.raises(VtnServerError) as caught:
            await vtn.list_programs()
    assert caught.value.status == 503 and str(caught.value).endswith(": maintenance.")
    assert vtn.stats.retries == 2


async def test_429_honours_retry_after(server, faults):
    fault = faults.add("GET", "/programs", status=429, headers={"Retry-After": "0.2"}, body=b"")
    sleeps: list[float] = []
    async with HttpVtnTransport(make_config(server.url, backoff_seconds=5.0, backoff_max_seconds=5.0)) as vtn:
        original = vtn._backoff
        vtn._backoff = lambda attempt, retry_after: sleeps.append(original(attempt, retry_after)) or sleeps[-1]
        assert len(await vtn.list_programs()) == 1
    assert fault.hits == 1 and sleeps == [0.2]  # the server's wish, not the 5 s backoff


async def test_404_and_other_4xx_are_not_retried(server, faults):
    fault = faults.add("GET", "/programs", status=400, body=json_body({"title": "Bad Request", "detail": "no"}))
    async with HttpVtnTransport(make_config(server.url)) as vtn:
        with pytest.raises(Exception, match="400 Bad Request"):
            await vtn.list_programs()
        assert fault.hits == 1 and vtn.stats.retries == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_connection_refused_then_up():
    port = _free_port()
    url = f"http://127.0.0.1:{port}/openadr3/3.0.1"
    async with HttpVtnTransport(make_config(url, retries=0)) as vtn:
        with pytest.raises(VtnUnreachable) as caught:
            await vtn.list_programs()
    assert str(caught.value) == f"Cannot reach the VTN at {url}: connection refused."

    async with HttpVtnTransport(make_config(url, retries=400, backoff_seconds=0.02, backoff_max_seconds=0.05)) as vtn:
        task = asyncio.ensure_future(vtn.list_programs())
        for _ in range(500):  # wait (bounded) until at least one attempt was refused
            if vtn.stats.retries >= 1 or task.done():
                break
            await asyncio.sleep(0.01)
        assert vtn.stats.retries >= 1 and not task.done()
        server = LocalVtnServer(VtnState(), port=port).start()
        try:
            assert await asyncio.wait_for(task, 30) == []
        finally:
            server.stop()


async def test_response_slower_than_the_timeout(server, faults):
    faults.add("GET", "/programs", delay=2.5, times=1)
    async with HttpVtnTransport(make_config(server.url, timeout_seconds=1.0, retries=0)) as vtn:
        await vtn.authenticate()
        with pytest.raises(VtnTimeout) as caught:
            await vtn.list_programs()
    assert str(caught.value) == (f"The VTN at {server.url} did not answer GET {server.url}/programs within 1 s.")

    faults.add("GET", "/programs", delay=2.5, times=1)
    async with HttpVtnTransport(make_config(server.url, timeout_seconds=1.0, retries=1)) as vtn:
        assert len(await vtn.list_programs()) == 1  # the retry is answered in time


async def test_token_that_expires_mid_run_is_refreshed_once(server, faults):
    async with HttpVtnTransport(make_config(server.url)) as vtn:
        ven = await vtn.find_or_create_ven("Aalborg")
        assert vtn.stats.token_fetches == 1
        server.state.revoke_tokens()  # the VTN forgets the token (expiry or restart)
        created = await asyncio.gather(*(vtn.create_resource(ven.id, Resource(resource_name=f"r{i}")) for i in range(20)))
        assert len(created) == 20
        assert 2 <= vtn.stats.token_fetches <= 3  # one refresh shared by the requests in flight


async def test_token_is_refreshed_before_expires_in(server):
    now = [1000.0]
    server.state.token_ttl_seconds = 100
    async with HttpVtnTransport(make_config(server.url, token_refresh_margin_seconds=10), clock=lambda: now[0]) as vtn:
        await vtn.list_programs()
        now[0] += 80  # still fresh (refresh at 90 s)
        await vtn.list_programs()
        assert vtn.stats.token_fetches == 1
        now[0] += 15  # past the refresh point: a new token before the request, no 403 round trip
        await vtn.list_programs()
        assert vtn.stats.token_fetches == 2


async def test_forbidden_after_refresh_is_an_auth_error(server):
    async with HttpVtnTransport(make_config(server.url)) as vtn:
        with pytest.raises(VtnAuthError, match="lacks scope write_programs"):
            await vtn.create_program({"programName": "x"})
        assert vtn.stats.token_fetches == 2  # one refresh, then the 403 stands


async def test_wrong_secret_is_one_sentence(server):
    async with HttpVtnTransport(make_config(server.url, client=("ven-dev", "wrong"))) as vtn:
        with pytest.raises(VtnAuthError) as caught:
            await vtn.list_programs()
    assert str(caught.value) == (f"The VTN token endpoint {server.url}/auth/token refused client 'ven-dev': "
                                 "invalid_client: Unknown client or wrong secret.")


async def test_409_with_empty_list_body(server, faults):
    async with HttpVtnTransport(make_config(server.url)) as vtn:
        ven = await vtn.find_or_create_ven("Aarhus")
        faults.add("POST", "/resources", status=409, body=b"[]")
        with pytest.raises(VtnConflict) as caught:
            await vtn.create_resource(ven.id, Resource(resource_name="r1"))
        assert str(caught.value) == f"The VTN answered 409 Conflict to POST {server.url}/vens/{ven.id}/resources."
        assert caught.value.body == "[]"


async def test_409_on_ven_creation_is_resolved_by_lookup(server, faults):
    async with HttpVtnTransport(make_config(server.url)) as vtn:
        other = await vtn.find_or_create_ven("Herning")
        # Another VEN client creates "Herning2" between our lookup and our POST: simulate with a 409 answer.
        server.state.vens.add(server.state.stamp({"venName": "Herning2"}, "VEN"))
        lookup = faults.add("GET", "/vens", status=200, body=b"[]")  # our first lookup misses it
        faults.add("POST", "/vens", status=409, body=b"[]")
        ven = await vtn.find_or_create_ven("Herning2")
        assert ven.ven_name == "Herning2" and ven.id != other.id and lookup.hits == 1


async def test_plain_text_error_body(server, faults):
    faults.add("GET", "/events", status=500, body=b"Internal error: disk full", content_type="text/plain", times=5)
    async with HttpVtnTransport(make_config(server.url, retries=1)) as vtn:
        with pytest.raises(VtnServerError) as caught:
            await vtn.list_events()
    assert str(caught.value) == f"The VTN answered 500 Internal Server Error to GET {server.url}/events?skip=0&limit=50: Internal error: disk full."


async def test_token_without_expires_in_and_scope_as_list(server, faults):
    faults.add("POST", "/auth/token", status=200, times=2,
               body=json_body({"access_token": "handed-out-token", "token_type": "bearer", "scope": ["read_all"]}))
    server.state.add_token("handed-out-token", "ven-dev")
    async with HttpVtnTransport(make_config(server.url)) as vtn:
        assert await vtn.authenticate() == ("read_all",)
        assert len(await vtn.list_programs()) == 1
        server.state.revoke_tokens()
        server.state.add_token("handed-out-token", "ven-dev", ttl=0)  # now expired on the VTN
        faults.faults.clear()
        # no expires_in: the client only learns from the 403, refreshes once (real token endpoint) and retries
        assert len(await vtn.list_programs()) == 1
        assert vtn.stats.token_fetches == 2


async def test_html_error_page(server, faults):
    faults.add("GET", "/vens", status=502, content_type="text/html", times=5,
               body=b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>")
    async with HttpVtnTransport(make_config(server.url, retries=0)) as vtn:
        with pytest.raises(VtnServerError, match=r"^The VTN answered 502 Bad Gateway to GET http://127.0.0.1:\d+/openadr3/3.0.1/vens\?venName=x&skip=0&limit=50\.$"):
            await vtn.find_ven("x")


async def test_non_json_success_body_is_a_protocol_error(server, faults):
    from venclient.vtn_errors import VtnProtocolError

    faults.add("GET", "/programs", status=200, body=b"<html>login page</html>", content_type="text/html")
    async with HttpVtnTransport(make_config(server.url)) as vtn:
        with pytest.raises(VtnProtocolError, match="not a valid program"):
            await vtn.list_programs()


async def test_create_resource_id_returns_the_new_id_and_rejects_an_answer_without_one(server, faults):
    from venclient.vtn_errors import VtnProtocolError

    async with HttpVtnTransport(make_config(server.url)) as vtn:
        ven = await vtn.find_or_create_ven("Skive")
        new_id = await vtn.create_resource_id(ven.id, {"resourceName": "r1_load_0"})
        assert (await vtn.find_resource(ven.id, "r1_load_0")).id == new_id
        faults.add("POST", "/resources", status=201, body=json_body({"resourceName": "r2_load_0"}))
        with pytest.raises(VtnProtocolError, match="without the new resource's id"):
            await vtn.create_resource_id(ven.id, {"resourceName": "r2_load_0"})
        faults.add("POST", "/resources", status=409, body=b"[]")
        with pytest.raises(VtnConflict):
            await vtn.create_resource_id(ven.id, {"resourceName": "r1_load_0"})
