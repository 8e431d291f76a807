"""Turning one tick's readings into OpenADR reports that answer the VTN's report requests.

A *report request* is an event whose ``reportDescriptors`` name payload types (USAGE, DEMAND …) with units.
This is the *continuous* path (VEN-chosen intervals: ``OPEN_INTERVALS`` and the fallback request; the others are
event-aligned, :mod:`venclient.engine.report_schedule`).  For every VEN and every such event the reporter builds
one report per tick (chunked at
``max_resources`` resources), ``clientName`` = the VEN name, each resource with an ``intervalPeriod``
(the tick's start and the reporting interval) and one interval whose payloads answer the descriptors:

* USAGE  — energy over the interval: watts × seconds / 3600 → Wh, in the descriptor's units (WH, KWH, MWH);
* DEMAND — mean power over the interval, in W, KW or MW.

Level ``load`` reports every registered load under its VTN ``resourceName``; level ``resource`` reports
each resource as the sum of its loads (resourceName = the resource id).  Loads without a fresh value are
left out of the report (and a resource missing one of its loads is left out at level ``resource``) —
nothing is reported rather than a false zero or a partial sum.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import orjson

from venclient.openadr import format_duration

log = logging.getLogger(__name__)

ENERGY_UNITS = {"WH": 1.0, "KWH": 1e-3, "MWH": 1e-6}
POWER_UNITS = {"W": 1.0, "KW": 1e-3, "MW": 1e-6}
DEFAULT_UNITS = {"USAGE": "KWH", "DEMAND": "KW"}
SUPPORTED_PAYLOADS = tuple(DEFAULT_UNITS)
LEVELS = ("load", "resource")
SIGNIFICANT_DIGITS = 9  # float32 meter data carries ~7; 9 keeps every unit conversion exact to the reading


@dataclass(frozen=True)
class PayloadSpec:
    """One requested payload: its type, units, reading type and the factor from the tick's watts."""

    payload_type: str
    units: str
    reading_type: str
    factor: float  # value = watts * factor

    def descriptor(self) -> dict[str, Any]:
        return {"objectType": "REPORT_PAYLOAD_DESCRIPTOR", "payloadType": self.payload_type,
                "readingType": self.reading_type, "units": self.units}


def payload_specs(descriptors: Iterable[Any], interval_seconds: float,
                  warn: Any = None) -> list[PayloadSpec]:
    """The payloads we can answer among an event's ``reportDescriptors`` (models or wire dicts).

    Unsupported payload types or units are passed to ``warn(message)`` (the caller logs each once).
    """
    specs: list[PayloadSpec] = []
    for d in descriptors or ():
        get = d.get if isinstance(d, dict) else (lambda k, _d=d: getattr(_d, _snake(k), None))
        payload_type = str(get("payloadType") or "").upper()
        if payload_type not in SUPPORTED_PAYLOADS:
            if warn:
                warn(f"report payload type {payload_type or '(none)'} is not supported; USAGE and DEMAND are")
            continue
        units = str(get("units") or DEFAULT_UNITS[payload_type]).upper()
        table = ENERGY_UNITS if payload_type == "USAGE" else POWER_UNITS
        if units not in table:
            if warn:
                warn(f"units {units} cannot express {payload_type}; use one of {', '.join(table)}")
            continue
        if payload_type == "USAGE":
            factor = interval_seconds / 3600.0 * table[units]
            reading_type = str(get("readingType") or "DIRECT_READ")
        else:
            factor = table[units]
            reading_type = str(get("readingType") or "MEAN")
        spec = PayloadSpec(payload_type, units, reading_type, factor)
        if spec not in specs:
            specs.append(spec)
    return specs


def significant(values: np.ndarray, digits: int = SIGNIFICANT_DIGITS) -> np.ndarray:
    """``values`` rounded to ``digits`` significant digits (not decimal places: 4.2e-6 kWh stays 4.2e-6)."""
    values = np.asarray(values, dtype=np.float64)
    out = values.copy()
    finite = np.isfinite(values) & (values != 0)
    if finite.any():
        x = values[finite]
        exponent = digits - 1 - np.floor(np.log10(np.abs(x)))
        up = 10.0 ** np.maximum(exponent, 0)     # divide by an exact power of ten: 0.3333, not 0.33330000000000004
        down = 10.0 ** np.maximum(-exponent, 0)  # multiply by one: 123500000.0, not 123500000.00000001
        out[finite] = np.round(x * up / down) * down / up
    return out


def _snake(camel: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in camel)


@dataclass(frozen=True)
class WireReport:
    """One report ready for the outbox: where it goes and its JSON text, exactly what is POSTed."""

    ven: str
    program_id: str
    event_id: str
    report_name: str
    resources: int
    json: str

    def to_dict(self) -> dict[str, Any]:
        """The report as a wire dict (parsed from :attr:`json`)."""
        return orjson.loads(self.json)


def json_strings(values: Iterable[Any], *, plain: bool = False) -> np.ndarray:
    """Each value as a JSON string literal (an object array), e.g. ``R1_load_0`` → ``"R1_load_0"`` quoted.

    ``plain``: the caller knows no value holds a character JSON escapes, so each is just quoted (faster)."""
    if plain:
        encoded = [f'"{v}"' for v in values]
    else:
        encoded = [orjson.dumps(str(v)).decode() for v in values]
    out = np.empty(len(encoded), dtype=object)
    out[:] = encoded
    return out


def encode_reports(*, ven: str, program_id: str, event_id: str, specs: Sequence[PayloadSpec], start: datetime,
                   interval_seconds: float, power_w: np.ndarray, names: Sequence[str] | np.ndarray | None = None,
                   max_resources: int = 2000, report_name: str | None = None,
                   names_json: np.ndarray | None = None) -> list[WireReport]:
    """Reports for one VEN and one event at one tick, as JSON text (``[]`` when nothing has a value).

    ``names[i]`` is the resourceName to report ``power_w[i]`` (watts; NaN or infinite = no value) under;
    ``names_json`` gives the names already JSON-encoded instead (:func:`json_strings`; the :class:`Reporter`
    makes them per VEN).  Resources go into chunks of ``max_resources``.  ``report_name`` (default
    ``"{ven}:{event_id}:{start}:{random}"``, unique per build) gets ``#<chunk>`` appended when chunked; it makes
    each report recognisable on the VTN, so a resend after an unknown outcome can be detected (the outbox
    keeps the text, so a retry carries the same name).

    The text is written directly, without a dict per resource: a tick of the whole fleet is 116k resources.
    """
    if not specs:
        return []
    keep = np.flatnonzero(np.isfinite(power_w))
    if keep.size == 0:
        return []
    start_text = start.isoformat().replace("+00:00", "Z")
    period = orjson.dumps({"start": start_text,
                           "duration": format_duration(timedelta(seconds=interval_seconds))}).decode()
    columns = [significant(power_w[keep] * spec.factor).tolist() for spec in specs]
    if names_json is None:
        if names is None:
            raise TypeError("encode_reports needs names or names_json")
        names_json = json_strings(np.asarray(names, dtype=object)[keep].tolist())
    else:
        names_json = names_json[keep]
    payloads = ",".join('{"type":%s,"values":[%%r]}' % orjson.dumps(spec.payload_type).decode() for spec in specs)
    template = '{"resourceName":%s,"intervalPeriod":' + period.replace("%", "%%") + \
        ',"intervals":[{"id":0,"payloads":[' + payloads + ']}]}'
    resources = [template % row for row in zip(names_json.tolist(), *columns)]
    base_name = report_name or f"{ven}:{event_id}:{start_text}:{secrets.token_hex(4)}"
    chunks = range(0, len(resources), max_resources)
    head = (f'{{"programID":{orjson.dumps(program_id).decode()},"eventID":{orjson.dumps(event_id).decode()},'
            f'"clientName":{orjson.dumps(ven).decode()},"reportName":')
    tail = f',"payloadDescriptors":{orjson.dumps([spec.descriptor() for spec in specs]).decode()},"resources":['
    out = []
    for n, first in enumerate(chunks):
        name = base_name if len(chunks) == 1 else f"{base_name}#{n}"
        part = resources[first:first + max_resources]
        out.append(WireReport(ven=ven, program_id=program_id, event_id=event_id, report_name=name,
                              resources=len(part),
                              json=head + orjson.dumps(name).decode() + tail + ",".join(part) + "]}"))
    return out


def build_reports(**kwargs: Any) -> list[dict[str, Any]]:
    """:func:`encode_reports` as wire dicts (same arguments)."""
    return [report.to_dict() for report in encode_reports(**kwargs)]


def event_scope(event: Any) -> tuple[set[str] | None, set[str] | None]:
    """``(ven_names, resource_names)`` an event targets; ``None`` for a kind it does not restrict."""
    vens: set[str] | None = None
    names: set[str] | None = None
    for target in getattr(event, "targets", None) or ():
        kind = (target.type or "").upper()
        if kind == "VEN_NAME":
            vens = (vens or set()) | {str(v) for v in target.values}
        elif kind == "RESOURCE_NAME":
            names = (names or set()) | {str(v) for v in target.values}
    return vens, names


def _resource_names(plan: Any, positions: slice | np.ndarray) -> list[str]:
    """The VTN resourceNames (``{resource_id}_{component}``) of the plan's loads at ``positions``."""
    return [f"{r}_{c}" for r, c in zip(plan.resource_ids[positions].tolist(), plan.components[positions].tolist())]


class Reporter:
    """Builds every report of one tick from a collector's plan and readings (arrays in, JSON text out).

    ``level`` is ``"load"`` (each registered load under its VTN resourceName) or ``"resource"`` (each resource
    as the sum of its loads, named by its resource id).  Values whose quality is not OK are left out.
    """

    def __init__(self, *, interval_seconds: float, level: str = "load", max_resources: int = 2000):
        if level not in LEVELS:
            raise ValueError(f"reporting.level must be one of {', '.join(LEVELS)}, got {level!r}")
        self.interval_seconds = float(interval_seconds)
        self.level = level
        self.max_resources = max_resources
        self._plan: Any = None  # the plan _plain_names was checked for (a reference: ids of freed objects recur)
        self._plain_names = False
        self._names_json: np.ndarray | None = None  # every load's resourceName as JSON text, for self._plan
        self._warned: set[str] = set()

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            log.warning("Reporting: %s.", message)

    def _prepare(self, plan: Any) -> None:
        """Once per plan: whether resource ids and components can go into JSON text unescaped, and every load's
        resourceName as JSON text (a fleet tick would otherwise format 116k names twice, every tick)."""
        if self._plan is plan:
            return
        parts = set(plan.resource_ids.tolist()) | set(plan.components.tolist())
        self._plain_names = all(orjson.dumps(part)[1:-1].decode() == part for part in parts)
        self._names_json = json_strings(_resource_names(plan, slice(None)), plain=self._plain_names)
        self._plan = plan

    def build(self, start: datetime, readings: Any, plan: Any, events: Sequence[Any],
              seconds: float | None = None) -> list[WireReport]:
        """Reports for every (VEN, event asking for reports) at the tick starting at ``start``, ``seconds`` long
        (default ``interval_seconds``; ``ven run`` passes the seconds the clock says the tick stands for)."""
        return list(self.iter_build(start, readings, plan, events, seconds))

    def iter_build(self, start: datetime, readings: Any, plan: Any, events: Sequence[Any],
                   seconds: float | None = None) -> Iterator[WireReport]:
        """:meth:`build`, one VEN's reports at a time, so a fleet tick never holds all its JSON text at once
        (the outbox stores each as it comes).  ``readings`` and ``plan`` must not change while it runs."""
        if not events:
            return
        self._prepare(plan)
        interval = self.interval_seconds if seconds is None else float(seconds)
        power = np.where(readings.quality == 0, readings.power_w, np.nan)
        for event in events:
            specs = payload_specs(event.report_descriptors, interval, warn=self._warn_once)
            if not specs:
                continue
            vens, names = event_scope(event)
            for ven, sl in plan.ven_slices.items():
                if vens is not None and ven not in vens and names is None:
                    continue
                yield from self._ven_reports(ven, sl, event, specs, start, power, plan, vens, names, interval)

    def _ven_reports(self, ven: str, sl: slice, event: Any, specs: list[PayloadSpec], start: datetime,
                     power: np.ndarray, plan: Any, vens: set[str] | None, names: set[str] | None,
                     interval: float) -> list[WireReport]:
        values = power[sl]
        only_named = names is not None and (vens is None or ven not in vens)
        if self.level == "load":
            keep = plan.registered[sl].copy()
            if only_named:
                keep &= np.fromiter((n in names for n in _resource_names(plan, sl)), dtype=bool, count=len(values))
            rows = np.flatnonzero(keep & np.isfinite(values)) + sl.start  # the loads with a value to report
            label_json, values = self._names_json[rows], power[rows]  # type: ignore[index]
        else:
            bounds = plan.resource_bounds(sl) - sl.start
            starts = bounds[:-1]
            if len(starts) == 0:
                return []
            present = ~np.isnan(values)
            sums = np.add.reduceat(np.where(present, values, 0.0), starts)
            counts = np.add.reduceat(present.astype(np.int64), starts)
            sums[counts < np.diff(bounds)] = np.nan  # a resource with a missing load: no value, not a partial sum
            label = plan.resource_ids[sl][starts]
            if only_named:
                keep = np.fromiter((n in names for n in label.tolist()), dtype=bool, count=len(label))
                label, sums = label[keep], sums[keep]
            label_json, values = json_strings(label.tolist(), plain=self._plain_names), sums
        return encode_reports(ven=ven, program_id=event.program_id, event_id=event.id, specs=specs, start=start,
                              interval_seconds=interval, power_w=values,
                              max_resources=self.max_resources, names_json=label_json)
