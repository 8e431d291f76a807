"""Events reach plugins and writers while ``ven run`` runs: by polling, and through webhook notifications
(subscriptions created per program, deleted at shutdown; a notification arrives long before the next poll)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from venclient.engine.events import CHANGED, CREATED, REMOVED
from venclient.model import Connection
from venclient.openadr import ObjectOperation, Subscription, ValuesMap
from venclient.engine.run import VenRunner, subscription_client_name
from venclient.engine.webhook import CALLBACK_PATH, CallbackServer
from fixtures.run import EventRecorder, WriterPlugin, amake_run_env, run_options
from fixtures.vtn import sample_event
from venclient.plugins.local_vtn import DEMO_PROGRAM

pytestmark = pytest.mark.both_vtn_shapes  # end to end: against the plain VTN and one with every quirk


async def wait_async(condition, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return condition()


@pytest.fixture
async def env(tmp_path, local_vtn, contract):
    env = await amake_run_env(tmp_path, local_vtn, contract)
    env.recorder = EventRecorder()
    env.writers = WriterPlugin()
    env.runtime.pm.register(env.recorder, name="test-events")
    env.runtime.pm.register(env.writers, name="test-writers")
    yield env
    env.runtime.close()


async def start_runner(env, **overrides) -> tuple[VenRunner, asyncio.Task]:
    runner = VenRunner(env.runtime, run_options(env.runtime, interval_seconds=1.0, speed=50.0, **overrides))
    task = asyncio.create_task(runner.run())
    assert await wait_async(lambda: len(runner.stats.ticks) >= 1)
    return runner, task


async def stop_runner(runner: VenRunner, task: asyncio.Task) -> None:
    runner.stop()
    await asyncio.wait_for(task, 30)


async def test_polling_delivers_changes_and_the_writer_acts(env, bl_transport):
    target = env.store.list_loads(ven=env.vens[1])[0].resource_id
    env.store.connect_resources([target], Connection(id=None, type="testrelay", actortype="writer",
                                                     params={"loads": ["load_1"], "release_value": 0}))
    runner, task = await start_runner(env, poll_seconds=2.0)  # a poll every 2 simulated s (0.04 s)
    try:
        program = await bl_transport.find_program(DEMO_PROGRAM)
        event = await bl_transport.create_event(sample_event(program.id, "shed", level=5, targets=[
            ValuesMap(type="RESOURCE_NAME", values=[target])]))
        assert [c for c, _ in await env.recorder.wait_for(event.id, 1)] == [CREATED]
        load_1 = next(l for l in env.store.get_loads_by_resource(target) if l.load_component == "load_1")
        assert await wait_async(lambda: (load_1.load_id, 5.0) in [(w[0], w[1]) for w in env.writers.writer.writes])
        await bl_transport.update_event(event.id, sample_event(program.id, "shed", level=2, targets=[
            ValuesMap(type="RESOURCE_NAME", values=[target])]))
        assert [c for c, _ in await env.recorder.wait_for(event.id, 2)] == [CREATED, CHANGED]
        assert await wait_async(lambda: (load_1.load_id, 2.0) in [(w[0], w[1]) for w in env.writers.writer.writes])
        await bl_transport.delete_event(event.id)
        assert [c for c, _ in await env.recorder.wait_for(event.id, 3)] == [CREATED, CHANGED, REMOVED]
        assert await wait_async(lambda: env.writers.writer.writes[-1][:2] == (load_1.load_id, 0.0))
    finally:
        await stop_runner(runner, task)
    loads = env.recorder.of(event.id)[0][1]
    assert {l.resource_id for l in loads} == {target} and len(loads) == 6


async def test_webhook_notifications_arrive_before_the_next_poll(env, bl_transport, local_vtn):
    runner, task = await start_runner(env, subscribe=True, poll_seconds=10**7)  # no poll after the first
    try:
        state = local_vtn.state
        assert len(state.subscriptions) == 1  # one per followed program (the VTN has one)
        sub = next(iter(state.subscriptions))
        assert sub["clientName"] == subscription_client_name(env.vens)
        operation = sub["objectOperations"][0]
        assert set(operation["objects"]) == {"PROGRAM", "EVENT"}
        # what we asked for, as the VTN stores it (the notify-http-verbs quirk keeps the HTTP spelling)
        spelled = ["POST", "PUT", "DELETE"] if local_vtn.quirks.notify_http_verbs else ["CREATE", "UPDATE", "DELETE"]
        assert operation["operations"] == spelled
        assert operation["callbackUrl"] == runner.callbacks.url and len(operation["bearerToken"]) >= 32
        program = await bl_transport.find_program(DEMO_PROGRAM)
        event = await bl_transport.create_event(sample_event(program.id, "pushed", targets=[
            ValuesMap(type="VEN_NAME", values=[env.vens[0]])]))
        calls = await env.recorder.wait_for(event.id, 1)
        assert [c for c, _ in calls] == [CREATED]
        assert {l.load_id for l in calls[0][1]} == {l.load_id for l in env.store.list_loads(ven=env.vens[0])}
        await bl_transport.update_event(event.id, event.model_copy(update={"priority": 3}))
        # Each notification is re-read from the VTN: the change is seen before the event is deleted.
        assert [c for c, _ in await env.recorder.wait_for(event.id, 2)] == [CREATED, CHANGED]
        await bl_transport.delete_event(event.id)
        assert [c for c, _ in await env.recorder.wait_for(event.id, 3)] == [CREATED, CHANGED, REMOVED]
        # Counted once handled (re-read from the VTN and dispatched): the last may still be finishing.
        assert await wait_async(lambda: runner.stats.notifications >= 3) and runner.callbacks.received >= 3
    finally:
        await stop_runner(runner, task)
    assert len(state.subscriptions) == 0  # deleted at shutdown
    assert runner.callbacks is None


async def test_subscriptions_left_by_a_killed_run_are_replaced(env, bl_transport, local_vtn):
    program = await bl_transport.find_program(DEMO_PROGRAM)
    async with env.runtime.transport() as transport:
        stale = await transport.create_subscription(Subscription(
            client_name=subscription_client_name(env.vens), program_id=program.id, object_operations=[
                ObjectOperation(objects=["EVENT"], operations=["CREATE"],
                                callback_url=f"http://127.0.0.1:9{CALLBACK_PATH}")]))
        foreign = await transport.create_subscription(Subscription(
            client_name="someone-else", program_id=program.id, object_operations=[
                ObjectOperation(objects=["EVENT"], operations=["CREATE"],
                                callback_url=f"http://127.0.0.1:9{CALLBACK_PATH}")]))
    runner, task = await start_runner(env, subscribe=True, poll_seconds=10**7)
    try:
        ids = {s["id"] for s in local_vtn.state.subscriptions}
        assert stale.id not in ids and foreign.id in ids and len(ids) == 2
    finally:
        await stop_runner(runner, task)
    assert [s["id"] for s in local_vtn.state.subscriptions] == [foreign.id]


async def test_callback_server_checks_token_and_body():
    seen: list[dict] = []

    async def handler(notification):
        seen.append(notification)

    server = await asyncio.to_thread(CallbackServer(handler, asyncio.get_running_loop(), token="s3cret").start)
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            note = {"objectType": "EVENT", "operation": "POST", "object": {"id": "e1"}}
            missing = await client.post(server.url, json=note)
            assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
            wrong = await client.post(server.url, json=note, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            auth = {"Authorization": "Bearer s3cret"}
            bad = await client.post(server.url, json={"objectType": "EVENT", "operation": "PATCH", "object": {}},
                                    headers=auth)
            assert bad.status_code == 400 and "operation" in bad.json()["detail"]
            assert (await client.post(server.url, content=b"not json", headers=auth)).status_code == 400
            assert (await client.post(server.url, json=note, headers=auth)).status_code == 200
        assert await wait_async(lambda: len(seen) == 1)
        assert seen == [note] and server.refused == 2
    finally:
        await asyncio.to_thread(server.stop)
