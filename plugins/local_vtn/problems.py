"""Error answers of the local VTN: RFC 7807 problem objects (and the ``empty-409`` quirk's bare ``[]``)."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

JSON = "application/json"


class Problem(Exception):
    """An error answer as an RFC 7807 problem object."""

    def __init__(self, status: int, title: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``data`` as a JSON response."""
    return Response(orjson.dumps(data), status_code=status, media_type=JSON, headers=headers)


def problem_response(request: Request, exc: Exception) -> Response:
    """A :class:`Problem` as its problem object (a 403 also says ``WWW-Authenticate: Bearer``)."""
    assert isinstance(exc, Problem)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 403 else None
    return json_response({"type": "about:blank", "title": exc.title, "status": exc.status, "detail": exc.detail},
                 exc.status, headers)


def empty_409_response(request: Request, exc: Exception) -> Response:
    """The ``empty-409`` quirk: a 409 is the body ``[]``; other problems as usual."""
    assert isinstance(exc, Problem)
    if exc.status == 409:
        return Response(b"[]", status_code=409, media_type=JSON)
    return problem_response(request, exc)


def http_error_response(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (unknown path, wrong method) as problem objects."""
    assert isinstance(exc, HTTPException)
    return json_response({"type": "about:blank", "title": exc.detail, "status": exc.status_code,
                  "detail": f"{request.method} {request.url.path}: {exc.detail}."}, exc.status_code)


def validation_detail(err: ValidationError) -> str:
    """The first validation error as ``where: what``."""
    first = err.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "body"
    return f"{where}: {first.get('msg', 'invalid')}"
