"""The collector: approved loads grouped by connection kind, one batch per source, sources read concurrently
under a deadline, a plan with per-VEN slices for the reporter, and the ven_readings hook."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest

from venclient.clock import Clock
from venclient.engine.collect import CollectionPlan, Collector
from venclient.hookspecs import hookimpl
from venclient.model import QUALITY_MISSING, QUALITY_OK, Connection
from venclient.protocols import LoadBatch, SourceReading
from fixtures.collect import METER_IDS, add_fleet, expected_watts

HERNING = [METER_IDS[0], METER_IDS[1], METER_IDS[2]]
AALBORG = [METER_IDS[2], METER_IDS[0]]


class ConstantSource:
    """A third-party source: every load reads ``1000 * connection.params['scale'] + component``."""

    def __init__(self, kind: str = "fakemeter", hang: bool = False, fail: bool = False):
        self.kinds = (kind,)
        self.hang, self.fail = hang, fail
        self.opens: list[LoadBatch] = []
        self.reads = 0
        self.closed = False
        self._values = np.empty(0)

    async def open(self, batch: LoadBatch) -> None:
        self.opens.append(batch)
        scale = np.array([batch.connections[int(c)].params.get("scale", 1) for c in batch.connection_ids])
        self._values = 1000.0 * scale + batch.components

    async def read(self, tick) -> SourceReading:
        self.reads += 1
        if self.hang:
            await asyncio.Event().wait()  # never answers; the collector's deadline cancels it
        if self.fail:
            raise ConnectionError("meter bus down")
        return SourceReading(self._values.copy(), np.zeros(len(self._values), dtype=np.uint8))

    async def close(self) -> None:
        self.closed = True


class SourcePlugin:
    def __init__(self, *sources):
        self.sources = list(sources)

    @hookimpl
    def ven_meter_sources(self, settings):
        return self.sources


class ReadingsRecorder:
    def __init__(self):
        self.seen = []

    @hookimpl
    def ven_readings(self, tick, readings):
        self.seen.append((tick, readings))


class BrokenObserver:
    @hookimpl
    def ven_readings(self, readings):
        raise RuntimeError("exporter down")


@pytest.fixture
def fleet(collect_runtime):
    store = collect_runtime.store()
    add_fleet(store, {"Herning": HERNING, "Aalborg": AALBORG})
    add_fleet(store, {"Herning": [METER_IDS[0]]}, status="PENDING", prefix="p")
    return collect_runtime


@pytest.fixture
def registered(fleet):
    """Register plugin objects on the runtime for one test."""
    names = []

    def register(plugin, name):
        fleet.pm.register(plugin, name=name)
        names.append(name)
        return plugin

    yield register
    for name in names:
        fleet.pm.unregister(name=name)


def h5_value(readings, plan, position, index):
    meter_number = METER_IDS.index(plan.h5_meter_ids[position]) + 1
    return expected_watts(meter_number, int(plan.component_index[position]), index)


async def test_fleet_tick_matches_the_file_and_the_plan_has_per_ven_slices(fleet):
    async with Collector.from_runtime(fleet) as collector:
        plan = collector.plan
        assert isinstance(plan, CollectionPlan) and len(plan) == 30  # 5 approved resources × 6 loads
        assert list(plan.ven_slices) == ["Aalborg", "Herning"]
        assert plan.ven_slice("Aalborg") == slice(0, 12) and plan.ven_slice("Herning") == slice(12, 30)
        assert set(plan.vens[plan.ven_slice("Herning")]) == {"Herning"}
        assert plan.resource_bounds(plan.ven_slice("Herning")).tolist() == [12, 18, 24, 30]
        assert plan.meter_point_ids[12] == "570000000000000000" and not plan.registered[12]
        assert plan.components[:6].tolist() == [f"load_{i}" for i in range(6)]
        clock = collector.build_clock(fleet.settings)
        for _ in range(3):
            readings = await collector.collect(clock.tick)
            assert readings.timestamp_ms == clock.tick.timestamp_ms and len(readings) == 30
            assert readings.load_ids is plan.load_ids and readings.quality.tolist() == [QUALITY_OK] * 30
            assert readings.power_w.tolist() == [h5_value(readings, plan, i, clock.index) for i in range(30)]
            clock.increase_time()
    assert not collector.is_open


async def test_only_the_requested_vens_and_approved_resources(fleet):
    async with Collector.from_runtime(fleet, vens=["Herning"]) as collector:
        assert list(collector.plan.ven_slices) == ["Herning"] and len(collector.plan) == 18
        assert not any(r.startswith("p-") for r in collector.plan.resource_ids)
        fleet.store().set_resources_status(["r-Herning-001"], "SUSPENDED")
        plan = await collector.refresh()
        assert len(plan) == 12 and "r-Herning-001" not in set(plan.resource_ids)


async def test_a_third_party_source_serves_a_new_kind(fleet, registered):
    source = registered(SourcePlugin(ConstantSource("fakemeter")), "fake_plugin").sources[0]
    fleet.store().connect_resources(["r-Aalborg-001"], Connection(id=None, type="fakemeter", params={"scale": 7}))
    async with Collector.from_runtime(fleet) as collector:
        assert len(source.opens) == 1 and source.opens[0].resource_ids.tolist() == ["r-Aalborg-001"] * 6
        readings = await collector.collect(Clock(collector.timeline()).tick)
        rows = collector.plan.resource_ids == "r-Aalborg-001"
        assert readings.power_w[rows].tolist() == [7000.0 + c for c in range(6)]
        assert (readings.quality == QUALITY_OK).all()
    assert source.closed


async def test_a_hanging_source_misses_its_deadline_while_the_others_deliver(fleet, registered, caplog):
    slow = registered(SourcePlugin(ConstantSource("slowmeter", hang=True)), "slow_plugin").sources[0]
    fleet.store().connect_resources(["r-Herning-002"], Connection(id=None, type="slowmeter"))
    caplog.set_level(logging.WARNING)
    async with Collector.from_runtime(fleet, source_timeout=0.2) as collector:
        clock = collector.build_clock(fleet.settings)
        plan = collector.plan
        slow_rows = plan.resource_ids == "r-Herning-002"
        for _ in range(3):
            readings = await collector.collect(clock.tick)
            assert (readings.quality[slow_rows] == QUALITY_MISSING).all() and np.isnan(readings.power_w[slow_rows]).all()
            assert (readings.quality[~slow_rows] == QUALITY_OK).all()
            assert readings.power_w[~slow_rows].tolist() == [
                h5_value(readings, plan, i, clock.index) for i in np.flatnonzero(~slow_rows)]
            clock.increase_time()
    assert slow.reads == 3
    late = [r for r in caplog.records if "did not answer within" in r.getMessage()]
    assert len(late) == 1 and "slowmeter" in late[0].getMessage()


async def test_a_failing_source_gives_missing_values_and_one_warning(fleet, registered, caplog):
    source = registered(SourcePlugin(ConstantSource("flaky", fail=True)), "flaky_plugin").sources[0]
    fleet.store().connect_resources(["r-Herning-000"], Connection(id=None, type="flaky"))
    caplog.set_level(logging.INFO)
    async with Collector.from_runtime(fleet) as collector:
        tick = collector.build_clock(fleet.settings).tick
        rows = collector.plan.resource_ids == "r-Herning-000"
        for _ in range(2):
            readings = await collector.collect(tick)
            assert (readings.quality[rows] == QUALITY_MISSING).all() and (readings.quality[~rows] == QUALITY_OK).all()
        source.fail = False
        assert ((await collector.collect(tick)).quality == QUALITY_OK).all()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("meter bus down" in m for m in messages) == 1
    assert messages.count("Meter source ConstantSource (flaky) answers again.") == 1


async def test_loads_of_a_kind_nobody_serves_are_skipped_with_one_warning(fleet, caplog):
    fleet.store().connect_resources(["r-Aalborg-000", "r-Herning-000"], Connection(id=None, type="zigbee"))
    caplog.set_level(logging.WARNING)
    async with Collector.from_runtime(fleet) as collector:
        assert len(collector.plan) == 18 and collector.plan.skipped == {"zigbee": 12}
        tick = collector.build_clock(fleet.settings).tick
        for _ in range(3):
            await collector.collect(tick)
        await collector.refresh()
    warnings = [r.getMessage() for r in caplog.records if "zigbee" in r.getMessage()]
    assert len(warnings) == 1 and "12 loads" in warnings[0]


async def test_switching_a_resource_to_a_file_and_back_keeps_its_loads(fleet, tmp_path):
    store = fleet.store()
    rid = "r-Herning-001"
    loads_before = [(l.load_id, l.load_component, l.h5_meter_id) for l in store.get_loads_by_resource(rid)]
    log_file = tmp_path / "logger.csv"
    async with Collector.from_runtime(fleet, vens=["Herning"]) as collector:
        clock = collector.build_clock(fleet.settings)
        log_file.write_text("timestamp,load,watts\n" + "".join(
            f"{clock.tick.time.isoformat()},load_{c},{50 + c}\n" for c in range(6)))
        rows = lambda: collector.plan.resource_ids == rid  # noqa: E731

        before = await collector.collect(clock.tick)
        assert before.power_w[rows()].tolist() == [expected_watts(2, c, 0) for c in range(6)]

        store.connect_resources([rid], Connection(id=None, type="filereader", file=str(log_file)))
        await collector.refresh()
        from_file = await collector.collect(clock.tick)
        assert from_file.power_w[rows()].tolist() == [50.0 + c for c in range(6)]
        assert (from_file.quality == QUALITY_OK).all()
        others = ~rows()
        assert from_file.power_w[others].tolist() == before.power_w[others].tolist()

        store.connect_resources([rid], Connection(id=None, type="h5sim"))
        await collector.refresh()
        clock.increase_time()
        back = await collector.collect(clock.tick)
        assert back.power_w[rows()].tolist() == [expected_watts(2, c, 1) for c in range(6)]
    assert [(l.load_id, l.load_component, l.h5_meter_id) for l in store.get_loads_by_resource(rid)] == loads_before


async def test_refresh_reopens_only_sources_whose_batch_changed(fleet, registered):
    plugin = registered(SourcePlugin(ConstantSource("kind_a"), ConstantSource("kind_b")), "two_sources")
    a, b = plugin.sources
    store = fleet.store()
    store.connect_resources(["r-Herning-000"], Connection(id=None, type="kind_a"))
    store.connect_resources(["r-Herning-001"], Connection(id=None, type="kind_b"))
    async with Collector.from_runtime(fleet) as collector:
        await collector.refresh()
        assert (len(a.opens), len(b.opens)) == (1, 1)
        store.connect_resources(["r-Aalborg-000"], Connection(id=None, type="kind_b"))
        await collector.refresh()
        assert (len(a.opens), len(b.opens)) == (1, 2) and len(b.opens[-1]) == 12
        store.connect_resources(["r-Herning-000"], Connection(id=None, type="h5sim"))
        await collector.refresh()
        assert a.closed and not b.closed


async def test_one_source_serving_two_kinds_gets_one_batch(fleet, registered):
    source = ConstantSource("bus_tcp")
    source.kinds = ("bus_tcp", "bus_rtu")
    registered(SourcePlugin(source), "bus_plugin")
    store = fleet.store()
    store.connect_resources(["r-Herning-000"], Connection(id=None, type="bus_tcp", params={"scale": 2}))
    store.connect_resources(["r-Aalborg-000"], Connection(id=None, type="bus_rtu", params={"scale": 3}))
    async with Collector.from_runtime(fleet) as collector:
        assert len(source.opens) == 1 and len(source.opens[0]) == 12
        readings = await collector.collect(collector.build_clock(fleet.settings).tick)
        assert readings.power_w[collector.plan.resource_ids == "r-Aalborg-000"].tolist() == [3000.0 + c
                                                                                           for c in range(6)]


async def test_ven_readings_hook_sees_every_tick_and_a_broken_observer_is_only_logged(fleet, registered, caplog):
    recorder = registered(ReadingsRecorder(), "recorder")
    registered(BrokenObserver(), "broken")
    caplog.set_level(logging.WARNING)
    async with Collector.from_runtime(fleet) as collector:
        clock = collector.build_clock(fleet.settings)
        for _ in range(3):
            readings = await collector.collect(clock.tick)
            clock.increase_time()
    assert [t.index for t, _ in recorder.seen] == [0, 1, 2]
    assert recorder.seen[-1][1] is readings
    assert sum("broken" in r.getMessage() and "ven_readings" in r.getMessage() for r in caplog.records) == 1


async def test_strict_open_raises_the_source_error_and_lenient_open_logs_it(fleet, tmp_path, caplog):
    (tmp_path / "load_data.h5").write_text("not hdf5")
    from venclient.errors import InputError
    with pytest.raises(InputError, match="not a readable HDF5 file"):
        await Collector.from_runtime(fleet).open()
    caplog.set_level(logging.WARNING)
    collector = Collector.from_runtime(fleet, strict_open=False)
    async with collector:
        readings = await collector.collect(Clock(None).tick)
        assert (readings.quality == QUALITY_MISSING).all()
    assert any("not a readable HDF5 file" in r.getMessage() for r in caplog.records)
