"""Whether a report answers what its event asked for: the local VTN's check before it stores a report.

:func:`check_report` takes a report body (a wire dict that passed :data:`REPORT_BODY`) and the state, and raises
a 400 :class:`Problem` whose detail names the first field that does not match:

* ``programID`` and ``eventID`` exist, and the event belongs to that program;
* every interval ``id`` is one of the event's interval ids — unless the ids are the VEN's to choose: a
  'report-only' event (no intervals), or a descriptor with ``reportIntervals`` ``OPEN_INTERVALS`` (3.1);
* when the event has ``reportDescriptors``, every payload ``type`` (of the intervals and of
  ``payloadDescriptors``) is among them, and a report payload descriptor's ``units`` are among those the event's
  descriptors of that type name (a descriptor without units accepts any).  An event without descriptors asked
  for nothing in particular: a VEN told to report against it (``reporting.event``) chooses its payloads;
* the values of payload types the enumerations constrain (``report-payloads.schema.yaml``): ``SIMPLE_LEVEL`` one
  integer 0–3, ``OPERATING_STATE`` one of its states, ``DATA_QUALITY`` one of its codes (:data:`VALUE_RULES`);
* when ``clientName`` names a registered VEN, every ``resourceName`` is registered under that VEN, is
  ``AGGREGATED_REPORT`` (the spec's name for an aggregate), or names a group of them: the prefix before ``_`` of
  registered names (a VEN reporting per resource names it by the id its loads' ``{resource}_{load}`` names
  start with).  3.0.1's ``clientName`` need not be a VEN name, so a client the VTN does not know as a VEN has
  no resources to check against.

The loop over resources is plain set look-ups: a fleet tick posts ~116k report resources.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from venclient.plugins.local_vtn.problems import Problem
from venclient.plugins.local_vtn.state import VtnState

AGGREGATED_REPORT = "AGGREGATED_REPORT"
OPEN_INTERVALS = "OPEN_INTERVALS"

#: report-payloads.schema.yaml, OPERATING_STATE (Table 4, Operating State Enumerations)
OPERATING_STATES = frozenset({
    "NORMAL", "ERROR", "IDLE_NORMAL", "RUNNING_NORMAL", "RUNNING_CURTAILED", "RUNNING_HEIGHTENED", "IDLE_CURTAILED",
    "SGD_ERROR_CONDITION", "IDLE_HEIGHTENED", "IDLE_OPTED_OUT", "RUNNING_OPTED_OUT", "AGGREGATED_REPORT"})
#: report-payloads.schema.yaml, DATA_QUALITY
DATA_QUALITY_CODES = frozenset({"OK", "MISSING", "ESTIMATED", "BAD"})


def _simple_level(value: Any) -> bool:
    """An integer 0-3 (JSON Schema's integer: 2.0 is one too)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer()
            and 0 <= value <= 3)


#: payload type → (whether one value is acceptable, what is expected): the values the enumerations constrain
VALUE_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "SIMPLE_LEVEL": (_simple_level, "one integer 0-3"),
    "OPERATING_STATE": (lambda v: v in OPERATING_STATES, "one of " + ", ".join(sorted(OPERATING_STATES))),
    "DATA_QUALITY": (lambda v: v in DATA_QUALITY_CODES, "one of " + ", ".join(sorted(DATA_QUALITY_CODES))),
}


def _bad(detail: str) -> Problem:
    return Problem(400, "Bad Request", detail)


def check_report(report: dict[str, Any], state: VtnState) -> None:
    """Raise a 400 :class:`Problem` naming the field when ``report`` does not answer its event; see the module."""
    program_id, event_id = report["programID"], report["eventID"]
    if state.programs.get(program_id) is None:
        raise _bad(f"The report names programID {program_id!r}, which does not exist.")
    event = state.events.get(event_id)
    if event is None:
        raise _bad(f"The report names eventID {event_id!r}, which does not exist.")
    if event.get("programID") != program_id:
        raise _bad(f"The report's eventID {event_id!r} belongs to programID {event.get('programID')!r}, "
                   f"not to programID {program_id!r}.")
    descriptors = [d for d in event.get("reportDescriptors") or () if isinstance(d, dict)]
    units_by_type = _units_by_type(descriptors) if descriptors else None
    if units_by_type is not None:
        _check_payload_descriptors(report.get("payloadDescriptors") or (), units_by_type)
    interval_ids = _allowed_interval_ids(event, descriptors)
    # the payload types whose values are checked (none for a plain USAGE event: a fleet tick pays nothing)
    constrained = VALUE_RULES.keys() & units_by_type.keys() if units_by_type is not None else VALUE_RULES.keys()
    resources = report.get("resources") or ()
    names = _registered_names(state, report["clientName"]) if resources else None
    groups: set[str] | None = None
    for r, resource in enumerate(resources):
        name = resource["resourceName"]
        if names is not None and name not in names and name != AGGREGATED_REPORT:
            if groups is None:
                groups = _name_prefixes(names)
            if name not in groups:
                raise _bad(f"resources[{r}].resourceName {name!r} is not a resource of VEN "
                           f"{report['clientName']!r}.")
        for i, interval in enumerate(resource["intervals"]):
            if interval_ids is not None and interval["id"] not in interval_ids:
                raise _bad(f"resources[{r}].intervals[{i}].id {interval['id']!r} is not an interval of event "
                           f"{event_id!r} (its ids: {sorted(interval_ids)}).")
            for p, payload in enumerate(interval["payloads"] if units_by_type is not None or constrained else ()):
                kind = payload["type"]
                if units_by_type is not None and kind not in units_by_type:
                    raise _bad(f"resources[{r}].intervals[{i}].payloads[{p}].type {kind!r} is not "
                               f"among the reportDescriptors of event {event_id!r} "
                               f"({', '.join(units_by_type) or 'none'}).")
                if constrained and kind in constrained:
                    _check_values(payload, f"resources[{r}].intervals[{i}].payloads[{p}]")


def _check_values(payload: dict[str, Any], where: str) -> None:
    ok, expected = VALUE_RULES[payload["type"]]
    values = payload.get("values")
    if not (isinstance(values, list) and len(values) == 1 and ok(values[0])):
        raise _bad(f"{where}.values {values!r} are not what {payload['type']} takes ({expected}).")


def _units_by_type(descriptors: list[dict[str, Any]]) -> dict[str, set[str] | None]:
    """Payload type → the units the event's descriptors of that type name (``None``: one of them names none)."""
    out: dict[str, set[str] | None] = {}
    for descriptor in descriptors:
        payload_type, units = descriptor.get("payloadType"), descriptor.get("units")
        if payload_type is None:
            continue
        if units is None:
            out[payload_type] = None
        elif payload_type not in out:
            out[payload_type] = {units}
        elif out[payload_type] is not None:
            out[payload_type].add(units)  # type: ignore[union-attr]
    return out


def _check_payload_descriptors(payload_descriptors: Iterable[dict[str, Any]],
                               units_by_type: dict[str, set[str] | None]) -> None:
    for d, descriptor in enumerate(payload_descriptors):
        payload_type = descriptor["payloadType"]
        if payload_type not in units_by_type:
            raise _bad(f"payloadDescriptors[{d}].payloadType {payload_type!r} is not among the event's "
                       f"reportDescriptors ({', '.join(units_by_type) or 'none'}).")
        allowed, units = units_by_type[payload_type], descriptor.get("units")
        if allowed is not None and units is not None and units not in allowed:
            raise _bad(f"payloadDescriptors[{d}].units {units!r} are not the units the event asks for "
                       f"{payload_type} in ({', '.join(sorted(allowed))}).")


def _allowed_interval_ids(event: dict[str, Any], descriptors: list[dict[str, Any]]) -> set[int] | None:
    """The event's interval ids, or ``None`` when the VEN chooses them (report-only event, OPEN_INTERVALS)."""
    intervals = event.get("intervals") or ()
    if not intervals or any(d.get("reportIntervals") == OPEN_INTERVALS for d in descriptors):
        return None
    return {interval.get("id") for interval in intervals}


def _registered_names(state: VtnState, client_name: str) -> dict[str, str] | None:
    """``resourceName`` → id of the VEN named ``client_name``, or ``None`` when no VEN has that name."""
    ven_id = state.vens.id_for_name(client_name)
    if ven_id is None:
        return None
    return state.ven_resources(ven_id).by_name


def _name_prefixes(names: Iterable[str]) -> set[str]:
    """Every prefix of a name that ends before one of its ``_`` (``r1_load_0`` → ``r1``, ``r1_load``)."""
    out: set[str] = set()
    for name in names:
        cut = name.find("_")
        while cut > 0:
            out.add(name[:cut])
            cut = name.find("_", cut + 1)
    return out
