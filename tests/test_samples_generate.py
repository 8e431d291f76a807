"""``ven samples generate``: a realistic, reproducible synthetic fleet."""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest

from venclient.plugins.samples.fleet import generate_fleet
from venclient.plugins.samples.subtypes import SUB_TYPES, quotas
from venclient.plugins.samples.towns import load_towns, parse_town

PRESETS = {  # seed 003
    "charging_station": (22.0, 100.0), "hotel": (50.0, 200.0), "swimming_pool": (50.0, 200.0),
    "industry": (100.0, 400.0), "school": (100.0, 400.0), "bar": (25.0, 100.0), "restaurant": (25.0, 100.0),
    "bakery": (25.0, 100.0),
}


@pytest.fixture(scope="module")
def big_fleet():
    return generate_fleet(19_402, seed=11)


def test_same_seed_same_fleet_other_seed_other_fleet():
    assert generate_fleet(300, seed=5) == generate_fleet(300, seed=5)
    other = generate_fleet(300, seed=6)
    assert {r.resource_id for r in other}.isdisjoint({r.resource_id for r in generate_fleet(300, seed=5)})


def test_sub_types_in_the_seeds_proportions(big_fleet):
    assert quotas(9714) == [s.seed_count for s in SUB_TYPES]
    counts = Counter(r.resource_sub_type for r in big_fleet)
    total = sum(s.seed_count for s in SUB_TYPES)
    for sub_type in SUB_TYPES:
        assert abs(counts[sub_type.name] - 19_402 * sub_type.seed_count / total) <= 1


def test_types_capacities_ids_and_locations(big_fleet):
    towns = {t.name: t for t in load_towns()}
    for r in big_fleet:
        assert r.resource_type == ("EV" if r.resource_sub_type == "charging_station" else "DSR")
        max_kw, storage = PRESETS[r.resource_sub_type]
        assert r.capacities == {"MAX_POWER_CONSUMPTION": max_kw, "MAX_POWER_EXPORT": 0.0,
                                "STORAGE_MIN_KWH": 0.0, "STORAGE_MAX_KWH": storage}
        assert uuid.UUID(r.resource_id).version == 4
        assert len(r.meter_point_id) == 18 and r.meter_point_id.startswith("707057500")
        assert r.meter_point_id.isdigit()
        assert set(r.location) == {"longitude", "latitude"}
        town = towns[r.ven]
        assert abs(r.location["latitude"] - town.latitude) < 0.5
        assert abs(r.location["longitude"] - town.longitude) < 0.8
        assert parse_town(r.address) == r.ven and f", {town.postcode} " in r.address
        assert r.resource_name and r.registration_status == "PENDING"
    assert len({r.resource_id for r in big_fleet}) == len(big_fleet)
    assert len({r.meter_point_id for r in big_fleet}) == len(big_fleet)


def test_big_towns_hold_the_most_resources(big_fleet):
    per_ven = Counter(r.ven for r in big_fleet)
    towns = load_towns()  # largest first
    assert len(per_ven) >= 150
    top_ten = {ven for ven, _ in per_ven.most_common(10)}
    assert top_ten <= {t.name for t in towns[:20]}
    smallest_big = min(per_ven[t.name] for t in towns[:5])
    assert smallest_big > max(per_ven[t.name] for t in towns[-50:])
    for name in ("Aalborg", "Aarhus", "Randers", "Vejle", "Herning"):
        assert per_ven[name] > per_ven[towns[len(towns) // 2].name]


def test_cli_generates_into_the_store(ven, store):
    result = ven("samples", "generate", "--resources", "40", "--seed", "3", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["resources"] == 40 and data["seed"] == 3
    assert store.count_resources() == 40
    assert sorted(store.resource_ids()) == sorted(r.resource_id for r in generate_fleet(40, seed=3))


def test_cli_prints_a_summary_and_the_seed_it_chose(ven, store):
    result = ven("samples", "generate", "-n", "25")
    assert result.exit_code == 0, result.stderr
    assert "Generated 25 resources" in result.out and "seed" in result.out
    assert store.count_resources() == 25


def test_cli_refuses_a_populated_store_without_append(ven, store):
    assert ven("samples", "generate", "-n", "20", "--seed", "1").exit_code == 0
    before = store.resource_ids()
    refused = ven("samples", "generate", "-n", "20", "--seed", "2")
    assert refused.exit_code == 2
    assert "The store already holds 20 resources; pass --append to add more" in refused.err
    assert "Traceback" not in refused.stderr
    assert store.resource_ids() == before
    appended = ven("samples", "generate", "-n", "20", "--seed", "2", "--append")
    assert appended.exit_code == 0, appended.stderr
    assert store.count_resources() == 40


def test_cli_append_with_the_same_seed_is_a_duplicate_and_changes_nothing(ven, store):
    assert ven("samples", "generate", "-n", "20", "--seed", "1").exit_code == 0
    before = store.resource_ids()
    again = ven("samples", "generate", "-n", "20", "--seed", "1", "--append")
    assert again.exit_code == 2
    assert "already exists" in again.err and any(rid in again.err for rid in before)
    assert store.resource_ids() == before


@pytest.mark.parametrize("count", ["0", "-5", "many"])
def test_cli_rejects_a_bad_count(ven, store, count):
    result = ven("samples", "generate", "--resources", count)
    assert result.exit_code == 2
    assert "--resources" in result.err
    assert store.count_resources() == 0
