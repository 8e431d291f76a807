"""Webhook subscriptions: the local VTN POSTs notifications to callback URLs on loopback."""

from __future__ import annotations

import asyncio
import time

from venclient.openadr import Notification, ObjectOperation, Subscription
from fixtures.vtn import sample_event
from venclient.plugins.local_vtn import DEMO_PROGRAM


async def test_event_create_update_delete_are_notified(bl_transport, ven_transport, webhook_receiver):
    program = await ven_transport.find_program(DEMO_PROGRAM)
    await ven_transport.create_subscription(Subscription(
        client_name="Aalborg", program_id=program.id, object_operations=[ObjectOperation(
            objects=["EVENT"], operations=["CREATE", "UPDATE", "DELETE"], callback_url=webhook_receiver.url,
            bearer_token="callback-secret")]))
    event = await bl_transport.create_event(sample_event(program.id))
    await bl_transport.update_event(event.id, event.model_copy(update={"priority": 5}))
    await bl_transport.delete_event(event.id)
    received = webhook_receiver.wait_for(3)
    assert len(received) == 3
    assert {auth for auth, _ in received} == {"Bearer callback-secret"}
    notes = [Notification.model_validate(body) for _, body in received]
    assert sorted(n.operation for n in notes) == ["DELETE", "POST", "PUT"]
    assert {n.object_type for n in notes} == {"EVENT"} and {n.object["id"] for n in notes} == {event.id}


async def test_only_matching_program_and_operation_are_notified(bl_transport, ven_transport, webhook_receiver,
                                                                local_vtn):
    demo = await ven_transport.find_program(DEMO_PROGRAM)
    other = await bl_transport.create_program({"programName": "other"})
    await ven_transport.create_subscription(Subscription(
        client_name="Aarhus", program_id=demo.id, object_operations=[ObjectOperation(
            objects=["EVENT"], operations=["DELETE"], callback_url=webhook_receiver.url)]))
    created = await bl_transport.create_event(sample_event(other.id))  # other program: not notified
    await bl_transport.create_event(sample_event(demo.id))  # CREATE not subscribed
    await bl_transport.delete_event(created.id)  # other program again
    target = await bl_transport.create_event(sample_event(demo.id, name="to-delete"))
    await bl_transport.delete_event(target.id)
    notifier = local_vtn.app.state.notifier
    webhook_receiver.wait_for(1)
    deadline = time.monotonic() + 10
    while (notifier.pending or notifier.sent < 1) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    received = webhook_receiver.received
    assert [(body["operation"], body["object"]["id"]) for _, body in received] == [("DELETE", target.id)]
    assert notifier.sent == 1 and notifier.failed == 0


async def test_unreachable_callback_does_not_fail_the_request(bl_transport, ven_transport, local_vtn):
    demo = await ven_transport.find_program(DEMO_PROGRAM)
    await ven_transport.create_subscription(Subscription(
        client_name="x", program_id=demo.id, object_operations=[ObjectOperation(
            objects=["EVENT"], operations=["CREATE"], callback_url="http://127.0.0.1:9/nothing-listens")]))
    event = await bl_transport.create_event(sample_event(demo.id))
    assert event.id
