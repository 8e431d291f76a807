"""What a writer connection writes: the payload it follows, levels tables, scale and offset, release."""

from __future__ import annotations

import pytest

from venclient.engine.writer_mapping import chosen_payload, release_value, written_value


def test_default_follows_the_first_acted_on_numeric_payload():
    assert chosen_payload({}, {"PRICE": 0.3, "SIMPLE": 2}) == ("SIMPLE", 2.0)
    assert chosen_payload({}, {"PRICE": 0.3}) is None  # prices only when asked for
    assert chosen_payload({}, {"IMPORT_CAPACITY_LIMIT": 7.5, "CONTROL_SETPOINT": "eco"}) == (
        "IMPORT_CAPACITY_LIMIT", 7.5)


def test_a_connection_may_ask_for_one_payload_type():
    assert chosen_payload({"payload": "PRICE"}, {"PRICE": 0.3, "SIMPLE": 2}) == ("PRICE", 0.3)
    assert chosen_payload({"payload": "GHG"}, {"PRICE": 0.3}) is None
    assert chosen_payload({"payload": "SIMPLE"}, {"SIMPLE": True}) is None  # booleans are not levels


def test_levels_tables_map_values_with_string_or_number_keys():
    relay = {"levels": {"0": 1, "1": 1, "2": 0, "3": 0}}
    assert [written_value(relay, v) for v in (0, 1, 2, 3)] == [1.0, 1.0, 0.0, 0.0]
    assert written_value({"levels": {2: 40}}, 2.0) == 40.0
    assert written_value(relay, 7) is None


@pytest.mark.parametrize("params, value, written", [({}, 2.0, 2.0), ({"scale": 10}, 55.0, 550.0),
                                                    ({"scale": 1000, "offset": -5}, 7.5, 7495.0)])
def test_scale_and_offset(params, value, written):
    assert written_value(params, value) == written


def test_release_value():
    assert release_value({"release_value": "1"}) == 1.0 and release_value({}) is None
