"""``ven loads generate``: one H5 meter per resource, six loads each, in one transaction."""

from __future__ import annotations

import json
import uuid
from collections import Counter

import h5py
import numpy as np
import pytest

from venclient.errors import InputError
from venclient.model import LOAD_COMPONENTS
from fixtures.samples import small_fleet, write_small_h5
from venclient.plugins.samples.fleet import generate_fleet
from venclient.plugins.samples.loadgen import assign_meters, generate_loads, read_meter_ids


def snapshot(store) -> tuple:
    """Everything load generation may touch: loads and each resource's meter."""
    loads = sorted((l.load_id, l.resource_id, l.load_component, l.h5_meter_id) for l in store.list_loads())
    meters = sorted((r.resource_id, r.h5_meter_id) for r in store.list_resources())
    return loads, meters


def test_every_meter_used_and_balanced():
    rng = np.random.default_rng(1)
    meters = [f"m{i}" for i in range(153)]
    picks = assign_meters([f"r{i}" for i in range(1000)], meters, rng)
    counts = Counter(picks)
    assert set(counts) == set(meters) and max(counts.values()) - min(counts.values()) <= 1
    few = assign_meters(["a", "b", "c"], meters, rng)
    assert len(set(few)) == 3


def test_six_named_loads_per_resource(sample_fleet, store):
    assert sample_fleet.loads == 60 * 6 and store.count_loads() == 360
    for resource in store.list_resources():
        loads = store.get_loads_by_resource(resource.resource_id)
        assert [(l.load_component, l.load_name) for l in loads] == list(LOAD_COMPONENTS.items())
        assert {l.h5_meter_id for l in loads} == {resource.h5_meter_id}
        assert resource.h5_meter_id in sample_fleet.meter_ids
        assert all(uuid.UUID(l.load_id).version == 4 and l.registration_status == "PENDING" for l in loads)
    assert {r.h5_meter_id for r in store.list_resources()} == set(sample_fleet.meter_ids)  # all 8 used
    assert len(sample_fleet.vens) == 4


def test_same_seed_same_assignment(store, tmp_path, settings):
    fleet = small_fleet(store, settings.h5_simulator.h5_path, resources=30, seed=3, with_loads=False)
    first = generate_loads(store, fleet.h5_path, seed=8)
    loads_a, meters_a = snapshot(store)
    second = generate_loads(store, fleet.h5_path, seed=8, force=True)
    assert second.replaced == first.loads == 180
    assert snapshot(store) == (loads_a, meters_a)


def test_cli_refuses_existing_loads_unless_forced(ven, sample_fleet, store):
    before = snapshot(store)
    refused = ven("loads", "generate")
    assert refused.exit_code == 2
    assert "The store already holds 360 loads; pass --force to replace them all." in refused.err
    assert snapshot(store) == before
    forced = ven("loads", "generate", "--force", "--seed", "2")
    assert forced.exit_code == 0, forced.stderr
    assert "Created 360 loads for 60 resources from 8 of 8 meters, replacing 360" in forced.out
    assert "Loads by component" in forced.stdout
    assert store.count_loads() == 360
    assert {l.load_id for l in store.list_loads()}.isdisjoint({row[0] for row in before[0]})


def test_cli_json_has_the_statistics(ven, store, sample_h5):
    store.insert_resources(generate_fleet(12, seed=4))
    result = ven("loads", "generate", "--seed", "1", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["generation"]["loads"] == 72 and data["generation"]["meters_used"] == 8
    assert data["statistics"]["loads_by_component"] == {c: 12 for c in LOAD_COMPONENTS}


def test_cli_missing_h5_file_changes_nothing(ven, store, settings):
    store.insert_resources(generate_fleet(5, seed=1))
    before = snapshot(store)
    result = ven("loads", "generate")
    assert result.exit_code == 2
    assert f"The meter data file {settings.h5_simulator.h5_path} does not exist" in result.err
    assert snapshot(store) == before and store.count_loads() == 0


@pytest.mark.parametrize("case, message", [
    ("text", "is not a readable HDF5 file"),
    ("no_meters_group", "has no 'meters' group"),
    ("empty_meters_group", "holds no meters"),
    ("directory", "is a directory, not an HDF5 file"),
])
def test_cli_unusable_h5_file_changes_nothing(ven, store, settings, case, message):
    from pathlib import Path

    path = Path(settings.h5_simulator.h5_path)
    if case == "text":
        path.write_text("meter,watts\n1,2\n")
    elif case == "directory":
        path.mkdir()
    else:
        with h5py.File(path, "w") as h5:
            h5.create_group("other" if case == "no_meters_group" else "meters")
    store.insert_resources(generate_fleet(5, seed=1))
    before = snapshot(store)
    result = ven("loads", "generate")
    assert result.exit_code == 2 and f"The meter data file {path} {message}" in result.err
    assert "Traceback" not in result.stderr
    assert snapshot(store) == before


def test_cli_without_resources_says_so(ven, store, sample_h5):
    result = ven("loads", "generate")
    assert result.exit_code == 2 and "The store has no resources" in result.err
    assert store.count_loads() == 0


def test_meter_ids_from_attribute_or_group_name(tmp_path):
    path = tmp_path / "mixed.h5"
    with h5py.File(path, "w") as h5:
        meters = h5.create_group("meters")
        meters.create_group("meter_707057500000000001")  # no attribute: the group name counts
        named = meters.create_group("meter_a")
        named.attrs["meter_id"] = "707057500000000002"  # the attribute wins
        meters.create_dataset("not_a_meter", data=[1])
    assert read_meter_ids(path) == ["707057500000000001", "707057500000000002"]


def test_generated_meter_ids_are_read_back(tmp_path):
    ids = write_small_h5(tmp_path / "x.h5", meters=5, hours=3)
    assert read_meter_ids(tmp_path / "x.h5") == ids


def test_the_seeds_fleet_size(ven, store):
    """19,402 resources → 116,412 loads, 19,402 per component, all 153 meters used (few hours keep it quick)."""
    assert ven("meterdata", "generate", "--meters", "153", "--hours", "3", "--seed", "1").exit_code == 0
    assert ven("samples", "generate", "--resources", "19402", "--seed", "1").exit_code == 0
    result = ven("loads", "generate", "--seed", "1", "--json")
    assert result.exit_code == 0, result.stderr
    stats = json.loads(result.stdout)["statistics"]
    assert stats["resources"] == 19_402 and stats["loads"] == 116_412
    assert stats["loads_by_component"] == {c: 19_402 for c in LOAD_COMPONENTS}
    assert stats["unique_h5_meters"] == 153 and stats["resources_with_h5_meter"] == 19_402
    assert stats["vens"] >= 150


def test_generate_loads_refuses_before_touching_the_store(store, sample_h5):
    with pytest.raises(InputError, match="no resources"):
        generate_loads(store, sample_h5)
