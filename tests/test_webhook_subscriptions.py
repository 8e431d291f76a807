"""Our subscriptions on the (real, local) VTN: PROGRAM and EVENT changes per followed program, each with its own
fresh random bearer token that is never logged; a refused subscription is retried with exponential backoff and
logged once per streak; ours and an earlier run's are deleted also when the VTN returns them in the other
operation spelling (GET/POST/PUT/DELETE instead of the spec's READ/CREATE/UPDATE/DELETE)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from venclient.openadr import ObjectOperation, Subscription
from venclient.engine.webhook import CALLBACK_PATH, CallbackServer, Subscriptions
from fixtures.vtn import BL_CLIENT, json_body, make_config, sample_program
from venclient.plugins.local_vtn import DEMO_PROGRAM
from venclient.plugins.openadr_http import HttpVtnTransport

CLIENT = "VEN-test"


class FakeClock:
    """A monotonic clock a test moves by hand (only the backoff reads it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server(faulty_vtn):
    return faulty_vtn[0]


@pytest.fixture
def faults(faulty_vtn):
    return faulty_vtn[1]


@pytest.fixture
async def vtn(server):
    async with HttpVtnTransport(make_config(server.url)) as transport:
        yield transport


@pytest.fixture
async def callbacks():
    server = CallbackServer(lambda note: asyncio.sleep(0), asyncio.get_running_loop())
    return server  # never started: only its accepted tokens are used here


async def demo_id(vtn) -> str:
    return (await vtn.find_program(DEMO_PROGRAM)).id


def subscriptions(vtn, callbacks=None, clock=None, url="http://127.0.0.1:8123" + CALLBACK_PATH) -> Subscriptions:
    return Subscriptions(vtn, client_name=CLIENT, callback_url=url, server=callbacks, backoff_base=10.0,
                         backoff_max=1000.0, **({"clock": clock} if clock else {}))


def http_spelling(stored: dict) -> None:
    """Rewrite a subscription the VTN holds to the HTTP operation spelling (as some VTNs store and return them)."""
    names = {"READ": "GET", "CREATE": "POST", "UPDATE": "PUT", "DELETE": "DELETE"}
    for entry in stored["objectOperations"]:
        entry["operations"] = [names[o] for o in entry["operations"]]


async def test_each_subscription_has_its_own_fresh_token_and_follows_programs_and_events(
        server, vtn, callbacks, caplog):
    caplog.set_level(logging.DEBUG)
    async with HttpVtnTransport(make_config(server.url, BL_CLIENT)) as business:
        second = await business.create_program(sample_program("second"))
    subs = subscriptions(vtn, callbacks)
    assert sorted(await subs.sync([await demo_id(vtn), second.id])) == sorted([await demo_id(vtn), second.id])
    stored = list(server.state.subscriptions)
    assert len(stored) == 2
    entries = [s["objectOperations"][0] for s in stored]
    assert all(set(e["objects"]) == {"PROGRAM", "EVENT"} and e["operations"] == ["CREATE", "UPDATE", "DELETE"]
               for e in entries)
    tokens = [e["bearerToken"] for e in entries]
    assert len(set(tokens)) == 2 and all(len(t) >= 32 for t in tokens)
    assert all(callbacks.authorized(f"Bearer {t}") for t in tokens)
    again = subscriptions(vtn, CallbackServer(lambda n: asyncio.sleep(0), asyncio.get_running_loop()),
                          url="http://127.0.0.1:8123/another/callback")  # its exit sweep leaves `subs` alone
    assert set(again.body("p", "x").object_operations[0].objects) == {"PROGRAM", "EVENT"}
    await again.sync([await demo_id(vtn)])  # another run: another token
    assert again.token(await demo_id(vtn)) not in tokens
    await again.close()
    await subs.sync([await demo_id(vtn)])  # the second program is no longer followed: its subscription goes
    assert [s["programID"] for s in server.state.subscriptions] == [await demo_id(vtn)]
    assert not callbacks.authorized(f"Bearer {tokens[[s['programID'] for s in stored].index(second.id)]}")
    assert await subs.close() == 1
    assert len(server.state.subscriptions) == 0 and not any(callbacks.authorized(f"Bearer {t}") for t in tokens)
    assert not any(t in caplog.text for t in tokens)


async def test_a_refused_subscription_is_retried_with_backoff_and_logged_once_per_streak(
        server, faults, vtn, callbacks, caplog):
    caplog.set_level(logging.INFO, logger="venclient.webhook")
    clock = FakeClock()
    refusal = faults.add("POST", "/subscriptions", status=400, times=3, body=json_body(
        {"title": "Bad Request", "status": 400, "detail": "Subscriptions are switched off."}))
    subs = subscriptions(vtn, callbacks, clock)
    program = await demo_id(vtn)
    assert await subs.sync([program]) == [] and refusal.hits == 1
    assert await subs.sync([program]) == [] and refusal.hits == 1  # not on every poll
    assert subs.retry_in(program) == 10.0
    clock.now += 10
    assert await subs.sync([program]) == [] and refusal.hits == 2
    assert subs.retry_in(program) == 20.0  # doubled
    clock.now += 10
    assert await subs.sync([program]) == [] and refusal.hits == 2
    clock.now += 10
    assert await subs.sync([program]) == [] and refusal.hits == 3
    clock.now += 40
    assert await subs.sync([program]) == [program] and refusal.hits == 3  # the fault is used up: accepted
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and program in warnings[0] and "switched off" in warnings[0]
    assert any("after 3 refused attempts" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    assert subs.retry_in(program) is None and len(server.state.subscriptions) == 1
    token = subs.token(program)
    assert callbacks.authorized(f"Bearer {token}") and token not in caplog.text
    await subs.close()


async def test_a_refusal_by_the_vtn_itself_leaves_no_token_accepted(server, vtn, callbacks, caplog):
    subs = subscriptions(vtn, callbacks)
    assert await subs.sync(["no-such-program"]) == []  # the VTN refuses an unknown programID
    assert 0 < subs.retry_in("no-such-program") <= 10.0 and callbacks.accepted == 0
    assert "no-such-program" in caplog.text and len(server.state.subscriptions) == 0


async def test_an_earlier_runs_subscriptions_in_the_other_spelling_are_deleted(server, vtn):
    program = await demo_id(vtn)
    subs = subscriptions(vtn)

    def stale(client: str, url: str) -> Subscription:
        return Subscription(client_name=client, program_id=program, object_operations=[ObjectOperation(
            objects=["EVENT"], operations=["CREATE", "DELETE"], callback_url=url)])

    left = await vtn.create_subscription(stale(CLIENT, "http://127.0.0.1:9" + CALLBACK_PATH))  # other port
    foreign = await vtn.create_subscription(stale("someone-else", "http://127.0.0.1:9" + CALLBACK_PATH))
    elsewhere = await vtn.create_subscription(stale(CLIENT, "http://127.0.0.1:9/another/path"))
    for sub in (left, foreign, elsewhere):
        http_spelling(server.state.subscriptions.get(sub.id))
    listed = await vtn.list_subscriptions()  # the typed listing reads either spelling as the spec's
    assert len(listed) == 3 and all(s.object_operations[0].operations == ["CREATE", "DELETE"] for s in listed)
    assert await subs.remove_stale() == 1
    assert {s["id"] for s in server.state.subscriptions} == {foreign.id, elsewhere.id}


async def test_ours_are_deleted_at_exit_when_the_vtn_returns_them_in_the_other_spelling(server, vtn, callbacks):
    program = await demo_id(vtn)
    subs = subscriptions(vtn, callbacks)
    await subs.sync([program])
    ours = next(iter(server.state.subscriptions))
    http_spelling(ours)
    # A creation whose answer was lost: on the VTN with our name and callback, unknown to `subs`.
    lost = await vtn.create_subscription(subs.body(program, "lost-token"))
    assert await subs.close() == 2
    assert len(server.state.subscriptions) == 0 and lost.id not in {s["id"] for s in server.state.subscriptions}


async def test_a_creation_answered_in_the_other_spelling_counts_as_created(server, faults, vtn, caplog):
    program = await demo_id(vtn)
    faults.add("POST", "/subscriptions", status=201, body=json_body({
        "id": "sub-http", "client_name": CLIENT, "program_id": program, "object_operations": [
            {"objects": ["PROGRAM", "EVENT"], "operations": ["POST", "PUT", "DELETE"],
             "callback_url": "http://127.0.0.1:8123" + CALLBACK_PATH}]}))
    subs = subscriptions(vtn)
    assert await subs.sync([program]) == [program]
    assert subs.by_program == {program: "sub-http"} and subs.retry_in(program) is None
    assert await subs.close() == 0  # the VTN never held it (the answer was injected): 404, nothing to do
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
