"""Danish towns (name, postcode, coordinates, population) and parsing the town out of an address.

Each town is one VEN in the sample fleet.  The data file ``danish_towns.csv`` beside this module lists
real towns with their main postcode, approximate centre coordinates and approximate population.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

TOWNS_FILE = Path(__file__).with_name("danish_towns.csv")

# Postal-district suffixes of the big cities ("København K", "Aarhus C", "Odense SØ", "Aalborg Øst"):
# they name a part of one town, so the VEN is the town without them.  Island/region markers that tell
# apart different towns of the same name ("Nykøbing F", "Nykøbing Sj", "Viby J") are kept; "Nykøbing M"
# (Mors) is kept although M is also Odense's district letter.
DISTRICT_SUFFIXES = frozenset({"C", "K", "V", "Ø", "N", "S", "M", "NV", "NØ", "SV", "SØ", "Øst", "Vest"})
KEEP_AS_IS = frozenset({"Nykøbing M"})
# Old spellings mapped to today's names so one town is one VEN.
ALIASES = {"Århus": "Aarhus", "Ålborg": "Aalborg", "Åbenrå": "Aabenraa", "Copenhagen": "København"}

_POSTCODE_TOWN = re.compile(r"(?:^|[\s,])(?:DK-?)?(\d{4})\s+([^\d,]*[^\W\d_][^\d,]*?)\s*(?=,|$)")


@dataclass(frozen=True)
class Town:
    """A real Danish town: main postcode, centre (WGS84 degrees) and approximate population."""

    name: str
    postcode: str
    latitude: float
    longitude: float
    population: int


def load_towns(path: Path = TOWNS_FILE) -> list[Town]:
    """The towns of ``path``, largest first (ties by name)."""
    with open(path, encoding="utf-8", newline="") as handle:
        towns = [Town(name=row["name"], postcode=row["postcode"], latitude=float(row["latitude"]),
                      longitude=float(row["longitude"]), population=int(row["population"]))
                 for row in csv.DictReader(handle)]
    return sorted(towns, key=lambda t: (-t.population, t.name))


def town_weights(towns: Sequence[Town], exponent: float = 0.6) -> np.ndarray:
    """Probabilities of a resource being in each town: population ** ``exponent``, normalised.

    A sub-linear exponent keeps the big towns on top while giving regional centres (Herning, Viborg,
    Holstebro …) the larger share of businesses they have per inhabitant; 0.6 is close to the seeds'
    fleet, where Aalborg (120k inhabitants) held 2.3 times the resources of Frederikshavn (23k).
    """
    weights = np.array([t.population for t in towns], dtype=np.float64) ** exponent
    return weights / weights.sum()


def parse_town(address: str) -> str | None:
    """The town in a Danish address: the words after the last 4-digit postcode, district suffix dropped.

    ``"Vestergade 5, 7400 Herning"`` → ``"Herning"``; ``"Nørregade 1, 1165 København K, Denmark"`` →
    ``"København"``; ``"Torvet 2, 4800 Nykøbing F"`` → ``"Nykøbing F"``.  ``None`` when there is none.
    """
    matches = _POSTCODE_TOWN.findall(address or "")
    if not matches:
        return None
    name = " ".join(matches[-1][1].split())
    words = name.split(" ")
    if len(words) > 1 and words[-1] in DISTRICT_SUFFIXES and name not in KEEP_AS_IS:
        name = " ".join(words[:-1])
    return ALIASES.get(name, name)
