"""The local VTN's bounded report history: at most ``local_vtn.max_reports`` reports, the oldest dropped first."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from fixtures.vtn import ServeProcess, VEN_CLIENT, make_config, run_ven
from venclient.plugins.local_vtn import DEMO_EVENT, DEMO_PROGRAM, VtnState
from venclient.plugins.local_vtn.state import Collection
from venclient.plugins.openadr_http import HttpVtnTransport


def test_a_bounded_collection_drops_the_oldest_first():
    reports = Collection("REPORT", max_items=3)
    for i in range(5):
        reports.add({"id": f"id{i}"})
    assert [o["id"] for o in reports.page(0, 50)] == ["id2", "id3", "id4"] and len(reports) == 3
    assert reports.get("id1") is None and reports.get("id4") is not None
    reports.remove("id3")
    reports.add({"id": "id5"})
    assert [o["id"] for o in reports] == ["id2", "id4", "id5"]
    assert reports.emptied().max_items == 3


def test_a_state_file_with_more_reports_loads_the_newest():
    full = VtnState()
    for i in range(5):
        full.reports.add({"id": f"id{i}", "reportName": f"r{i}"})
    bounded = VtnState(max_reports=2)
    bounded.load_snapshot(full.snapshot())
    assert [r["id"] for r in bounded.reports] == ["id3", "id4"]
    bounded.forget_objects()
    assert bounded.reports.max_items == 2
    assert VtnState().reports.max_items is None  # embedded in a process (tests): every report is kept


def post_reports(url: str, event: dict, names: list[str]) -> None:
    with httpx.Client(base_url=url + "/") as http:
        answer = http.post("auth/token", data={"grant_type": "client_credentials", "client_id": VEN_CLIENT[0],
                                               "client_secret": VEN_CLIENT[1]})
        auth = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        for name in names:
            body = {"programID": event["programID"], "eventID": event["id"], "clientName": "Aalborg",
                    "reportName": name, "resources": [{"resourceName": "r1_load_0", "intervals": [
                        {"id": 0, "payloads": [{"type": "USAGE", "values": [0.25]}]}]}]}
            assert http.post("reports", json=body, headers=auth).status_code == 201


async def test_serve_keeps_the_newest_reports_and_the_ven_still_finds_a_recent_one(tmp_path: Path, serve_process):
    state = tmp_path / "vtn.json"
    server = ServeProcess("--port", "0", "--state", str(state), env={"VEN_LOCAL_VTN__MAX_REPORTS": "3"})
    serve_process.append(server)
    async with HttpVtnTransport(make_config(server.url)) as vtn:
        program = await vtn.find_program(DEMO_PROGRAM)
        event = next(e for e in await vtn.list_events(program.id) if e.event_name == DEMO_EVENT)
        wire = {"programID": program.id, "id": event.id}
        post_reports(server.url, wire, [f"tick-{i}" for i in range(5)])
        assert [r.report_name for r in await vtn.list_reports(event_id=event.id)] == ["tick-2", "tick-3", "tick-4"]
        assert (await vtn.find_report("tick-4", event_id=event.id, client_name="Aalborg"))["reportName"] == "tick-4"
        assert await vtn.find_report("tick-0", event_id=event.id, client_name="Aalborg") is None
    assert server.stop() == 0
    assert [r["reportName"] for r in json.loads(state.read_text())["reports"]] == ["tick-2", "tick-3", "tick-4"]


def test_max_reports_must_be_a_whole_number_above_zero():
    out = run_ven("vtn", "serve", "--port", "0", env={"VEN_LOCAL_VTN__MAX_REPORTS": "0"})
    assert out.returncode != 0 and "local_vtn.max_reports must be a whole number above 0" in out.stderr
