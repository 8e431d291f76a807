"""The callback server: only a notification with one of its subscriptions' bearer tokens passes (401 otherwise,
before the body is read); the variants real VTNs send are handed over in the spec's shape."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from venclient.engine.webhook import MAX_NOTIFICATION_BYTES, CallbackServer

NOTE = {"objectType": "EVENT", "operation": "POST", "object": {"id": "e-1", "programID": "p-1"}}


async def wait_async(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return condition()


@pytest.fixture
async def server():
    seen: list[dict] = []

    async def handler(notification):
        seen.append(notification)

    server = await asyncio.to_thread(CallbackServer(handler, asyncio.get_running_loop()).start)
    server.seen = seen
    yield server
    await asyncio.to_thread(server.stop)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_only_accepted_tokens_pass_and_revoked_ones_stop(server):
    async with httpx.AsyncClient(timeout=5) as client:
        assert (await client.post(server.url, json=NOTE)).status_code == 401  # no token accepted yet
        server.accept("first-token")
        server.accept("second-token")
        for headers in ({}, bearer("nope"), bearer("first-toke"), bearer("first-token-and-more"),
                        {"Authorization": "Basic first-token"}, {"Authorization": "first-token"}):
            answer = await client.post(server.url, json=NOTE, headers=headers)
            assert answer.status_code == 401, headers
            assert answer.headers["www-authenticate"].startswith("Bearer")
            assert answer.json()["status"] == 401
        assert (await client.post(server.url, json=NOTE, headers=bearer("first-token"))).status_code == 200
        assert (await client.post(server.url, json=NOTE, headers={"Authorization": "bearer second-token"})
                ).status_code == 200  # the scheme is case-insensitive (RFC 7235)
        server.revoke("first-token")
        assert (await client.post(server.url, json=NOTE, headers=bearer("first-token"))).status_code == 401
        assert (await client.post(server.url, json=NOTE, headers=bearer("second-token"))).status_code == 200
    assert await wait_async(lambda: len(server.seen) == 3)
    assert server.refused == 8 and server.received == 3


async def test_variant_bodies_are_handed_over_in_the_spec_shape(server):
    server.accept("t")
    variants = [
        json.dumps(json.dumps(NOTE)),  # a JSON string containing the JSON
        json.dumps({"object_type": "EVENT", "operation": "CREATE", "object": {"id": "e-1", "program_id": "p-1"}}),
        json.dumps({**NOTE, "operation": "UPDATE"}),
        json.dumps({**NOTE, "operation": "delete"}),
    ]
    async with httpx.AsyncClient(timeout=5) as client:
        for body in variants:
            answer = await client.post(server.url, content=body.encode(), headers=bearer("t"))
            assert answer.status_code == 200, body
    assert await wait_async(lambda: len(server.seen) == len(variants))
    assert [n["operation"] for n in server.seen] == ["POST", "POST", "PUT", "DELETE"]
    assert all(n["objectType"] == "EVENT" and n["object"] == {"id": "e-1", "programID": "p-1"} for n in server.seen)


async def test_bad_and_oversized_bodies_are_refused_with_a_reason(server):
    server.accept("t")
    async with httpx.AsyncClient(timeout=5) as client:
        bad = await client.post(server.url, json={"objectType": "EVENT", "operation": "PATCH", "object": {}},
                                headers=bearer("t"))
        assert bad.status_code == 400 and "operation" in bad.json()["detail"]
        huge = await client.post(server.url, content=b" " * (MAX_NOTIFICATION_BYTES + 1), headers=bearer("t"))
        assert huge.status_code == 413
        unauthorised_huge = await client.post(server.url, content=b" " * (MAX_NOTIFICATION_BYTES + 1))
        assert unauthorised_huge.status_code == 401
    await asyncio.sleep(0.1)
    assert server.seen == [] and server.received == 0
