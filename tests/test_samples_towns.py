"""The towns data file and parsing the town (VEN) out of an address."""

from __future__ import annotations

import pytest

from venclient.plugins.samples.towns import load_towns, parse_town, town_weights


def test_at_least_150_real_towns_with_sane_data():
    towns = load_towns()
    assert len(towns) >= 150
    assert len({t.name for t in towns}) == len(towns)
    assert len({t.postcode for t in towns}) == len(towns)
    for town in towns:
        assert town.postcode.isdigit() and len(town.postcode) == 4, town
        assert 54.5 <= town.latitude <= 57.8 and 8.0 <= town.longitude <= 15.2, town  # inside Denmark
        assert town.population > 0, town
    names = {t.name for t in towns}
    assert {"København", "Aarhus", "Odense", "Aalborg", "Herning", "Randers", "Vejle", "Viborg"} <= names


def test_weights_favour_big_towns_and_sum_to_one():
    towns = load_towns()
    weights = town_weights(towns)
    assert weights.sum() == pytest.approx(1.0)
    assert list(weights) == sorted(weights, reverse=True)  # towns come largest first


@pytest.mark.parametrize("address, town", [
    ("Vestergade 5, 7400 Herning", "Herning"),
    ("Nørregade 1, 1165 København K, Denmark", "København"),
    ("Banegårdspladsen 1, 8000 Aarhus C", "Aarhus"),
    ("Rugårdsvej 3, 5230 Odense M", "Odense"),
    ("Hobrovej 10, 9220 Aalborg Øst", "Aalborg"),
    ("Søndergade 2, 8000 Århus C", "Aarhus"),
    ("Torvet 2, 4800 Nykøbing F", "Nykøbing F"),
    ("Algade 3, 7900 Nykøbing M", "Nykøbing M"),
    ("Skolegade 4, 8260 Viby J", "Viby J"),
    ("Lyngby Hovedgade 1, 2800 Kongens Lyngby", "Kongens Lyngby"),
    ("Storegade 7, DK-6200 Aabenraa", "Aabenraa"),
    ("Storegade 7 6200 Aabenraa", "Aabenraa"),
])
def test_town_is_the_name_after_the_postcode(address, town):
    assert parse_town(address) == town


@pytest.mark.parametrize("address", ["", "Vestergade 5", "Industrivej 12, 8000", "Herning", "12, 7400, 9"])
def test_no_town_without_postcode_and_name(address):
    assert parse_town(address) is None


def test_every_town_parses_back_from_its_address():
    for town in load_towns():
        assert parse_town(f"Torvet 1, {town.postcode} {town.name}") == town.name
