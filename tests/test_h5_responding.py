"""The simulated fleet follows events: the h5sim source returns responded watts for the loads it is told about
(exactly baseline minus the configured shares per component), leaves the others as the H5 file holds them, pays the
shed energy back times the efficiency, and the scheduler tells it what applies per targeted load; `ven run` reports
the responded USAGE of the targeted VEN and the unchanged usage of the other."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from venclient.engine.collect import Collector
from venclient.engine.followed import FollowGroup, Instructions, encode_ids
from venclient.engine.scheduler import EventScheduler
from venclient.engine.targets import LoadDirectory
from venclient.errors import SettingsError
from venclient.openadr import Event
from venclient.plugins.h5_simulator.response import DEFAULT_LEVELS, DEFAULT_SHED
from venclient.plugins.h5_simulator.responding import response_settings
from venclient.protocols import FollowsEvents
from fixtures.collect import METER_IDS, add_fleet, expected_watts

SHARES = [DEFAULT_SHED[f"load_{c}"] for c in range(6)]


@pytest.fixture
def fleet(collect_runtime):
    add_fleet(collect_runtime.store(), {"Herning": [METER_IDS[0], METER_IDS[1]], "Aalborg": [METER_IDS[2]]})
    return collect_runtime


def baseline(plan, position, row):
    return expected_watts(METER_IDS.index(plan.h5_meter_ids[position]) + 1, int(plan.component_index[position]), row)


async def test_simple_two_on_one_ven_sheds_exactly_and_the_energy_comes_back_times_the_efficiency(fleet):
    async with Collector.from_runtime(fleet) as collector:
        source = collector.sources["h5sim"]
        assert isinstance(source, FollowsEvents)
        plan, clock = collector.plan, collector.build_clock(fleet.settings)
        herning = [i for i, ven in enumerate(plan.vens) if ven == "Herning"]
        others = [i for i, ven in enumerate(plan.vens) if ven != "Herning"]
        source.follow({plan.load_ids[i]: {"SIMPLE": 2.0} for i in herning})
        shed_ws = responded_ws = baseline_ws = 0.0
        for row in range(8):  # 2 hours of SIMPLE 2, then 6 hours (longer than the hour of rebound)
            if row == 2:
                source.follow({})
            readings = await collector.collect(clock.tick)
            clock.increase_time()
            expected = np.array([baseline(plan, i, row) for i in range(len(plan))])
            assert source.baseline_w[: len(plan)].tolist() == expected.tolist()  # the H5 values stay readable
            assert readings.power_w[others].tolist() == expected[others].tolist()  # other VENs unchanged
            if row < 2:
                want = [expected[i] - expected[i] * SHARES[int(plan.component_index[i])] * DEFAULT_LEVELS[2]
                        for i in herning]
                assert readings.power_w[herning].tolist() == want  # exactly, per component
                shed_ws += float((expected[herning] - readings.power_w[herning]).sum()) * 3600
            responded_ws += float(readings.power_w[herning].sum()) * 3600
            baseline_ws += float(expected[herning].sum()) * 3600
        assert shed_ws > 0
        assert responded_ws == pytest.approx(baseline_ws - 0.2 * shed_ws)  # default efficiency 0.8


def test_the_response_table_is_read_and_checked():
    class Settings(dict):
        pass

    read = response_settings(Settings({"h5_simulator.response": {
        "efficiency": 1, "rebound_seconds": 600, "shed": {"Water Heater": 0.5}, "levels": {"2": 0.5}}}))
    assert read.efficiency == 1.0 and read.shed["load_1"] == 0.5 and read.levels[2] == 0.5
    assert read.shed["load_0"] == DEFAULT_SHED["load_0"]
    for bad, words in (({"efficiency": 2}, "between 0 and 1"), ({"rebound_seconds": 0}, "more than 0"),
                       ({"shed": {"Sauna": 0.1}}, "'Sauna'"), ({"levels": {"7": 1}}, "level '7'"),
                       ({"colour": 1}, "unknown key 'colour'")):
        with pytest.raises(SettingsError, match=words):
            response_settings(Settings({"h5_simulator.response": bad}))


class Follower:
    def __init__(self) -> None:
        self.told: list[dict] = []

    def follow(self, instructions) -> None:
        self.told.append(dict(instructions))


async def test_the_scheduler_tells_followers_what_applies_per_targeted_load(fleet):
    store = fleet.store()
    start = datetime(2026, 12, 3, 17, tzinfo=timezone.utc)
    clock = [start]
    scheduler = EventScheduler(store, {}, LoadDirectory(store, ["Herning", "Aalborg"]), lambda: clock[0])
    follower = Follower()
    scheduler.followers = [follower]
    event = Event(id="e1", program_id="p", targets=[{"type": "VEN_NAME", "values": ["Herning"]}],
                  interval_period={"start": start, "duration": "PT1H"},
                  intervals=[{"id": 0, "payloads": [{"type": "SIMPLE", "values": [2]},
                                                    {"type": "PRICE", "values": [0.4]}]}])
    await scheduler.replan([event])
    herning = {load.load_id for load in store.list_loads(ven="Herning")}
    assert set(follower.told[-1]) == herning and set(map(str, follower.told[-1].values())) == {"{'SIMPLE': 2.0}"}
    store.opt_out("e1", ["r-Herning-000"])
    await scheduler.reconcile(start + timedelta(minutes=1))
    kept = {load.load_id for load in store.list_loads(ven="Herning") if load.resource_id != "r-Herning-000"}
    assert set(follower.told[-1]) == kept and kept < herning
    told = len(follower.told)
    await scheduler.reconcile(start + timedelta(minutes=2))
    assert len(follower.told) == told  # nothing changed: not told again
    await scheduler.reconcile(start + timedelta(hours=1))
    assert follower.told[-1] == {}


async def test_overlapping_events_tell_each_load_the_winning_value_per_payload_type(fleet):
    store = fleet.store()
    start = datetime(2026, 12, 3, 17, tzinfo=timezone.utc)
    scheduler = EventScheduler(store, {}, LoadDirectory(store, ["Herning", "Aalborg"]), lambda: start)
    follower = Follower()
    scheduler.followers = [follower]
    period = {"start": start, "duration": "PT1H"}
    herning_only = Event(id="a", program_id="p", priority=1, interval_period=period,
                         targets=[{"type": "VEN_NAME", "values": ["Herning"]}],
                         intervals=[{"id": 0, "payloads": [{"type": "SIMPLE", "values": [3]}]}])
    everyone = Event(id="b", program_id="p", priority=2, interval_period=period,  # lower priority (higher number)
                     intervals=[{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]},
                                                       {"type": "IMPORT_CAPACITY_LIMIT", "values": [5000]}]}])
    await scheduler.replan([herning_only, everyone])
    herning = {load.load_id for load in store.list_loads(ven="Herning")}
    aalborg = {load.load_id for load in store.list_loads(ven="Aalborg")}
    both = {"SIMPLE": 3.0, "IMPORT_CAPACITY_LIMIT": 5000.0}  # SIMPLE: priority 1 wins; the limit: only b has one
    only_b = {"SIMPLE": 1.0, "IMPORT_CAPACITY_LIMIT": 5000.0}
    assert dict(follower.told[-1]) == {**dict.fromkeys(herning, both), **dict.fromkeys(aalborg, only_b)}
    store.opt_out("a", ["r-Herning-000"])  # those loads are left to event b
    await scheduler.reconcile(start + timedelta(minutes=1))
    opted = {load.load_id for load in store.list_loads(ven="Herning") if load.resource_id == "r-Herning-000"}
    assert opted and dict(follower.told[-1]) == {**dict.fromkeys(herning - opted, both),
                                                 **dict.fromkeys(aalborg | opted, only_b)}
    store.opt_out("b", ["r-Herning-000"])  # opted out of both: nothing applies to them
    await scheduler.reconcile(start + timedelta(minutes=2))
    assert dict(follower.told[-1]) == {**dict.fromkeys(herning - opted, both), **dict.fromkeys(aalborg, only_b)}


async def test_the_fleet_follows_grouped_instructions_in_any_order_and_the_lowest_limit_of_a_resource(fleet):
    async with Collector.from_runtime(fleet) as collector:
        source = collector.sources["h5sim"]
        plan, clock = collector.plan, collector.build_clock(fleet.settings)
        capped = [i for i, r in enumerate(plan.resource_ids) if r == "r-Herning-000"]
        herning = [i for i, ven in enumerate(plan.vens) if ven == "Herning" and i not in capped]
        others = [i for i in range(len(plan)) if i not in capped and i not in herning]
        assert len(capped) > 1 and herning and others
        ids = np.asarray(plan.load_ids, dtype=object)
        source.follow(Instructions([
            FollowGroup(encode_ids(ids[herning[::-1]]), {"SIMPLE": 2.0}),  # not in the batch's order
            FollowGroup(encode_ids(ids[capped[:1]]), {"IMPORT_CAPACITY_LIMIT": 1e9}),
            FollowGroup(encode_ids(ids[capped[1:]]), {"IMPORT_CAPACITY_LIMIT": 0.0}),  # the lowest of the resource
            FollowGroup(encode_ids(["not-one-of-ours"]), {"SIMPLE": 3.0})]))
        readings = await collector.collect(clock.tick)
        expected = np.array([baseline(plan, i, 0) for i in range(len(plan))])
        share = np.array([SHARES[int(c)] for c in plan.component_index[: len(plan)]])
        assert readings.power_w[others].tolist() == expected[others].tolist()
        assert readings.power_w[herning].tolist() == (expected - expected * share * DEFAULT_LEVELS[2])[herning].tolist()
        # a limit of 0 W: every load of the resource sheds all it can (its share), the first one's 1e9 W included
        assert readings.power_w[capped].tolist() == pytest.approx((expected - expected * share)[capped].tolist())


async def test_ven_run_reports_the_responded_usage_of_the_targeted_ven_only(tmp_path, local_vtn, contract,
                                                                             bl_transport):
    from fixtures.run import (amake_run_env, h5_row_of, h5_watts, report_start, run_options, values_by_name,
                              vtn_reports)
    from venclient.engine.run import VenRunner
    from venclient.plugins.local_vtn import DEMO_PROGRAM

    interval = 15.0
    env = await amake_run_env(tmp_path, local_vtn, contract)
    try:
        program = await bl_transport.find_program(DEMO_PROGRAM)
        metering = await bl_transport.create_event(Event.model_validate({
            "programID": program.id, "eventName": "usage", "intervals": [],
            "reportDescriptors": [{"payloadType": "USAGE", "units": "WH", "readingType": "DIRECT_READ"}]}))
        shed, kept = env.vens
        await bl_transport.create_event(Event.model_validate({
            "programID": program.id, "eventName": "shed-2", "targets": [{"type": "VEN_NAME", "values": [shed]}],
            "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [2]}]}]}))  # from now, open-ended
        await VenRunner(env.runtime, run_options(env.runtime, interval_seconds=interval, speed=300.0,
                                                 max_ticks=2)).run()
        for ven in env.vens:
            reports = vtn_reports(local_vtn.state, ven=ven, event_id=metering.id)
            assert len(reports) == 2
            for report in reports:
                row = h5_row_of(env.h5_path, datetime.fromisoformat(report_start(report).replace("Z", "+00:00")))
                usage = values_by_name(report, "USAGE")
                for load in env.store.list_loads(ven=ven):
                    name = load.resource_name_on_vtn
                    watts = h5_watts(env.h5_path, load.h5_meter_id, load.load_component, row)
                    if ven == shed:
                        watts -= watts * SHARES[int(load.load_component[-1])] * DEFAULT_LEVELS[2]
                    assert usage[name] == pytest.approx(watts * 3600 / 3600, rel=1e-6), (ven, name)  # an H5 hour
        assert kept != shed
    finally:
        env.runtime.close()
