"""Kept-alive connections to the VTN as a set of single-connection httpx transports.

httpcore's connection pool scans every pooled connection (a ``poll`` syscall each) on every request, so one
pool of 50 connections costs several times more CPU per request than 50 pools of one.  :class:`ConnectionShards`
hands out one single-connection ``httpx.AsyncHTTPTransport`` per request in flight (created on demand up to
``size``; reused most-recently-released first) and makes further requests wait for a free one.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.request
from typing import Protocol
from urllib.parse import urlsplit

import httpx


class TransportPool(Protocol):
    """Hands out an httpx transport for one request at a time."""

    async def acquire(self) -> httpx.AsyncBaseTransport: ...

    def release(self, transport: httpx.AsyncBaseTransport) -> None: ...

    async def aclose(self) -> None: ...


class SharedTransport:
    """One given transport for every request (tests inject a spec-checking transport this way)."""

    def __init__(self, transport: httpx.AsyncBaseTransport):
        self.transport = transport

    async def acquire(self) -> httpx.AsyncBaseTransport:
        return self.transport

    def release(self, transport: httpx.AsyncBaseTransport) -> None:
        """Nothing to give back."""

    async def aclose(self) -> None:
        await self.transport.aclose()


def environment_proxy(url: str) -> str | None:
    """The proxy the environment (``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``) sets for ``url``, if any."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy


class ConnectionShards:
    """Up to ``size`` single-connection transports, one per request in flight."""

    def __init__(self, size: int, verify: ssl.SSLContext | bool, proxy: str | None = None):
        self.size = size
        self._verify = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify)
        self._proxy = proxy
        self._limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=30.0)
        self._created: list[httpx.AsyncHTTPTransport] = []
        self._free: asyncio.LifoQueue[httpx.AsyncHTTPTransport] | None = None

    async def acquire(self) -> httpx.AsyncBaseTransport:
        """A free transport, a new one while fewer than ``size`` exist, else wait for one."""
        free = self._free
        if free is None:
            free = self._free = asyncio.LifoQueue()
        if not free.empty():
            return free.get_nowait()
        if len(self._created) < self.size:
            transport = httpx.AsyncHTTPTransport(verify=self._verify, limits=self._limits, proxy=self._proxy)
            self._created.append(transport)
            return transport
        return await free.get()

    def release(self, transport: httpx.AsyncBaseTransport) -> None:
        """Give a transport back after its request finished (or failed)."""
        assert self._free is not None
        self._free.put_nowait(transport)  # type: ignore[arg-type]

    async def aclose(self) -> None:
        """Close every connection."""
        created, self._created = self._created, []
        self._free = None
        for transport in created:
            await transport.aclose()
