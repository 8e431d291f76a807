"""A realistic synthetic fleet without CSV files: businesses spread over real Danish towns.

Towns are drawn with :func:`venclient.plugins.samples.towns.town_weights` (big towns hold the most resources),
sub-types in the seeds' proportions, plausible names and addresses ("Vestergade 12, 7400 Herning"), the
location scattered around the town centre by town size.  The same seed gives the same fleet.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from venclient.model import Resource
from venclient.plugins.samples.build import Site, build_resources
from venclient.plugins.samples.ids import make_rng
from venclient.plugins.samples.subtypes import SUB_TYPES, SubType, quotas
from venclient.plugins.samples.towns import Town, load_towns, parse_town, town_weights

STREETS = (
    "Vestergade", "Østergade", "Nørregade", "Søndergade", "Algade", "Storegade", "Torvet", "Kirkegade",
    "Jernbanegade", "Stationsvej", "Skolegade", "Møllevej", "Kirkevej", "Havnegade", "Strandvejen",
    "Bredgade", "Adelgade", "Slotsgade", "Parkvej", "Skovvej", "Engvej", "Bakkevej", "Ringvejen",
    "Hovedgaden", "Bygaden", "Nygade", "Tværgade", "Grønnegade", "Lindevej", "Birkevej", "Bøgevej",
    "Egevej", "Kastanievej", "Rosenvænget", "Vængevej", "Sønderbrogade", "Frederiksgade", "Kongensgade",
    "Dronningensgade", "Kannikegade", "Klostergade", "Amagertorv", "Banegårdspladsen", "Åboulevarden",
)
INDUSTRIAL_STREETS = (
    "Industrivej", "Erhvervsvej", "Fabriksvej", "Håndværkervej", "Værkstedsvej", "Lagervej",
    "Transportvej", "Smedevej", "Mekanikervej", "Energivej", "Produktionsvej", "Teknikervej",
)
WORDS = (
    "Kronen", "Ankeret", "Møllen", "Stjernen", "Havnen", "Nordlys", "Solsikken", "Kastanjen", "Egetræet",
    "Lærken", "Svanen", "Fyrtårnet", "Rosen", "Bøgen", "Anemonen", "Ørnen", "Vinden", "Bølgen", "Tårnet",
    "Engen", "Søen", "Skoven", "Bakken", "Lyngen", "Hjørnet", "Torvet", "Kilden", "Klinten", "Lunden",
)
NAME_TEMPLATES: dict[str, tuple[str, ...]] = {
    "restaurant": ("Restaurant {word}", "Café {word}", "{word} Spisehus", "Pizzeria {word}",
                   "{town} Brasserie", "Sushi {word}", "Grillen {town}", "Restaurant {street}"),
    "industry": ("{word} A/S", "{town} Maskinfabrik", "{word} Plast ApS", "{town} Stål A/S",
                 "{word} Emballage", "Nordisk {word} Industri", "{town} Træ & Byg", "{word} Elektronik ApS"),
    "charging_station": ("Ladestation {street}", "Ladepark {town} {word}", "{town} Lynlader",
                         "Ladeplads {street}", "El-ladestander {town} {street}"),
    "hotel": ("Hotel {word}", "Hotel {town}", "{town} Kro", "{word} Badehotel", "Hotel {street}",
              "{town} Vandrerhjem", "Kongens {word} Hotel"),
    "school": ("{town} Skole", "{word}skolen", "{town} Gymnasium", "{word} Friskole", "{town} Efterskole",
               "{town} Tekniske Skole", "{street}s Skole"),
    "bar": ("{word} Bar", "Bodega {word}", "{town} Bryghus", "{word} Pub", "Cocktailbar {word}",
            "Værtshuset {word}", "Vinbar {street}"),
    "bakery": ("{town} Bageri", "Bager {word}", "{word} Bageri", "Konditori {word}", "{street} Bageri",
               "Det Gode {word}bageri"),
    "swimming_pool": ("{town} Svømmehal", "{town} Friluftsbad", "{word} Svømmebad", "{town} Badeland",
                      "{town} Vandkulturhus"),
}
# The postal names of the towns whose main postcode is a district ("1050 København K"); the VEN drops it.
POSTAL_DISTRICT = {"København": "K", "Frederiksberg": "C", "Aarhus": "C", "Odense": "C"}
KM_PER_DEGREE_LATITUDE = 111.32


def _scatter_km(population: np.ndarray) -> np.ndarray:
    """Standard deviation (km) of a site's distance from its town centre, growing with town size."""
    return 0.4 + 2.0 * np.sqrt(population / 100_000.0)


def _format_name(template: str, town: Town, street: str, word: str) -> str:
    return template.format(town=town.name, street=street, word=word)


def generate_fleet(count: int, seed: int | None = None, *, towns: Sequence[Town] | None = None,
                   progress: Callable[[int], None] | None = None) -> list[Resource]:
    """``count`` synthetic resources; the same ``seed`` (and towns) gives the same resources.

    ``towns`` defaults to every town of ``danish_towns.csv``; pass a few to make a small fleet with few
    VENs.  ``progress(n)`` is called as sites are built (n = sites built since the last call).
    """
    if count < 0:
        raise ValueError("count must not be negative")
    town_list = list(towns) if towns is not None else load_towns()
    rng = make_rng(seed)

    sub_type_index = np.repeat(np.arange(len(SUB_TYPES)), quotas(count))
    rng.shuffle(sub_type_index)
    town_index = rng.choice(len(town_list), size=count, p=town_weights(town_list))
    population = np.array([t.population for t in town_list], dtype=np.float64)[town_index]
    offsets_km = rng.normal(size=(count, 2)) * _scatter_km(population)[:, None]
    house_numbers = np.minimum(1 + rng.geometric(0.04, size=count), 250)
    street_pick = rng.random(count)
    word_pick = rng.integers(0, len(WORDS), size=count)
    template_pick = rng.random(count)

    sites: list[Site] = []
    step = max(1, count // 50)
    for i in range(count):
        town = town_list[town_index[i]]
        sub_type: SubType = SUB_TYPES[sub_type_index[i]]
        streets = INDUSTRIAL_STREETS if sub_type.name == "industry" else STREETS
        street = streets[int(street_pick[i] * len(streets))]
        templates = NAME_TEMPLATES[sub_type.name]
        title = _format_name(templates[int(template_pick[i] * len(templates))], town, street, WORDS[word_pick[i]])
        postal_name = f"{town.name} {POSTAL_DISTRICT[town.name]}" if town.name in POSTAL_DISTRICT else town.name
        address = f"{street} {house_numbers[i]}, {town.postcode} {postal_name}"
        latitude = town.latitude + offsets_km[i, 0] / KM_PER_DEGREE_LATITUDE
        longitude = town.longitude + offsets_km[i, 1] / (KM_PER_DEGREE_LATITUDE * np.cos(np.radians(town.latitude)))
        sites.append(Site(title=title, address=address, ven=parse_town(address) or town.name,
                          longitude=float(longitude), latitude=float(latitude), sub_type=sub_type))
        if progress is not None and (i + 1) % step == 0:
            progress(step)
    if progress is not None and count % step:
        progress(count % step)
    return build_resources(sites, rng)
