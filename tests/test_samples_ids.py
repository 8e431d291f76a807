"""Seeded ids: UUID4 strings and meter point ids; the plugins' hooks are registered."""

from __future__ import annotations

import uuid

import pytest

from venclient.errors import InputError
from venclient.plugin_manager import list_plugins
from venclient.plugins.h5_simulator.generator import write_meterdata
from venclient.plugins.samples.ids import make_rng, meter_point_ids, uuid4_strings


def test_uuid4_strings_are_valid_distinct_and_seeded():
    ids = uuid4_strings(make_rng(3), 5000)
    assert len(set(ids)) == 5000
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text
    assert uuid4_strings(make_rng(3), 5000) == ids
    assert uuid4_strings(make_rng(4), 10) != ids[:10]
    assert uuid4_strings(make_rng(3), 0) == []


def test_ascending_uuid4_strings_are_sorted():
    ids = uuid4_strings(make_rng(1), 2000, ascending=True)
    assert ids == sorted(ids) and len(set(ids)) == 2000
    assert all(uuid.UUID(t).version == 4 for t in ids)


def test_meter_point_ids_are_distinct_18_digit_seed_form():
    ids = meter_point_ids(make_rng(2), 3000)
    assert len(set(ids)) == 3000
    assert all(len(i) == 18 and i.isdigit() and i.startswith("707057500") for i in ids)


def test_meter_data_needs_a_meter_and_an_hour(tmp_path):
    for meters, hours in ((0, 5), (3, 0)):
        with pytest.raises(InputError, match="at least one meter and one hour"):
            write_meterdata(tmp_path / "x.h5", meters=meters, hours=hours)
    assert list(tmp_path.iterdir()) == []


def test_plugins_add_their_commands(runtime):
    hooks = {p.name: p.hooks for p in list_plugins(runtime.pm)}
    assert "ven_cli" in hooks["samples"] and "ven_cli" in hooks["h5_simulator"]
