"""Parsing the rows of a readings file: CSV (with or without a header) or JSON lines.

A row carries a timestamp (ISO 8601, or Unix seconds / milliseconds), a load component (``load_0`` …
``load_5``, its name such as ``Water Heater``, or its number 0…5) and watts.  Accepted names:

* timestamp: ``timestamp``, ``time``, ``ts``, ``datetime``
* component: ``load_component``, ``load``, ``load_id``, ``component``
* watts:     ``power_w``, ``watts``, ``power``, ``value``, ``w``

A CSV file without a header has the columns in that order.  A bad row raises :class:`RowError`.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from venclient.model import COMPONENT_INDEX, LOAD_COMPONENTS

TIMESTAMP_KEYS = ("timestamp", "time", "ts", "datetime")
COMPONENT_KEYS = ("load_component", "load", "load_id", "component")
WATTS_KEYS = ("power_w", "watts", "power", "value", "w")
FORMATS = ("auto", "csv", "jsonl")
MS_THRESHOLD = 100_000_000_000  # a Unix time above this is in milliseconds (year 5138 in seconds)

_COMPONENT_LOOKUP: dict[str, int] = {}
for _name, _label in LOAD_COMPONENTS.items():
    _COMPONENT_LOOKUP[_name] = COMPONENT_INDEX[_name]
    _COMPONENT_LOOKUP[_label.lower()] = COMPONENT_INDEX[_name]
    _COMPONENT_LOOKUP[str(COMPONENT_INDEX[_name])] = COMPONENT_INDEX[_name]


class RowError(ValueError):
    """A row that cannot be read; the message says why (no file or line: the caller adds them)."""


@dataclass(frozen=True)
class Row:
    """One reading: Unix milliseconds, component index 0..5, watts."""

    timestamp_ms: int
    component: int
    watts: float


def parse_timestamp(value: Any) -> int:
    """ISO 8601 text (naive = UTC) or Unix seconds/milliseconds → Unix milliseconds."""
    if isinstance(value, bool):
        raise RowError(f"timestamp {value!r} is not a time")
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text = str(value).strip()
        try:
            number = float(text)
        except ValueError:
            try:
                moment = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
            except ValueError:
                raise RowError(f"timestamp {text!r} is neither ISO 8601 nor Unix seconds/milliseconds") from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            return int(round(moment.timestamp() * 1000))
    if not math.isfinite(number) or number < 0:
        raise RowError(f"timestamp {value!r} is not a valid Unix time")
    return int(round(number if number >= MS_THRESHOLD else number * 1000))


def parse_component(value: Any) -> int:
    """``load_2``, ``HVAC``, ``2`` → 2."""
    key = str(value).strip().lower()
    if key not in _COMPONENT_LOOKUP:
        raise RowError(f"load component {value!r} is not load_0 … load_5 or a component name")
    return _COMPONENT_LOOKUP[key]


def parse_watts(value: Any) -> float:
    """A finite number of watts."""
    if isinstance(value, bool):
        raise RowError(f"watts {value!r} is not a number")
    try:
        watts = float(value)
    except (TypeError, ValueError):
        raise RowError(f"watts {value!r} is not a number") from None
    if not math.isfinite(watts):
        raise RowError(f"watts {value!r} is not a finite number")
    return watts


def _pick(record: dict[str, Any], keys: tuple[str, ...], what: str) -> Any:
    for key in keys:
        if key in record:
            return record[key]
    raise RowError(f"no {what} field (one of {', '.join(keys)})")


class RowParser:
    """Parses the lines of one file; remembers the CSV header once it has seen it."""

    def __init__(self, fmt: str = "auto"):
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}")
        self.format = fmt
        self.header: tuple[int, int, int] | None = None  # CSV positions of timestamp, component, watts

    def reset(self) -> None:
        """Forget the header (the file was replaced)."""
        self.header = None

    def parse(self, line: str) -> Row | None:
        """A row, or ``None`` for a blank line, a ``#`` comment or a CSV header; bad rows raise RowError."""
        text = line.strip()
        if not text or text.startswith("#"):
            return None
        if self.format == "jsonl" or (self.format == "auto" and text.startswith("{")):
            return self._json(text)
        return self._csv(text)

    def _json(self, text: str) -> Row:
        try:
            record = json.loads(text)
        except ValueError as err:
            raise RowError(f"invalid JSON ({err.msg})") from None
        except RecursionError:
            raise RowError("invalid JSON (nested too deeply)") from None
        if not isinstance(record, dict):
            raise RowError("a JSON line must be an object")
        record = {str(k).lower(): v for k, v in record.items()}
        return Row(parse_timestamp(_pick(record, TIMESTAMP_KEYS, "timestamp")),
                   parse_component(_pick(record, COMPONENT_KEYS, "load component")),
                   parse_watts(_pick(record, WATTS_KEYS, "watts")))

    def _csv(self, text: str) -> Row | None:
        try:
            fields = [f.strip() for f in next(csv.reader([text]))]
        except csv.Error as err:  # a carriage return inside the line
            raise RowError(f"not a CSV row ({err})") from None
        if self.header is None:
            names = [f.lower() for f in fields]
            if any(n in TIMESTAMP_KEYS for n in names):
                try:
                    self.header = (_index(names, TIMESTAMP_KEYS, "timestamp"),
                                   _index(names, COMPONENT_KEYS, "load component"),
                                   _index(names, WATTS_KEYS, "watts"))
                except RowError as err:
                    raise RowError(f"the CSV header has {err}") from None
                return None
        positions = self.header or (0, 1, 2)
        if len(fields) <= max(positions):
            raise RowError(f"expected at least {max(positions) + 1} columns, got {len(fields)}")
        t, c, w = positions
        return Row(parse_timestamp(fields[t]), parse_component(fields[c]), parse_watts(fields[w]))


def _index(names: list[str], keys: tuple[str, ...], what: str) -> int:
    for key in keys:
        if key in names:
            return names.index(key)
    raise RowError(f"no {what} column (one of {', '.join(keys)})")
