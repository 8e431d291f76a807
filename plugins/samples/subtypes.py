"""The eight sample sub-types: their names, resource type, share of the seeds' fleet and capacity presets.

Capacities follow seed 003 ("EV chargers 22 kW max, 0-100 kWh; hotels/pools 50 kW, 0-200 kWh;
industries/schools 100 kW, 0-400 kWh; bars/restaurants 25 kW, 0-100 kWh"; bakeries get the
bars/restaurants preset).  Keys are OpenADR-style upper-case names: ``MAX_POWER_CONSUMPTION`` and
``MAX_POWER_EXPORT`` are the OpenADR 3 resource attributes (kW); ``STORAGE_MIN_KWH`` / ``STORAGE_MAX_KWH``
carry the seeds' energy range, for which OpenADR defines no attribute.  None of these sites export power,
so ``MAX_POWER_EXPORT`` is 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

EV = "EV"
DSR = "DSR"


@dataclass(frozen=True)
class SubType:
    """One sub-type: ``name`` is the stored ``resource_sub_type``; ``slug`` its asset-file prefix."""

    name: str
    slug: str
    resource_type: str
    seed_count: int
    max_power_kw: float
    storage_max_kwh: float

    def capacities(self) -> dict[str, Any]:
        """A fresh capacities dict for one resource of this sub-type."""
        return {"MAX_POWER_CONSUMPTION": self.max_power_kw, "MAX_POWER_EXPORT": 0.0,
                "STORAGE_MIN_KWH": 0.0, "STORAGE_MAX_KWH": self.storage_max_kwh}


# Ordered by the seeds' counts (seed 003: 9,714 resources).
SUB_TYPES: tuple[SubType, ...] = (
    SubType("restaurant", "restaurants", DSR, 1590, 25.0, 100.0),
    SubType("industry", "industries", DSR, 1564, 100.0, 400.0),
    SubType("charging_station", "chargingstations", EV, 1541, 22.0, 100.0),
    SubType("hotel", "hotels", DSR, 1507, 50.0, 200.0),
    SubType("school", "schools", DSR, 1278, 100.0, 400.0),
    SubType("bar", "bars", DSR, 1056, 25.0, 100.0),
    SubType("bakery", "bakeries", DSR, 842, 25.0, 100.0),
    SubType("swimming_pool", "swimmingpools", DSR, 336, 50.0, 200.0),
)

ASSET_FILE_PATTERN = re.compile(r"^(?P<slug>.+?)-in-denmark\.csv$", re.IGNORECASE)


def subtype_by_slug(slug: str) -> SubType | None:
    """The sub-type for an asset-file prefix, ignoring case, ``-``, ``_`` and spaces (``charging_stations``)."""
    key = re.sub(r"[-_\s]", "", slug).lower()
    return next((s for s in SUB_TYPES if s.slug == key), None)


def subtype_for_file(file_name: str) -> SubType | None:
    """The sub-type named by an asset file ``<subtype>-in-denmark.csv``, or ``None``."""
    match = ASSET_FILE_PATTERN.match(file_name)
    return subtype_by_slug(match["slug"]) if match else None


def quotas(total: int) -> list[int]:
    """Split ``total`` resources over :data:`SUB_TYPES` in the seeds' proportions (largest remainder)."""
    weights = [s.seed_count for s in SUB_TYPES]
    whole = sum(weights)
    exact = [total * w / whole for w in weights]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts
