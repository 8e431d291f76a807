"""Bearer tokens for the VTN: a static token, or OAuth2 client credentials cached until shortly before expiry.

The client-credentials token is fetched with a form-encoded POST (``grant_type=client_credentials``,
``client_id``, ``client_secret``) and read leniently (``expires_in`` may be missing or text, ``scope`` a
list, ``token_type`` any case).  Many requests in flight share one token; only a refresh takes the lock,
and a refresh that another request already did is not repeated.
"""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable

import httpx
from pydantic import ValidationError

from venclient.openadr import TokenResponse
from venclient.vtn_errors import VtnAuthError, VtnProtocolError, describe_body

Clock = Callable[[], float]
PostForm = Callable[[str, dict[str, str]], Awaitable[httpx.Response]]


class StaticToken:
    """A configured bearer token; it cannot be refreshed."""

    refreshable = False

    def __init__(self, token: str):
        self.token = token

    def current(self) -> str | None:
        """The token (always valid as far as the client knows)."""
        return self.token

    def invalidate(self, token: str | None) -> None:
        """Nothing to do: a static token stays."""

    async def refresh(self, post_form: PostForm) -> str:
        """Return the static token."""
        return self.token


class ClientCredentials:
    """OAuth2 client-credentials tokens, cached and refreshed before ``expires_in`` runs out.

    A token is refreshed ``margin`` seconds before it expires (but never earlier than half its lifetime).
    Without ``expires_in`` it is kept until the VTN answers 401/403, when the transport calls
    :meth:`invalidate` and fetches one new token.
    """

    refreshable = True

    def __init__(self, token_url: str, client_id: str, client_secret: str, *, margin: float = 30.0,
                 clock: Clock = time.monotonic):
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self._margin = margin
        self._clock = clock
        self._token: str | None = None
        self._refresh_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0
        self.scopes: tuple[str, ...] = ()

    def current(self) -> str | None:
        """The cached token while it is fresh, else ``None`` (cheap: no lock, no I/O)."""
        token = self._token
        if token is not None and (self._refresh_at is None or self._clock() < self._refresh_at):
            return token
        return None

    def invalidate(self, token: str | None) -> None:
        """Forget ``token`` if it is still the cached one (a 401/403 showed the VTN no longer takes it)."""
        if token is not None and token == self._token:
            self._token = None

    async def refresh(self, post_form: PostForm) -> str:
        """A fresh token, fetched once even when many requests ask at the same time."""
        async with self._lock:
            token = self.current()
            if token is not None:
                return token
            response = await post_form(self.token_url, {
                "grant_type": "client_credentials", "client_id": self.client_id,
                "client_secret": self._secret})
            token, expires_in, scopes = self._read(response)
            self.fetches += 1
            self._token = token
            self.scopes = scopes
            if expires_in is None or expires_in <= 0:
                self._refresh_at = None
            else:
                self._refresh_at = self._clock() + max(expires_in - self._margin, expires_in / 2)
            return token

    def _read(self, response: httpx.Response) -> tuple[str, float | None, tuple[str, ...]]:
        url = str(response.request.url)
        if response.status_code >= 300:
            title, detail = describe_body(response.content, response.headers.get("content-type", ""))
            reason = ": ".join(part for part in (title, detail) if part) or f"HTTP {response.status_code}"
            raise VtnAuthError(
                f"The VTN token endpoint {url} refused client {self.client_id!r}: {reason.rstrip('.')}.",
                status=response.status_code, title=title, detail=detail, method="POST", url=url,
                body=response.text)
        try:
            data = TokenResponse.model_validate_json(response.content)
        except ValidationError:
            raise VtnProtocolError(
                f"The VTN token endpoint {url} answered without an access_token.",
                status=response.status_code, method="POST", url=url, body=response.text) from None
        if data.token_type.lower() != "bearer":
            raise VtnAuthError(f"The VTN token endpoint {url} issued a {data.token_type!r} token; "
                               "only Bearer tokens are supported.", status=response.status_code,
                               method="POST", url=url, body=response.text)
        scope = data.scope
        scopes = tuple(scope.split()) if isinstance(scope, str) else tuple(scope or ())
        return data.access_token, data.expires_in, scopes
