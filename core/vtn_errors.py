"""Typed VTN failures: each carries the HTTP status, the problem's title and detail, the request and the body.

``str(err)`` is one readable sentence for the CLI (``VtnError`` is a :class:`venclient.errors.VenError`).
:func:`error_from_response` turns any error answer — an RFC 7807 problem object, an OAuth error object,
``[]``, plain text or an HTML page — into the right subclass, so callers catch ``VtnConflict`` rather than
inspect status codes.

``err.maybe_delivered`` is ``True`` when a non-idempotent request (``POST``) failed in a way that leaves its
outcome unknown — no answer after the request was sent (a read timeout, a connection broken mid-exchange, the
overall deadline) or an ambiguous 5xx (500, 502, 504 …): the VTN may have acted on it.  Such a request is not
repeated blindly; callers look the object up first (by ``reportName``, ``resourceName``, ``venName``).
It is ``False`` when the request surely had no effect (the connection was never made, or the VTN answered
408, 429, 503 or a 4xx) — see :data:`NOT_PROCESSED`.
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from typing import Any

from venclient.errors import VenError

_MAX_DETAIL = 200

NOT_PROCESSED = frozenset({408, 429, 503})
"""Answers that say the VTN did not act on the request, so repeating even a ``POST`` is safe: 408 (it did not
receive the whole request, RFC 9110 §15.5.9), 429 (rate limited, RFC 6585 §4), 503 (not handling requests now,
RFC 9110 §15.6.4).  A proxy's 502/504 and a 500 are not among them: the VTN behind it may have acted."""


class VtnError(VenError):
    """A request to the VTN failed.

    Attributes: ``status`` (HTTP status or ``None`` when no answer came), ``title`` and ``detail`` (from the
    error body when it had them), ``method`` and ``url`` of the request, ``body`` (the answer's text),
    ``retry_after`` (seconds the VTN asked us to wait) and ``maybe_delivered`` (the request may have been acted
    on: its outcome is unknown, see the module docstring).
    """

    def __init__(self, message: str, *, status: int | None = None, title: str | None = None,
                 detail: str | None = None, method: str | None = None, url: str | None = None,
                 body: str | None = None, retry_after: float | None = None, maybe_delivered: bool = False):
        super().__init__(message)
        self.status = status
        self.title = title
        self.detail = detail
        self.method = method
        self.url = url
        self.body = body
        self.retry_after = retry_after
        self.maybe_delivered = maybe_delivered

    def outcome_unknown(self) -> "VtnError":
        """Mark this error as leaving the request's outcome unknown (``maybe_delivered``) and say so in its
        sentence; returns ``self``."""
        if not self.maybe_delivered:
            self.maybe_delivered = True
            self.args = (f"{str(self).rstrip('.')}; whether the VTN acted on it is unknown.",)
        return self


class VtnUnreachable(VtnError):
    """No HTTP answer: connection refused, unknown host, TLS failure."""


class VtnTimeout(VtnError):
    """The VTN did not answer within the configured timeout."""


class VtnAuthError(VtnError):
    """Authentication or authorisation failed: 401/403, or the token endpoint refused the credentials."""

    exit_code = 2


class VtnBadRequest(VtnError):
    """400/422: the VTN rejected what was sent."""


class VtnNotFound(VtnError):
    """404: the object or VEN does not exist on the VTN."""


class VtnConflict(VtnError):
    """409: an object with the same unique name already exists (``venName``, ``resourceName`` …)."""


class VtnRateLimited(VtnError):
    """429: too many requests; ``retry_after`` holds the server's wish in seconds when it gave one."""


class VtnServerError(VtnError):
    """5xx: the VTN failed."""


class VtnProtocolError(VtnError):
    """The VTN answered 2xx with a body that is not the expected OpenADR object."""


class VtnResponseTooLarge(VtnError):
    """The answer's body is larger than ``vtn.max_response_bytes``; it was abandoned unread.  ``status`` is the
    answer's status (a 2xx means the VTN did act on the request)."""


_BY_STATUS: dict[int, type[VtnError]] = {
    400: VtnBadRequest, 401: VtnAuthError, 403: VtnAuthError, 404: VtnNotFound, 409: VtnConflict,
    422: VtnBadRequest, 429: VtnRateLimited,
}


def error_class(status: int) -> type[VtnError]:
    """The :class:`VtnError` subclass for an HTTP error status."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return VtnServerError if status >= 500 else VtnError


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def describe_body(body: bytes | str | None, content_type: str = "") -> tuple[str | None, str | None]:
    """``(title, detail)`` from an error body of any shape; either may be ``None``.

    Problem objects give ``title``/``detail``; OAuth errors give ``error``/``error_description``; other JSON
    objects their ``message``/``detail``/``error`` field; JSON lists and empty bodies nothing; HTML its
    ``<title>``; plain text its (clipped) text.
    """
    if body is None:
        return None, None
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    stripped = text.strip()
    if not stripped:
        return None, None
    if stripped[0] in "[{" or "json" in content_type:
        try:
            data: Any = json.loads(stripped)
        except ValueError:
            data = None
        else:
            if isinstance(data, dict):
                title = data.get("title") or data.get("error")
                detail = (data.get("detail") or data.get("error_description") or data.get("message")
                          or data.get("description"))
                return (_clip(str(title)) if title else None, _clip(str(detail)) if detail else None)
            if isinstance(data, list):
                return None, None
            return None, _clip(str(data))
    if stripped.startswith("<") or "html" in content_type:
        match = re.search(r"<title>(.*?)</title>", stripped, re.IGNORECASE | re.DOTALL)
        return None, (_clip(match.group(1)) if match else "an HTML page")
    return None, _clip(stripped)


def is_problem_answer(err: VtnError) -> bool:
    """Whether the error is the VTN's own answer about the request: a JSON object body (an RFC 7807 problem or
    any object with its reasons).  An HTML page, plain text, ``[]`` or an empty body came from something on the
    path (a proxy, a load balancer, a wrong base URL), not from an OpenADR VTN judging the request."""
    text = (err.body or "").strip()
    if not text.startswith("{"):
        return False
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); ``None`` when absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from datetime import datetime, timezone
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def error_from_response(method: str, url: str, status: int, body: bytes | str | None,
                        content_type: str = "", retry_after: str | None = None) -> VtnError:
    """The typed error for an HTTP error answer, with a one-sentence message.

    Example: ``The VTN answered 409 Conflict to POST http://…/vens/v1/resources: resource exists.``
    """
    title, detail = describe_body(body, content_type)
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "error"
    explanation = detail or (title if title and title.lower() != reason.lower() else None)
    if title and detail and title.lower() not in (reason.lower(), detail.lower()):
        explanation = f"{title} ({detail})" if len(title) < 60 else detail
    if explanation and explanation.lower().replace(str(status), "").strip(" .") == reason.lower():
        explanation = None  # an HTML page titled "502 Bad Gateway" says nothing new
    message = f"The VTN answered {status} {reason} to {method} {url}"
    message += f": {explanation.rstrip('.')}." if explanation else "."
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return error_class(status)(message, status=status, title=title, detail=detail, method=method, url=url,
                               body=text, retry_after=parse_retry_after(retry_after))
