"""OpenADR 3.0.1 over HTTP(S) with httpx: the default :class:`venclient.protocols.VtnTransport`.

Kept-alive connections (up to ``vtn.max_connections``, see :mod:`venclient.plugins.openadr_http.pool`) are opened
by ``async with``; requests go straight to httpx transports, without ``httpx.AsyncClient``'s per-request
machinery (cookies, redirects, auth flows, hooks), which costs more CPU than the rest of a request.
Every method sends and returns the pydantic models of :mod:`venclient.openadr` (plain dicts are accepted for
bodies too) and raises the typed errors of :mod:`venclient.vtn_errors`.

Retries (``vtn.retries`` times, exponential backoff with jitter: ``backoff_seconds`` doubling up to
``backoff_max_seconds``; a ``Retry-After`` header is honoured up to ``retry_after_max_seconds``):

* idempotent requests (GET, PUT, DELETE) after connection errors, timeouts, 408, 429 and 5xx (but 501/505);
* ``POST`` only when the request surely did not reach the VTN or the VTN said it did not act on it:
  connection refused / connect or pool timeouts / unknown host, and 408, 429, 503.  A read timeout, a
  connection broken after the request was written, the overall deadline or another 5xx (a proxy's 502/504
  included) raise at once with ``err.maybe_delivered = True`` — the caller looks the object up rather than
  risk a duplicate (the outbox by ``reportName``, registration by ``resourceName`` / ``venName``).

Other 4xx are raised at once, except a 401/403 with a refreshable token, which refreshes the token once and
repeats the request.  Every request is bounded: ``timeout_seconds`` per connect/read/write,
``request_deadline_seconds`` for the whole exchange (a 1 byte/s trickle ends there) and ``max_response_bytes``
for the answer, which is streamed and abandoned as soon as it grows past the bound.

Listings send the spec's query filters (``venName``, ``resourceName``, ``programID``, ``eventID``,
``clientName``) and filter the answer on our side too: some VTNs ignore filters when ``skip`` is given.

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

from venclient import __version__
from venclient.openadr import Event, OpenADRModel, Program, Report, Resource, Subscription, Ven
from venclient.vtn_errors import (
    NOT_PROCESSED,
    VtnConflict,
    VtnError,
    VtnProtocolError,
    VtnResponseTooLarge,
    VtnTimeout,
    VtnUnreachable,
    error_from_response,
)
from venclient.plugins.openadr_http.auth import ClientCredentials, StaticToken
from venclient.plugins.openadr_http.config import VtnConfig
from venclient.plugins.openadr_http.parsing import ResponseParser, dicts
from venclient.plugins.openadr_http.pool import ConnectionShards, SharedTransport, TransportPool, environment_proxy

log = logging.getLogger("venclient.vtn")

PAGE_LIMIT = 50
MAX_PAGES = 100_000  # a bound on any listing: 5 million objects
NO_RETRY_5XX = frozenset({501, 505})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
UNKNOWN_OUTCOME_ROUNDS = 3  # look-up-then-create rounds after creates whose outcome is unknown

# Failures before any byte of the request left: repeating even a POST is safe.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)

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


def _size_text(size: int) -> str:
    """``64 MiB``, ``1.5 KiB``, ``900 bytes``."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor:
            return f"{size / factor:.3g} {unit}"
    return f"{size} bytes"


def _ambiguous(status: int) -> bool:
    """Whether an answer leaves open if a POST was acted on: a 5xx other than 503 (not processed) and 501/505."""
    return status >= 500 and status not in NOT_PROCESSED and status not in NO_RETRY_5XX


class _DeadlineExceeded(Exception):
    """The exchange ran past ``vtn.request_deadline_seconds`` (internal: :meth:`HttpVtnTransport._send` turns it
    into a :class:`VtnTimeout`)."""


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
        self._tls_warned = False

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> "HttpVtnTransport":
        if self._verify is False and not self._tls_warned:
            self._tls_warned = True
            log.warning("vtn.verify_tls is off: the VTN's TLS certificate is not checked, so anyone on the network "
                        "path could impersonate the VTN at %s.", self.base)
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

    @property
    def unknown_outcome_settle_seconds(self) -> float:
        """How long to wait after a request with an unknown outcome before looking its object up, so that a
        request still on its way (held by a proxy, queued at the VTN) has landed: ``vtn.request_deadline_seconds``,
        the longest we would ever have waited for its answer.  The outbox waits this long before it checks."""
        return self.config.request_deadline_seconds

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
        """One HTTP exchange on a pooled connection, within ``request_deadline_seconds`` from sending to the last
        byte; the body (at most ``max_response_bytes``) is read before the connection is released."""
        pool = self._pool
        if pool is None:
            raise RuntimeError("Use the transport inside `async with` before sending requests.")
        transport = await pool.acquire()
        deadline = asyncio.timeout(self.config.request_deadline_seconds)
        try:
            async with deadline:
                response = await transport.handle_async_request(request)
                try:
                    # What Response.aread() stores, read with a bound; an abandoned body closes the connection.
                    response._content = await self._read_body(response, request)
                finally:
                    await response.aclose()
        except TimeoutError:
            if deadline.expired():
                raise _DeadlineExceeded from None
            raise
        finally:
            pool.release(transport)
        response.request = request
        return response

    async def _read_body(self, response: httpx.Response, request: httpx.Request) -> bytes:
        """The answer's body, streamed; :class:`VtnResponseTooLarge` as soon as it passes ``max_response_bytes``
        (before reading anything when ``Content-Length`` says so)."""
        limit = self.config.max_response_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise self._too_large(response, request)
        parts: list[bytes] = []
        size = 0
        async for part in response.aiter_bytes():
            size += len(part)
            if size > limit:
                raise self._too_large(response, request)
            parts.append(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _too_large(self, response: httpx.Response, request: httpx.Request) -> VtnResponseTooLarge:
        limit = self.config.max_response_bytes
        return VtnResponseTooLarge(
            f"The VTN's answer to {request.method} {request.url} is larger than vtn.max_response_bytes "
            f"({_size_text(limit)}), so it was abandoned.", status=response.status_code, method=request.method,
            url=str(request.url))

    async def _post_form(self, url: str, form: dict[str, str]) -> httpx.Response:
        # A token request changes nothing on the server: it may be repeated like a GET.
        return await self._send("POST", url, data=form, authorized=False, raise_errors=False, idempotent=True)

    async def _send(self, method: str, url: str, *, content: bytes | None = None,
                    params: dict[str, Any] | None = None, data: dict[str, str] | None = None,
                    headers: dict[str, str] | None = None, authorized: bool = True,
                    raise_errors: bool = True, idempotent: bool | None = None,
                    retries: int | None = None) -> httpx.Response:
        """Send with retries; return the response (2xx, or any status when ``raise_errors`` is false).

        ``idempotent`` (default: by method) decides what may be repeated — see the module docstring;
        ``retries`` overrides ``vtn.retries`` for this request.
        """
        auth = self._auth if authorized else None
        repeatable = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        max_retries = self.config.retries if retries is None else retries
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
            except _NOT_SENT as exc:
                error: VtnError = VtnUnreachable(f"Cannot reach the VTN at {self.base}: {_connect_reason(exc)}.",
                                                 method=method, url=url)
                cause: Exception = exc
            except httpx.TimeoutException as exc:  # a read or write timeout: the request may have arrived
                error = VtnTimeout(f"The VTN at {self.base} did not answer {method} {url} within "
                                   f"{self.config.timeout_seconds:g} s.", method=method, url=url)
                if not repeatable:
                    raise error.outcome_unknown() from exc
                cause = exc
            except _DeadlineExceeded as exc:
                error = VtnTimeout(f"The VTN at {self.base} did not finish answering {method} {url} within "
                                   f"vtn.request_deadline_seconds ({self.config.request_deadline_seconds:g} s).",
                                   method=method, url=url)
                if not repeatable:
                    raise error.outcome_unknown() from exc
                cause = exc
            except httpx.UnsupportedProtocol as exc:
                raise VtnUnreachable(f"Cannot reach the VTN at {url}: {exc}.", method=method, url=url) from exc
            except httpx.TransportError as exc:  # the connection broke during the exchange
                error = VtnUnreachable(f"Cannot reach the VTN at {self.base}: {_connect_reason(exc)}.",
                                       method=method, url=url)
                if not repeatable:
                    raise error.outcome_unknown() from exc
                cause = exc
            except VtnResponseTooLarge as err:
                if not repeatable and _ambiguous(err.status or 0):
                    err.outcome_unknown()
                raise
            else:
                status = response.status_code
                if status < 400:
                    return response
                if status in (401, 403) and auth is not None and auth.refreshable and not refreshed:
                    refreshed = True
                    auth.invalidate(response.request.headers.get("authorization", "")[7:] or None)
                    continue
                retryable = status in NOT_PROCESSED or (repeatable and status >= 500 and status not in NO_RETRY_5XX)
                if not raise_errors and (not retryable or attempt >= max_retries):
                    return response
                error = error_from_response(method, str(response.request.url), status, response.content,
                                            response.headers.get("content-type", ""),
                                            response.headers.get("retry-after"))
                if not retryable:
                    raise error.outcome_unknown() if not repeatable and _ambiguous(status) else error
                cause = error
            if attempt >= max_retries:
                raise error from (None if cause is error else cause)
            delay = self._backoff(attempt, error.retry_after)
            attempt += 1
            self.stats.retries += 1
            if log.isEnabledFor(logging.DEBUG):
                log.debug("Retry %d/%d of %s %s in %.2f s: %s", attempt, max_retries, method, url, delay, error)
            await asyncio.sleep(delay)

    async def _json(self, method: str, path: str, body: OpenADRModel | dict[str, Any] | None = None,
                    params: dict[str, Any] | None = None, retries: int | None = None) -> httpx.Response:
        if body is None:
            return await self._send(method, self.base + path, params=params, retries=retries)
        content = body.to_json() if isinstance(body, OpenADRModel) else orjson.dumps(body)
        return await self._send(method, self.base + path, content=content, params=params, retries=retries)

    def _one(self, model: type[M], response: httpx.Response) -> M:
        return self.parser.one(model, response)

    def _many(self, model: type[M], response: httpx.Response) -> list[M]:
        return self.parser.many(model, response)

    async def _paged(self, model: type[M], path: str, params: dict[str, Any] | None = None,
                     first_only: Callable[[Any], bool] | None = None, keep: Callable[[Any], bool] | None = None,
                     as_dicts: bool = False) -> list[Any]:
        """Every object of a listing, ``limit`` 50 and ``skip`` += page length until a short page.

        ``keep`` filters each page on our side (a VTN may ignore the query filters in ``params``, e.g. when
        ``skip`` is given); paging follows the VTN's page lengths, not what was kept.  With ``first_only`` the
        listing stops at (and returns only) the first object it accepts.  ``as_dicts`` returns the objects as
        plain dicts, unvalidated.  A VTN that ignores ``skip`` (the same page twice) raises
        :class:`VtnProtocolError`; at most :data:`MAX_PAGES` pages are read.
        """
        items: list[Any] = []
        query = dict(params or {})
        skip = 0
        previous_first: Any = None
        for _ in range(MAX_PAGES):
            query["skip"] = skip
            query["limit"] = PAGE_LIMIT
            response = await self._json("GET", path, params=query)
            if as_dicts:
                page: list[Any] = dicts(model, response)
                received = len(page)
            else:
                page, received = self.parser.many_counted(model, response)
            if first_only is not None:
                for item in page:
                    if first_only(item):
                        return [item]
            elif keep is not None:
                items.extend(item for item in page if keep(item))
            else:
                items.extend(page)
            if received < PAGE_LIMIT:  # a short page as the VTN sent it (items we skipped still count)
                break
            first = (page[0].get("id") if as_dicts else getattr(page[0], "id", None)) if page else None
            if first is not None and first == previous_first:
                raise VtnProtocolError(f"The VTN at {self.base} ignores `skip` on GET {path}: "
                                       "the same page came back twice.", method="GET", url=self.base + path)
            previous_first = first
            skip += received
        return items

    # ------------------------------------------------------------------ generic access
    async def raw(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                  retries: int | None = None) -> httpx.Response:
        """Send any request below the base URL with auth and retries (``retries`` overrides ``vtn.retries``);
        errors raise typed exceptions."""
        return await self._json(method, path, json, params, retries)

    async def authenticate(self) -> tuple[str, ...]:
        """Fetch a token now when client credentials are configured; return the granted scopes."""
        if self._auth is not None:
            await self._ensure_token()
        return tuple(getattr(self._auth, "scopes", ()))

    # ------------------------------------------------------------------ VENs and resources
    async def list_vens(self, ven_name: str | None = None) -> list[Ven]:
        """Every VEN (or those named ``ven_name``, filtered on our side too)."""
        if not ven_name:
            return await self._paged(Ven, "/vens")
        return await self._paged(Ven, "/vens", {"venName": ven_name}, keep=lambda v: v.ven_name == ven_name)

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
        """The VEN named ``ven_name``, created when missing.

        A 409 on creation is resolved by looking the name up; so is a create whose outcome is unknown (timed
        out, ambiguous 5xx): found means adopted, surely absent means created again (at most
        :data:`UNKNOWN_OUTCOME_ROUNDS` times), so a stalled VTN never gets the VEN twice.
        """
        ven = await self.find_ven(ven_name)
        if ven is not None:
            return ven
        unknown: VtnError | None = None
        for _ in range(UNKNOWN_OUTCOME_ROUNDS):
            try:
                return await self.create_ven(Ven(ven_name=ven_name))
            except VtnConflict:
                ven = await self.find_ven(ven_name)
                if ven is None:
                    raise
                return ven
            except VtnError as err:
                if not err.maybe_delivered:
                    raise
                unknown = err
            ven = await self.find_ven(ven_name)  # the create may have arrived: look before creating again
            if ven is not None:
                return ven
        assert unknown is not None
        raise unknown

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
        """Every event, or those of one program (filtered on our side too)."""
        if not program_id:
            return await self._paged(Event, "/events")
        return await self._paged(Event, "/events", {"programID": program_id},
                                 keep=lambda e: e.program_id == program_id)

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
        """POST a report; a 409 ("identical report exists") raises ``VtnConflict``, which the outbox counts as
        delivered."""
        return self._one(Report, await self._json("POST", "/reports", report))

    async def post_report_text(self, payload: str) -> None:
        """POST a stored report (JSON text, sent unchanged) once, without retries: the outbox keeps its own
        backoff, after a look-up when the outcome is unknown.  A 409 raises ``VtnConflict``."""
        await self.raw("POST", "/reports", json=orjson.Fragment(payload), retries=0)

    async def list_reports(self, program_id: str | None = None, event_id: str | None = None,
                           client_name: str | None = None) -> list[Report]:
        """Reports, optionally filtered by program, event and client name (on our side too)."""
        params, keep = _report_filters(program_id, event_id, client_name, attribute=True)
        return await self._paged(Report, "/reports", params, keep=keep)

    async def find_report(self, report_name: str, *, program_id: str | None = None, event_id: str | None = None,
                          client_name: str | None = None) -> dict[str, Any] | None:
        """The VTN's report named ``report_name`` (and of that program, event and client when given), as the
        JSON object the VTN sent, or ``None``.

        The filters go into the query and are checked again on our side; paging stops at the first match.
        Reports are compared as plain JSON (no model validation), so a long listing stays cheap.
        """
        params, keep = _report_filters(program_id, event_id, client_name, attribute=False)

        def same(item: dict[str, Any]) -> bool:
            return item.get("reportName") == report_name and (keep is None or keep(item))

        found = await self._paged(Report, "/reports", params, first_only=same, as_dicts=True)
        return found[0] if found else None

    async def create_subscription(self, subscription: Subscription | dict[str, Any]) -> Subscription:
        """POST a subscription (webhook)."""
        return self._one(Subscription, await self._json("POST", "/subscriptions", subscription))

    async def list_subscriptions(self, program_id: str | None = None,
                                 client_name: str | None = None) -> list[Subscription]:
        """Subscriptions, optionally of one program and/or client (filtered on our side too)."""
        params = {k: v for k, v in (("programID", program_id), ("clientName", client_name)) if v}
        if not params:
            return await self._paged(Subscription, "/subscriptions")

        def keep(sub: Subscription) -> bool:
            return (not program_id or sub.program_id == program_id) and (not client_name or sub.client_name == client_name)

        return await self._paged(Subscription, "/subscriptions", params, keep=keep)

    async def delete_subscription(self, subscription_id: str) -> None:
        """DELETE a subscription."""
        await self._json("DELETE", f"/subscriptions/{_seg(subscription_id)}")


def _report_filters(program_id: str | None, event_id: str | None, client_name: str | None, *,
                    attribute: bool) -> tuple[dict[str, str], Callable[[Any], bool] | None]:
    """The query filters of a report listing and the same test on our side (on models when ``attribute``,
    else on wire dicts); ``None`` for no filter."""
    wanted = [(key, name, value) for key, name, value in (("programID", "program_id", program_id),
                                                          ("eventID", "event_id", event_id),
                                                          ("clientName", "client_name", client_name)) if value]
    params = {key: value for key, _, value in wanted}
    if not wanted:
        return params, None
    if attribute:
        return params, lambda r: all(getattr(r, name, None) == value for _, name, value in wanted)
    return params, lambda r: all(r.get(key) == value for key, _, value in wanted)


def _seg(value: str) -> str:
    """A path segment, percent-encoded unless it is already URL-safe (the usual case)."""
    return value if value.replace("-", "").replace("_", "").isalnum() else quote(str(value), safe="")
