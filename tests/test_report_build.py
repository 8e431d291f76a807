"""Building reports from arrays: payload specs and unit conversion, chunking, names, precision (no VTN)."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

import numpy as np
import pytest

from venclient.openadr import Report, ReportDescriptor
from venclient.engine.report import Reporter, build_reports, encode_reports, payload_specs, significant

START = datetime(2025, 1, 15, 13, 0, tzinfo=timezone.utc)


def spec_of(payload_type: str, units: str | None, interval: float = 15.0):
    return payload_specs([{"payloadType": payload_type, "units": units}], interval)[0]


@pytest.mark.parametrize("payload_type, units, watts, interval, expected", [
    ("USAGE", "WH", 1000.0, 15.0, 1000 * 15 / 3600),          # 4.1666… Wh
    ("USAGE", "KWH", 1000.0, 15.0, 1000 * 15 / 3600 / 1000),  # 0.0041666… kWh
    ("USAGE", "MWH", 2e6, 3600.0, 2.0),
    ("USAGE", "WH", 250.0, 900.0, 62.5),
    ("DEMAND", "W", 1234.5, 15.0, 1234.5),
    ("DEMAND", "KW", 1234.5, 15.0, 1.2345),
    ("DEMAND", "MW", 3e6, 15.0, 3.0),
])
def test_units_convert_watts(payload_type, units, watts, interval, expected):
    spec = spec_of(payload_type, units, interval)
    assert spec.units == units and spec.payload_type == payload_type
    assert watts * spec.factor == pytest.approx(expected, rel=1e-12)


def test_defaults_and_reading_types():
    usage, demand = payload_specs([{"payloadType": "usage"}, {"payloadType": "DEMAND"}], 15)
    assert (usage.units, usage.reading_type) == ("KWH", "DIRECT_READ")
    assert (demand.units, demand.reading_type) == ("KW", "MEAN")
    assert usage.descriptor() == {"objectType": "REPORT_PAYLOAD_DESCRIPTOR", "payloadType": "USAGE",
                                  "readingType": "DIRECT_READ", "units": "KWH"}


def test_models_and_dicts_give_the_same_specs():
    models = [ReportDescriptor(payload_type="USAGE", units="WH", reading_type="SUMMED")]
    dicts = [{"payloadType": "USAGE", "units": "WH", "readingType": "SUMMED"}]
    assert payload_specs(models, 15) == payload_specs(dicts, 15)


def test_unsupported_payloads_and_units_are_warned_and_skipped():
    warnings: list[str] = []
    specs = payload_specs([{"payloadType": "STORAGE_CHARGE_LEVEL"}, {"payloadType": "USAGE", "units": "KW"},
                           {"payloadType": "DEMAND", "units": "KW"}, {"payloadType": "DEMAND", "units": "KW"}],
                          15, warn=warnings.append)
    assert [(s.payload_type, s.units) for s in specs] == [("DEMAND", "KW")]  # the duplicate is dropped
    assert any("STORAGE_CHARGE_LEVEL" in w for w in warnings) and any("KW cannot express USAGE" in w for w in warnings)


def test_build_reports_wire_format_and_missing_values():
    specs = payload_specs([{"payloadType": "USAGE", "units": "WH"}, {"payloadType": "DEMAND", "units": "W"}], 15)
    reports = build_reports(ven="Aalborg", program_id="p1", event_id="e1", specs=specs, start=START,
                            interval_seconds=15, names=np.array(["a", "b", "c"], dtype=object),
                            power_w=np.array([3600.0, np.nan, 120.0]))
    assert len(reports) == 1
    report = reports[0]
    Report.model_validate(report)
    assert (report["programID"], report["eventID"], report["clientName"]) == ("p1", "e1", "Aalborg")
    assert report["reportName"].startswith("Aalborg:e1:2025-01-15T13:00:00Z:")
    assert [r["resourceName"] for r in report["resources"]] == ["a", "c"]  # no value: left out, never a zero
    first = report["resources"][0]
    assert first["intervalPeriod"] == {"start": "2025-01-15T13:00:00Z", "duration": "PT15S"}
    assert first["intervals"] == [{"id": 0, "payloads": [{"type": "USAGE", "values": [15.0]},
                                                         {"type": "DEMAND", "values": [3600.0]}]}]
    assert [d["payloadType"] for d in report["payloadDescriptors"]] == ["USAGE", "DEMAND"]


def test_nothing_to_report_gives_no_report():
    specs = payload_specs([{"payloadType": "USAGE"}], 15)
    kwargs = dict(ven="v", program_id="p", event_id="e", start=START, interval_seconds=15)
    assert build_reports(specs=specs, names=np.array(["a"], dtype=object), power_w=np.array([np.nan]), **kwargs) == []
    assert build_reports(specs=[], names=np.array(["a"], dtype=object), power_w=np.array([1.0]), **kwargs) == []


def test_chunks_split_resources_and_keep_unique_names():
    specs = payload_specs([{"payloadType": "DEMAND", "units": "W"}], 15)
    names = np.array([f"r{i}" for i in range(7)], dtype=object)
    reports = build_reports(ven="v", program_id="p", event_id="e", specs=specs, start=START, interval_seconds=15,
                            names=names, power_w=np.arange(7, dtype=float), max_resources=3)
    assert [len(r["resources"]) for r in reports] == [3, 3, 1]
    assert [res["resourceName"] for r in reports for res in r["resources"]] == list(names)
    base = reports[0]["reportName"][:-2]
    assert [r["reportName"] for r in reports] == [f"{base}#0", f"{base}#1", f"{base}#2"]
    again = build_reports(ven="v", program_id="p", event_id="e", specs=specs, start=START, interval_seconds=15,
                          names=names, power_w=np.arange(7, dtype=float), max_resources=3)
    assert again[0]["reportName"] != reports[0]["reportName"]  # unique per build: a resend is recognisable


def test_small_energies_keep_their_precision():
    """A 1 W load over 15 s is 4.1667e-6 kWh: rounding to decimal places would report 4e-6 (4 % off)."""
    specs = payload_specs([{"payloadType": "USAGE", "units": "KWH"}], 15)
    watts = np.array([1.0, 20.0, 0.37, 12345.678])
    report = build_reports(ven="v", program_id="p", event_id="e", specs=specs, start=START, interval_seconds=15,
                           names=np.array(list("abcd"), dtype=object), power_w=watts)[0]
    values = [res["intervals"][0]["payloads"][0]["values"][0] for res in report["resources"]]
    assert values == pytest.approx((watts * 15 / 3600 / 1000).tolist(), rel=1e-8)


def test_significant_rounding():
    values = np.array([0.0, np.nan, 1 / 3, -2 / 3 * 1e-7, 123456789.123])
    out = significant(values, 4)
    assert out[0] == 0 and np.isnan(out[1])
    assert out[2:].tolist() == [0.3333, -6.667e-8, 123500000.0]


def test_reporter_rejects_an_unknown_level():
    with pytest.raises(ValueError, match="reporting.level"):
        Reporter(interval_seconds=15, level="site")


def test_reporter_warns_once_per_unsupported_descriptor(caplog):
    from venclient.engine.collect import CollectionPlan
    from venclient.openadr import Event

    reporter = Reporter(interval_seconds=15)
    event = Event(id="e", program_id="p", intervals=[], report_descriptors=[ReportDescriptor(payload_type="PRICE")])
    plan = CollectionPlan.empty()
    readings = type("R", (), {"quality": np.zeros(0, dtype=np.uint8), "power_w": np.zeros(0)})()
    with caplog.at_level(logging.WARNING, logger="venclient.engine.report"):
        for _ in range(3):
            assert reporter.build(START, readings, plan, [event]) == []
    assert len([r for r in caplog.records if "PRICE" in r.getMessage()]) == 1


def test_report_text_is_json_of_the_same_report_with_any_names():
    specs = payload_specs([{"payloadType": "USAGE", "units": "WH"}, {"payloadType": "DEMAND", "units": "KW"}], 15)
    names = np.array(['quote"d', "back\\slash", "100%_load_0", "Ålborg ☀", "tab\tname"], dtype=object)
    [wire] = encode_reports(ven='V "1"', program_id="p-1", event_id="e_1", specs=specs, start=START,
                            interval_seconds=15, names=names, power_w=np.array([1.5, 2e-9, 3e6, np.inf, 5.0]))
    report = json.loads(wire.json)  # strict JSON (the standard library's parser)
    Report.model_validate(report)
    assert report == wire.to_dict()
    assert (wire.ven, wire.program_id, wire.event_id, wire.resources) == ('V "1"', "p-1", "e_1", 4)
    assert report["reportName"] == wire.report_name and report["clientName"] == 'V "1"'
    assert [r["resourceName"] for r in report["resources"]] == ['quote"d', "back\\slash", "100%_load_0", "tab\tname"]
    assert [r["intervals"][0]["payloads"] for r in report["resources"]][1] == [
        {"type": "USAGE", "values": [pytest.approx(2e-9 * 15 / 3600)]}, {"type": "DEMAND", "values": [2e-12]}]


@pytest.mark.parametrize("resource_id", ["plain-id", 'quote"d', "back\\slash", "tab\tid", "Ålborg ☀"])
def test_reporter_names_loads_by_resource_name_whatever_the_id_holds(resource_id):
    from venclient.engine.collect import _build_plan
    from venclient.model import CollectionRow
    from venclient.openadr import Event

    rows = [CollectionRow(f"l{i}", resource_id, f"load_{i}", "m", None, "mp", "V1", "vtn" if i != 1 else None, "h5sim")
            for i in range(3)]
    plan = _build_plan([rows], lambda ids: {}, {"h5sim": object()})
    readings = type("R", (), {"quality": np.array([0, 0, 1], dtype=np.uint8), "power_w": np.array([4.0, 5.0, 6.0])})()
    event = Event(id="e", program_id="p", intervals=[],
                  report_descriptors=[ReportDescriptor(payload_type="DEMAND", units="W")])
    [wire] = Reporter(interval_seconds=15).build(START, readings, plan, [event])
    report = json.loads(wire.json)
    # load_1 is not registered, load_2 has no good reading: only load_0 is reported, under its resourceName.
    assert [(r["resourceName"], r["intervals"][0]["payloads"][0]["values"]) for r in report["resources"]] == [
        (f"{resource_id}_load_0", [4.0])]
    # At level resource the resource id itself is the name: the sum of its three loads, all read well.
    whole = type("R", (), {"quality": np.zeros(3, dtype=np.uint8), "power_w": np.array([4.0, 5.0, 6.0])})()
    [wire] = Reporter(interval_seconds=15, level="resource").build(START, whole, plan, [event])
    assert [(r["resourceName"], r["intervals"][0]["payloads"][0]["values"])
            for r in json.loads(wire.json)["resources"]] == [(resource_id, [15.0])]
