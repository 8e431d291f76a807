"""OpenADR 3.0.1 objects as pydantic v2 models (programs, events, reports, subscriptions, VENs, resources).

Python names are snake_case; the wire names are the spec's camelCase (``venName``, ``programID``).
Send with :func:`to_wire` (by alias, ``None`` left out) — strict in what we send — and read with
``Model.model_validate(...)``, which is lenient in what it accepts: unknown fields are kept, ids may be
numbers, timestamps may be naive (taken as UTC), use a space instead of ``T``, or carry nanoseconds.
Every timestamp is converted to a UTC-aware ``datetime``.  Durations stay ISO 8601 strings on the model
(``"PT15M"``); :func:`parse_duration` / :func:`format_duration` convert them.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

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


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _duration_text(value: Any) -> Any:
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_duration(timedelta(seconds=value))
    return value


def _id_text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]
"""A timestamp, always UTC-aware after validation (naive input is taken as UTC)."""
Duration = Annotated[str, BeforeValidator(_duration_text)]
"""An ISO 8601 duration string; a timedelta or a number of seconds is converted on input."""
ObjectID = Annotated[str, BeforeValidator(_id_text)]
"""A VTN-assigned id (``^[a-zA-Z0-9_-]*$`` on the wire; numbers from lenient VTNs become strings)."""
Name = Annotated[str, Field(min_length=1, max_length=128)]


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
    values: list[Union[bool, int, float, str, Point]]


class IntervalPeriod(OpenADRModel):
    """Start (UTC), duration and optional start randomisation of an interval or a set of intervals."""

    start: UtcDatetime
    duration: Duration | None = None
    randomize_start: Duration | None = None


class Interval(OpenADRModel):
    """One temporal window with payloads; ``id`` is client-chosen, not a sequence number."""

    id: int
    interval_period: IntervalPeriod | None = None
    payloads: list[ValuesMap]


class EventPayloadDescriptor(OpenADRModel):
    """Context for event payload values (units, currency)."""

    object_type: Literal["EVENT_PAYLOAD_DESCRIPTOR"] | None = None
    payload_type: Name
    units: str | None = None
    currency: str | None = None


class ReportPayloadDescriptor(OpenADRModel):
    """Context for report payload values (reading type, units, accuracy, confidence)."""

    object_type: Literal["REPORT_PAYLOAD_DESCRIPTOR"] | None = None
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

    id: ObjectID | None = None
    created_date_time: UtcDatetime | None = None
    modification_date_time: UtcDatetime | None = None
    object_type: str | None = None


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
    intervals: list[Interval]


class ReportResource(OpenADRModel):
    """One resource's data in a report (``resourceName`` ``AGGREGATED_REPORT`` for an aggregate)."""

    resource_name: Name
    interval_period: IntervalPeriod | None = None
    intervals: list[Interval]


class Report(VtnObject):
    """A VEN's report answering an event's report descriptors; one report carries many resources."""

    program_id: ObjectID = Field(alias="programID")
    event_id: ObjectID = Field(alias="eventID")
    client_name: Name
    report_name: str | None = None
    payload_descriptors: list[ReportPayloadDescriptor] | None = None
    resources: list[ReportResource]


class ObjectOperation(OpenADRModel):
    """Which objects and operations a subscription wants, and the webhook to call."""

    objects: list[Literal["PROGRAM", "EVENT", "REPORT", "SUBSCRIPTION", "VEN", "RESOURCE"]]
    operations: list[Literal["READ", "CREATE", "UPDATE", "DELETE"]]
    callback_url: str
    bearer_token: str | None = None


class Subscription(VtnObject):
    """A client's webhook subscription to operations on objects of one program."""

    client_name: Name
    program_id: ObjectID = Field(alias="programID")
    object_operations: list[ObjectOperation]
    targets: list[ValuesMap] | None = None


class Resource(VtnObject):
    """A device or system behind a VEN; ``resourceName`` is unique within its VEN."""

    resource_name: Name
    ven_id: ObjectID | None = Field(default=None, alias="venID")
    attributes: list[ValuesMap] | None = None
    targets: list[ValuesMap] | None = None


class Ven(VtnObject):
    """A VEN (``venName`` is unique on the VTN)."""

    ven_name: Name
    attributes: list[ValuesMap] | None = None
    targets: list[ValuesMap] | None = None
    resources: list[Resource] | None = None


class Notification(OpenADRModel):
    """What a VTN POSTs to a subscription's callback URL."""

    object_type: str
    operation: Literal["GET", "POST", "PUT", "DELETE"]
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
