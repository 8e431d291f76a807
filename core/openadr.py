"""OpenADR 3.0.1 objects as pydantic v2 models (programs, events, reports, subscriptions, VENs, resources).

Python names are snake_case; the wire names are the spec's camelCase (``venName``, ``programID``); either is
accepted on input.  Send with :func:`to_wire` (by alias, ``None`` left out) — strict in what we send.

Read with ``Model.model_validate(...)`` / ``model_validate_json(...)`` — lenient in what we accept, by one rule:

* **Bookkeeping fields the VTN sets for itself never make us drop an object**: ``createdDateTime`` and
  ``modificationDateTime`` in any shape :func:`venclient.lenient.parse_timestamp` reads (RFC 3339 with or without
  ``T`` or zone, any fraction, `` UTC`` suffixes, epoch numbers, HTTP dates, a bare time of day), anything else
  becomes ``None``; ``objectType`` of any value; ids that are numbers (made text) or of stranger types (``None``);
  unknown extra fields (kept); ``null`` where a list is expected (an empty list).  Pass
  ``context={"lenient": LenientNotes()}`` to hear once per field what was dropped.
* **Fields we act on stay validated**: interval periods (``start`` — the same timestamp shapes except a bare time
  of day —, ``duration``, ``randomizeStart``), interval ids, payload types and values, targets, report
  descriptors, ``programID`` references and the unique names.  An object invalid there fails validation, and the
  transport skips it with one sentence naming the object, the field and the value.

Every timestamp is converted to a UTC-aware ``datetime``.  Durations stay ISO 8601 strings on the model
(``"PT15M"``); :func:`parse_duration` / :func:`format_duration` convert them.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo
from pydantic.alias_generators import to_camel

from venclient.lenient import is_strict, notes_from, parse_timestamp

OBJECT_TYPES: tuple[str, ...] = ("PROGRAM", "EVENT", "REPORT", "SUBSCRIPTION", "VEN", "RESOURCE")
OPERATIONS: tuple[str, ...] = ("READ", "CREATE", "UPDATE", "DELETE")

_DURATION = re.compile(
    r"^(?P<sign>-?)P(?=\d|T\d)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?"
    r"(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$")


def parse_duration(text: str) -> timedelta:
    """An ISO 8601 duration (``PT15M``, ``P1DT2H``, ``-PT5S``) as a timedelta.

    Years count 365 days and months 30 days (OpenADR programs use them only for long spans).
    Raises ``ValueError`` naming the text when it is not a duration.
    """
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not an ISO 8601 duration such as PT15M")
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items() if k != "sign"}
    delta = timedelta(days=parts["years"] * 365 + parts["months"] * 30 + parts["weeks"] * 7 + parts["days"],
                      hours=parts["hours"], minutes=parts["minutes"], seconds=parts["seconds"])
    return -delta if match.group("sign") else delta


def format_duration(delta: timedelta) -> str:
    """A timedelta as an ISO 8601 duration: ``timedelta(minutes=15)`` → ``"PT15M"``; zero → ``"PT0S"``."""
    total = delta.total_seconds()
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    date_part = f"{int(days)}D" if days else ""
    time_part = "".join(f"{int(v)}{u}" for v, u in ((hours, "H"), (minutes, "M")) if v)
    if seconds:
        time_part += f"{seconds:g}S" if seconds != int(seconds) else f"{int(seconds)}S"
    if not date_part and not time_part:
        return "PT0S"
    return f"{sign}P{date_part}" + (f"T{time_part}" if time_part else "")


def _duration_text(value: Any) -> Any:
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_duration(timedelta(seconds=value))
    return value


def _id_text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _acted_timestamp(value: Any) -> datetime:
    """A timestamp we act on: every unambiguous shape, UTC-aware; else a validation error naming the value."""
    return parse_timestamp(value, allow_time_of_day=False)


def _field_label(info: ValidationInfo) -> str:
    name = info.field_name or "value"
    return to_camel(name) if "_" in name else name


def _server_timestamp(value: Any, info: ValidationInfo) -> datetime | None:
    """A bookkeeping timestamp: read when we can, else ``None`` (noted once per field in the context)."""
    if value is None or value == "":
        return None
    try:
        return parse_timestamp(value)
    except ValueError as err:
        notes = notes_from(info.context)
        if notes is not None:
            notes.dropped_value(_field_label(info), value, str(err))
        return None


def _server_id(value: Any, info: ValidationInfo) -> str | None:
    """An id the VTN assigned: text, numbers as text; anything else ``None`` (noted once per field)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(int(value)) if float(value).is_integer() else str(value)
    notes = notes_from(info.context)
    if notes is not None:
        notes.dropped_value(_field_label(info), value, "not a string or number")
    return None


def _server_text(value: Any, info: ValidationInfo) -> str | None:
    """A bookkeeping text such as ``objectType``: any string kept, other JSON values made text."""
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _iso_duration(value: str) -> str:
    """A duration we act on must be ISO 8601 (``PT15M``); anything else is a validation error naming it."""
    if _DURATION.match(value) is None and _DURATION.match(value.strip()) is None:
        raise ValueError(f"{value!r} is not an ISO 8601 duration such as PT15M")
    return value


def _list_or_empty(value: Any) -> Any:
    return [] if value is None else value


UtcDatetime = Annotated[datetime, BeforeValidator(_acted_timestamp)]
"""A timestamp we act on, always UTC-aware (naive input is UTC); see :func:`venclient.lenient.parse_timestamp`."""
ServerTimestamp = Annotated[datetime | None, BeforeValidator(_server_timestamp)]
"""A timestamp the VTN sets for its own bookkeeping: unreadable values become ``None``."""
ServerID = Annotated[str | None, BeforeValidator(_server_id)]
"""The id of an object as the VTN assigned it (numbers become text, stranger values ``None``)."""
ServerText = Annotated[str | None, BeforeValidator(_server_text)]
"""A bookkeeping text (``objectType``): any value accepted, as text."""
Duration = Annotated[str, BeforeValidator(_duration_text), AfterValidator(_iso_duration)]
"""An ISO 8601 duration string (validated); a timedelta or a number of seconds is converted on input."""
ObjectID = Annotated[str, BeforeValidator(_id_text)]
"""A reference to a VTN-assigned id (``^[a-zA-Z0-9_-]*$`` on the wire; numbers become strings)."""
Name = Annotated[str, Field(min_length=1, max_length=128)]
NullAsEmpty = BeforeValidator(_list_or_empty)
"""For required lists: a VTN's ``null`` reads as an empty list."""


class OpenADRModel(BaseModel):
    """Base of every OpenADR object: camelCase aliases, construct by either name, extra fields kept."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict sent to a VTN: wire names, ``None`` fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def to_json(self) -> bytes:
        """:meth:`to_wire` serialised to JSON bytes (fast path for request bodies)."""
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()


def to_wire(obj: OpenADRModel | dict[str, Any]) -> dict[str, Any]:
    """``obj`` as a wire dict; plain dicts pass through unchanged."""
    return obj.to_wire() if isinstance(obj, OpenADRModel) else obj


class Point(OpenADRModel):
    """A pair of floats, e.g. a point on a curve."""

    x: float
    y: float


class ValuesMap(OpenADRModel):
    """A type and its values: ``{"type": "USAGE", "values": [1.5]}``."""

    type: Name
    values: Annotated[list[Union[bool, int, float, str, Point]], NullAsEmpty]


class IntervalPeriod(OpenADRModel):
    """Start (UTC), duration and optional start randomisation of an interval or a set of intervals.

    ``start`` is required by the 3.0.1 schema, and we always send one; an interval's own period read from a VTN
    may carry only a ``duration`` (User Guide Example 7.4-1), and then its start follows the previous interval
    (see :mod:`venclient.engine.timeline`)."""

    start: UtcDatetime | None = None
    duration: Duration | None = None
    randomize_start: Duration | None = None


class Interval(OpenADRModel):
    """One temporal window with payloads; ``id`` is client-chosen, not a sequence number."""

    id: int
    interval_period: IntervalPeriod | None = None
    payloads: Annotated[list[ValuesMap], NullAsEmpty]


class EventPayloadDescriptor(OpenADRModel):
    """Context for event payload values (units, currency)."""

    object_type: ServerText = None
    payload_type: Name
    units: str | None = None
    currency: str | None = None


class ReportPayloadDescriptor(OpenADRModel):
    """Context for report payload values (reading type, units, accuracy, confidence)."""

    object_type: ServerText = None
    payload_type: Name
    reading_type: str | None = None
    units: str | None = None
    accuracy: float | None = None
    confidence: Annotated[int, Field(ge=0, le=100)] | None = None


class ReportDescriptor(OpenADRModel):
    """What an event asks the VEN to report (payload type, units, how often, how many intervals)."""

    payload_type: Name
    reading_type: str | None = None
    units: str | None = None
    targets: list[ValuesMap] | None = None
    aggregate: bool | None = None
    start_interval: int | None = None
    num_intervals: int | None = None
    historical: bool | None = None
    frequency: int | None = None
    repeat: int | None = None


class ProgramDescription(OpenADRModel):
    """A link to a human or machine readable program description."""

    url: str = Field(alias="URL")


class VtnObject(OpenADRModel):
    """The fields a VTN provisions on creation: ``id``, timestamps and ``objectType``."""

    id: ServerID = None
    created_date_time: ServerTimestamp = None
    modification_date_time: ServerTimestamp = None
    object_type: ServerText = None


class Program(VtnObject):
    """A demand-response program (``programName`` is unique on the VTN)."""

    program_name: Name
    program_long_name: str | None = None
    retailer_name: str | None = None
    retailer_long_name: str | None = None
    program_type: str | None = None
    country: str | None = None
    principal_subdivision: str | None = None
    time_zone_offset: Duration | None = None
    interval_period: IntervalPeriod | None = None
    program_descriptions: list[ProgramDescription] | None = None
    binding_events: bool | None = None
    local_price: bool | None = None
    payload_descriptors: list[Union[EventPayloadDescriptor, ReportPayloadDescriptor]] | None = None
    targets: list[ValuesMap] | None = None


class Event(VtnObject):
    """A demand-response event of a program: intervals with payloads, optional report requests."""

    program_id: ObjectID = Field(alias="programID")
    event_name: str | None = None
    priority: Annotated[int, Field(ge=0)] | None = None
    targets: list[ValuesMap] | None = None
    report_descriptors: list[ReportDescriptor] | None = None
    payload_descriptors: list[EventPayloadDescriptor] | None = None
    interval_period: IntervalPeriod | None = None
    intervals: Annotated[list[Interval], NullAsEmpty]  # required in 3.0.1: a 'report-only' event sends [] (or null)


class ReportResource(OpenADRModel):
    """One resource's data in a report (``resourceName`` ``AGGREGATED_REPORT`` for an aggregate)."""

    resource_name: Name
    interval_period: IntervalPeriod | None = None
    intervals: Annotated[list[Interval], NullAsEmpty]


class Report(VtnObject):
    """A VEN's report answering an event's report descriptors; one report carries many resources."""

    program_id: ObjectID = Field(alias="programID")
    event_id: ObjectID = Field(alias="eventID")
    client_name: Name
    report_name: str | None = None
    payload_descriptors: list[ReportPayloadDescriptor] | None = None
    resources: Annotated[list[ReportResource], NullAsEmpty]


SUBSCRIPTION_SPELLING = {"GET": "READ", "POST": "CREATE", "PUT": "UPDATE", "DELETE": "DELETE"}
"""HTTP verbs some VTNs use in subscriptions, mapped to the spec's ``READ/CREATE/UPDATE/DELETE``."""
NOTIFICATION_SPELLING = {"READ": "GET", "CREATE": "POST", "UPDATE": "PUT", "DELETE": "DELETE"}
"""Subscription words some VTNs use in notifications, mapped to the spec's ``GET/POST/PUT/DELETE``."""


def _upper_words(value: Any) -> Any:
    if isinstance(value, list):
        return [v.strip().upper() if isinstance(v, str) else v for v in value]
    return [] if value is None else value


def _subscription_operations(value: Any, info: ValidationInfo) -> Any:
    """Either spelling of a subscription's operations, read as the spec's (``POST`` → ``CREATE``); with a
    ``spec_strict`` context only the spec's."""
    if is_strict(info.context):
        return value
    value = _upper_words(value)
    return [SUBSCRIPTION_SPELLING.get(v, v) if isinstance(v, str) else v for v in value] if isinstance(value, list) \
        else value


def _notification_operation(value: Any, info: ValidationInfo) -> Any:
    """Either spelling of a notification's operation, read as the spec's (``CREATE`` → ``POST``); with a
    ``spec_strict`` context only the spec's."""
    if isinstance(value, str) and not is_strict(info.context):
        word = value.strip().upper()
        return NOTIFICATION_SPELLING.get(word, word)
    return value


class ObjectOperation(OpenADRModel):
    """Which objects and operations a subscription wants, and the webhook to call.

    Read leniently: object and operation names in any case, operations in either spelling (the spec's
    ``READ/CREATE/UPDATE/DELETE`` or the HTTP verbs ``GET/POST/PUT/DELETE`` some VTNs use); always sent as the spec's.
    """

    objects: Annotated[list[Literal["PROGRAM", "EVENT", "REPORT", "SUBSCRIPTION", "VEN", "RESOURCE"]],
                       BeforeValidator(_upper_words)]
    operations: Annotated[list[Literal["READ", "CREATE", "UPDATE", "DELETE"]], BeforeValidator(_subscription_operations)]
    callback_url: str
    bearer_token: str | None = None


class Subscription(VtnObject):
    """A client's webhook subscription to operations on objects of one program."""

    client_name: Name
    program_id: ObjectID = Field(alias="programID")
    object_operations: Annotated[list[ObjectOperation], NullAsEmpty]
    targets: list[ValuesMap] | None = None


class Resource(VtnObject):
    """A device or system behind a VEN; ``resourceName`` is unique within its VEN."""

    resource_name: Name
    ven_id: ServerID = Field(default=None, alias="venID")
    attributes: list[ValuesMap] | None = None
    targets: list[ValuesMap] | None = None


class Ven(VtnObject):
    """A VEN (``venName`` is unique on the VTN)."""

    ven_name: Name
    attributes: list[ValuesMap] | None = None
    targets: list[ValuesMap] | None = None
    resources: list[dict[str, Any]] | None = None  # as the VTN lists them; read them with Resource.model_validate


class Notification(OpenADRModel):
    """What a VTN POSTs to a subscription's callback URL.

    ``operation`` is read in either spelling (``POST`` or ``CREATE`` …) and kept as the spec's HTTP verb.
    """

    object_type: Annotated[str, BeforeValidator(lambda v: v.strip().upper() if isinstance(v, str) else v)]
    operation: Annotated[Literal["GET", "POST", "PUT", "DELETE"], BeforeValidator(_notification_operation)]
    object: dict[str, Any]
    targets: list[ValuesMap] | None = None


class Problem(OpenADRModel):
    """An RFC 7807 problem object, the spec's error body."""

    type: str | None = None
    title: str | None = None
    status: int | None = None
    detail: str | None = None
    instance: str | None = None


class AuthError(OpenADRModel):
    """An RFC 6749 error body from the token endpoint."""

    model_config = ConfigDict(alias_generator=None, extra="allow")

    error: str
    error_description: str | None = None
    error_uri: str | None = None


class TokenResponse(OpenADRModel):
    """The token endpoint's answer, read leniently: ``scope`` may be a list, ``expires_in`` missing or text."""

    model_config = ConfigDict(alias_generator=None, extra="allow")

    access_token: str = Field(min_length=1)
    token_type: str = "Bearer"
    expires_in: float | None = None
    refresh_token: str | None = None
    scope: str | list[str] | None = None


def values_map(type_: str, *values: Any) -> ValuesMap:
    """Shorthand: ``values_map("USAGE", 1.5)``."""
    return ValuesMap(type=type_, values=list(values))


def attribute_value(maps: list[ValuesMap] | None, type_: str) -> Any:
    """The first value of the ``type_`` entry in an attributes/targets list, or ``None``."""
    for item in maps or ():
        if item.type == type_ and item.values:
            return item.values[0]
    return None


def now_utc() -> datetime:
    """The current time, UTC-aware (what a VTN stamps on created objects)."""
    return datetime.now(timezone.utc)
