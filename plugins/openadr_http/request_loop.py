"""The request loop of the HTTP transport: connections, authentication, retries, deadlines and size bounds, paging.

Kept-alive connections (up to ``vtn.max_connections``, see :mod:`venclient.plugins.openadr_http.pool`) are opened
by ``async with``; requests go straight to httpx transports, without ``httpx.AsyncClient``'s per-request
machinery (cookies, redirects, auth flows, hooks), which costs more CPU than the rest of a request.
Errors are the typed errors of :mod:`venclient.vtn_errors`.

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

Listings are paged (``skip``/``limit``) until a short page, and a VTN that ignores ``skip`` is caught.  The
request path does no logging above DEBUG and takes no lock unless the token must be refreshed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import ssl
import time
from dataclasses import dataclass
from typing import Any, Callable, Self, TypeVar

import httpx
import orjson
from pydantic import BaseModel

from venclient import __version__
from venclient.openadr import OpenADRModel
from venclient.vtn_errors import (
    NOT_PROCESSED,
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


class HttpRequestLoop:
    """Sends requests to one VTN over HTTP(S) as the module docstring says; :class:`venclient.plugins.openadr_http.
    transport.HttpVtnTransport` adds the OpenADR endpoints.  An async context manager.

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
    async def __aenter__(self) -> Self:
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
