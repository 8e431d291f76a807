"""What followers are told: :class:`venclient.engine.followed.Instructions` is a read-only mapping
``{load id: {payload type: value}}`` kept as groups of encoded ids sharing one values mapping; any follower can use
it like a dict."""

from __future__ import annotations

import pytest

from venclient.engine.followed import FollowGroup, Instructions, encode_ids


def told(groups: dict[tuple[str, ...], dict[str, float]]) -> Instructions:
    return Instructions(FollowGroup(encode_ids(ids), values) for ids, values in groups.items())


def test_instructions_read_like_the_dict_of_the_same_loads():
    shed, capped = {"SIMPLE": 2.0}, {"SIMPLE": 1.0, "IMPORT_CAPACITY_LIMIT": 5000.0}
    instructions = told({("a-0", "a-1", "b-0"): shed, ("c-0", "Søby-1"): capped})
    expected = {"a-0": shed, "a-1": shed, "b-0": shed, "c-0": capped, "Søby-1": capped}
    assert len(instructions) == 5 and list(instructions) == list(expected)  # the groups' order
    assert instructions == expected and dict(instructions) == expected and expected == dict(instructions.items())
    assert instructions["c-0"] is capped and instructions["Søby-1"] is capped  # one mapping per group, not a copy
    assert "b-0" in instructions and "b" not in instructions and "b-00" not in instructions and 7 not in instructions
    assert instructions.get("zzz") is None and list(instructions.values()) == list(expected.values())
    with pytest.raises(KeyError):
        instructions["a-"]
    assert instructions != {**expected, "d-0": shed} and instructions != {"a-0": shed}


def test_empty_groups_and_groups_without_values_tell_nothing():
    assert told({("a-0",): {}, (): {"SIMPLE": 1.0}}) == {} and not told({("a-0",): {}})
    assert Instructions() == {} and len(Instructions()) == 0


def test_two_instructions_are_equal_when_their_groups_tell_the_same():
    ids = encode_ids(["a-0", "a-1"])
    same = Instructions([FollowGroup(ids, {"SIMPLE": 2.0})])
    assert same == Instructions([FollowGroup(encode_ids(["a-0", "a-1"]), {"SIMPLE": 2.0})])
    assert same != Instructions([FollowGroup(ids, {"SIMPLE": 1.0})])
    assert same != Instructions([FollowGroup(encode_ids(["a-1", "a-0"]), {"SIMPLE": 2.0})])
    assert same != Instructions([FollowGroup(encode_ids(["a-0"]), {"SIMPLE": 2.0})])


def test_ids_are_kept_as_one_compact_array_per_group():
    ids = [f"{n:08x}-b7cc-4577-9162-23fb28c035ac" for n in range(1000)]
    encoded = encode_ids(ids)
    assert encoded.dtype.itemsize == 36 and encoded.nbytes == 36_000  # 36 bytes a UUID, no str objects
    assert [raw.decode() for raw in encoded.tolist()] == ids
    assert encode_ids(["Søby"]).tolist() == ["Søby".encode()]  # not ASCII: UTF-8
