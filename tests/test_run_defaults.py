"""The seeds' defaults and the fallbacks of ``ven run``: 15 s ticks, one warning when nothing asks for
reports, reports to ``reporting.program``/``reporting.event`` when set; the webhook settings' validation."""

from __future__ import annotations

import logging

import pytest

from venclient.errors import SettingsError
from venclient.openadr import Event
from venclient.engine.run import RunOptions
from fixtures.core import make_settings
from fixtures.run import make_run_env, run_runner, vtn_reports
from venclient.plugins.local_vtn import DEMO_EVENT, DEMO_PROGRAM, LocalVtnServer, VtnState, seed_demo

pytestmark = pytest.mark.both_vtn_shapes  # end to end: against the plain VTN and one with every quirk


def test_defaults_from_settings(tmp_path):
    options = RunOptions.from_settings(make_settings(tmp_path))
    assert options.interval_seconds == 15.0  # the seeds' 15 s
    assert (options.level, options.max_resources_per_report, options.poll_seconds) == ("load", 2000, 60.0)
    assert (options.subscribe, options.callback_host, options.callback_port, options.callback_url) == (
        False, "127.0.0.1", 0, None)
    assert options.vens is None and options.programs is None
    assert options.fallback_program is None and options.fallback_event is None


def test_command_line_overrides_settings(tmp_path):
    settings = make_settings(tmp_path, **{"reporting.interval_seconds": 30, "events.subscribe": True})
    options = RunOptions.from_settings(settings, interval_seconds=5.0, subscribe=None, vens=["Aalborg"])
    assert (options.interval_seconds, options.subscribe, options.vens) == (5.0, True, ["Aalborg"])


@pytest.mark.parametrize("key, value, words", [
    ("events.subscribe", "yes", "events.subscribe must be true or false"),
    ("events.callback_port", 70000, "events.callback_port must be a port number"),
    ("events.callback_url", "ftp://x", "events.callback_url must start with http"),
    ("events.callback_host", "", "events.callback_host must be a host"),
])
def test_webhook_settings_are_validated(tmp_path, key, value, words):
    with pytest.raises(SettingsError, match=words):
        make_settings(tmp_path, **{key: value})


@pytest.fixture
def bare_vtn():
    """A local VTN with the demo program but no event at all."""
    state = VtnState()
    seed_demo(state)
    for event in list(state.events):
        state.events.remove(event["id"])
    server = LocalVtnServer(state).start()
    yield server
    server.stop()


def add_event(state: VtnState, program_id: str, name: str) -> dict:
    event = state.stamp(Event.model_validate({"programID": program_id, "eventName": name, "intervals": [
        {"id": 0, "payloads": [{"type": "SIMPLE", "values": [0]}]}]}).to_wire(), "EVENT")
    state.events.add(event)
    return event


def warnings_with(caplog, words: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and words in r.getMessage()]


def test_no_event_asking_for_reports_warns_once(tmp_path, bare_vtn, contract, caplog):
    add_event(bare_vtn.state, bare_vtn.state.programs.id_for_name(DEMO_PROGRAM), "no-reports-wanted")
    env = make_run_env(tmp_path, bare_vtn, contract)
    try:
        with caplog.at_level(logging.INFO):
            runner = run_runner(env.runtime, max_ticks=4)
    finally:
        env.runtime.close()
    assert len(runner.stats.ticks) == 4 and runner.stats.reports_built == 0
    assert vtn_reports(bare_vtn.state) == []
    assert len(warnings_with(caplog, "No event asks for reports")) == 1


def test_reports_go_to_the_configured_program_and_event(tmp_path, bare_vtn, contract):
    state = bare_vtn.state
    program_id = state.programs.id_for_name(DEMO_PROGRAM)
    add_event(state, program_id, "other")
    target = add_event(state, program_id, "metering-by-setting")
    env = make_run_env(tmp_path, bare_vtn, contract, **{"reporting.program": DEMO_PROGRAM,
                                                        "reporting.event": "metering-by-setting"})
    try:
        runner = run_runner(env.runtime, max_ticks=2)
        loads = len(env.store.list_loads())
    finally:
        env.runtime.close()
    reports = vtn_reports(state)
    assert len(reports) == 2 * len(env.vens) and runner.stats.reports_sent == len(reports)
    assert {(r["programID"], r["eventID"]) for r in reports} == {(program_id, target["id"])}
    assert {d["units"] for r in reports for d in r["payloadDescriptors"]} == {"KWH"}
    assert sum(len(r["resources"]) for r in reports) == 2 * loads


def test_a_configured_event_the_vtn_does_not_list_is_warned_once(tmp_path, bare_vtn, contract, caplog):
    env = make_run_env(tmp_path, bare_vtn, contract, **{"reporting.program": DEMO_PROGRAM,
                                                        "reporting.event": "no-such-event"})
    try:
        with caplog.at_level(logging.INFO):
            run_runner(env.runtime, max_ticks=3)
    finally:
        env.runtime.close()
    assert vtn_reports(bare_vtn.state) == []
    assert len(warnings_with(caplog, "'no-such-event' name no event")) == 1


def test_an_event_asking_for_reports_wins_over_the_setting(tmp_path, local_vtn, contract):
    env = make_run_env(tmp_path, local_vtn, contract, **{"reporting.program": DEMO_PROGRAM,
                                                         "reporting.event": "whatever"})
    try:
        run_runner(env.runtime, max_ticks=1)
    finally:
        env.runtime.close()
    metering = next(e["id"] for e in local_vtn.state.events if e["eventName"] == DEMO_EVENT)
    assert {r["eventID"] for r in vtn_reports(local_vtn.state)} == {metering}


def test_a_restart_continues_the_replay_where_the_last_run_stopped(run_env):
    from fixtures.run import run_runner

    first = run_runner(run_env.runtime, max_ticks=3)
    second = run_runner(run_env.runtime, max_ticks=2)
    assert [t.index for t in first.stats.ticks] == [0, 1, 2]
    assert [t.index for t in second.stats.ticks] == [3, 4]
    assert run_env.runtime.store().get_state("clock.replay_row") == "4"
