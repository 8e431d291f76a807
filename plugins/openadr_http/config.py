"""The ``[vtn]`` settings the HTTP transport reads, as one typed object.

This plugin validates (with defaults) ``vtn.url``, ``token_url``, ``client_id``, ``client_secret``, ``token``,
``timeout_seconds``, ``verify_tls``, ``retries``, ``backoff_seconds``, ``backoff_max_seconds``,
``retry_after_max_seconds``, ``max_connections``, ``token_refresh_margin_seconds``, ``max_response_bytes`` and
``request_deadline_seconds``.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dynaconf import Validator

from venclient.errors import SettingsError
from venclient.settings import is_http_url

MISSING_URL = "Setting vtn.url is missing: set VEN_VTN__URL or vtn.url in settings.toml."
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
DEFAULT_REQUEST_DEADLINE_SECONDS = 60.0


def settings_validators() -> list[Validator]:
    """Validators (with defaults) for every ``[vtn]`` key the transport reads."""
    def number(key: str, default: float, what: str) -> Validator:
        return Validator(key, default=default, is_type_of=(int, float), gte=0,
                         messages={"operations": f"{key} must be {what}, got {{value!r}}."})

    return [
        Validator("vtn.url", default="", is_type_of=str, condition=is_http_url,
                  messages={"condition": "vtn.url must start with http:// or https://, got {value!r}."}),
        Validator("vtn.token_url", default="", is_type_of=str, condition=is_http_url,
                  messages={"condition": "vtn.token_url must start with http:// or https://, got {value!r}."}),
        Validator("vtn.client_id", "vtn.client_secret", "vtn.token", default="", is_type_of=str,
                  messages={"operations": "{name} must be a string."}),
        Validator("vtn.timeout_seconds", default=10.0, is_type_of=(int, float), gt=0,
                  messages={"operations": "vtn.timeout_seconds must be a number above 0, got {value!r}."}),
        Validator("vtn.verify_tls", default=True, is_type_of=(bool, str),
                  messages={"operations": "vtn.verify_tls must be true, false or a CA bundle path."}),
        Validator("vtn.retries", default=3, is_type_of=int, gte=0, lte=100,
                  messages={"operations": "vtn.retries must be a whole number from 0 to 100, got {value!r}."}),
        number("vtn.backoff_seconds", 0.5, "a number of seconds (0 or more)"),
        number("vtn.backoff_max_seconds", 10.0, "a number of seconds (0 or more)"),
        number("vtn.retry_after_max_seconds", 60.0, "a number of seconds (0 or more)"),
        number("vtn.token_refresh_margin_seconds", 30.0, "a number of seconds (0 or more)"),
        Validator("vtn.max_connections", default=64, is_type_of=int, gte=1, lte=10000,
                  messages={"operations": "vtn.max_connections must be a whole number from 1 to 10000, "
                                          "got {value!r}."}),
        Validator("vtn.max_response_bytes", default=DEFAULT_MAX_RESPONSE_BYTES, is_type_of=int, gte=1024,
                  messages={"operations": "vtn.max_response_bytes must be a whole number of bytes (1024 or more), "
                                          "got {value!r}."}),
        Validator("vtn.request_deadline_seconds", default=DEFAULT_REQUEST_DEADLINE_SECONDS,
                  is_type_of=(int, float), gt=0,
                  messages={"operations": "vtn.request_deadline_seconds must be a number of seconds above 0, "
                                          "got {value!r}."}),
    ]


@dataclass(frozen=True)
class VtnConfig:
    """Everything the transport needs to reach and authenticate with one VTN.

    ``url`` is the base including ``/openadr3/3.0.1`` (no trailing slash).  Authentication: a static
    ``token`` wins; else ``client_id``/``client_secret`` use OAuth2 client credentials at ``token_url``;
    else requests go unauthenticated.  ``verify_tls`` is ``True``/``False`` or a CA bundle path.

    Bounds of one request: ``timeout_seconds`` for connecting and for each read or write (the wait between two
    pieces of the answer), ``request_deadline_seconds`` for the whole exchange from sending to the answer's last
    byte (it ends a slow trickle; it must not be shorter than ``timeout_seconds``), ``max_response_bytes`` for
    the answer's body (a bigger one is abandoned, not buffered).
    """

    url: str
    token_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    token: str = ""
    timeout_seconds: float = 10.0
    verify_tls: bool | str = True
    retries: int = 3
    backoff_seconds: float = 0.5
    backoff_max_seconds: float = 10.0
    retry_after_max_seconds: float = 60.0
    max_connections: int = 64
    token_refresh_margin_seconds: float = 30.0
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    request_deadline_seconds: float = DEFAULT_REQUEST_DEADLINE_SECONDS

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", self.url.rstrip("/"))
        if not self.token_url:
            object.__setattr__(self, "token_url", f"{self.url}/auth/token")
        if self.request_deadline_seconds < self.timeout_seconds:
            raise SettingsError(
                f"vtn.request_deadline_seconds ({self.request_deadline_seconds:g} s) must not be shorter than "
                f"vtn.timeout_seconds ({self.timeout_seconds:g} s): the deadline bounds a whole request.")

    @property
    def auth_mode(self) -> str:
        """``"token"``, ``"client_credentials"`` or ``"none"``."""
        if self.token:
            return "token"
        return "client_credentials" if self.client_id else "none"

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> "VtnConfig":
        """Read ``settings.vtn``; a missing ``vtn.url`` raises :class:`SettingsError` (exit status 2)."""
        vtn = settings.get("vtn") or {}
        get = (lambda key, default: vtn.get(key, default)) if hasattr(vtn, "get") else (lambda k, d: d)
        url = str(get("url", "") or "").strip()
        if not url:
            raise SettingsError(MISSING_URL)
        values = dict(
            url=url,
            token_url=str(get("token_url", "") or ""),
            client_id=str(get("client_id", "") or ""),
            client_secret=str(get("client_secret", "") or ""),
            token=str(get("token", "") or ""),
            timeout_seconds=float(get("timeout_seconds", 10.0)),
            verify_tls=get("verify_tls", True),
            retries=int(get("retries", 3)),
            backoff_seconds=float(get("backoff_seconds", 0.5)),
            backoff_max_seconds=float(get("backoff_max_seconds", 10.0)),
            retry_after_max_seconds=float(get("retry_after_max_seconds", 60.0)),
            max_connections=int(get("max_connections", 64)),
            token_refresh_margin_seconds=float(get("token_refresh_margin_seconds", 30.0)),
            max_response_bytes=int(get("max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES)),
            request_deadline_seconds=float(get("request_deadline_seconds", DEFAULT_REQUEST_DEADLINE_SECONDS)),
        )
        values.update(overrides)
        return cls(**values)

    def with_changes(self, **changes: Any) -> "VtnConfig":
        """A copy with some fields changed (tests shorten retries and timeouts this way)."""
        return replace(self, **changes)

    def ssl_verify(self) -> bool | ssl.SSLContext:
        """``verify`` for httpx: ``False``, ``True`` (system CAs) or a context trusting a CA bundle file."""
        value = self.verify_tls
        if isinstance(value, bool):
            return value
        text = str(value).strip()
        if text.lower() in ("", "true", "yes", "1"):
            return True
        if text.lower() in ("false", "no", "0"):
            return False
        path = Path(text).expanduser()
        if not path.is_file():
            raise SettingsError(f"vtn.verify_tls points at {path}, which is not a readable CA bundle file.")
        try:
            return ssl.create_default_context(cafile=str(path))
        except ssl.SSLError as err:
            raise SettingsError(f"vtn.verify_tls: {path} is not a valid CA bundle ({err.reason}).") from None
