"""OpenADR 3.0.1 over HTTP(S) with httpx: the default :class:`core.protocols.VtnTransport`.

Kept-alive connections (up to ``vtn.max_connections``, see :mod:`plugins.openadr_http.pool`) are opened
by ``async with``; requests go straight to httpx transports, without ``httpx.AsyncClient``'s per-request
machinery (cookies, redirects, auth flows, hooks), which costs more CPU than the rest of a request.
Every method sends and returns the pydantic models of :mod:`core.openadr` (plain dicts are accepted for
bodies too) and raises the typed errors of :mod:`core.vtn_errors`.

Failures: connection errors, timeouts, 429 and 5xx (but 501/505) are retried ``vtn.retries`` times with
exponential backoff and jitter (``backoff_seconds`` doubling up to ``backoff_max_seconds``); a
``Retry-After`` header is honoured up to ``retry_after_max_seconds``.  Other 4xx are raised at once, except
a 401/403 with a refreshable token, which refreshes the token once and repeats the request.

The hot path (``create_resource`` at tens of requests in flight) does no logging above DEBUG, takes no lock
unless the token must be refreshed, and serialises with pydantic-core.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import ssl
import time
from dataclasses import dataclass
from typing import Any, Callable, TypeVar
from urllib.parse import quote

import httpx
import orjson
from pydantic import BaseModel

from core import __version__
from core.openadr import Event, OpenADRModel, Program, Report, Resource, Subscription, Ven
from core.vtn_errors import (
    VtnConflict,
    VtnError,
    VtnProtocolError,
    VtnTimeout,
    VtnUnreachable,
    error_from_response,
)
from plugins.openadr_http.auth import ClientCredentials, StaticToken
from plugins.openadr_http.config import VtnConfig
from plugins.openadr_http.parsing import ResponseParser
from plugins.openadr_http.pool import ConnectionShards, SharedTransport, TransportPool, environment_proxy

log = logging.getLogger("venclient.vtn")

PAGE_LIMIT = 50
MAX_PAGES = 100_000  # a bound on any listing: 5 million objects
NO_RETRY_5XX = frozenset({501, 505})

M = TypeVar("M", bound=BaseModel)


@dataclass
class TransportStats:
    """Counters since the transport was created: requests sent (retries included), retries, token fetches."""

    requests: int = 0
    retries: int = 0
    token_fetches: int = 0


def _connect_reason(exc: Exception) -> str:
    """A short human reason for a connection failure (``connection refused``, ``host not found`` …)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 8:
        seen.append(current)
        current = current.__cause__ or current.__context__
    text = " ".join(str(e) for e in seen).lower()
    errnos = {getattr(e, "errno", None) for e in seen}
    if isinstance(exc, httpx.ConnectTimeout):
        return "connection timed out"
    if "refused" in text or 111 in errnos or 61 in errnos:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text \
            or "temporary failure in name resolution" in text:
        return "host name not found"
    verify = next((e for e in seen if isinstance(e, ssl.SSLCertVerificationError)), None)
    if verify is not None:
        return (f"its TLS certificate is not trusted ({verify.verify_message or 'verification failed'}); "
                "set vtn.verify_tls to the CA bundle that signed it")
    if "certificate" in text or "ssl" in text:
        detail = next((str(e) for e in seen if "certificate" in str(e).lower() or "ssl" in str(e).lower()), "")
        detail = re.sub(r"^\[SSL[^\]]*\]\s*|\s*\(_ssl\.c:\d+\)$", "", detail.strip())
        return f"TLS failed ({detail or 'handshake error'})"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return "the connection was closed before an answer came"
    if "all connection attempts failed" in text:
        return "connection refused"
    return str(exc).strip() or type(exc).__name__


class HttpVtnTransport:
    """Talks OpenADR 3.0.1 to one VTN over HTTP(S); use as ``async with HttpVtnTransport(config) as vtn``.

    ``http_transport`` (an ``httpx.AsyncBaseTransport``) and ``clock`` exist for tests: a transport that
    validates each request/response pair against the spec, a clock that jumps past token expiry.
    """

    def __init__(self, config: VtnConfig, *, http_transport: httpx.AsyncBaseTransport | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.config = config
        self.base = config.url
        self.stats = TransportStats()
        self._http_transport = http_transport
        self._verify = config.ssl_verify()
        self._pool: TransportPool | None = None
        timeout = config.timeout_seconds
        self._extensions = {"timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}}
        self._anonymous_headers = {"Accept": "application/json", "User-Agent": f"venclient/{__version__}"}
        self._headers = self._anonymous_headers
        self._json_headers = {**self._headers, "Content-Type": "application/json"}
        self._header_token: str | None = None
        if config.token:
            self._auth: StaticToken | ClientCredentials | None = StaticToken(config.token)
        elif config.client_id:
            self._auth = ClientCredentials(config.token_url, config.client_id, config.client_secret,
                                           margin=config.token_refresh_margin_seconds, clock=clock)
        else:
            self._auth = None
        self._random = random.Random()
        self.parser = ResponseParser()

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> "HttpVtnTransport":
        if self._pool is None:
            if self._http_transport is not None:
                self._pool = SharedTransport(self._http_transport)
            else:
                self._pool = ConnectionShards(self.config.max_connections, self._verify,
                                              environment_proxy(self.base))
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every kept-alive connection (idempotent)."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.aclose()

    @property
    def auth_mode(self) -> str:
        """``"token"``, ``"client_credentials"`` or ``"none"``."""
        return self.config.auth_mode

    # ------------------------------------------------------------------ the request loop
    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.config.retry_after_max_seconds)
        ceiling = min(self.config.backoff_max_seconds, self.config.backoff_seconds * (2 ** attempt))
        return ceiling / 2 + self._random.uniform(0, ceiling / 2)

    async def _ensure_token(self) -> None:
        auth = self._auth
        token = auth.current()  # type: ignore[union-attr]
        if token is None:
            token = await auth.refresh(self._post_form)  # type: ignore[union-attr]
            self.stats.token_fetches = getattr(auth, "fetches", 0)
        if token != self._header_token:
            self._header_token = token
            bearer = f"Bearer {token}"
            self._headers = {**self._headers, "Authorization": bearer}
            self._json_headers = {**self._json_headers, "Authorization": bearer}

    async def _exchange(self, request: httpx.Request) -> httpx.Response:
        """One HTTP exchange on a pooled connection; the body is read before the connection is released."""
        pool = self._pool
        if pool is None:
            raise RuntimeError("Use the transport inside `async with` before sending requests.")
        transport = await pool.acquire()
        try:
            response = await transport.handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
        finally:
            pool.release(transport)
        response.request = request
        return response

    async def _post_form(self, url: str, form: dict[str, str]) -> httpx.Response:
        return await self._send("POST", url, data=form, authorized=False, raise_errors=False)

    async def _send(self, method: str, url: str, *, content: bytes | None = None,
                    params: dict[str, Any] | None = None, data: dict[str, str] | None = None,
                    headers: dict[str, str] | None = None, authorized: bool = True,
                    raise_errors: bool = True) -> httpx.Response:
        """Send with retries; return the response (2xx, or any status when ``raise_errors`` is false)."""
        auth = self._auth if authorized else None
        refreshed = False
        attempt = 0
        while True:
            if auth is not None:
                await self._ensure_token()
            self.stats.requests += 1
            request = httpx.Request(method, url, params=params, content=content, data=data,
                                    headers=headers or (self._anonymous_headers if not authorized else
                                                        self._json_headers if content is not None else self._headers),
                                    extensions=self._extensions)
            try:
                response = await self._exchange(request)
            except httpx.TimeoutException as exc:
                error: VtnError = VtnTimeout(
                    f"The VTN at {self.base} did not answer {method} {url} within "
                    f"{self.config.timeout_seconds:g} s.", method=method, url=url)
                cause: Exception = exc
            except httpx.UnsupportedProtocol as exc:
                raise VtnUnreachable(f"Cannot reach the VTN at {url}: {exc}.", method=method, url=url) from exc
            except httpx.TransportError as exc:
                error = VtnUnreachable(f"Cannot reach the VTN at {self.base}: {_connect_reason(exc)}.",
                                       method=method, url=url)
                cause = exc
            else:
                status = response.status_code
                if status < 400:
                    return response
                if status in (401, 403) and auth is not None and auth.refreshable and not refreshed:
                    refreshed = True
                    auth.invalidate(response.request.headers.get("authorization", "")[7:] or None)
                    continue
                retryable = status == 429 or (status >= 500 and status not in NO_RETRY_5XX)
                if not raise_errors and (not retryable or attempt >= self.config.retries):
                    return response
                error = error_from_response(method, str(response.request.url), status, response.content,
                                            response.headers.get("content-type", ""),
                                            response.headers.get("retry-after"))
                if not retryable:
                    raise error
                cause = error
            if attempt >= self.config.retries:
                raise error from (None if cause is error else cause)
            delay = self._backoff(attempt, error.retry_after)
            attempt += 1
            self.stats.retries += 1
            if log.isEnabledFor(logging.DEBUG):
                log.debug("Retry %d/%d of %s %s in %.2f s: %s", attempt, self.config.retries, method, url,
                          delay, error)
            await asyncio.sleep(delay)

    async def _json(self, method: str, path: str, body: OpenADRModel | dict[str, Any] | None = None,
                    params: dict[str, Any] | None = None) -> httpx.Response:
        if body is None:
            return await self._send(method, self.base + path, params=params)
        content = body.to_json() if isinstance(body, OpenADRModel) else orjson.dumps(body)
        return await self._send(method, self.base + path, content=content, params=params)

    def _one(self, model: type[M], response: httpx.Response) -> M:
        return self.parser.one(model, response)

    def _many(self, model: type[M], response: httpx.Response) -> list[M]:
        return self.parser.many(model, response)

    async def _paged(self, model: type[M], path: str, params: dict[str, Any] | None = None,
                     first_only: Callable[[M], bool] | None = None) -> list[M]:
        """Every object of a listing, ``limit`` 50 and ``skip`` += page length until a short page.

        With ``first_only`` the listing stops at (and returns only) the first object it accepts.
        """
        items: list[M] = []
        query = dict(params or {})
        skip = 0
        previous_first: str | None = None
        for _ in range(MAX_PAGES):
            query["skip"] = skip
            query["limit"] = PAGE_LIMIT
            page = self._many(model, await self._json("GET", path, params=query))
            if first_only is not None:
                for item in page:
                    if first_only(item):
                        return [item]
            else:
                items.extend(page)
            if len(page) < PAGE_LIMIT:
                break
            first = getattr(page[0], "id", None)
            if first is not None and first == previous_first:
                raise VtnProtocolError(f"The VTN at {self.base} ignores `skip` on GET {path}: "
                                       "the same page came back twice.", method="GET", url=self.base + path)
            previous_first = first
            skip += len(page)
        return items

    # ------------------------------------------------------------------ generic access
    async def raw(self, method: str, path: str, *, json: Any = None,
                  params: dict[str, Any] | None = None) -> httpx.Response:
        """Send any request below the base URL with auth and retries; errors raise typed exceptions."""
        return await self._json(method, path, json, params)

    async def authenticate(self) -> tuple[str, ...]:
        """Fetch a token now when client credentials are configured; return the granted scopes."""
        if self._auth is not None:
            await self._ensure_token()
        return tuple(getattr(self._auth, "scopes", ()))

    # ------------------------------------------------------------------ VENs and resources
    async def list_vens(self, ven_name: str | None = None) -> list[Ven]:
        """Every VEN (or those named ``ven_name``)."""
        return await self._paged(Ven, "/vens", {"venName": ven_name} if ven_name else None)

    async def find_ven(self, ven_name: str) -> Ven | None:
        """The VEN named exactly ``ven_name``, or ``None``."""
        found = await self._paged(Ven, "/vens", {"venName": ven_name},
                                  first_only=lambda v: v.ven_name == ven_name)
        return found[0] if found else None

    async def get_ven(self, ven_id: str) -> Ven:
        """One VEN by id; 404 raises ``VtnNotFound`` (a VTN that forgot us answers so)."""
        return self._one(Ven, await self._json("GET", f"/vens/{_seg(ven_id)}"))

    async def create_ven(self, ven: Ven | dict[str, Any]) -> Ven:
        """POST a VEN; 409 (name taken) raises ``VtnConflict``."""
        return self._one(Ven, await self._json("POST", "/vens", ven))

    async def find_or_create_ven(self, ven_name: str) -> Ven:
        """The VEN named ``ven_name``, created when missing; a 409 on creation is resolved by looking it up."""
        ven = await self.find_ven(ven_name)
        if ven is not None:
            return ven
        try:
            return await self.create_ven(Ven(ven_name=ven_name))
        except VtnConflict:
            ven = await self.find_ven(ven_name)
            if ven is None:
                raise
            return ven

    async def delete_ven(self, ven_id: str) -> Ven:
        """DELETE a VEN (and, on most VTNs, its resources)."""
        return self._one(Ven, await self._json("DELETE", f"/vens/{_seg(ven_id)}"))

    async def create_resource(self, ven_id: str, resource: Resource | dict[str, Any]) -> Resource:
        """POST a resource to the VEN; 409 (``resourceName`` taken in that VEN) raises ``VtnConflict``.

        A 409 can also follow a retried attempt whose first try did reach the VTN; callers resolve any
        conflict with :meth:`find_resource`.
        """
        return self._one(Resource, await self._json("POST", f"/vens/{_seg(ven_id)}/resources", resource))

    async def create_resource_id(self, ven_id: str, resource: Resource | dict[str, Any]) -> str:
        """:meth:`create_resource` for callers that need only the new id (the registration hot path): the
        answer is checked for an ``id`` but not validated as a whole resource."""
        response = await self._json("POST", f"/vens/{_seg(ven_id)}/resources", resource)
        try:
            object_id = orjson.loads(response.content)["id"]
        except (orjson.JSONDecodeError, TypeError, KeyError):
            object_id = None
        if isinstance(object_id, bool) or not isinstance(object_id, (str, int)) or object_id == "":
            raise VtnProtocolError(
                f"The VTN answered {response.request.method} {response.request.url} without the new resource's id.",
                status=response.status_code, method=response.request.method, url=str(response.request.url),
                body=response.text[:2000])
        return str(object_id)

    async def find_resource(self, ven_id: str, resource_name: str) -> Resource | None:
        """The VEN's resource named exactly ``resource_name``, or ``None``."""
        found = await self._paged(Resource, f"/vens/{_seg(ven_id)}/resources", {"resourceName": resource_name},
                                  first_only=lambda r: r.resource_name == resource_name)
        return found[0] if found else None

    async def list_resources(self, ven_id: str) -> list[Resource]:
        """Every resource of the VEN."""
        return await self._paged(Resource, f"/vens/{_seg(ven_id)}/resources")

    async def update_resource(self, ven_id: str, resource_id: str, resource: Resource | dict[str, Any]) -> Resource:
        """PUT a resource."""
        return self._one(Resource, await self._json(
            "PUT", f"/vens/{_seg(ven_id)}/resources/{_seg(resource_id)}", resource))

    async def delete_resource(self, ven_id: str, resource_id: str) -> Resource:
        """DELETE a resource."""
        return self._one(Resource, await self._json("DELETE", f"/vens/{_seg(ven_id)}/resources/{_seg(resource_id)}"))

    # ------------------------------------------------------------------ programs and events
    async def list_programs(self) -> list[Program]:
        """Every program."""
        return await self._paged(Program, "/programs")

    async def find_program(self, program_name: str) -> Program | None:
        """The program named exactly ``program_name``, or ``None``."""
        found = await self._paged(Program, "/programs", first_only=lambda p: p.program_name == program_name)
        return found[0] if found else None

    async def create_program(self, program: Program | dict[str, Any]) -> Program:
        """POST a program (business role)."""
        return self._one(Program, await self._json("POST", "/programs", program))

    async def delete_program(self, program_id: str) -> Program:
        """DELETE a program (business role)."""
        return self._one(Program, await self._json("DELETE", f"/programs/{_seg(program_id)}"))

    async def list_events(self, program_id: str | None = None) -> list[Event]:
        """Every event, or those of one program."""
        return await self._paged(Event, "/events", {"programID": program_id} if program_id else None)

    async def get_event(self, event_id: str) -> Event:
        """One event by id; 404 raises ``VtnNotFound``."""
        return self._one(Event, await self._json("GET", f"/events/{_seg(event_id)}"))

    async def create_event(self, event: Event | dict[str, Any]) -> Event:
        """POST an event (business role)."""
        return self._one(Event, await self._json("POST", "/events", event))

    async def update_event(self, event_id: str, event: Event | dict[str, Any]) -> Event:
        """PUT an event (business role)."""
        return self._one(Event, await self._json("PUT", f"/events/{_seg(event_id)}", event))

    async def delete_event(self, event_id: str) -> Event:
        """DELETE an event (business role)."""
        return self._one(Event, await self._json("DELETE", f"/events/{_seg(event_id)}"))

    # ------------------------------------------------------------------ reports and subscriptions
    async def create_report(self, report: Report | dict[str, Any]) -> Report:
        """POST a report."""
        return self._one(Report, await self._json("POST", "/reports", report))

    async def list_reports(self, program_id: str | None = None, event_id: str | None = None,
                           client_name: str | None = None) -> list[Report]:
        """Reports, optionally filtered by program, event and client name."""
        params = {k: v for k, v in (("programID", program_id), ("eventID", event_id),
                                    ("clientName", client_name)) if v}
        return await self._paged(Report, "/reports", params)

    async def create_subscription(self, subscription: Subscription | dict[str, Any]) -> Subscription:
        """POST a subscription (webhook)."""
        return self._one(Subscription, await self._json("POST", "/subscriptions", subscription))

    async def list_subscriptions(self, program_id: str | None = None,
                                 client_name: str | None = None) -> list[Subscription]:
        """Subscriptions, optionally of one program and/or client."""
        params = {k: v for k, v in (("programID", program_id), ("clientName", client_name)) if v}
        return await self._paged(Subscription, "/subscriptions", params)

    async def delete_subscription(self, subscription_id: str) -> None:
        """DELETE a subscription."""
        await self._json("DELETE", f"/subscriptions/{_seg(subscription_id)}")


def _seg(value: str) -> str:
    """A path segment, percent-encoded unless it is already URL-safe (the usual case)."""
    return value if value.replace("-", "").replace("_", "").isalnum() else quote(str(value), safe="")
