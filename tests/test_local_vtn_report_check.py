"""The local VTN checks a report against what its event asked for: 400 naming the field, nothing stored."""

from __future__ import annotations

from typing import Any

import httpx

from fixtures.vtn import BL_CLIENT, token  # the `http` fixture comes from fixtures.vtn
from venclient.plugins.local_vtn import DEMO_EVENT

START = "2025-01-15T13:00:00Z"


async def make_event(http: httpx.AsyncClient, name: str, intervals: list[int], **descriptor: Any) -> dict[str, Any]:
    """A program and an event asking for USAGE in KWH, with intervals of these ids."""
    bl = await token(http, BL_CLIENT)
    program = (await http.post("programs", json={"programName": f"p-{name}"}, headers=bl)).json()
    answer = await http.post("events", headers=bl, json={
        "programID": program["id"], "eventName": name,
        "intervalPeriod": {"start": START, "duration": "PT1H"},
        "reportDescriptors": [{"payloadType": "USAGE", "units": "KWH", "readingType": "DIRECT_READ", **descriptor}],
        "intervals": [{"id": i, "payloads": [{"type": "SIMPLE", "values": [0]}]} for i in intervals]})
    assert answer.status_code == 201, answer.text
    return answer.json()


async def register(http: httpx.AsyncClient, ven_name: str, *resource_names: str) -> None:
    auth = await token(http)
    ven_id = (await http.post("vens", json={"venName": ven_name}, headers=auth)).json()["id"]
    for name in resource_names:
        assert (await http.post(f"vens/{ven_id}/resources", json={"resourceName": name},
                                headers=auth)).status_code == 201


def report(event: dict[str, Any], *, client: str = "Odense", resource: str = "r1_load_0", interval: int = 0,
           payload: str = "USAGE", units: str = "KWH") -> dict[str, Any]:
    return {"programID": event["programID"], "eventID": event["id"], "clientName": client,
            "payloadDescriptors": [{"payloadType": payload, "units": units}],
            "resources": [{"resourceName": resource, "intervalPeriod": {"start": START, "duration": "PT1H"},
                           "intervals": [{"id": interval, "payloads": [{"type": payload, "values": [1.5]}]}]}]}


async def post(http: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await http.post("reports", json=body, headers=await token(http))


async def assert_rejected(http: httpx.AsyncClient, body: dict[str, Any], *words: str) -> None:
    before = len((await http.get("reports", headers=await token(http))).json())
    answer = await post(http, body)
    assert answer.status_code == 400, answer.text
    problem = answer.json()
    assert problem["status"] == 400 and problem["title"] == "Bad Request"
    assert all(word in problem["detail"] for word in words), problem["detail"]
    assert len((await http.get("reports", headers=await token(http))).json()) == before  # nothing stored


async def test_a_matching_report_is_stored(http):
    event = await make_event(http, "hourly", [0, 1, 2, 3])
    await register(http, "Odense", "r1_load_0")
    assert (await post(http, report(event, interval=3))).status_code == 201


async def test_an_unknown_interval_id_is_400_naming_the_field(http):
    event = await make_event(http, "hourly", [0, 1, 2, 3])
    await register(http, "Odense", "r1_load_0")
    await assert_rejected(http, report(event, interval=7), "resources[0].intervals[0].id 7", "[0, 1, 2, 3]")


async def test_the_ven_chooses_interval_ids_of_a_report_only_event_or_open_intervals(http):
    report_only = await make_event(http, "report-only", [], frequency=1, repeat=-1)
    open_intervals = await make_event(http, "open", [0], reportIntervals="OPEN_INTERVALS")
    for event in (report_only, open_intervals):
        assert (await post(http, report(event, interval=41))).status_code == 201


async def test_an_unknown_payload_type_or_other_units_are_400_naming_the_field(http):
    event = await make_event(http, "hourly", [0])
    await assert_rejected(http, report(event, payload="PRICE"), "payloadDescriptors[0].payloadType 'PRICE'",
                          "USAGE")
    await assert_rejected(http, report(event, units="WH"), "payloadDescriptors[0].units 'WH'", "KWH")
    body = report(event)
    body["resources"][0]["intervals"][0]["payloads"].append({"type": "DEMAND", "values": [3.0]})
    await assert_rejected(http, body, "resources[0].intervals[0].payloads[1].type 'DEMAND'")


async def test_a_resource_not_registered_under_the_ven_is_400_naming_the_field(http):
    event = await make_event(http, "hourly", [0])
    await register(http, "Odense", "r1_load_0", "r1_load_1")
    await register(http, "Vejle", "r2_load_0")
    await assert_rejected(http, report(event, resource="r2_load_0"), "resources[0].resourceName 'r2_load_0'",
                          "'Odense'")
    await assert_rejected(http, report(event, client="Vejle", resource="r1_load_0"), "resourceName 'r1_load_0'")
    # a resource named by the id its loads' names start with, and the spec's aggregate, are the VEN's
    for name in ("r1", "AGGREGATED_REPORT"):
        assert (await post(http, report(event, resource=name))).status_code == 201


async def test_the_event_must_belong_to_the_reports_program(http):
    first = await make_event(http, "first", [0])
    second = await make_event(http, "second", [0])
    await assert_rejected(http, {**report(first), "programID": second["programID"]},
                          f"eventID {first['id']!r}", f"programID {second['programID']!r}")
    await assert_rejected(http, {**report(first), "eventID": "nope"}, "eventID 'nope'")


async def test_the_seeded_metering_event_lets_the_ven_choose_its_intervals(http, vtn_state):
    """The demo event asks for continuous metering in spec terms (OPEN_INTERVALS, frequency 1, repeat -1)."""
    event = next(e for e in vtn_state.events if e["eventName"] == DEMO_EVENT)
    descriptor = event["reportDescriptors"][0]
    assert (descriptor["reportIntervals"], descriptor["frequency"], descriptor["repeat"]) == ("OPEN_INTERVALS", 1, -1)
    for tick in (0, 1, 2):  # a VEN's reporting ticks, whatever the event's single interval
        assert (await post(http, report(event, interval=tick))).status_code == 201


async def test_a_reading_in_kwh_is_taken_when_asked_and_other_units_are_not(http):
    event = await make_event(http, "meters", [0, 1], payloadType="READING")  # units KWH (units.schema.yaml)
    await register(http, "Odense", "r1_load_0")
    assert (await post(http, report(event, payload="READING", units="KWH", interval=1))).status_code == 201
    await assert_rejected(http, report(event, payload="READING", units="MWH"), "payloadDescriptors[0].units 'MWH'",
                          "KWH")
    await assert_rejected(http, report(event, payload="USAGE"), "payloadDescriptors[0].payloadType 'USAGE'",
                          "READING")


async def test_simple_level_operating_state_and_data_quality_values_are_checked(http):
    # report-payloads.schema.yaml: SIMPLE_LEVEL one integer 0..3; OPERATING_STATE and DATA_QUALITY one string of
    # their enumerations
    bl = await token(http, BL_CLIENT)
    program = (await http.post("programs", json={"programName": "p-states"}, headers=bl)).json()
    event = (await http.post("events", headers=bl, json={
        "programID": program["id"], "intervalPeriod": {"start": START, "duration": "PT1H"},
        "reportDescriptors": [{"payloadType": kind} for kind in ("SIMPLE_LEVEL", "OPERATING_STATE", "DATA_QUALITY")],
        "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [2]}]}]})).json()
    await register(http, "Odense", "r1_load_0")

    def body(kind: str, value: Any) -> dict[str, Any]:
        out = report(event, payload=kind)
        out["payloadDescriptors"] = [{"payloadType": kind}]
        out["resources"][0]["intervals"][0]["payloads"] = [{"type": kind, "values": [value]}]
        return out

    for kind, value in (("SIMPLE_LEVEL", 0), ("SIMPLE_LEVEL", 3), ("SIMPLE_LEVEL", 2.0),
                        ("OPERATING_STATE", "RUNNING_CURTAILED"), ("OPERATING_STATE", "ERROR"),
                        ("DATA_QUALITY", "MISSING")):
        answer = await post(http, body(kind, value))
        assert answer.status_code == 201, (kind, value, answer.text)
    for kind, value, words in (("SIMPLE_LEVEL", 4, "0-3"), ("SIMPLE_LEVEL", 1.5, "integer"),
                               ("OPERATING_STATE", "CURTAILED", "RUNNING_CURTAILED"),
                               ("DATA_QUALITY", "GOOD", "ESTIMATED")):
        await assert_rejected(http, body(kind, value), f"resources[0].intervals[0].payloads[0].values [{value!r}]",
                              kind, words)
