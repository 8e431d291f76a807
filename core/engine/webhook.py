"""Webhook mode (setting ``events.subscribe``): the VTN calls us when a program or event is created, changed or
deleted.  A notification is only a **hint** — the event engine re-reads the named object from the VTN with its
own credentials and acts on what the VTN answers (:meth:`venclient.engine.events.EventEngine.notify`), never on the object
inside the notification: a subscription's ``bearerToken`` is readable by any client the VTN lets list
subscriptions, so a notification that carries the right token can still be forged.

Three parts:

* :func:`read_notification` — the tolerant reader of a notification body: the spec's camelCase object, or the
  same with ``snake_case`` keys, or a JSON string that contains the JSON; the operation in the notification
  spelling (``GET/POST/PUT/DELETE``) or the subscription spelling (``READ/CREATE/UPDATE/DELETE``).  It returns
  the spec's shape (camelCase keys, ``GET/POST/PUT/DELETE``) or raises ``ValueError`` with one sentence.
* :class:`CallbackServer` — a small Starlette app on uvicorn, in its own thread, listening on
  ``events.callback_host``/``events.callback_port`` (0 = a free port).  It accepts notifications at
  :data:`CALLBACK_PATH` when they carry one of the bearer tokens it was told to accept (compared in constant
  time; otherwise **401**), answers at once and hands each notification to the caller's event loop
  (``handler(notification)``, in arrival order).
* :class:`Subscriptions` — one subscription per followed program (``PROGRAM`` and ``EVENT`` ×
  CREATE/UPDATE/DELETE, ``callbackUrl`` = ``events.callback_url`` or the server's own URL), each with its own
  fresh random ``bearerToken``.  A subscription the VTN refuses is retried with exponential backoff and logged
  once per streak.  Subscriptions left by an earlier run (same ``clientName``, a callback URL on the same host
  and path) are deleted at start, ours and any such leftovers at shutdown — also when the VTN returns them with
  ``snake_case`` keys or in the other operation spelling (they are read as plain JSON through the transport's
  ``raw`` access when it has one, so a VTN's spelling never hides one of ours).

Polling continues as the fallback: a lost notification is picked up by the next poll.  Our bearer tokens are
never logged (error messages that echo a request body are redacted).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable
from urllib.parse import urlsplit

import orjson
from pydantic import ValidationError

from venclient.background_server import BackgroundServer
from venclient.openadr import ObjectOperation, Subscription
from venclient.protocols import ListsSubscriptions, RawRequests, VtnTransport
from venclient.vtn_errors import VtnNotFound, VtnProtocolError

log = logging.getLogger("venclient.webhook")

CALLBACK_PATH = "/openadr3/notifications"
SUBSCRIBED_OBJECTS = ("PROGRAM", "EVENT")
EVENT_OPERATIONS = ("CREATE", "UPDATE", "DELETE")
NOTIFICATION_OPERATIONS = ("GET", "POST", "PUT", "DELETE")
# The two spellings real VTNs use: the subscription's (READ/CREATE/UPDATE/DELETE) and HTTP's (GET/POST/PUT/DELETE).
TO_NOTIFICATION_SPELLING = {"READ": "GET", "CREATE": "POST", "UPDATE": "PUT", "DELETE": "DELETE",
                            "GET": "GET", "POST": "POST", "PUT": "PUT"}
TO_SUBSCRIPTION_SPELLING = {"GET": "READ", "POST": "CREATE", "PUT": "UPDATE", "DELETE": "DELETE",
                            "READ": "READ", "CREATE": "CREATE", "UPDATE": "UPDATE"}
MAX_NOTIFICATION_BYTES = 1_000_000  # a notification is one object; a larger body is refused with 413
MAX_JSON_LAYERS = 3  # a JSON string holding JSON (holding JSON …) is unwrapped at most this often
SUBSCRIPTION_PAGE = 50
MAX_SUBSCRIPTION_PAGES = 200  # a bound on reading back the VTN's subscriptions (10,000 objects)

Handler = Callable[[dict[str, Any]], Awaitable[Any]]

# snake_case keys whose camelCase form is not what a plain conversion gives (the spec's "ID" suffix).
_SPECIAL_KEYS = {"program_id": "programID", "event_id": "eventID", "ven_id": "venID", "report_id": "reportID",
                 "resource_id": "resourceID", "subscription_id": "subscriptionID", "url": "URL"}
_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")


# --------------------------------------------------------------------------------------------------
# Tolerant reading of what a VTN sends
# --------------------------------------------------------------------------------------------------
def camel_key(key: str) -> str:
    """``object_type`` → ``objectType``, ``program_id`` → ``programID``; other keys unchanged."""
    if key in _SPECIAL_KEYS:
        return _SPECIAL_KEYS[key]
    if not _SNAKE.match(key):
        return key
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def camel_keys(value: Any) -> Any:
    """``value`` with every ``snake_case`` dict key at any depth in camelCase (lists and dicts are copied)."""
    if isinstance(value, dict):
        return {camel_key(k) if isinstance(k, str) else k: camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    return value


def unwrap_json(value: Any) -> Any:
    """``value`` decoded when it is JSON text (bytes or str), repeatedly for a JSON string that holds JSON
    (at most :data:`MAX_JSON_LAYERS` times); raises ``ValueError`` when the outer text is not JSON (a JSON
    string whose text is not JSON is returned as that text)."""
    for layer in range(MAX_JSON_LAYERS + 1):
        if isinstance(value, (bytes, bytearray, memoryview)):
            value = bytes(value)
        elif not isinstance(value, str):
            return value
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            if layer:
                return value
            raise ValueError("the body is not JSON") from None
    return value


def read_notification(body: Any) -> dict[str, Any]:
    """The notification ``body`` (bytes, JSON text or a dict) in the spec's shape, or ``ValueError`` saying why
    it is not one.

    Accepted: camelCase or ``snake_case`` keys; a JSON string containing the JSON (also for ``object``);
    ``operation`` as GET/POST/PUT/DELETE or READ/CREATE/UPDATE/DELETE (any case).  Returned: camelCase keys,
    ``objectType`` upper case, ``operation`` as GET/POST/PUT/DELETE, ``object`` a dict.  Only the shape is
    checked: what the object says is not trusted (see the module docstring).
    """
    data = unwrap_json(body)
    if not isinstance(data, dict):
        raise ValueError("the body is not a JSON object")
    data = camel_keys(data)
    object_type = data.get("objectType")
    if not isinstance(object_type, str) or not object_type.strip():
        raise ValueError("objectType is missing")
    operation = TO_NOTIFICATION_SPELLING.get(str(data.get("operation", "")).strip().upper())
    if operation is None:
        raise ValueError(f"operation must be one of {', '.join(NOTIFICATION_OPERATIONS)} "
                         f"(or {', '.join(TO_SUBSCRIPTION_SPELLING[o] for o in NOTIFICATION_OPERATIONS)})")
    obj = data.get("object")
    if isinstance(obj, str):
        obj = camel_keys(unwrap_json(obj))
    if not isinstance(obj, dict):
        raise ValueError("object is missing")
    return {**data, "objectType": object_type.strip().upper(), "operation": operation, "object": obj}


def object_id(obj: Any) -> str | None:
    """The ``id`` of a JSON object (numbers become text), or ``None`` when it has none."""
    value = obj.get("id") if isinstance(obj, dict) else None
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        return None
    return str(value)


@dataclass(frozen=True)
class ListedSubscription:
    """What we need of a subscription the VTN lists: its id, ``clientName`` and callback URLs."""

    id: str
    client_name: str
    callback_urls: tuple[str, ...]


def read_subscription(data: Any) -> Subscription | None:
    """A subscription the VTN returned, in either spelling and with either key style, as our model; ``None``
    when it is not one.  Operations are normalised to READ/CREATE/UPDATE/DELETE (unknown ones dropped) and
    server-set fields that do not validate are left out (they are the VTN's bookkeeping)."""
    if not isinstance(data, dict):
        return None
    data = camel_keys(data)
    operations = []
    for entry in data.get("objectOperations") or ():
        if isinstance(entry, dict):
            spelled = [TO_SUBSCRIPTION_SPELLING.get(str(op).upper()) for op in entry.get("operations") or ()]
            operations.append({**entry, "operations": [op for op in dict.fromkeys(spelled) if op]})
    data = {**data, "objectOperations": operations}
    try:
        return Subscription.model_validate(data)
    except ValidationError:
        pass
    try:
        return Subscription.model_validate({k: v for k, v in data.items()
                                            if k not in ("createdDateTime", "modificationDateTime", "objectType")})
    except ValidationError:
        return None


def listed_subscription(data: Any) -> ListedSubscription | None:
    """The id, ``clientName`` and callback URLs of a subscription the VTN listed (any key style or operation
    spelling; nothing else is checked, so an odd field elsewhere never hides one of ours)."""
    if not isinstance(data, dict):
        return None
    data = camel_keys(data)
    sub_id = object_id(data)
    if sub_id is None:
        return None
    urls = tuple(str(entry.get("callbackUrl")) for entry in data.get("objectOperations") or ()
                 if isinstance(entry, dict) and entry.get("callbackUrl"))
    return ListedSubscription(sub_id, str(data.get("clientName") or ""), urls)


def _same_endpoint(url: str, ours: str) -> bool:
    """Same host and path (any port: an earlier run may have had another free port)."""
    a, b = urlsplit(url), urlsplit(ours)
    return a.hostname == b.hostname and a.path.rstrip("/") == b.path.rstrip("/")


# --------------------------------------------------------------------------------------------------
# The callback server
# --------------------------------------------------------------------------------------------------
def _bearer(header: str) -> bytes | None:
    """The token of an ``Authorization: Bearer …`` header as bytes (scheme case-insensitive), else ``None``."""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip().encode("utf-8", "surrogateescape")


class CallbackServer(BackgroundServer):
    """Receives the VTN's notifications on ``host:port`` and passes them to ``handler`` in ``loop``.

    A notification is accepted only with ``Authorization: Bearer <token>`` for a token given to :meth:`accept`
    (or ``token``); anything else gets **401** (checked before the body is read; every accepted token is
    compared in constant time).  A body that is not a notification gets 400, one above
    :data:`MAX_NOTIFICATION_BYTES` 413.  The handler receives :func:`read_notification`'s shape.
    ``start()``/``stop()`` (or ``with``); ``url`` is the callback URL derived from the bound address.
    """

    def __init__(self, handler: Handler, loop: asyncio.AbstractEventLoop, *, host: str = "127.0.0.1",
                 port: int = 0, token: str | None = None):
        import uvicorn

        self.handler = handler
        self.loop = loop
        self._tokens: tuple[bytes, ...] = ()  # replaced, never mutated: the server thread reads it
        if token:
            self.accept(token)
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

    def accept(self, token: str) -> None:
        """Accept notifications carrying ``token`` from now on."""
        encoded = token.encode("utf-8")
        if encoded not in self._tokens:
            self._tokens = (*self._tokens, encoded)

    def revoke(self, token: str) -> None:
        """Refuse ``token`` from now on (its subscription is gone)."""
        encoded = token.encode("utf-8")
        self._tokens = tuple(t for t in self._tokens if t != encoded)

    @property
    def accepted(self) -> int:
        """How many tokens are accepted now."""
        return len(self._tokens)

    def authorized(self, header: str) -> bool:
        """Whether an ``Authorization`` header carries an accepted token (constant time per accepted token)."""
        given = _bearer(header)
        if given is None:
            return False
        found = False
        for token in self._tokens:
            found |= secrets.compare_digest(given, token)
        return found

    def _app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse, Response
        from starlette.routing import Route

        def problem(status: int, title: str, detail: str, **headers: str) -> Response:
            return JSONResponse({"title": title, "status": status, "detail": detail}, status, headers=headers or None)

        async def receive(request: Request) -> Response:
            if not self.authorized(request.headers.get("authorization", "")):
                self.refused += 1
                return problem(401, "Unauthorized", "The bearer token of the subscription is required.",
                               **{"WWW-Authenticate": 'Bearer realm="venclient notifications"'})
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_NOTIFICATION_BYTES:
                    return problem(413, "Payload Too Large",
                                   f"A notification is at most {MAX_NOTIFICATION_BYTES} bytes.")
            try:
                notification = read_notification(bytes(body))
            except ValueError as err:
                return problem(400, "Bad Request", f"Not a notification: {err}.")
            self.received += 1
            self._hand_over(notification)
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


# --------------------------------------------------------------------------------------------------
# Our subscriptions on the VTN
# --------------------------------------------------------------------------------------------------
@dataclass
class _Refusals:
    """A streak of refused attempts to subscribe to one program."""

    count: int = 0
    next_attempt_at: float = 0.0


class Subscriptions:
    """Our subscriptions on the VTN: one per followed program (PROGRAM and EVENT changes), removed at shutdown.

    ``server`` (a :class:`CallbackServer`, optional) is told to accept each subscription's token while the
    subscription exists.  A refused subscription is retried by :meth:`sync` no sooner than ``backoff_base``
    real seconds later, the wait doubling per refusal up to ``backoff_max``; ``clock`` is ``time.monotonic``
    unless a test gives another.
    """

    def __init__(self, transport: VtnTransport, *, client_name: str, callback_url: str,
                 server: CallbackServer | None = None, backoff_base: float = 30.0, backoff_max: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic):
        self.transport = transport
        self.client_name = client_name[:128]
        self.callback_url = callback_url
        self.server = server
        self.backoff_base = max(0.0, backoff_base)
        self.backoff_max = max(self.backoff_base, backoff_max)
        self.clock = clock
        self.by_program: dict[str, str] = {}  # program id -> subscription id
        self._tokens: dict[str, str] = {}  # program id -> its subscription's bearer token
        self._refusals: dict[str, _Refusals] = {}

    def body(self, program_id: str, token: str) -> Subscription:
        """The subscription we ask for in one program (spec spelling: strict in what we send)."""
        return Subscription(client_name=self.client_name, program_id=program_id, object_operations=[ObjectOperation(
            objects=list(SUBSCRIBED_OBJECTS), operations=list(EVENT_OPERATIONS), callback_url=self.callback_url,
            bearer_token=token)])

    def _redact(self, text: str, *extra: str) -> str:
        """``text`` without any of our bearer tokens (a VTN's error may echo the body we sent)."""
        for token in (*self._tokens.values(), *extra):
            if token:
                text = text.replace(token, "***")
        return text

    # ------------------------------------------------------------------ reading back
    async def _list(self) -> list[ListedSubscription]:
        """The VTN's subscriptions with our ``clientName`` (also filtered here: some VTNs ignore filters)."""
        found: list[ListedSubscription] = []
        if not isinstance(self.transport, RawRequests):
            if not isinstance(self.transport, ListsSubscriptions):
                return []
            items = [s.to_wire() for s in await self.transport.list_subscriptions(client_name=self.client_name)]
        else:
            items = []
            previous_first = None
            for page_number in range(MAX_SUBSCRIPTION_PAGES):
                response = await self.transport.raw("GET", "/subscriptions", params={
                    "clientName": self.client_name, "skip": page_number * SUBSCRIPTION_PAGE,
                    "limit": SUBSCRIPTION_PAGE})
                try:
                    page = unwrap_json(response.content)
                except ValueError:
                    page = None
                if not isinstance(page, list):
                    raise VtnProtocolError("The VTN answered GET /subscriptions with a body that is not a list.",
                                           method="GET", url=str(getattr(response, "url", "/subscriptions")))
                first = object_id(page[0]) if page and isinstance(page[0], dict) else None
                if first is not None and first == previous_first:
                    break  # the VTN ignores skip: this page came before
                previous_first = first
                items.extend(page)
                if len(page) < SUBSCRIPTION_PAGE:
                    break
        for item in items:
            listed = listed_subscription(item)
            if listed is not None and listed.client_name == self.client_name:
                found.append(listed)
        return found

    async def _sweep(self, *, keep_current: bool, quiet: bool) -> int:
        """Delete subscriptions of ours the VTN lists (same ``clientName``, same callback host and path);
        with ``keep_current`` not those this object created.  Returns how many were deleted."""
        try:
            listed = await self._list()
        except Exception as err:  # noqa: BLE001 - cleaning up is best effort
            (log.debug if quiet else log.warning)("Could not list the VTN's subscriptions: %s", self._redact(str(err)))
            return 0
        current = set(self.by_program.values()) if keep_current else set()
        removed = 0
        seen: set[str] = set()
        for sub in listed:
            if sub.id in current or sub.id in seen:
                continue
            seen.add(sub.id)
            if any(_same_endpoint(url, self.callback_url) for url in sub.callback_urls):
                try:
                    await self.transport.delete_subscription(sub.id)
                    removed += 1
                except VtnNotFound:
                    pass
                except Exception as err:  # noqa: BLE001
                    log.warning("Could not delete the subscription %s left on the VTN: %s", sub.id,
                                self._redact(str(err)))
        return removed

    async def remove_stale(self) -> int:
        """Delete subscriptions an earlier run of ours left behind; returns how many (0 when it cannot list)."""
        return await self._sweep(keep_current=True, quiet=False)

    # ------------------------------------------------------------------ creating
    async def _create(self, program_id: str, token: str) -> str:
        """POST our subscription for ``program_id``; returns its id (the answer read in any spelling)."""
        body = self.body(program_id, token)
        if not isinstance(self.transport, RawRequests):
            return str((await self.transport.create_subscription(body)).id)
        response = await self.transport.raw("POST", "/subscriptions", json=body.to_wire())
        try:
            answer = camel_keys(unwrap_json(response.content))
        except ValueError:
            answer = None
        sub_id = object_id(answer)
        if sub_id is None:
            raise VtnProtocolError("The VTN answered POST /subscriptions without the new subscription's id.",
                                   status=getattr(response, "status_code", None), method="POST",
                                   url=str(getattr(response, "url", "/subscriptions")))
        return sub_id

    def _due(self, program_id: str, now: float) -> bool:
        refusals = self._refusals.get(program_id)
        return refusals is None or now >= refusals.next_attempt_at

    def _refused(self, program_id: str, err: Exception, token: str) -> None:
        refusals = self._refusals.setdefault(program_id, _Refusals())
        refusals.count += 1
        wait = min(self.backoff_max, self.backoff_base * 2 ** (refusals.count - 1))
        refusals.next_attempt_at = self.clock() + wait
        reason = self._redact(str(err), token)
        if refusals.count == 1:
            log.warning("Could not subscribe to program %s: %s. Retrying in %.0f s, waiting longer while the VTN "
                        "refuses (polling covers the gap).", program_id, reason, wait)
        else:
            log.debug("Subscribing to program %s was refused again (%d times): %s", program_id, refusals.count,
                      reason)

    async def sync(self, program_ids: Iterable[str]) -> list[str]:
        """Subscribe to every program in ``program_ids`` not subscribed yet whose retry is due; delete ours of
        programs no longer in ``program_ids``.  Returns the program ids subscribed now."""
        wanted = list(dict.fromkeys(program_ids))
        followed = set(wanted)
        for program_id in [p for p in self.by_program if p not in followed]:
            await self._delete(program_id)
        for program_id in [p for p in self._refusals if p not in followed]:
            del self._refusals[program_id]
        added = []
        now = self.clock()
        for program_id in wanted:
            if program_id in self.by_program or not self._due(program_id, now):
                continue
            token = secrets.token_urlsafe(32)
            if self.server is not None:
                self.server.accept(token)  # before the VTN knows it: a notification may come at once
            try:
                sub_id = await self._create(program_id, token)
            except Exception as err:  # noqa: BLE001 - the VTN may not support subscriptions; polling goes on
                if self.server is not None:
                    self.server.revoke(token)
                self._refused(program_id, err, token)
                continue
            self.by_program[program_id] = sub_id
            self._tokens[program_id] = token
            refusals = self._refusals.pop(program_id, None)
            if refusals is not None:
                log.info("Subscribed to program %s after %d refused attempts.", program_id, refusals.count)
            added.append(program_id)
        return added

    def token(self, program_id: str) -> str | None:
        """The bearer token of our subscription to ``program_id`` (for checks; never log it)."""
        return self._tokens.get(program_id)

    def retry_in(self, program_id: str) -> float | None:
        """Seconds until the next attempt for a refused program (``None`` when none is pending)."""
        refusals = self._refusals.get(program_id)
        return None if refusals is None else max(0.0, refusals.next_attempt_at - self.clock())

    # ------------------------------------------------------------------ deleting
    async def _delete(self, program_id: str) -> bool:
        sub_id = self.by_program.pop(program_id)
        token = self._tokens.pop(program_id, "")
        if self.server is not None and token:
            self.server.revoke(token)
        try:
            await self.transport.delete_subscription(sub_id)
            return True
        except VtnNotFound:
            return False  # already gone (the VTN may drop a deleted program's subscriptions)
        except Exception as err:  # noqa: BLE001 - best effort
            log.warning("Could not delete subscription %s of program %s: %s", sub_id, program_id,
                        self._redact(str(err), token))
            return False

    async def close(self) -> int:
        """Delete our subscriptions, then any other of ours the VTN still lists (a creation whose answer was
        lost, a leftover of an earlier run); returns how many were deleted."""
        deleted = 0
        for program_id in list(self.by_program):
            deleted += await self._delete(program_id)
        self._refusals.clear()
        return deleted + await self._sweep(keep_current=False, quiet=True)
