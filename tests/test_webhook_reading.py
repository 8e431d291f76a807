"""What real VTNs send to and return for webhooks, read tolerantly: notification bodies in camelCase or snake_case,
as a JSON string holding the JSON, with either operation spelling (the spec's notification ``operation`` is
GET/POST/PUT/DELETE, a subscription's ``operations`` READ/CREATE/UPDATE/DELETE); subscriptions read back in
either spelling and key style."""

from __future__ import annotations

import json

import pytest

from venclient.engine.webhook import camel_key, listed_subscription, read_notification, read_subscription

EVENT = {"id": "e-1", "programID": "p-1", "intervals": []}
SPEC_SHAPE = {"objectType": "EVENT", "operation": "POST", "object": EVENT}


def _double(data) -> str:
    return json.dumps(json.dumps(data))


@pytest.mark.parametrize("body, operation", [
    (json.dumps(SPEC_SHAPE), "POST"),
    (json.dumps({**SPEC_SHAPE, "operation": "CREATE"}), "POST"),
    (json.dumps({**SPEC_SHAPE, "operation": "update"}), "PUT"),
    (json.dumps({**SPEC_SHAPE, "operation": "READ"}), "GET"),
    (json.dumps({**SPEC_SHAPE, "operation": "DELETE"}), "DELETE"),
    (_double(SPEC_SHAPE), "POST"),  # a JSON string containing the JSON
    (json.dumps({"object_type": "event", "operation": "PUT",
                 "object": {"id": "e-1", "program_id": "p-1", "intervals": []}}), "PUT"),
    (json.dumps({**SPEC_SHAPE, "object": json.dumps(EVENT)}), "POST"),  # the object itself as JSON text
])
def test_notification_variants_read_as_the_spec_shape(body, operation):
    note = read_notification(body.encode())
    assert note["objectType"] == "EVENT" and note["operation"] == operation
    assert note["object"]["id"] == "e-1" and note["object"]["programID"] == "p-1"


@pytest.mark.parametrize("body, words", [
    (b"not json", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (json.dumps({"operation": "POST", "object": {}}).encode(), "objectType is missing"),
    (json.dumps({**SPEC_SHAPE, "operation": "PATCH"}).encode(), "operation must be one of"),
    (json.dumps({"objectType": "EVENT", "operation": "POST"}).encode(), "object is missing"),
    (json.dumps(json.dumps("just text")).encode(), "not a JSON object"),
])
def test_what_is_not_a_notification_says_why(body, words):
    with pytest.raises(ValueError, match=words):
        read_notification(body)


@pytest.mark.parametrize("key, camel", [("object_type", "objectType"), ("program_id", "programID"),
                                        ("callback_url", "callbackUrl"), ("bearer_token", "bearerToken"),
                                        ("object_operations", "objectOperations"), ("clientName", "clientName"),
                                        ("id", "id"), ("URL", "URL")])
def test_snake_case_keys_become_the_spec_names(key, camel):
    assert camel_key(key) == camel


@pytest.mark.parametrize("operations", [["CREATE", "UPDATE", "DELETE"], ["POST", "PUT", "DELETE"],
                                        ["post", "put", "delete"]])
@pytest.mark.parametrize("snake", [False, True])
def test_subscriptions_read_back_in_either_spelling(operations, snake):
    entry = {"objects": ["EVENT"], "operations": operations, "callbackUrl": "http://127.0.0.1:9/n",
             "bearerToken": "t"}
    data = {"id": "s-1", "clientName": "VEN-1", "programID": "p-1", "objectOperations": [entry],
            "createdDateTime": "yesterday"}  # a server timestamp we cannot read does not hide it
    if snake:
        data = {"id": "s-1", "client_name": "VEN-1", "program_id": "p-1", "object_operations": [
            {"objects": ["EVENT"], "operations": operations, "callback_url": "http://127.0.0.1:9/n"}]}
    sub = read_subscription(data)
    assert sub is not None and sub.id == "s-1" and sub.program_id == "p-1" and sub.client_name == "VEN-1"
    assert sub.object_operations[0].operations == ["CREATE", "UPDATE", "DELETE"]
    listed = listed_subscription(data)
    assert (listed.id, listed.client_name, listed.callback_urls) == ("s-1", "VEN-1", ("http://127.0.0.1:9/n",))


def test_a_listing_entry_without_an_id_is_not_a_subscription():
    assert listed_subscription({"clientName": "VEN-1"}) is None
    assert read_subscription(["not", "an", "object"]) is None
