"""Safe targeting: GROUP, POWER_SERVICE_LOCATION and PROGRAM targets resolve against the store; targets within an
event are a union; an event whose targets are all of types we cannot resolve targets no load and warns once;
`ven resources set-group` keeps the group and registration sends it as the GROUP attribute."""

from __future__ import annotations

import logging

from typer.testing import CliRunner

from venclient.cli.app import build_app
from venclient.engine.register import Registrar, resource_payload
from venclient.engine.targets import LoadDirectory
from venclient.model import Load, Resource
from venclient.openadr import Event, Program, ValuesMap


def _fleet(store):
    """V1: r1 (group north, meter mp-r1); V2: r2 (north), r3 (south); two loads each."""
    store.insert_resources([Resource(resource_id=r, resource_name=r, resource_type="house", resource_sub_type="villa",
                                     meter_point_id=f"mp-{r}", ven=v)
                            for r, v in (("r1", "V1"), ("r2", "V2"), ("r3", "V2"))])
    store.bulk_insert_loads([Load(load_id=f"{r}-{c}", resource_id=r, load_component=c, load_name=c, h5_meter_id="m")
                             for r in ("r1", "r2", "r3") for c in ("load_0", "load_1")])
    store.set_resource_group(["r1", "r2"], "north")
    store.set_resource_group(["r3"], "south")


def _event(*targets, event_id="e"):
    return Event(id=event_id, program_id="p", intervals=[],
                 targets=[ValuesMap(type=t, values=v) for t, v in targets] or None)


def _ids(selection):
    return [load.load_id for load in selection]


def test_group_targets_name_the_loads_of_the_resources_in_the_group(any_store):
    _fleet(any_store)
    directory = LoadDirectory(any_store, ["V1", "V2"])
    assert _ids(directory.targeted(_event(("GROUP", ["north"])))) == ["r1-load_0", "r1-load_1", "r2-load_0",
                                                                        "r2-load_1"]
    assert _ids(directory.targeted(_event(("GROUP", ["south", "west"])))) == ["r3-load_0", "r3-load_1"]
    assert _ids(directory.targeted(_event(("GROUP", ["west"])))) == []
    assert _ids(LoadDirectory(any_store, ["V2"]).targeted(_event(("GROUP", ["north"])))) == ["r2-load_0",
                                                                                               "r2-load_1"]


def test_power_service_location_targets_name_the_meter_point(any_store):
    _fleet(any_store)
    directory = LoadDirectory(any_store, ["V1", "V2"])
    assert _ids(directory.targeted(_event(("POWER_SERVICE_LOCATION", ["mp-r3", "mp-r1"])))) == [
        "r3-load_0", "r3-load_1", "r1-load_0", "r1-load_1"]
    assert _ids(directory.targeted(_event(("POWER_SERVICE_LOCATION", ["mp-elsewhere"])))) == []


def test_targets_within_an_event_are_a_union(any_store):
    _fleet(any_store)
    directory = LoadDirectory(any_store, ["V1", "V2"])
    union = directory.targeted(_event(("GROUP", ["south"]), ("RESOURCE_NAME", ["r1_load_0"]),
                                      ("POWER_SERVICE_LOCATION", ["mp-r3"])))
    assert _ids(union) == ["r3-load_0", "r3-load_1", "r1-load_0"]
    whole = directory.targeted(_event(("VEN_NAME", ["V1"]), ("GROUP", ["north"])))
    assert _ids(whole) == ["r1-load_0", "r1-load_1", "r2-load_0", "r2-load_1"]  # V1 whole, then r2 by group
    # a target of a type we cannot resolve names nothing, the others still count
    assert _ids(directory.targeted(_event(("SERVICE_AREA", ["x"]), ("GROUP", ["south"])))) == ["r3-load_0",
                                                                                                 "r3-load_1"]


def test_no_targets_is_every_load_of_our_vens(any_store):
    _fleet(any_store)
    assert len(LoadDirectory(any_store, ["V1", "V2"]).targeted(_event())) == 6
    assert len(LoadDirectory(any_store, ["V1"]).targeted(_event())) == 2
    directory = LoadDirectory(any_store, ["V1", "V2"])  # narrowed to some of our VENs (the scheduler's groups)
    assert _ids(directory.targeted(_event(("GROUP", ["north"])), vens=["V2"])) == ["r2-load_0", "r2-load_1"]
    assert len(directory.targeted(_event(), vens=["V1", "V9"])) == 2


def test_an_event_with_only_unresolvable_targets_targets_nothing_and_warns_once(any_store, caplog):
    _fleet(any_store)
    directory = LoadDirectory(any_store, ["V1", "V2"])
    event = Event(id="e-9", program_id="p", event_name="peak", intervals=[],
                  targets=[ValuesMap(type="SERVICE_AREA", values=["DK1"]), ValuesMap(type="GEO", values=["x"])])
    with caplog.at_level(logging.WARNING, logger="venclient.engine.targets"):
        assert len(directory.targeted(event)) == 0
        assert len(directory.targeted(event)) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "event 'peak' (e-9)" in warnings[0] and "GEO, SERVICE_AREA" in warnings[0]
    assert "no load" in warnings[0]


def test_a_programs_targets_narrow_its_events(any_store):
    _fleet(any_store)
    directory = LoadDirectory(any_store, ["V1", "V2"])
    program = Program(id="p", program_name="north-only", targets=[ValuesMap(type="GROUP", values=["north"])])
    assert _ids(directory.targeted(_event(), program)) == ["r1-load_0", "r1-load_1", "r2-load_0", "r2-load_1"]
    assert _ids(directory.targeted(_event(("VEN_NAME", ["V2"])), program)) == ["r2-load_0", "r2-load_1"]
    assert _ids(directory.targeted(_event(("GROUP", ["south"])), program)) == []
    by_ven = Program(id="p", program_name="v1", targets=[ValuesMap(type="VEN_NAME", values=["V1"])])
    assert _ids(directory.targeted(_event(("RESOURCE_NAME", ["r1_load_1", "r2_load_0"])), by_ven)) == ["r1-load_1"]
    assert len(directory.targeted(_event(), Program(id="p", program_name="all"))) == 6  # no program targets
    unknown = Program(id="p", program_name="area", targets=[ValuesMap(type="SERVICE_AREA", values=["DK1"])])
    assert len(directory.targeted(_event(), unknown)) == 0


def test_set_group_command_and_the_group_attribute_at_registration(runtime):
    store = runtime.store()
    _fleet(store)
    app, runner = build_app(runtime), CliRunner()
    result = runner.invoke(app, ["resources", "set-group", "r1", "r3", "east"], obj=runtime)
    assert result.exit_code == 0, result.output
    assert "2 resources now in group 'east'" in result.stdout
    assert store.resource_groups() == {"r1": "east", "r2": "north", "r3": "east"}
    result = runner.invoke(app, ["resources", "set-group", "r2", "--clear"], obj=runtime)
    assert result.exit_code == 0 and "r2" not in store.resource_groups()
    result = runner.invoke(app, ["resources", "set-group", "nope", "east"], obj=runtime)
    assert result.exit_code != 0 and "nope" in str(result.exception)
    rows = Registrar(store, transport=object())._rows_to_register("V2")  # type: ignore[arg-type]
    groups = {row["resource_id"]: row.get("group") for row in rows}
    assert groups == {"r2": None, "r3": "east"}
    attributes = resource_payload(rows[-1])["attributes"]
    assert {"type": "GROUP", "values": ["east"]} in attributes
    assert not any(a["type"] == "GROUP" for a in resource_payload(rows[0])["attributes"])
