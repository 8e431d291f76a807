"""Webhook mode (setting ``events.subscribe``): the VTN calls us when an event is created, changed or deleted.

Two parts:

* :class:`CallbackServer` — a small Starlette app on uvicorn, in its own thread, listening on
  ``events.callback_host``/``events.callback_port`` (0 = a free port).  It accepts the spec's
  ``notification`` objects at :data:`CALLBACK_PATH`, checks the bearer token it gave the VTN, answers at
  once and hands each notification to the caller's event loop (``handler(notification)``, in arrival order).
* :class:`Subscriptions` — creates one subscription per followed program (EVENT × CREATE/UPDATE/DELETE,
  ``callbackUrl`` = ``events.callback_url`` or the server's own URL) and deletes them at shutdown.
  Subscriptions left by an earlier run that could not clean up (same ``clientName``, a callback URL on the
  same host and path) are deleted first, so a killed VEN does not leave the VTN calling a dead address.

Polling continues as the fallback: a lost notification is picked up by the next poll.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any, Awaitable, Callable, Iterable
from urllib.parse import urlsplit

import orjson

from core.background_server import BackgroundServer
from core.openadr import ObjectOperation, Subscription

log = logging.getLogger("venclient.webhook")

CALLBACK_PATH = "/openadr3/notifications"
EVENT_OPERATIONS = ("CREATE", "UPDATE", "DELETE")
NOTIFICATION_OPERATIONS = ("GET", "POST", "PUT", "DELETE")

Handler = Callable[[dict[str, Any]], Awaitable[Any]]


def _notification_problem(body: Any) -> str | None:
    """Why ``body`` is not a notification (``None`` when it is one)."""
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    if not isinstance(body.get("objectType"), str) or not body["objectType"]:
        return "objectType is missing"
    if body.get("operation") not in NOTIFICATION_OPERATIONS:
        return f"operation must be one of {', '.join(NOTIFICATION_OPERATIONS)}"
    if not isinstance(body.get("object"), dict):
        return "object is missing"
    return None


class CallbackServer(BackgroundServer):
    """Receives the VTN's notifications on ``host:port`` and passes them to ``handler`` in ``loop``.

    ``token`` is the bearer token the VTN must send (the subscriptions carry it); requests without it get
    403.  ``start()``/``stop()`` (or ``with``); ``url`` is the callback URL derived from the bound address.
    """

    def __init__(self, handler: Handler, loop: asyncio.AbstractEventLoop, *, host: str = "127.0.0.1",
                 port: int = 0, token: str | None = None):
        import uvicorn

        self.handler = handler
        self.loop = loop
        self.token = token or secrets.token_urlsafe(24)
        self.received = 0
        self.refused = 0
        config = uvicorn.Config(self._app(), log_config=None, log_level="warning", access_log=False,
                                lifespan="off", ws="none")
        super().__init__(config, host, port, what="The event callback server (events.callback_host / "
                                                  "events.callback_port)")

    @property
    def url(self) -> str:
        """``http://host:port/openadr3/notifications`` (127.0.0.1 when bound to every address)."""
        if self.port is None:
            raise RuntimeError("The callback server is not started.")
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}{CALLBACK_PATH}"

    def _app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse, Response
        from starlette.routing import Route

        expected = f"Bearer {self.token}"

        async def receive(request: Request) -> Response:
            if not secrets.compare_digest(request.headers.get("authorization", ""), expected):
                self.refused += 1
                return JSONResponse({"title": "Forbidden", "status": 403,
                                     "detail": "The bearer token of the subscription is required."}, 403)
            try:
                body = orjson.loads(await request.body())
            except orjson.JSONDecodeError:
                body = None
            problem = _notification_problem(body)
            if problem is not None:
                return JSONResponse({"title": "Bad Request", "status": 400, "detail": f"Not a notification: {problem}."},
                                    400)
            self.received += 1
            self._hand_over(body)
            return Response(status_code=200)

        return Starlette(routes=[Route(CALLBACK_PATH, receive, methods=["POST"])])

    def _hand_over(self, notification: dict[str, Any]) -> None:
        async def run() -> None:
            try:
                await self.handler(notification)
            except Exception:  # noqa: BLE001 - a bad notification must not stop the next ones
                log.warning("A notification (%s %s) could not be applied.", notification.get("operation"),
                            notification.get("objectType"), exc_info=True)

        try:
            asyncio.run_coroutine_threadsafe(run(), self.loop)
        except RuntimeError:  # the VEN's loop is closing
            log.debug("Notification dropped: the event loop is closed.")


def _same_endpoint(url: str, ours: str) -> bool:
    """Same host and path (any port: an earlier run may have had another free port)."""
    a, b = urlsplit(url), urlsplit(ours)
    return a.hostname == b.hostname and a.path == b.path


class Subscriptions:
    """Our EVENT subscriptions on the VTN: one per followed program, removed at shutdown."""

    def __init__(self, transport: Any, *, client_name: str, callback_url: str, token: str):
        self.transport = transport
        self.client_name = client_name[:128]
        self.callback_url = callback_url
        self.token = token
        self.by_program: dict[str, str] = {}  # program id -> subscription id

    def body(self, program_id: str) -> Subscription:
        """The subscription we ask for in one program."""
        return Subscription(client_name=self.client_name, program_id=program_id, object_operations=[ObjectOperation(
            objects=["EVENT"], operations=list(EVENT_OPERATIONS), callback_url=self.callback_url,
            bearer_token=self.token)])

    async def remove_stale(self) -> int:
        """Delete subscriptions an earlier run of ours left behind; returns how many (0 when it cannot list)."""
        search = getattr(self.transport, "list_subscriptions", None)
        if search is None:
            return 0
        try:
            existing = await search(client_name=self.client_name)
        except Exception as err:  # noqa: BLE001 - cleaning up is best effort
            log.warning("Could not list the VTN's subscriptions: %s", err)
            return 0
        removed = 0
        for sub in existing:
            if sub.client_name != self.client_name or sub.id in self.by_program.values():
                continue
            if any(_same_endpoint(op.callback_url, self.callback_url) for op in sub.object_operations):
                try:
                    await self.transport.delete_subscription(sub.id)
                    removed += 1
                except Exception as err:  # noqa: BLE001
                    log.warning("Could not delete the stale subscription %s: %s", sub.id, err)
        return removed

    async def sync(self, program_ids: Iterable[str]) -> list[str]:
        """Subscribe to every program in ``program_ids`` not subscribed yet; returns the new program ids.

        A failure is logged and retried on the next call (polling covers the gap).
        """
        added = []
        for program_id in program_ids:
            if program_id in self.by_program:
                continue
            try:
                created = await self.transport.create_subscription(self.body(program_id))
            except Exception as err:  # noqa: BLE001 - the VTN may not support subscriptions; polling goes on
                log.warning("Could not subscribe to the events of program %s: %s", program_id, err)
                continue
            self.by_program[program_id] = created.id
            added.append(program_id)
        return added

    async def close(self) -> int:
        """Delete our subscriptions; returns how many were deleted."""
        deleted = 0
        for program_id, sub_id in list(self.by_program.items()):
            try:
                await self.transport.delete_subscription(sub_id)
                deleted += 1
            except Exception as err:  # noqa: BLE001 - best effort at shutdown
                log.warning("Could not delete subscription %s of program %s: %s", sub_id, program_id, err)
            del self.by_program[program_id]
        return deleted
