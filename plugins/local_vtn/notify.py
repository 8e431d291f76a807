"""Webhook notifications: POST an OpenADR ``notification`` to each matching subscription's callback URL.

A subscription matches an operation on an object when one of its ``objectOperations`` names the object
type and the operation (CREATE/UPDATE/DELETE), and its ``programID`` is the object's program (events,
reports), the program itself, or the object belongs to no program (VENs, resources, subscriptions).
Deliveries run as background tasks (at most ``max_pending`` at once, further ones are dropped and counted),
each with a timeout; a failing callback is logged and does not affect the request that caused it.

Two quirks change the wire shapes: ``notify-http-verbs`` (subscriptions spell operations GET/POST/PUT/DELETE,
notifications carry CREATE/UPDATE/DELETE — both the other way round from the spec) and
``notify-double-encoded`` (the body is a JSON string whose content is the notification JSON).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import orjson

from venclient.plugins.local_vtn.quirks import Quirks
from venclient.plugins.local_vtn.state import VtnState

log = logging.getLogger("venclient.local_vtn")

OPERATION_NAMES = {"POST": "CREATE", "PUT": "UPDATE", "DELETE": "DELETE"}
"""A notification's operation (the HTTP method) -> the subscription's spelling of it in the spec."""
HTTP_SPELLING = {"READ": "GET", "CREATE": "POST", "UPDATE": "PUT", "DELETE": "DELETE"}
"""A subscription operation in the spec's spelling -> the HTTP spelling of the ``notify-http-verbs`` quirk."""
SPEC_SPELLING = {http: spec for spec, http in HTTP_SPELLING.items()}


def spec_operations(body: Any) -> Any:
    """A decoded subscription body with HTTP-spelled ``objectOperations[].operations`` in the spec's spelling.

    Anything else (including a body of the wrong shape, left for validation to refuse) passes unchanged.
    """
    if not isinstance(body, dict) or not isinstance(body.get("objectOperations"), list):
        return body
    entries = []
    for entry in body["objectOperations"]:
        if isinstance(entry, dict) and isinstance(entry.get("operations"), list):
            entry = {**entry, "operations": [SPEC_SPELLING.get(op, op) if isinstance(op, str) else op
                                             for op in entry["operations"]]}
        entries.append(entry)
    return {**body, "objectOperations": entries}


def to_http_operations(subscription: dict[str, Any]) -> dict[str, Any]:
    """A validated subscription wire dict with its operations in the HTTP spelling."""
    return {**subscription, "objectOperations": [
        {**entry, "operations": [HTTP_SPELLING.get(op, op) for op in entry.get("operations", ())]}
        for entry in subscription.get("objectOperations") or ()]}


def _program_matches(subscription: dict[str, Any], object_type: str, obj: dict[str, Any]) -> bool:
    program_id = subscription.get("programID")
    if object_type == "PROGRAM":
        return obj.get("id") == program_id
    owner = obj.get("programID")
    return owner is None or owner == program_id


class Notifier:
    """Sends notifications for one VTN state; ``start()``/``stop()`` open and close its HTTP client.

    ``quirks``: ``notify_http_verbs`` and ``notify_double_encoded`` change what is matched and sent.
    """

    def __init__(self, state: VtnState, *, timeout: float = 5.0, max_pending: int = 1000,
                 quirks: Quirks | None = None):
        self.state = state
        self.quirks = quirks or Quirks()
        self.timeout = timeout
        self.max_pending = max_pending
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task] = set()

    @property
    def pending(self) -> int:
        """Deliveries in flight."""
        return len(self._tasks)

    async def start(self) -> None:
        """Open the HTTP client."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)

    async def stop(self, grace: float = 2.0) -> None:
        """Wait up to ``grace`` seconds for deliveries in flight, cancel the rest, close the client."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def targets_for(self, object_type: str, operation: str, obj: dict[str, Any]) -> list[tuple[str, str | None]]:
        """``(callbackUrl, bearerToken)`` of every subscription wanting this operation on this object."""
        spec_name = OPERATION_NAMES.get(operation, operation)
        # notify-http-verbs stores subscriptions in the HTTP spelling; one loaded from a plain VTN's state
        # file may still use the spec's, so that quirk accepts both.
        wanted = {spec_name, operation} if self.quirks.notify_http_verbs else {spec_name}
        found = []
        for subscription in self.state.subscriptions:
            if not _program_matches(subscription, object_type, obj):
                continue
            for entry in subscription.get("objectOperations") or ():
                if object_type in entry.get("objects", ()) and not wanted.isdisjoint(entry.get("operations", ())):
                    found.append((entry["callbackUrl"], entry.get("bearerToken")))
        return found

    def notify(self, object_type: str, operation: str, obj: dict[str, Any]) -> None:
        """Schedule deliveries for an operation (``POST``/``PUT``/``DELETE``) on ``obj``; returns at once."""
        if not len(self.state.subscriptions) or self._client is None:
            return
        targets = self.targets_for(object_type, operation, obj)
        if not targets:
            return
        sent_operation = OPERATION_NAMES.get(operation, operation) if self.quirks.notify_http_verbs else operation
        body = {"objectType": object_type, "operation": sent_operation, "object": obj}
        if obj.get("targets"):
            body["targets"] = obj["targets"]
        content = orjson.dumps(body)
        if self.quirks.notify_double_encoded:
            content = orjson.dumps(content.decode())
        for url, token in targets:
            if len(self._tasks) >= self.max_pending:
                self.dropped += 1
                continue
            task = asyncio.get_running_loop().create_task(self._deliver(url, token, content))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, token: str | None, content: bytes) -> None:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = await self._client.post(url, content=content, headers=headers)  # type: ignore[union-attr]
        except httpx.HTTPError as err:
            self.failed += 1
            log.warning("Notification to %s failed: %s", url, err or type(err).__name__)
            return
        if response.status_code >= 300:
            self.failed += 1
            log.warning("Notification to %s answered %d.", url, response.status_code)
        else:
            self.sent += 1
