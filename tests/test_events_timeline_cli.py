"""`ven events timeline [--ven V] [--json]`: the upcoming and active intervals of the VTN's events as `ven run`
plans them — start, end, values, the priority winner, targeted loads and opt-outs; past intervals are left out."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

from typer.testing import CliRunner

from venclient.cli.app import build_app
from venclient.model import Load, Resource
from venclient.openadr import Event
from venclient.plugins.local_vtn import DEMO_PROGRAM
from venclient.plugins.openadr_http import HttpVtnTransport
from fixtures.vtn import BL_CLIENT, make_config


def create(url: str, bodies: list[dict]) -> list[str]:
    async def work() -> list[str]:
        async with HttpVtnTransport(make_config(url, BL_CLIENT)) as vtn:
            program = await vtn.find_program(DEMO_PROGRAM)
            return [(await vtn.create_event(Event.model_validate({"programID": program.id, **body}))).id
                    for body in bodies]
    return asyncio.run(work())


def test_timeline_shows_upcoming_intervals_the_winner_loads_and_opt_outs(vtn_runtime, local_vtn):
    store = vtn_runtime.store()
    store.insert_resources([Resource(resource_id=r, resource_name=r, resource_type="house", resource_sub_type="villa",
                                     meter_point_id=f"mp-{r}", ven=v) for r, v in (("r1", "V1"), ("r2", "V2"))])
    store.bulk_insert_loads([Load(load_id=f"{r}-{c}", resource_id=r, load_component=c, load_name=c, h5_meter_id="m")
                             for r in ("r1", "r2") for c in ("load_0", "load_1")])
    start = (datetime.now(timezone.utc) + timedelta(hours=1)).replace(microsecond=0)
    simple = lambda *levels: [{"id": n, "payloads": [{"type": "SIMPLE", "values": [v]}]} for n, v in enumerate(levels)]
    low, high, _past = create(local_vtn.url, [
        {"eventName": "low", "priority": 5, "intervalPeriod": {"start": start.isoformat(), "duration": "PT1H"},
         "intervals": simple(1, 2)},
        {"eventName": "high", "priority": 0, "targets": [{"type": "VEN_NAME", "values": ["V1"]}],
         "intervalPeriod": {"start": start.isoformat(), "duration": "PT30M"}, "intervals": simple(3)},
        {"eventName": "past", "intervalPeriod": {"start": (start - timedelta(days=1)).isoformat(),
                                                 "duration": "PT1H"}, "intervals": simple(1)}])
    store.opt_out(low, ["r2"])
    app, runner = build_app(vtn_runtime), CliRunner()
    result = runner.invoke(app, ["events", "timeline", "--json"], obj=vtn_runtime)
    assert result.exit_code == 0, (result.output, result.exception)
    rows = sorted((r for r in json.loads(result.stdout) if r["event"] in ("low", "high", "past")),
                  key=lambda r: (r["start"], r["event"]))
    assert [(r["event"], r["interval"], r["values"], r["wins"]) for r in rows] == [
        ("high", 0, [3], True), ("low", 0, [1], False), ("low", 1, [2], True)]
    high_row, low_row = rows[0], rows[1]
    assert high_row["start"] == start.isoformat().replace("+00:00", "Z") and high_row["loads"] == 2
    assert low_row["loads"] == 4 and low_row["opted_out"] == "1 resources" and low_row["priority"] == 5
    assert low_row["end"] == (start + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert not any(r["active"] for r in rows)
    only_v2 = runner.invoke(app, ["events", "timeline", "--ven", "V2", "--json"], obj=vtn_runtime)
    mine = sorted((r for r in json.loads(only_v2.stdout) if r["event"] in ("low", "high")),
                  key=lambda r: (r["start"], r["event"]))
    # "high" targets no load of V2: its slot is listed with 0 loads and does not beat "low" there
    assert [(r["event"], r["loads"], r["wins"]) for r in mine] == [("high", 0, False), ("low", 2, True),
                                                                   ("low", 2, True)]
    shown = runner.invoke(app, ["events", "timeline"], obj=vtn_runtime)
    assert shown.exit_code == 0 and "upcoming or active interval" in shown.stdout
