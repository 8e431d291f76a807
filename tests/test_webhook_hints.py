"""Notifications are hints (issue 19.3): a running ``ven run`` (``VenRunner`` with a writer connection, polling
effectively off) re-reads from the VTN what a notification names and acts only on the VTN's answer.

A forged notification — posted to the right callback path with the right bearer token (readable by any client
that may list subscriptions) — that describes an event the VTN does not hold, or another payload than the VTN's,
or a deletion the VTN did not make, leads to nothing being written.  Real changes on the VTN reach the writer
through the notification path with the VTN's values, whatever spelling or encoding the notification uses."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from venclient.engine.events import CHANGED, CREATED, REMOVED
from venclient.model import Connection
from venclient.openadr import ValuesMap, now_utc
from venclient.engine.run import VenRunner
from fixtures.run import EventRecorder, WriterPlugin, amake_run_env, run_options
from fixtures.vtn import BL_CLIENT, make_config, sample_event, sample_program
from venclient.plugins.local_vtn import DEMO_PROGRAM
from venclient.plugins.openadr_http import HttpVtnTransport

pytestmark = pytest.mark.both_vtn_shapes  # end to end: against the plain VTN and one with every quirk


async def wait_async(condition, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return condition()


async def _env(tmp_path, vtn, checker):
    env = await amake_run_env(tmp_path, vtn, checker)
    env.recorder = EventRecorder()
    env.writers = WriterPlugin()
    env.runtime.pm.register(env.recorder, name="test-events")
    env.runtime.pm.register(env.writers, name="test-writers")
    env.target = env.store.list_loads(ven=env.vens[1])[0].resource_id
    env.store.connect_resources([env.target], Connection(id=None, type="testrelay", actortype="writer",
                                                         params={"loads": ["load_1"], "release_value": 0}))
    env.load_1 = next(l.load_id for l in env.store.get_loads_by_resource(env.target) if l.load_component == "load_1")
    return env


@pytest.fixture
async def env(tmp_path, local_vtn, contract):
    env = await _env(tmp_path, local_vtn, contract)
    yield env
    env.runtime.close()


@pytest.fixture
async def faulty_env(tmp_path, faulty_vtn):
    env = await _env(tmp_path, faulty_vtn[0], None)  # off-spec faults: no contract check
    env.faults = faulty_vtn[1]
    yield env
    env.runtime.close()


@pytest.fixture
async def business(local_vtn):
    async with HttpVtnTransport(make_config(local_vtn.url, BL_CLIENT)) as transport:
        yield transport


class Ven:
    """A running VenRunner with subscriptions and polling effectively off (one poll at start)."""

    def __init__(self, env):
        self.env = env
        self.runner = VenRunner(env.runtime, run_options(env.runtime, subscribe=True, poll_seconds=10**7))
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> "Ven":
        self.task = asyncio.create_task(self.runner.run())
        assert await wait_async(lambda: len(self.runner.stats.ticks) >= 1)
        self.client = httpx.AsyncClient(timeout=10)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.client.aclose()
        self.runner.stop()
        await asyncio.wait_for(self.task, 30)

    def token(self, program_id: str) -> str:
        """The bearer token the VTN holds for our subscription — as any client listing subscriptions sees it."""
        sub = next(s for s in self.env.vtn.state.subscriptions if s["programID"] == program_id)
        return sub["objectOperations"][0]["bearerToken"]

    async def post(self, body: object, program_id: str) -> None:
        """POST ``body`` (a dict, or text sent as is) to the callback and wait until the VEN has handled it."""
        handled = self.runner.stats.notifications
        content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        answer = await self.client.post(self.runner.callbacks.url, content=content, headers={
            "Authorization": f"Bearer {self.token(program_id)}", "Content-Type": "application/json"})
        assert answer.status_code == 200, answer.text
        assert await wait_async(lambda: self.runner.stats.notifications > handled)

    def writes(self) -> list[float]:
        return [value for load_id, value, _ in self.env.writers.writer.writes if load_id == self.env.load_1]


def shed(program_id: str, target: str, level: int, name: str = "shed") -> dict:
    """An event body of ``program_id`` asking ``target`` for SIMPLE=``level``."""
    return sample_event(program_id, name, level=level, targets=[
        ValuesMap(type="RESOURCE_NAME", values=[target])]).to_wire()


def notification(operation: str, obj: dict) -> dict:
    return {"objectType": "EVENT", "operation": operation, "object": obj}


async def test_forged_notifications_write_nothing_and_real_changes_arrive_with_the_vtns_values(env, business):
    program = (await business.find_program(DEMO_PROGRAM)).id
    async with Ven(env) as ven:
        # 1. A made-up SIMPLE=3 event, right path and right token: the VTN does not hold it.
        seen_at_start = len(env.recorder.calls)  # the VTN's own metering event, from the first poll
        forged = {**shed(program, env.target, 3), "id": "forged-1", "modificationDateTime": now_utc().isoformat()}
        await ven.post(notification("POST", forged), program)
        await ven.post(notification("PUT", forged), program)
        assert ven.writes() == [] and len(env.recorder.calls) == seen_at_start and env.recorder.of("forged-1") == []
        assert env.writers.writer.writes == []

        # 2. A real event created on the VTN reaches the writer through the notification, with the VTN's value.
        real = await business.create_event(shed(program, env.target, 1))
        assert [c for c, _ in await env.recorder.wait_for(real.id, 1)] == [CREATED]
        assert await wait_async(lambda: ven.writes() == [1.0])

        # 3. The real event's id with another payload, and a deletion the VTN did not make: nothing changes.
        await ven.post(notification("PUT", {**shed(program, env.target, 3), "id": real.id}), program)
        await ven.post(notification("DELETE", {**shed(program, env.target, 3), "id": real.id}), program)
        await ven.post(notification("POST", {"id": real.id}), program)
        assert ven.writes() == [1.0] and [c for c, _ in env.recorder.of(real.id)] == [CREATED]

        # 4. A real change and a real deletion on the VTN arrive, with the VTN's values.
        await business.update_event(real.id, shed(program, env.target, 2))
        assert await wait_async(lambda: ven.writes() == [1.0, 2.0])
        await business.delete_event(real.id)
        assert [c for c, _ in await env.recorder.wait_for(real.id, 3)] == [CREATED, CHANGED, REMOVED]
        assert await wait_async(lambda: ven.writes() == [1.0, 2.0, 0.0])  # the release value
        assert await wait_async(lambda: ven.runner.stats.notifications >= 8)  # 5 forged + 3 from the VTN


async def test_hints_in_every_spelling_and_encoding_make_the_ven_reread_the_event(env, business):
    program = (await business.find_program(DEMO_PROGRAM)).id
    async with Ven(env) as ven:
        real = await business.create_event(shed(program, env.target, 1))
        assert await wait_async(lambda: ven.writes() == [1.0])
        stored = env.vtn.state.events.get(real.id)

        def change_quietly(level: int) -> None:
            """Change the event in the VTN's storage without a notification (as if it was lost)."""
            stored["intervals"][0]["payloads"][0]["values"] = [level]
            stored["modificationDateTime"] = now_utc().isoformat()

        variants = [
            {"object_type": "EVENT", "operation": "PUT", "object": {"id": real.id, "program_id": program}},
            json.dumps(json.dumps(notification("PUT", {"id": real.id}))),  # a JSON string containing the JSON
            notification("UPDATE", {"id": real.id}),  # the subscription spelling
            {"objectType": "event", "operation": "create", "object": json.dumps({"id": real.id})},
        ]
        for level, body in enumerate(variants, start=4):
            change_quietly(level)
            await ven.post(body, program)
            assert await wait_async(lambda: ven.writes()[-1:] == [float(level)]), (body, ven.writes())
        assert ven.writes() == [1.0, 4.0, 5.0, 6.0, 7.0]


async def test_a_404_from_a_proxy_does_not_remove_an_event_the_vtn_still_lists(faulty_env):
    env = faulty_env
    async with HttpVtnTransport(make_config(env.vtn.url, BL_CLIENT)) as business:
        program = (await business.find_program(DEMO_PROGRAM)).id
        async with Ven(env) as ven:
            real = await business.create_event(shed(program, env.target, 1))
            assert await wait_async(lambda: ven.writes() == [1.0])
            proxy = env.faults.add("GET", f"/events/{real.id}", status=404, content_type="text/html",
                                   body=b"<html><body>404 Not Found</body></html>")
            await ven.post(notification("DELETE", {"id": real.id}), program)
            assert await wait_async(lambda: proxy.hits == 1)  # the VEN asked the VTN (handled after the 200) …
            assert ven.writes() == [1.0] and [c for c, _ in env.recorder.of(real.id)] == [CREATED]  # … and kept it
            await business.delete_event(real.id)
            assert [c for c, _ in await env.recorder.wait_for(real.id, 2)] == [CREATED, REMOVED]
            assert await wait_async(lambda: ven.writes() == [1.0, 0.0])


async def test_program_hints_refresh_programs_and_follow_a_new_program(env, business):
    async with Ven(env) as ven:
        demo = (await business.find_program(DEMO_PROGRAM)).id
        assert len(env.vtn.state.subscriptions) == 1
        # A program created after the start, with an event already in it (no subscription could tell us).
        extra = await business.create_program(sample_program("extra"))
        first = await business.create_event(shed(extra.id, env.target, 2))
        await ven.post({"objectType": "PROGRAM", "operation": "POST", "object": {"id": extra.id}}, demo)
        assert {s["programID"] for s in env.vtn.state.subscriptions} == {demo, extra.id}  # subscribed to it …
        assert [c for c, _ in env.recorder.of(first.id)] == [CREATED]  # … and read its events
        assert await wait_async(lambda: ven.writes() == [2.0])
        # Its events now come through its own subscription.
        second = await business.create_event(shed(extra.id, env.target, 3, name="second"))
        assert [c for c, _ in await env.recorder.wait_for(second.id, 1)] == [CREATED]
        assert await wait_async(lambda: ven.writes()[-1] == 3.0)
        # A forged PROGRAM hint changes nothing: the programs are what the VTN lists.
        await ven.post({"objectType": "PROGRAM", "operation": "DELETE", "object": {"id": extra.id}}, demo)
        assert {s["programID"] for s in env.vtn.state.subscriptions} == {demo, extra.id}
        assert [c for c, _ in env.recorder.of(first.id)] == [CREATED]
        # The program deleted on the VTN (which notifies it): its events go, and so does our subscription.
        await business.delete_program(extra.id)
        assert [c for c, _ in await env.recorder.wait_for(first.id, 2)] == [CREATED, REMOVED]
        assert [c for c, _ in await env.recorder.wait_for(second.id, 2)] == [CREATED, REMOVED]
        assert await wait_async(lambda: {s["programID"] for s in env.vtn.state.subscriptions} == {demo})
    assert len(env.vtn.state.subscriptions) == 0
