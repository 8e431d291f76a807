"""A fast validator for report bodies: the spec's required structure, checked entirely in pydantic-core.

A fleet tick sends ~116k report resources; validating them through :class:`venclient.openadr.Report` (whose lenient
timestamp and duration handling runs Python code per resource) costs the local VTN seconds per tick.  This
schema checks what the spec requires of a report — ids, names, intervals with payloads, RFC 3339 starts and
ISO 8601 durations — with no Python callbacks, and the body is stored as it was sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter
from typing_extensions import NotRequired, TypedDict

ObjectId = Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]*$", min_length=1, max_length=128)]
Name = Annotated[str, Field(min_length=1, max_length=128)]
# The spec's duration pattern without its look-ahead (pydantic-core's regex engine has none); the minimum
# length rules out the empty forms "P" and "PT" that the look-ahead excluded.
Duration = Annotated[str, Field(pattern=r"^-?P(\d+Y)?(\d+M)?(\d+[DW])?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$",
                                min_length=3)]
Value = Union[bool, int, float, str, dict[str, Any]]


class IntervalPeriodBody(TypedDict):
    start: datetime
    duration: NotRequired[Duration]
    randomizeStart: NotRequired[Duration]


class ValuesMapBody(TypedDict):
    type: Name
    values: list[Value]


class IntervalBody(TypedDict):
    id: int
    intervalPeriod: NotRequired[IntervalPeriodBody]
    payloads: list[ValuesMapBody]


class ReportResourceBody(TypedDict):
    resourceName: Name
    intervalPeriod: NotRequired[IntervalPeriodBody]
    intervals: list[IntervalBody]


class ReportPayloadDescriptorBody(TypedDict):
    payloadType: Name
    objectType: NotRequired[str]
    readingType: NotRequired[Union[str, None]]
    units: NotRequired[Union[str, None]]
    accuracy: NotRequired[Union[float, None]]
    confidence: NotRequired[Union[Annotated[int, Field(ge=0, le=100)], None]]


class ReportBody(TypedDict):
    programID: ObjectId
    eventID: ObjectId
    clientName: Name
    reportName: NotRequired[Union[str, None]]
    payloadDescriptors: NotRequired[Union[list[ReportPayloadDescriptorBody], None]]
    resources: list[ReportResourceBody]


REPORT_BODY = TypeAdapter(ReportBody)
"""``REPORT_BODY.validate_json(raw)`` raises ``pydantic.ValidationError`` for a body that is not a report."""
