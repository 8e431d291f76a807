"""Accumulating ticks into event intervals (venclient.engine.accumulate, .report_schedule) on a real SQLite store:
15 s ticks into 1-hour intervals give exact energy and mean power; a restart in the middle of an interval loses
nothing; missing ticks show as DATA_QUALITY ESTIMATED, a load never seen is left out; a refused write counts
nothing; the registry refuses what it cannot answer with a sentence naming the field; READING is the last meter
register value of each interval, only for loads with a register, kept across restarts."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import numpy as np
import orjson
import pytest

from venclient.engine.report_payloads import answer
from venclient.engine.report_schedule import ReportSchedule
from venclient.model import QUALITY_MISSING, QUALITY_OK, Readings
from venclient.openadr import Event
from venclient.plugins.sqlite_store.store import SqlResourceStore

T0 = datetime(2025, 3, 1, 0, 0, tzinfo=timezone.utc)
TICK = 15.0
LOADS = ["R1_load_0", "R1_load_1", "R2_load_0"]


def plan_of(load_ids: list[str]) -> SimpleNamespace:
    ids = np.array(load_ids, dtype=object)
    resources = np.array([i.rsplit("_", 2)[0] for i in load_ids], dtype=object)
    components = np.array(["_".join(i.rsplit("_", 2)[1:]) for i in load_ids], dtype=object)
    starts = np.array([n for n in range(len(ids)) if n == 0 or resources[n] != resources[n - 1]])
    sl = slice(0, len(ids))

    def bounds(positions=None):
        return np.append(starts, len(ids))

    return SimpleNamespace(load_ids=ids, resource_ids=resources, components=components,
                           registered=np.ones(len(ids), dtype=bool), ven_slices={"V": sl},
                           ven_slice=lambda ven: sl if ven == "V" else slice(0, 0), resource_bounds=bounds)


def readings(plan, watts: list[float]) -> Readings:
    power = np.array(watts, dtype=np.float64)
    quality = np.where(np.isnan(power), QUALITY_MISSING, QUALITY_OK).astype(np.uint8)
    return Readings(0, plan.load_ids, plan.resource_ids, plan.components, power, quality)


def hour_event(descriptors, hours: int = 2) -> Event:
    return Event.model_validate({
        "id": "e1", "programID": "p1", "intervalPeriod": {"start": T0.isoformat(), "duration": "PT1H"},
        "reportDescriptors": descriptors,
        "intervals": [{"id": 7 + n, "payloads": [{"type": "SIMPLE", "values": [1]}]} for n in range(hours)]})


@pytest.fixture
def store(tmp_path):
    s = SqlResourceStore(f"sqlite:///{tmp_path / 'resources.db'}")
    yield s
    s.close()


def schedule_on(store) -> ReportSchedule:
    """A schedule on ``store``: finished intervals are read back from it (not kept in memory)."""
    return ReportSchedule(get_state=store.get_state, received=lambda ven, event: (T0.timestamp() - 60, 0),
                          reader=lambda ven, event_id: store.accumulators_read([ven], event_id))


def tick(schedule, store, plan, event, n: int, watts: list[float], kwh: list[float] | None = None) -> list[dict]:
    """One tick of ``watts`` (NaN = not seen) and, when given, meter registers ``kwh`` (NaN = no register),
    stored with its reports as ``ven run`` does; returns the reports it built."""
    _, aligned = schedule.split([event])
    reading = readings(plan, watts)
    if kwh is not None:
        reading.register_kwh = np.array(kwh, dtype=np.float64)
    write = schedule.stage(T0 + timedelta(seconds=TICK * n), TICK, reading, plan, aligned, 0)
    reports = list(write.reports)  # built while iterated, once
    items = [{"ven": r.ven, "program_id": r.program_id, "event_id": r.event_id, "tick_ms": 0, "payload": r.json}
             for r in reports]
    store.outbox_add(items, write.state, accumulators=write.write)
    schedule.commit(write)
    return [r.to_dict() for r in reports]


def watts_at(n: int) -> list[float]:
    """Load 0 varies per tick, load 1 misses every 10th tick, load 2 is never seen."""
    return [1000.0 + n, np.nan if n % 10 == 0 else 500.0, np.nan]


def test_fifteen_second_ticks_fill_hour_intervals_exactly_across_a_restart(store):
    event = hour_event([{"payloadType": "USAGE", "units": "WH"}, {"payloadType": "DEMAND", "units": "W"},
                        {"payloadType": "DATA_QUALITY"}])
    plan = plan_of(LOADS)
    ticks = int(2 * 3600 / TICK)  # two hourly intervals
    schedule = schedule_on(store)
    sent: list[dict] = []
    for n in range(ticks):
        if n == 100:  # a restart in the middle of the first interval: a new schedule reads what the store kept
            schedule = schedule_on(store)
            assert schedule.load(store.accumulators_read(["V"]), plan) == 1
        if n == 300:  # and one in the second, with the plan's loads in another order
            plan = plan_of([LOADS[1], LOADS[0], LOADS[2]])
            schedule = schedule_on(store)
            schedule.load(store.accumulators_read(["V"]), plan)
        values = watts_at(n)
        if plan.load_ids[0] == LOADS[1]:
            values = [values[1], values[0], values[2]]
        sent += tick(schedule, store, plan, event, n, values)
        if n == 300:
            assert len(schedule.accumulator.rows) == 1  # the finished first hour waits in the store only
    assert len(sent) == 1  # default descriptors: one report at the end of the last interval
    report = sent[0]
    resources = {r["resourceName"]: r for r in report["resources"]}
    assert set(resources) == {"R1_load_0", "R1_load_1"}  # the load never seen is left out
    per_hour = int(3600 / TICK)
    for name, index in (("R1_load_0", 0), ("R1_load_1", 1)):
        intervals = resources[name]["intervals"]
        assert [i["id"] for i in intervals] == [7, 8]
        for h, interval in enumerate(intervals):
            seen = [watts_at(n)[index] for n in range(h * per_hour, (h + 1) * per_hour)]
            seen = [w for w in seen if not np.isnan(w)]
            values = {p["type"]: p["values"][0] for p in interval["payloads"]}
            assert values["USAGE"] == pytest.approx(sum(w * TICK / 3600 for w in seen), rel=1e-12)
            assert values["DEMAND"] == pytest.approx(sum(seen) / len(seen), rel=1e-12)
            assert values["DATA_QUALITY"] == ("OK" if index == 0 else "ESTIMATED")
            assert interval["intervalPeriod"]["duration"] == "PT1H"
    assert store.accumulators_read(["V"]) == []  # no later report needs the totals: deleted with the report
    # a restart after the report neither repeats it nor builds another
    again = schedule_on(store)
    assert tick(again, store, plan, event, ticks, [1.0, 1.0, 1.0]) == []


def test_a_write_the_store_refuses_counts_nothing(store):
    event = hour_event([{"payloadType": "USAGE", "units": "WH"}], hours=1)
    plan = plan_of(LOADS)
    schedule = schedule_on(store)
    _, aligned = schedule.split([event])
    schedule.stage(T0, TICK, readings(plan, [1000.0, 1000.0, 1000.0]), plan, aligned, 0)  # not committed
    for n in range(int(3600 / TICK)):
        reports = tick(schedule, store, plan, event, n, [1000.0, 1000.0, 1000.0])
    body = orjson.loads(orjson.dumps(reports))[0]
    usage = body["resources"][0]["intervals"][0]["payloads"][0]["values"][0]
    assert usage == pytest.approx(1000.0)  # one hour at 1 kW: the uncommitted tick is not in it


def test_descriptors_we_cannot_answer_are_refused_naming_the_field(caplog):
    assert answer("USAGE", "KW", None)[1].startswith("units KW cannot express USAGE")
    assert "readingType PEAK" in answer("DEMAND", None, "PEAK")[1]
    assert "payloadType REGULATION_SETPOINT" in answer("REGULATION_SETPOINT", None, None)[1]
    schedule = ReportSchedule()
    event = hour_event([{"payloadType": "DEMAND", "readingType": "PEAK"}, {"payloadType": "USAGE",
                                                                          "historical": False}])
    continuous, aligned = schedule.split([event])
    assert continuous == [] and aligned == []
    text = caplog.text
    assert "event e1 reportDescriptors[0]: readingType PEAK" in text
    assert "event e1 asks for a forecast (reportDescriptors[1].historical false)" in text


def test_descriptor_targets_narrow_the_loads_and_aggregate_sums_what_has_a_value(store):
    event = hour_event([{"payloadType": "USAGE", "units": "WH",
                         "targets": [{"type": "RESOURCE_NAME", "values": ["R1"]}]},
                        {"payloadType": "USAGE", "units": "WH", "aggregate": True},
                        {"payloadType": "DATA_QUALITY", "aggregate": True}], hours=1)
    plan = plan_of(LOADS)
    asked = []

    def scope(targets, what):
        asked.append(what)
        return False, set(), {"R1_load_0", "R1_load_1"}  # what the directory resolves "R1" to

    schedule = ReportSchedule(get_state=store.get_state, scope=scope,
                              received=lambda ven, event: (T0.timestamp() - 60, 0))
    sent = []
    for n in range(int(3600 / TICK)):
        sent += tick(schedule, store, plan, event, n, [1000.0, 2000.0, np.nan if n < 10 else 3000.0])
    assert len(sent) == 2 and asked == ["report descriptor of event e1"]  # resolved once
    by_names = {tuple(sorted(r["resourceName"] for r in report["resources"])): report for report in sent}
    assert set(by_names) == {("R1_load_0", "R1_load_1"), ("AGGREGATED_REPORT",)}
    aggregate = by_names[("AGGREGATED_REPORT",)]["resources"][0]["intervals"][0]
    values = {p["type"]: p["values"][0] for p in aggregate["payloads"]}
    assert values["USAGE"] == pytest.approx(1000.0 + 2000.0 + 3000.0 * (240 - 10) / 240)
    assert values["DATA_QUALITY"] == "ESTIMATED"  # R2_load_0 missed its first ticks


def test_due_reports_are_built_while_the_store_takes_them_and_only_once(store):
    """The last tick's reports are built as they are iterated (one VEN at a time, inside the store's
    transaction), once; the tick's accumulator rows are complete only then, and it cannot be committed before."""
    event = hour_event([{"payloadType": "USAGE", "units": "WH"}], hours=1)
    plan = plan_of(LOADS)
    schedule = schedule_on(store)
    last = int(3600 / TICK) - 1
    for n in range(last):
        assert tick(schedule, store, plan, event, n, [1000.0, 1000.0, 1000.0]) == []
    _, aligned = schedule.split([event])
    write = schedule.stage(T0 + timedelta(seconds=TICK * last), TICK, readings(plan, [1000.0] * 3), plan, aligned, 0)
    assert write.state and not write.reports.done
    assert not write.write.upserts and not write.write.deletes  # filled while the reports are built
    with pytest.raises(RuntimeError, match="not stored"):
        schedule.commit(write)
    reports = list(write.reports)
    assert len(reports) == 1 and write.reports.done
    with pytest.raises(RuntimeError, match="only once"):
        list(write.reports)
    assert write.write.deletes  # the finished interval goes with its report
    store.outbox_add([{"ven": r.ven, "program_id": r.program_id, "event_id": r.event_id, "tick_ms": 0,
                       "payload": r.json} for r in reports], write.state, accumulators=write.write)
    schedule.commit(write)
    assert store.accumulators_read(["V"]) == []
    usage = [r["intervals"][0]["payloads"][0]["values"][0] for r in reports[0].to_dict()["resources"]]
    assert usage == pytest.approx([1000.0] * 3)  # one hour at 1 kW each, in Wh


# ---------------------------------------------------------------------------------------------- READING
def register_at(n: int) -> list[float]:
    """Load 0's register counts up 0.004 kWh per tick (about 1 kW) but is unread on every 7th tick; load 1 has
    no register; load 2 has one but is never seen (its register must not be taken)."""
    return [1234.5 + 0.004 * n if n % 7 else np.nan, np.nan, 99.0]


def test_reading_is_the_last_register_value_of_each_interval_across_a_restart(store):
    event = hour_event([{"payloadType": "READING", "units": "KWH"}, {"payloadType": "USAGE", "units": "WH"}])
    plan = plan_of(LOADS)
    per_hour = int(3600 / TICK)
    schedule = schedule_on(store)
    sent: list[dict] = []
    for n in range(2 * per_hour):
        if n in (per_hour - 3, per_hour + 50):  # restarts just before the first hour's end and inside the second
            schedule = schedule_on(store)
            schedule.load(store.accumulators_read(["V"]), plan)
        sent += tick(schedule, store, plan, event, n, watts_at(n), register_at(n))
    assert len(sent) == 1
    resources = {r["resourceName"]: r for r in sent[0]["resources"]}
    assert set(resources) == {"R1_load_0", "R1_load_1"}
    for h, interval in enumerate(resources["R1_load_0"]["intervals"]):
        registers = [register_at(n)[0] for n in range(h * per_hour, (h + 1) * per_hour)]
        last = [r for r in registers if not np.isnan(r)][-1]
        values = {p["type"]: p["values"][0] for p in interval["payloads"]}
        assert values["READING"] == pytest.approx(last, rel=1e-9)
        assert last != pytest.approx(registers[0])  # the interval's end, not its start
    for interval in resources["R1_load_1"]["intervals"]:  # no register: USAGE only, never a READING of 0
        assert [p["type"] for p in interval["payloads"]] == ["USAGE"]
    descriptors = {d["payloadType"]: d for d in sent[0]["payloadDescriptors"]}
    assert descriptors["READING"]["units"] == "KWH" and descriptors["READING"]["readingType"] == "DIRECT_READ"


def test_aggregate_reading_sums_the_registers_read(store):
    event = hour_event([{"payloadType": "READING", "aggregate": True}], hours=1)
    plan = plan_of(LOADS)
    schedule = schedule_on(store)
    sent: list[dict] = []
    for n in range(int(3600 / TICK)):
        sent += tick(schedule, store, plan, event, n, [1000.0, 500.0, 200.0], [10.0 + n, np.nan, 5.0])
    (resource,) = sent[0]["resources"]
    assert resource["resourceName"] == "AGGREGATED_REPORT"
    assert resource["intervals"][0]["payloads"] == [{"type": "READING", "values": [pytest.approx(10.0 + 239 + 5.0)]}]


def test_reading_units_follow_the_enumeration():
    ok, problem = answer("READING", None, None)
    assert problem is None and ok.units == "KWH" and ok.reading_type == "DIRECT_READ"
    assert answer("READING", "MWH", None)[0].factor == pytest.approx(1e-3)
    assert answer("READING", "KW", None)[1].startswith("units KW cannot express READING")


def test_a_row_from_before_the_register_column_reads_as_no_reading(store, tmp_path):
    event = hour_event([{"payloadType": "READING"}, {"payloadType": "USAGE", "units": "WH"}], hours=1)
    plan = plan_of(LOADS)
    schedule = schedule_on(store)
    for n in range(10):
        tick(schedule, store, plan, event, n, [1000.0, 1000.0, np.nan], [50.0, np.nan, np.nan])
    (row,) = store.accumulators_read(["V"])
    assert np.frombuffer(row["register_kwh"])[0] == 50.0
    store.close()
    with sqlite3.connect(tmp_path / "resources.db") as conn:  # the table as it was before the register channel
        conn.execute("ALTER TABLE report_accumulators DROP COLUMN register_kwh")
    reopened = SqlResourceStore(f"sqlite:///{tmp_path / 'resources.db'}")
    try:
        assert "added column report_accumulators.register_kwh" in reopened.migrations
        rows = reopened.accumulators_read(["V"])
        assert len(rows) == 1 and rows[0]["register_kwh"] is None
        schedule = schedule_on(reopened)
        assert schedule.load(rows, plan) == 1
        sent: list[dict] = []
        for n in range(10, int(3600 / TICK)):  # after the restart no register is read any more
            sent += tick(schedule, reopened, plan, event, n, [1000.0, 1000.0, np.nan],
                                  [np.nan, np.nan, np.nan])
            if n == 20:  # no register at all: none stored (NULL), not a blob of NaN
                assert [r["register_kwh"] for r in reopened.accumulators_read(["V"])] == [None]
                assert [t.register_kwh for t in schedule.accumulator.rows.values()] == [None]  # nor in memory
    finally:
        reopened.close()
    resources = {r["resourceName"]: r for r in sent[0]["resources"]}
    for name in ("R1_load_0", "R1_load_1"):
        (interval,) = resources[name]["intervals"]
        assert [p["type"] for p in interval["payloads"]] == ["USAGE"]  # the old row's register is unknown
        assert interval["payloads"][0]["values"][0] == pytest.approx(1000.0)  # its energy is kept
