"""The seeds' API: increase_time() and collect_next_metering(ven_id) with the seeds' shapes and values."""

from __future__ import annotations

import asyncio

import h5py
import pytest

from venclient.clock import Clock
from venclient.model import MeterReading, ResourceMeterData
from venclient.engine.simulator import MeterDataSimulator
from fixtures.collect import METER_IDS, ROWS, add_fleet


@pytest.fixture
def simulator(collect_runtime):
    add_fleet(collect_runtime.store(), {"Herning": [METER_IDS[0], METER_IDS[2]], "Aalborg": [METER_IDS[1]]})
    add_fleet(collect_runtime.store(), {"Herning": [METER_IDS[1]]}, status="SUSPENDED", prefix="s")
    sim = MeterDataSimulator(collect_runtime)
    yield sim
    sim.close()


def h5_row(path, meter_id: str, index: int) -> dict[str, tuple[float, float]]:
    with h5py.File(path, "r") as f:
        group = f["meters"][f"meter_{meter_id}"]
        return {load: tuple(group[load]["power"][index]) for load in sorted(group)}


def test_collect_next_metering_has_the_seeds_shape_and_the_file_s_values(simulator, meter_file):
    assert simulator.current_timestamp_index == 0 and simulator.h5_data_length == ROWS
    for index in (0, 1, 2):
        data = simulator.collect_next_metering("Herning")
        assert list(data) == ["r-Herning-000", "r-Herning-001"]  # APPROVED only
        for resource_id, meter_id in zip(data, (METER_IDS[0], METER_IDS[2])):
            item = data[resource_id]
            assert isinstance(item, ResourceMeterData) and item.resource_id == resource_id
            assert item.meter_point_id == ("57" + f"{int(resource_id[-3:]):016d}")
            assert [type(r) for r in item.readings] == [MeterReading] * 6
            expected = h5_row(meter_file, meter_id, index)
            for reading in item.readings:
                timestamp_s, watts = expected[reading.load_id]
                assert isinstance(reading.timestamp, int) and reading.timestamp == int(timestamp_s * 1000)
                assert isinstance(reading.power_w, float) and reading.power_w == watts
            assert [r.load_id for r in item.readings] == [f"load_{c}" for c in range(6)]
        assert simulator.increase_time() == index + 1


def test_increase_time_wraps_and_every_ven_sees_the_same_tick(simulator):
    for _ in range(ROWS - 1):
        simulator.increase_time()
    assert simulator.current_timestamp_index == ROWS - 1
    herning = simulator.collect_next_metering("Herning")
    aalborg = simulator.collect_next_metering("Aalborg")
    stamps = {r.timestamp for d in (herning, aalborg) for item in d.values() for r in item.readings}
    assert len(stamps) == 1
    assert simulator.increase_time() == 0
    assert {r.timestamp for r in simulator.collect_next_metering("Aalborg")["r-Aalborg-000"].readings} != stamps


def test_unknown_ven_and_ven_list(simulator):
    assert simulator.collect_next_metering("Nowhere") == {}
    assert simulator.get_ven_list() == ["Aalborg", "Herning"]


def test_refresh_picks_up_status_changes(simulator, collect_runtime):
    collect_runtime.store().set_resources_status(["s-Herning-000"], "APPROVED")
    assert len(simulator.collect_next_metering("Herning")) == 2
    simulator.refresh()
    assert len(simulator.collect_next_metering("Herning")) == 3


def test_a_shared_clock_is_used_as_given(collect_runtime):
    add_fleet(collect_runtime.store(), {"Herning": [METER_IDS[0]]})
    with MeterDataSimulator(collect_runtime) as probe:
        clock = Clock(probe.collector.timeline(), start_index=5)
    with MeterDataSimulator(collect_runtime, clock, vens=["Herning"]) as one, \
            MeterDataSimulator(collect_runtime, clock, vens=["Herning"]) as two:
        one.increase_time()
        assert two.current_timestamp_index == 6
        assert one.collect_next_metering("Herning") == two.collect_next_metering("Herning")


async def test_inside_an_event_loop_the_sync_api_says_to_use_the_collector(simulator):
    with pytest.raises(RuntimeError, match="Collector"):
        simulator.refresh()
    await asyncio.sleep(0)
