"""Reading what real VTNs send: timestamps in many shapes, and a warn-once collector for what we had to drop.

Two pieces, used by the models of :mod:`venclient.openadr`:

* :func:`parse_timestamp` — RFC 3339 and its common variants (``T`` or a space, with or without a zone — naive
  means UTC —, ``Z``/``+0100``/`` UTC``/`` GMT`` suffixes, fractional seconds of any length), RFC 2822 / HTTP
  dates, epoch numbers (seconds, milliseconds, microseconds or nanoseconds, as numbers or digit strings) and,
  where allowed, a bare time of day (taken as today, UTC).  Anything else raises ``ValueError``.
* :class:`LenientNotes` — passed as pydantic validation context (``{"lenient": notes}``) by whoever parses VTN
  answers (the transport keeps one per run).  A bookkeeping field the VTN filled with something we cannot read
  becomes ``None`` and is reported through it *once per field*, not once per object.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

log = logging.getLogger("venclient.vtn")

CONTEXT_KEY = "lenient"
STRICT_KEY = "spec_strict"
"""Validation context key: ``{"spec_strict": True}`` makes the models take only the spec's spellings (a server
validating what clients send uses it; the VEN reading a VTN never does)."""

_ZONE_WORDS = re.compile(r"\s*(?:UTC|GMT|Z)$", re.IGNORECASE)
_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
_TIME_OF_DAY = re.compile(r"^\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?$", re.IGNORECASE)
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")
_BAD_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")  # +0100 → +01:00


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _from_epoch(number: float) -> datetime:
    """Epoch seconds, or milliseconds / microseconds / nanoseconds told apart by magnitude (dates from 1973 on)."""
    magnitude = abs(number)
    if magnitude < 1e8:  # before 1973: a year, a count or a mistake, not an epoch stamp
        raise ValueError(f"{number!r} is not an epoch time")
    if magnitude >= 1e17:
        number /= 1e9
    elif magnitude >= 1e14:
        number /= 1e6
    elif magnitude >= 1e11:
        number /= 1e3
    return datetime.fromtimestamp(number, timezone.utc)


def parse_timestamp(value: Any, *, allow_time_of_day: bool = True, today: datetime | None = None) -> datetime:
    """``value`` as a UTC-aware datetime; ``ValueError`` naming the value when it is no timestamp we know.

    ``allow_time_of_day``: a bare ``13:49:07`` is today (UTC) at that time — acceptable for a server's bookkeeping
    stamp, not for the start of an interval we act on.
    """
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{value!r} is not a date-time")
    if isinstance(value, (int, float)):
        try:
            return _from_epoch(float(value))
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{value!r} is not a date-time") from None
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a date-time")
    if len(value) > 9 and value[4:5] == "-":  # the usual shape first: RFC 3339 text, parsed in C
        try:
            return _utc(datetime.fromisoformat(value))
        except ValueError:
            pass
    text = value.strip()
    if not text:
        raise ValueError("'' is not a date-time")
    if _NUMBER.match(text):
        try:
            return _from_epoch(float(text))
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{value!r} is not a date-time") from None
    if _TIME_OF_DAY.match(text):
        if not allow_time_of_day:
            raise ValueError(f"{value!r} is a time of day without a date")
        base = (today or datetime.now(timezone.utc)).astimezone(timezone.utc)
        parsed = _parse_iso(f"{base.date().isoformat()}T{text}")
        if parsed is not None:
            return parsed
        raise ValueError(f"{value!r} is not a date-time")
    parsed = _parse_iso(text)
    if parsed is not None:
        return parsed
    if "," in text or text[:3].isalpha():
        try:
            return _utc(parsedate_to_datetime(text))
        except (TypeError, ValueError, IndexError):
            pass
    raise ValueError(f"{value!r} is not a date-time")


def _parse_iso(text: str) -> datetime | None:
    """RFC 3339 / ISO 8601 variants, or ``None``."""
    zoned = _ZONE_WORDS.sub("", text)
    utc = zoned != text
    candidate = _LONG_FRACTION.sub(r"\1", zoned)
    if not utc:
        candidate = _BAD_OFFSET.sub(r"\1:\2", candidate) if ("T" in candidate or " " in candidate) else candidate
    if len(candidate) < 8:  # "2026" alone is a year, not a timestamp
        return None
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        return None
    if utc and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return _utc(parsed)


class LenientNotes:
    """What was dropped while reading a VTN's answers, warned about once per field.

    Pass as ``context={"lenient": notes}`` to ``Model.model_validate(...)``/``model_validate_json(...)``.
    ``dropped`` counts, per field name, how many values were replaced by ``None``.
    """

    def __init__(self, logger: logging.Logger | None = None):
        self.log = logger or log
        self.dropped: dict[str, int] = {}

    def dropped_value(self, field: str, value: Any, reason: str) -> None:
        """Record that ``field`` held ``value`` we could not read; the first time per field it is logged."""
        first = field not in self.dropped
        self.dropped[field] = self.dropped.get(field, 0) + 1
        if first:
            shown = repr(value)
            if len(shown) > 80:
                shown = shown[:79] + "…"
            self.log.warning("The VTN sends %s values we cannot read (%s: %s); they are ignored (warned once).",
                             field, shown, reason)


def is_strict(context: Any) -> bool:
    """Whether a pydantic validation context asks for the spec's spellings only."""
    return isinstance(context, dict) and bool(context.get(STRICT_KEY))


def notes_from(context: Any) -> LenientNotes | None:
    """The :class:`LenientNotes` in a pydantic validation context, if any."""
    if isinstance(context, dict):
        notes = context.get(CONTEXT_KEY)
        if isinstance(notes, LenientNotes):
            return notes
    return None

