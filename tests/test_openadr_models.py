"""venclient.openadr models (strict out, lenient in) and venclient.vtn_errors (typed errors, one-sentence messages)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from venclient.errors import VenError
from venclient.openadr import (
    Event,
    Program,
    Report,
    Resource,
    TokenResponse,
    Ven,
    attribute_value,
    format_duration,
    parse_duration,
    values_map,
)
from venclient.vtn_errors import (
    VtnAuthError,
    VtnConflict,
    VtnError,
    VtnNotFound,
    VtnRateLimited,
    VtnServerError,
    describe_body,
    error_from_response,
    parse_retry_after,
)


def test_resource_serialises_with_wire_names_and_without_none():
    resource = Resource(resource_name="r1_load_0", attributes=[values_map("LOAD_NAME", "Base Load")])
    assert resource.to_wire() == {"resourceName": "r1_load_0",
                                  "attributes": [{"type": "LOAD_NAME", "values": ["Base Load"]}]}
    assert resource.to_json() == b'{"resourceName":"r1_load_0","attributes":[{"type":"LOAD_NAME","values":["Base Load"]}]}'


def test_ids_use_the_spec_spelling():
    event = Event.model_validate({"programID": "p1", "intervals": []})
    assert event.program_id == "p1" and event.to_wire() == {"programID": "p1", "intervals": []}
    report = Report(program_id="p", event_id="e", client_name="Aalborg", resources=[])
    assert set(report.to_wire()) == {"programID", "eventID", "clientName", "resources"}
    assert Resource.model_validate({"resourceName": "x", "venID": 7}).ven_id == "7"


def test_lenient_reading_keeps_extra_fields_and_normalises_time():
    ven = Ven.model_validate({"id": 12, "venName": "Aarhus", "createdDateTime": "2024-03-01 10:00:00",
                              "modificationDateTime": "2024-03-01T11:00:00.123456789+01:00", "vendorField": 1})
    assert ven.id == "12"
    assert ven.created_date_time == datetime(2024, 3, 1, 10, tzinfo=timezone.utc)
    assert ven.modification_date_time == datetime(2024, 3, 1, 10, 0, 0, 123456, tzinfo=timezone.utc)
    assert ven.model_extra == {"vendorField": 1}
    assert ven.to_wire()["createdDateTime"] == "2024-03-01T10:00:00Z"


def test_strict_where_the_spec_is():
    with pytest.raises(ValidationError):
        Resource.model_validate({"resourceName": ""})
    with pytest.raises(ValidationError):
        Program.model_validate({"programLongName": "no short name"})
    with pytest.raises(ValidationError):
        Event.model_validate({"programID": "p"})  # intervals required


def test_values_keep_their_types():
    vm = values_map("X", 1, 2.5, "a", True, {"x": 1, "y": 2})
    assert [type(v).__name__ for v in vm.values] == ["int", "float", "str", "bool", "Point"]
    assert vm.to_wire()["values"] == [1, 2.5, "a", True, {"x": 1.0, "y": 2.0}]
    assert attribute_value([vm], "X") == 1 and attribute_value([vm], "Y") is None


@pytest.mark.parametrize("text, delta", [
    ("PT15M", timedelta(minutes=15)), ("PT0S", timedelta(0)), ("P1DT2H", timedelta(days=1, hours=2)),
    ("-PT5S", timedelta(seconds=-5)), ("PT1.5S", timedelta(seconds=1.5)), ("P2W", timedelta(days=14)),
])
def test_durations(text, delta):
    assert parse_duration(text) == delta
    assert parse_duration(format_duration(delta)) == delta


def test_bad_duration_is_named():
    with pytest.raises(ValueError, match="'15 minutes' is not an ISO 8601 duration"):
        parse_duration("15 minutes")


def test_interval_period_accepts_timedelta_and_seconds():
    event = Event.model_validate({"programID": "p", "intervals": [],
                                  "intervalPeriod": {"start": "2024-01-01T00:00:00Z", "duration": timedelta(minutes=15)}})
    assert event.interval_period.duration == "PT15M"
    assert Event.model_validate({"programID": "p", "intervals": [], "intervalPeriod": {
        "start": 1700000000, "duration": 900}}).interval_period.duration == "PT15M"


def test_token_response_is_read_leniently():
    token = TokenResponse.model_validate({"access_token": "abc", "token_type": "bearer", "scope": ["read_all"]})
    assert token.expires_in is None and token.scope == ["read_all"]
    assert TokenResponse.model_validate({"access_token": "abc", "expires_in": "3600"}).expires_in == 3600


# ------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("body, content_type, title, detail", [
    (b'{"type":"about:blank","title":"Conflict","status":409,"detail":"name taken"}', "application/json",
     "Conflict", "name taken"),
    (b'{"error":"invalid_client","error_description":"Unknown client."}', "application/json",
     "invalid_client", "Unknown client."),
    (b"[]", "application/json", None, None),
    (b"", "", None, None),
    (b"upstream exploded\n  at line 3", "text/plain", None, "upstream exploded at line 3"),
    (b"<html><head><title>502 Bad Gateway</title></head></html>", "text/html", None, "502 Bad Gateway"),
    (b'{"message":"slow down"}', "application/json", None, "slow down"),
])
def test_describe_body_reads_every_shape(body, content_type, title, detail):
    assert describe_body(body, content_type) == (title, detail)


def test_error_from_response_types_and_sentences():
    url = "http://127.0.0.1:1/openadr3/3.0.1/vens/v1/resources"
    conflict = error_from_response("POST", url, 409, b"[]", "application/json")
    assert isinstance(conflict, VtnConflict) and isinstance(conflict, VtnError) and isinstance(conflict, VenError)
    assert str(conflict) == f"The VTN answered 409 Conflict to POST {url}."
    assert conflict.status == 409 and conflict.method == "POST" and conflict.url == url and conflict.body == "[]"

    problem = error_from_response("GET", url, 404, b'{"title":"Not Found","status":404,"detail":"No VEN v1."}')
    assert isinstance(problem, VtnNotFound)
    assert str(problem) == f"The VTN answered 404 Not Found to GET {url}: No VEN v1."

    text = error_from_response("GET", url, 500, b"database is down", "text/plain")
    assert isinstance(text, VtnServerError) and str(text).endswith(": database is down.")

    assert isinstance(error_from_response("GET", url, 403, b"{}"), VtnAuthError)
    limited = error_from_response("GET", url, 429, b"", retry_after="7")
    assert isinstance(limited, VtnRateLimited) and limited.retry_after == 7.0
    assert "\n" not in str(error_from_response("GET", url, 502, b"x" * 5000))


def test_retry_after_header_forms():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past
