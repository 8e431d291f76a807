"""Turning a VTN's answers into :mod:`venclient.openadr` models — leniently, as the models' rules say.

:class:`ResponseParser` validates with a :class:`venclient.lenient.LenientNotes` in the context, so bookkeeping fields
the VTN filled with something unreadable are dropped with one warning per field for the parser's lifetime (one
per run: the transport owns one parser).  An object that is invalid in a field we act on is skipped from a
listing with one sentence naming the object, the field and the value; a single-object answer that is invalid
raises :class:`venclient.vtn_errors.VtnProtocolError` with the same sentence.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import httpx
import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

from venclient.lenient import CONTEXT_KEY, LenientNotes
from venclient.openadr import Event, Notification, Program, Report, Resource, Subscription, TokenResponse, Ven
from venclient.vtn_errors import VtnProtocolError

log = logging.getLogger("venclient.vtn")

M = TypeVar("M", bound=BaseModel)

LABELS: dict[type, str] = {Program: "program", Event: "event", Report: "report", Subscription: "subscription",
                           Ven: "VEN", Resource: "resource", Notification: "notification",
                           TokenResponse: "token answer"}
# pydantic names union branches in error locations (``values[0].bool``): not fields, left out of paths
UNION_TAGS = frozenset({"bool", "int", "float", "str", "Point", "list", "dict"})
NAME_FIELDS = ("programName", "eventName", "reportName", "venName", "resourceName", "clientName")
MAX_SHOWN = 60


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN - 1] + "…"


def _path(loc: tuple[Any, ...]) -> tuple[str, bool]:
    """A field path such as ``intervals[0].payloads[0].values[1]``, and whether it went through a union branch."""
    out = ""
    union = False
    for position, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith("function-") or "[" in str(part):
            continue  # pydantic's names of validator steps, not fields
        elif str(part) in UNION_TAGS and position and isinstance(loc[position - 1], int):
            union = True
        else:
            out += ("." if out else "") + str(part)
    return out or "the body", union


def describe_invalid(model: type, item: Any, err: ValidationError) -> str:
    """``event 'e12' (peak-shave): intervals[0].intervalPeriod.start is 'tomorrow' ('tomorrow' is not a date-time)``."""
    label = LABELS.get(model, model.__name__.lower())
    if isinstance(item, dict):
        object_id = item.get("id")
        name = next((item[k] for k in NAME_FIELDS if isinstance(item.get(k), str)), None)
        label += f" {object_id!r}" if object_id not in (None, "") else ""
        label += f" ({name})" if name else ""
    first = err.errors()[0]
    field, union = _path(tuple(first.get("loc", ())))
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    if union:
        message = "not a number, text, boolean or point"
    if first.get("type") == "missing":
        return f"{label}: {field} is missing"
    return f"{label}: {field} is {_shown(first.get('input'))} ({message.rstrip('.')})"


class ResponseParser:
    """Parses answers for one transport; ``notes`` collects what was dropped (one warning per field)."""

    def __init__(self, notes: LenientNotes | None = None):
        self.notes = notes or LenientNotes(log)
        self.context = {CONTEXT_KEY: self.notes}
        self._lists: dict[type, TypeAdapter] = {}
        self.skipped = 0

    def one(self, model: type[M], response: httpx.Response) -> M:
        """The answer as one ``model``; :class:`VtnProtocolError` naming the field when it is not one."""
        try:
            return model.model_validate_json(response.content, context=self.context)
        except ValidationError as err:
            try:
                item = orjson.loads(response.content)
            except orjson.JSONDecodeError:
                raise protocol_error(model, response, "it is not JSON") from None
            if not isinstance(item, dict):
                raise protocol_error(model, response, "it is not a JSON object") from None
            raise protocol_error(model, response, describe_invalid(model, item, err)) from None

    def many_counted(self, model: type[M], response: httpx.Response) -> tuple[list[M], int]:
        """The answer as a list of ``model`` (invalid items are skipped, each with one warning sentence) and how
        many items the answer held (skipped ones included: paging counts those)."""
        adapter = self._lists.get(model)
        if adapter is None:
            adapter = self._lists[model] = TypeAdapter(list[model])  # type: ignore[valid-type]
        try:
            parsed = adapter.validate_json(response.content, context=self.context)
            return parsed, len(parsed)
        except ValidationError:
            pass
        try:
            items = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            items = None
        if not isinstance(items, list):
            raise protocol_error(model, response, "it is not JSON" if items is None else "it is not a JSON list",
                                 plural=True)
        kept = []
        where = f"{response.request.method} {response.request.url}"
        for item in items:
            try:
                kept.append(model.model_validate(item, context=self.context))
            except ValidationError as err:
                self.skipped += 1
                log.warning("Skipped %s from %s.", describe_invalid(model, item, err), where)
        return kept, len(items)


def dicts(model: type, response: httpx.Response) -> list[dict[str, Any]]:
    """A listing's objects as plain dicts, without model validation (look-ups that compare a few fields)."""
    try:
        items = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise protocol_error(model, response, "it is not JSON", plural=True) from None
    if not isinstance(items, list):
        raise protocol_error(model, response, "it is not a JSON list", plural=True)
    return [item for item in items if isinstance(item, dict)]


def protocol_error(model: type, response: httpx.Response, reason: str, plural: bool = False) -> VtnProtocolError:
    """A :class:`VtnProtocolError` for a 2xx answer that is not the expected object (or list of them)."""
    what = LABELS.get(model, model.__name__.lower())
    expected = f"a valid {what} list" if plural else f"a valid {what}"
    return VtnProtocolError(
        f"The VTN answered {response.request.method} {response.request.url} with a body that is not "
        f"{expected}: {reason}.", status=response.status_code, method=response.request.method,
        url=str(response.request.url), body=response.text[:2000])
