"""SIMPLE_LEVEL, OPERATING_STATE and forecasts in event-aligned reports (venclient.engine.report_schedule,
.applied) on a real SQLite store: per interval the SIMPLE level applied and the state (report-payloads.schema.yaml:
NORMAL, RUNNING_CURTAILED, RUNNING_OPTED_OUT, ERROR for a load the VEN cannot read), the priority winner among
overlapping events, a sum of loads reporting its most severe state, and a historical=false descriptor answered from
a source's look-ahead, sampled at tick steps, before the interval starts."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import numpy as np
import pytest

from venclient.engine.applied import applied_levels
from venclient.engine.report_schedule import ReportSchedule
from venclient.engine.scheduler import OptOuts
from venclient.engine.timeline import IntervalSpan, event_timeline
from venclient.openadr import Event
from venclient.plugins.sqlite_store.store import SqlResourceStore
from test_report_accumulate import LOADS, T0, TICK, plan_of, schedule_on, tick

PER_HOUR = int(3600 / TICK)


@pytest.fixture
def store(tmp_path):
    s = SqlResourceStore(f"sqlite:///{tmp_path / 'resources.db'}")
    yield s
    s.close()


def level_event(levels: list[int], descriptors: list[dict], event_id: str = "e1", priority: int | None = None,
                start=T0) -> Event:
    return Event.model_validate({
        "id": event_id, "programID": "p1", "priority": priority,
        "intervalPeriod": {"start": start.isoformat(), "duration": "PT1H"}, "reportDescriptors": descriptors,
        "intervals": [{"id": n, "payloads": [{"type": "SIMPLE", "values": [level]}]}
                      for n, level in enumerate(levels)]})


def run_hours(schedule, store, plan, event, hours: int, watts) -> list[dict]:
    sent = []
    for n in range(hours * PER_HOUR):
        sent += tick(schedule, store, plan, event, n, watts(n))
    return sent


def by_resource(report: dict) -> dict[str, list[dict[str, object]]]:
    """resourceName → per interval {payload type: value}."""
    return {r["resourceName"]: [{p["type"]: p["values"][0] for p in i["payloads"]} for i in r["intervals"]]
            for r in report["resources"]}


def test_levels_one_zero_two_give_level_and_state_per_interval_and_error_without_data(store):
    levels = [1, 0, 2]
    event = level_event(levels, [{"payloadType": "SIMPLE_LEVEL"}, {"payloadType": "OPERATING_STATE"},
                                 {"payloadType": "DATA_QUALITY"}])
    plan = plan_of(LOADS)
    # load 0 always read, load 1 not at all in the second hour, load 2 never
    sent = run_hours(schedule_on(store), store, plan, event, len(levels),
                     lambda n: [1000.0, np.nan if PER_HOUR <= n < 2 * PER_HOUR else 500.0, np.nan])
    assert len(sent) == 1
    got = by_resource(sent[0])
    assert set(got) == set(LOADS)  # OPERATING_STATE asked: the load never read is reported, as ERROR
    state = {0: "NORMAL"}
    assert got["R1_load_0"] == [{"SIMPLE_LEVEL": level, "OPERATING_STATE": state.get(level, "RUNNING_CURTAILED"),
                                 "DATA_QUALITY": "OK"} for level in levels]
    assert got["R1_load_1"][1] == {"OPERATING_STATE": "ERROR", "DATA_QUALITY": "MISSING"}  # no level without data
    assert [i["SIMPLE_LEVEL"] for i in (got["R1_load_1"][0], got["R1_load_1"][2])] == [1, 2]
    assert got["R2_load_0"] == [{"OPERATING_STATE": "ERROR", "DATA_QUALITY": "MISSING"}] * len(levels)
    assert sent[0]["payloadDescriptors"] == [
        {"objectType": "REPORT_PAYLOAD_DESCRIPTOR", "payloadType": kind, "readingType": "DIRECT_READ"}
        for kind in ("SIMPLE_LEVEL", "OPERATING_STATE", "DATA_QUALITY")]


def test_without_operating_state_a_load_never_read_is_left_out(store):
    event = level_event([2], [{"payloadType": "SIMPLE_LEVEL"}])
    sent = run_hours(schedule_on(store), store, plan_of(LOADS), event, 1, lambda n: [1000.0, 1000.0, np.nan])
    assert by_resource(sent[0]) == {"R1_load_0": [{"SIMPLE_LEVEL": 2}], "R1_load_1": [{"SIMPLE_LEVEL": 2}]}


def schedule_with(store, events: list[Event], opt_outs: dict[str, OptOuts], **kwargs) -> ReportSchedule:
    """A schedule whose applied levels come from ``events``' timelines (every load targeted) and ``opt_outs``."""
    plans = {e.id: SimpleNamespace(groups=[SimpleNamespace(vens=("V",), loads=None, timeline=event_timeline(
        e, received=T0 - timedelta(minutes=1)))]) for e in events}
    schedule = schedule_on(store)
    for name, value in kwargs.items():
        setattr(schedule, name, value)
    schedule.applied = lambda ven, event, load_ids, resource_ids, spans: applied_levels(
        plans, opt_outs, ven, event.id, load_ids, resource_ids, spans)
    return schedule


def test_an_opted_out_resource_reports_opted_out_and_level_zero(store):
    event = level_event([1, 2], [{"payloadType": "SIMPLE_LEVEL"}, {"payloadType": "OPERATING_STATE"}])
    schedule = schedule_with(store, [event], {"e1": OptOuts(resources=frozenset({"R1"}))})
    sent = run_hours(schedule, store, plan_of(LOADS), event, 2, lambda n: [1000.0, 1000.0, 1000.0])
    got = by_resource(sent[0])
    for name in ("R1_load_0", "R1_load_1"):
        assert got[name] == [{"SIMPLE_LEVEL": 0, "OPERATING_STATE": "RUNNING_OPTED_OUT"}] * 2
    assert got["R2_load_0"] == [{"SIMPLE_LEVEL": 1, "OPERATING_STATE": "RUNNING_CURTAILED"},
                                {"SIMPLE_LEVEL": 2, "OPERATING_STATE": "RUNNING_CURTAILED"}]


def test_a_sum_of_loads_reports_the_highest_level_and_the_most_severe_state(store):
    event = level_event([2], [{"payloadType": "SIMPLE_LEVEL", "aggregate": True},
                              {"payloadType": "OPERATING_STATE", "aggregate": True}])
    schedule = schedule_with(store, [event], {"e1": OptOuts(resources=frozenset({"R2"}))})
    sent = run_hours(schedule, store, plan_of(LOADS), event, 1, lambda n: [1000.0, np.nan, 1000.0])
    # R1_load_0 curtailed at 2, R1_load_1 not read (left out of the sum), R2_load_0 opted out (level 0)
    assert by_resource(sent[0]) == {"AGGREGATED_REPORT": [{"SIMPLE_LEVEL": 2,
                                                           "OPERATING_STATE": "RUNNING_OPTED_OUT"}]}
    # per resource: R1 has a load without data (ERROR: its values are left out), R2 is opted out
    event = level_event([2], [{"payloadType": "SIMPLE_LEVEL"}, {"payloadType": "OPERATING_STATE"}], "e2")
    schedule = schedule_with(store, [event], {"e2": OptOuts(resources=frozenset({"R2"}))}, level="resource")
    sent = run_hours(schedule, store, plan_of(LOADS), event, 1, lambda n: [1000.0, np.nan, 1000.0])
    assert by_resource(sent[0]) == {"R1": [{"OPERATING_STATE": "ERROR"}],
                                    "R2": [{"SIMPLE_LEVEL": 0, "OPERATING_STATE": "RUNNING_OPTED_OUT"}]}


def test_the_priority_winner_sets_the_level_and_an_opt_out_lets_the_other_event_apply():
    # timeline.winning_slot: the lower priority number wins; a load opted out of the winner follows the other
    low = level_event([3, 3], [], "low", priority=5)
    high = level_event([1], [], "high", priority=0, start=T0 + timedelta(minutes=30))
    plans = {e.id: SimpleNamespace(groups=[SimpleNamespace(vens=("V",), loads=None, timeline=event_timeline(
        e, received=T0))]) for e in (low, high)}
    spans = [IntervalSpan(0, 0, T0, T0 + timedelta(hours=1)), IntervalSpan(1, 1, T0 + timedelta(hours=1),
                                                                        T0 + timedelta(hours=2))]
    ids, resources = np.array(["A_load_0", "B_load_0"]), np.array(["A", "B"])
    found = applied_levels(plans, {"high": OptOuts(resources=frozenset({"B"}))}, "V", "low", ids, resources, spans)
    # first hour: 3 until the high-priority 1 starts at :30 (the highest level applied counts); second hour:
    # the high-priority event holds until 1:30, then 3 again
    assert found.level.tolist() == [[3, 3], [3, 3]]
    only_high = applied_levels({"high": plans["high"]}, {}, "V", "high", ids, resources, spans)
    assert only_high.level.tolist() == [[1, 1], [1, 1]]
    later = [IntervalSpan(0, 0, T0 + timedelta(minutes=30), T0 + timedelta(minutes=90))]
    found = applied_levels(plans, {"high": OptOuts(resources=frozenset({"B"}))}, "V", "low", ids, resources, later)
    assert found.level.tolist() == [[1, 3]]       # A follows the winner; B opted out of it: the other event's 3
    assert found.opted.tolist() == [[False, True]]  # B opted out of an event that applied in the interval


def forecast_watts(plan, moment) -> np.ndarray:
    """A source's look-ahead: each load's watts grow by one per minute from its own base (load 2 unknown)."""
    minutes = (moment - T0).total_seconds() / 60.0
    return np.array([1000.0 + minutes, 2000.0 + 2 * minutes, np.nan])


def test_a_forecast_is_built_from_the_look_ahead_before_its_first_interval(store):
    event = Event.model_validate({
        "id": "f1", "programID": "p1", "intervalPeriod": {"start": T0.isoformat(), "duration": "PT20M"},
        "reportDescriptors": [{"payloadType": "USAGE", "units": "WH", "historical": False},
                              {"payloadType": "DEMAND", "units": "W", "historical": False}],
        "intervals": [{"id": n, "payloads": [{"type": "SIMPLE", "values": [1]}]} for n in range(2)]})
    plan = plan_of(LOADS)
    asked = []

    def forecaster(times):
        asked.append(list(times))
        return np.array([forecast_watts(plan, t) for t in times])

    schedule = schedule_on(store)
    schedule.forecaster = forecaster
    early = [tick(schedule, store, plan, event, n, [1.0, 1.0, 1.0]) for n in range(-10, -1)]
    assert early == [[]] * 9 and asked == []
    sent = tick(schedule, store, plan, event, -1, [1.0, 1.0, 1.0])  # this tick ends at the first interval's start
    assert len(sent) == 1
    assert {d["readingType"] for d in sent[0]["payloadDescriptors"]} == {"FORECAST"}
    got = by_resource(sent[0])
    assert set(got) == {"R1_load_0", "R1_load_1"}  # no look-ahead for R2_load_0: left out
    for index, name in enumerate(("R1_load_0", "R1_load_1")):
        for n, interval in enumerate(got[name]):
            begin = T0 + timedelta(minutes=20 * n)
            samples = [forecast_watts(plan, begin + timedelta(seconds=TICK * k))[index] for k in range(80)]
            assert interval["USAGE"] == pytest.approx(sum(w * TICK / 3600 for w in samples), rel=1e-8)
            assert interval["DEMAND"] == pytest.approx(sum(samples) / len(samples), rel=1e-8)
    assert len(asked) == 2 and all(len(times) == 80 for times in asked)  # 20 minutes at 15 s steps
    assert store.accumulators_read(["V"]) == []  # nothing accumulated for a forecast
    assert [tick(schedule, store, plan, event, n, [1.0, 1.0, 1.0]) for n in range(0, 200)] == [[]] * 200


def test_without_a_source_that_looks_ahead_a_forecast_is_refused_once_naming_the_event(caplog):
    event = level_event([1], [{"payloadType": "USAGE", "historical": False}], "f2")
    schedule = ReportSchedule()
    for n in range(3):  # the event read again (modified) is classified again: still one warning
        changed = event.model_copy(update={"modification_date_time": T0 + timedelta(minutes=n)})
        assert schedule.split([changed]) == ([], [])
    warnings = [r.getMessage() for r in caplog.records if "forecast" in r.getMessage()]
    assert warnings == ["Reporting: event f2 asks for a forecast (reportDescriptors[0].historical false), which no "
                        "meter source can give: it is not answered."]
