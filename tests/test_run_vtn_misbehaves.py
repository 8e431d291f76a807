"""`ven run` against a VTN that misbehaves as VTNs in the field do: answers that stall, and a restart that forgets.

* stall: the VTN stores every third report at once but answers 30 s later; the VEN gives up waiting after its
  timeout, so the outcome is unknown — it must neither lose the report nor send it twice.
* amnesia: the VTN restarts without its storage (new program and event ids, our VENs unknown) while `ven run`
  goes on — registration is rebuilt by itself, reporting resumes, and `ven register --verify` agrees afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from venclient.engine.verify import verify
from fixtures.run import make_run_env, run_options, vtn_reports
from venclient.engine.run import VenRunner
from venclient.plugins.local_vtn import DEMO_EVENT

STALL = 30.0


def starts_by_ven(state, vens):
    return {ven: [r["resources"][0]["intervalPeriod"]["start"] for r in vtn_reports(state, ven)] for ven in vens}


def test_a_vtn_stalling_every_third_report_gets_every_report_exactly_once_in_order(tmp_path, make_local_vtn, caplog):
    vtn = make_local_vtn(quirks=f"stall:{STALL:g}")
    env = make_run_env(tmp_path, vtn, None, resources=6, vens=2,
                       **{"vtn.timeout_seconds": 1.0, "vtn.request_deadline_seconds": 1.5})
    try:
        caplog.set_level(logging.INFO)
        runner = VenRunner(env.runtime, run_options(env.runtime, max_ticks=12, interval_seconds=15.0, speed=60.0,
                                                    shutdown_flush_seconds=20.0))
        asyncio.run(runner.run())
        stalled = vtn.stalled["reports"]
        assert stalled >= 7  # every third of at least 24 report POSTs
        by_ven = starts_by_ven(vtn.state, env.vens)
        for ven, starts in by_ven.items():
            assert len(starts) == 12 and len(set(starts)) == 12, (ven, starts)  # each tick once
            assert starts == sorted(starts), ven                               # in tick order
        assert env.store.outbox_counts() == {"pending": 0, "rejected": 0}
        assert runner.stats.reports_sent == 24
        log = caplog.text
        assert "whether the VTN acted on it is unknown" in log          # what happened …
        assert "is on the VTN already" in log and "not sent again" in log  # … and how it was resolved
    finally:
        env.runtime.close()


def test_a_vtn_that_forgets_everything_mid_run_is_rebuilt_and_reporting_resumes(tmp_path, make_local_vtn, caplog):
    vtn = make_local_vtn(quirks="amnesia")
    env = make_run_env(tmp_path, vtn, None, resources=6, vens=2)
    try:
        caplog.set_level(logging.INFO)
        old_event = next(e["id"] for e in vtn.state.events if e["eventName"] == DEMO_EVENT)
        runner = VenRunner(env.runtime, run_options(env.runtime, max_ticks=40, interval_seconds=15.0, speed=30.0,
                                                    poll_seconds=30.0))

        def forget_when_reports_flow() -> None:
            deadline = time.monotonic() + 30
            while len(vtn.state.reports) < 4 and time.monotonic() < deadline:
                time.sleep(0.02)
            vtn.restart()  # amnesia: every object gone, the demo program and event seeded under new ids

        restarter = threading.Thread(target=forget_when_reports_flow)
        restarter.start()
        asyncio.run(runner.run())
        restarter.join(40)
        assert vtn.restarts == 1
        new_event = next(e["id"] for e in vtn.state.events if e["eventName"] == DEMO_EVENT)
        assert new_event != old_event
        assert len(vtn.state.vens) == 2 and vtn.state.resource_count == len(env.store.list_loads())
        after = vtn_reports(vtn.state)
        assert after and all(r["eventID"] == new_event for r in after)  # reporting resumed under the new ids
        for ven in env.vens:
            starts = [r["resources"][0]["intervalPeriod"]["start"] for r in vtn_reports(vtn.state, ven)]
            assert len(starts) == len(set(starts))  # nothing twice on the new VTN
        assert env.store.outbox_counts()["pending"] == 0
        assert "The VTN no longer knows" in caplog.text and "Registration rebuilt" in caplog.text

        async def check():
            async with env.runtime.transport() as transport:
                return await verify(env.store, transport, env.vens, vtn_url=env.runtime.settings.vtn.url)
        report = asyncio.run(check())
        assert report.clean, report.as_dict()
    finally:
        env.runtime.close()
