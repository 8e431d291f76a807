"""`ven events opt-out EVENT [--resource R …]` / `opt-in`: kept in the store by event id (an eventName is looked up
at the VTN); `ven events` still lists."""

from __future__ import annotations

import asyncio
import json

from typer.testing import CliRunner

from venclient.cli.app import build_app
from venclient.model import OPT_OUT_ALL, Resource
from venclient.plugins.local_vtn import DEMO_PROGRAM
from venclient.plugins.openadr_http import HttpVtnTransport
from fixtures.vtn import BL_CLIENT, make_config, sample_event


def create_event(url: str, name: str) -> str:
    async def work() -> str:
        async with HttpVtnTransport(make_config(url, BL_CLIENT)) as vtn:
            program = await vtn.find_program(DEMO_PROGRAM)
            return (await vtn.create_event(sample_event(program.id, name))).id
    return asyncio.run(work())


def test_opt_out_and_in_by_event_name_and_resource(vtn_runtime, local_vtn):
    store = vtn_runtime.store()
    store.insert_resources([Resource(resource_id=r, resource_name=r, resource_type="house", resource_sub_type="villa",
                                     meter_point_id=f"mp-{r}", ven="V1") for r in ("r1", "r2")])
    event_id = create_event(local_vtn.url, "evening-shed")
    app, runner = build_app(vtn_runtime), CliRunner()

    def ven(*args: str):
        result = runner.invoke(app, list(args), obj=vtn_runtime)
        result.text = " ".join(result.stdout.split())  # the console wraps long lines
        return result

    result = ven("events", "opt-out", "evening-shed", "--resource", "r1", "--resource", "r2")
    assert result.exit_code == 0, (result.output, result.exception)
    assert f"2 new opt-outs for event {event_id}; opted out now: r1, r2." == result.text
    assert store.opt_outs() == {event_id: {"r1", "r2"}}
    result = ven("events", "opt-in", event_id, "--resource", "r2", "--json")
    assert json.loads(result.stdout) == {"event_id": event_id, "opted_out": ["r1"]}
    result = ven("events", "opt-out", "evening-shed")
    assert "every resource" in result.text and store.opt_outs()[event_id] == {"r1", OPT_OUT_ALL}
    result = ven("events", "opt-in", "evening-shed")
    assert "2 opt-outs of event" in result.text and store.opt_outs() == {}
    result = ven("events", "opt-out", "some-id", "--no-lookup", "--resource", "nope")
    assert result.exit_code != 0 and "nope" in str(result.exception) and store.opt_outs() == {}
    listed = ven("events", "--json")  # the listing still works without a sub-command
    assert listed.exit_code == 0 and "evening-shed" in [e["eventName"] for e in json.loads(listed.stdout)]
