"""Lenient reading of VTN answers, driven by the corpus in ``tests/data/vtn_variants/``.

Every model reads every variant of its file: bookkeeping fields never drop an object, fields we act on stay
validated and an object invalid there is skipped with one sentence naming the object, the field and the value.
The same corpus is then served by the local VTN (behind a fault injector that answers with the variant bodies)
and read through the transport's listings, so the rule holds on the wire path too.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from venclient.lenient import CONTEXT_KEY, LenientNotes, parse_timestamp
from venclient.openadr import Event, Notification, Program, Report, Resource, Subscription, TokenResponse, Ven
from venclient.vtn_errors import VtnProtocolError
from fixtures.vtn import json_body, make_config
from venclient.plugins.openadr_http import HttpVtnTransport
from venclient.plugins.openadr_http.parsing import describe_invalid

VARIANTS = Path(__file__).parent / "data" / "vtn_variants"
MODELS: dict[str, type] = {"program": Program, "event": Event, "report": Report, "subscription": Subscription,
                           "ven": Ven, "resource": Resource, "notification": Notification, "token": TokenResponse}
# model -> (path the VTN answers the listing on, how the transport lists it)
LISTINGS: dict[str, tuple[str, Any]] = {
    "program": ("/programs", lambda t: t.list_programs()),
    "event": ("/events", lambda t: t.list_events()),
    "report": ("/reports", lambda t: t.list_reports()),
    "subscription": ("/subscriptions", lambda t: t.list_subscriptions()),
    "ven": ("/vens", lambda t: t.list_vens()),
    "resource": ("/vens/v1/resources", lambda t: t.list_resources("v1")),
}


def load_cases(kind: str) -> list[dict[str, Any]]:
    return json.loads((VARIANTS / f"{kind}.json").read_text(encoding="utf-8"))


def all_cases() -> list[Any]:
    return [pytest.param(kind, case, id=f"{kind}: {case['name']}") for kind in MODELS for case in load_cases(kind)]


def wire(obj: Any) -> dict[str, Any]:
    """The parsed object as wire JSON, ``None`` fields kept (so a dropped value can be checked)."""
    by_alias = obj.model_config.get("alias_generator") is not None
    return obj.model_dump(mode="json", by_alias=by_alias)


def at(data: Any, path: str) -> Any:
    """``data`` at a path such as ``intervals[0].intervalPeriod.start``."""
    for part in path.replace("[", ".[").split("."):
        if not part:
            continue
        data = data[int(part[1:-1])] if part.startswith("[") else data[part]
    return data


def check_kept(kind: str, case: dict[str, Any], obj: Any) -> None:
    data = wire(obj)
    for path, expected in case.get("fields", {}).items():
        assert at(data, path) == expected, f"{kind} {case['name']}: {path}"


def test_the_corpus_covers_every_model_with_kept_and_skipped_cases():
    for kind in MODELS:
        outcomes = {case["expect"] for case in load_cases(kind)}
        assert outcomes == {"kept", "skipped"}, kind


@pytest.mark.parametrize("kind,case", all_cases())
def test_each_model_reads_each_variant(kind: str, case: dict[str, Any]):
    model = MODELS[kind]
    context = {CONTEXT_KEY: LenientNotes()}
    if case["expect"] == "kept":
        check_kept(kind, case, model.model_validate(case["body"], context=context))
        check_kept(kind, case, model.model_validate_json(json.dumps(case["body"]), context=context))
    else:
        with pytest.raises(ValidationError) as caught:
            model.model_validate(case["body"], context=context)
        sentence = describe_invalid(model, case["body"], caught.value)
        for text in case["mentions"]:
            assert text in sentence, sentence


@pytest.mark.parametrize("kind", sorted(LISTINGS))
async def test_listings_keep_what_can_be_read_and_skip_the_rest_with_one_sentence(kind, faulty_vtn, caplog):
    server, faults = faulty_vtn
    path, listing = LISTINGS[kind]
    cases = load_cases(kind)
    faults.add("GET", path, status=200, body=json_body([c["body"] for c in cases]))
    caplog.set_level(logging.WARNING, logger="venclient.vtn")
    async with HttpVtnTransport(make_config(server.url)) as vtn:
        found = await listing(vtn)
    kept = [c for c in cases if c["expect"] == "kept"]
    assert len(found) == len(kept)
    for case, obj in zip(kept, found):
        check_kept(kind, case, obj)
    skips = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Skipped")]
    assert len(skips) == len(cases) - len(kept)
    for case in (c for c in cases if c["expect"] == "skipped"):
        assert any(all(text in line for text in case["mentions"]) for line in skips), (case["name"], skips)
    assert all(f"from GET {server.url}{path}" in line and "\n" not in line for line in skips)


async def test_a_ven_created_on_a_vtn_with_odd_timestamps_is_kept(faulty_vtn):
    """The first independent VTN answered POST /vens with `createdDateTime` we could not read: registration
    stopped there ("a body that is not a valid ven: createdDateTime").  Now the VEN is taken."""
    server, faults = faulty_vtn
    faults.add("POST", "/vens", status=201, body=json_body(
        {"id": "v9", "venName": "Herning", "createdDateTime": "2026-12-02 13:49:07 +0000 (server time)",
         "modificationDateTime": "13:49:07.123456789"}))
    async with HttpVtnTransport(make_config(server.url)) as vtn:
        ven = await vtn.create_ven({"venName": "Herning"})
    assert ven.id == "v9" and ven.ven_name == "Herning" and ven.created_date_time is None
    assert ven.modification_date_time is not None and ven.modification_date_time.time().isoformat() == "13:49:07.123456"


async def test_a_single_answer_invalid_where_we_act_is_a_protocol_error_naming_the_field(faulty_vtn):
    server, faults = faulty_vtn
    faults.add("GET", "/events/e1", status=200, body=json_body(
        {"id": "e1", "programID": "p1", "intervals": [{"id": 0, "intervalPeriod": {"start": "noon"}, "payloads": []}]}))
    async with HttpVtnTransport(make_config(server.url)) as vtn:
        with pytest.raises(VtnProtocolError) as caught:
            await vtn.get_event("e1")
    message = str(caught.value)
    assert "not a valid event: event 'e1': intervals[0].intervalPeriod.start is 'noon'" in message
    assert message.count(".") >= 1 and "\n" not in message


async def test_an_unreadable_bookkeeping_field_is_warned_about_once_per_field_not_per_object(faulty_vtn, caplog):
    server, faults = faulty_vtn
    bodies = [{"id": f"p{i}", "programName": f"p{i}", "createdDateTime": f"sometime {i}",
               "modificationDateTime": "2026-12-02 13:49:07"} for i in range(45)]
    faults.add("GET", "/programs", status=200, body=json_body(bodies), times=3)
    caplog.set_level(logging.WARNING, logger="venclient.vtn")
    async with HttpVtnTransport(make_config(server.url)) as vtn:
        for _ in range(3):  # three polls of one run
            assert len(await vtn.list_programs()) == 45
        assert vtn.parser.notes.dropped == {"createdDateTime": 135}
    warnings = [r.getMessage() for r in caplog.records if "cannot read" in r.getMessage()]
    assert len(warnings) == 1 and "createdDateTime" in warnings[0] and "'sometime 0'" in warnings[0]


@pytest.mark.parametrize("text,expected", [
    ("2026-12-02T13:49:07Z", "2026-12-02T13:49:07+00:00"),
    ("2026-12-02T13:49:07.123456789Z", "2026-12-02T13:49:07.123456+00:00"),
    ("2026-12-02 13:49:07", "2026-12-02T13:49:07+00:00"),
    ("2026-12-02T15:49:07+02:00", "2026-12-02T13:49:07+00:00"),
    ("2026-12-02T14:49:07+0100", "2026-12-02T13:49:07+00:00"),
    ("2026-12-02 13:49:07 UTC", "2026-12-02T13:49:07+00:00"),
    ("2026-12-02T13:49:07 GMT", "2026-12-02T13:49:07+00:00"),
    ("Wed, 02 Dec 2026 13:49:07 GMT", "2026-12-02T13:49:07+00:00"),
    ("1796219347", "2026-12-02T13:49:07+00:00"),
    ("1796219347000", "2026-12-02T13:49:07+00:00"),
    (1796219347.5, "2026-12-02T13:49:07.500000+00:00"),
    (1796219347000000, "2026-12-02T13:49:07+00:00"),
    (1796219347000000000, "2026-12-02T13:49:07+00:00"),
    ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00+00:00"),
])
def test_timestamp_shapes(text, expected):
    assert parse_timestamp(text).isoformat() == expected


def test_a_time_of_day_is_today_for_bookkeeping_but_never_for_what_we_act_on():
    from datetime import datetime, timezone

    today = datetime(2026, 12, 2, 23, 0, tzinfo=timezone.utc)
    assert parse_timestamp("13:49:07.5Z", today=today).isoformat() == "2026-12-02T13:49:07.500000+00:00"
    with pytest.raises(ValueError, match="'17:00' is a time of day without a date"):
        parse_timestamp("17:00", allow_time_of_day=False)


@pytest.mark.parametrize("junk", ["tomorrow", "", "2026", 12, True, None, [2026], "2026-13-45T00:00:00Z", "--"])
def test_junk_is_not_a_timestamp(junk):
    with pytest.raises(ValueError):
        parse_timestamp(junk)


async def test_a_skipped_object_does_not_end_paging_early(faulty_vtn):
    """A full page with one invalid object is still a full page: the listing reads the next one."""
    server, faults = faulty_vtn
    first = [{"id": f"p{i}", "programName": f"p{i}"} for i in range(49)] + [{"id": "bad"}]
    faults.add("GET", "/programs", status=200, body=json_body(first))
    faults.add("GET", "/programs", status=200, body=json_body([{"id": "q1", "programName": "q1"}]))
    async with HttpVtnTransport(make_config(server.url)) as vtn:
        found = await vtn.list_programs()
    assert [p.id for p in found][-2:] == ["p48", "q1"] and len(found) == 50
