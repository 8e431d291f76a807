"""Turn site descriptions (title, address, town, coordinates, sub-type) into :class:`venclient.model.Resource`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from venclient.model import Resource
from venclient.plugins.samples.ids import meter_point_ids, uuid4_strings
from venclient.plugins.samples.subtypes import SubType


@dataclass(frozen=True)
class Site:
    """One business before it becomes a resource; ``ven`` is its town."""

    title: str
    address: str
    ven: str
    longitude: float
    latitude: float
    sub_type: SubType


def build_resources(sites: Sequence[Site], rng: np.random.Generator) -> list[Resource]:
    """Resources for ``sites``: uuid4 ids, distinct meter points ``707057500…``, the sub-type's presets.

    Ids come from ``rng``, so the same generator state gives the same resources.
    """
    ids = uuid4_strings(rng, len(sites))
    meter_points = meter_point_ids(rng, len(sites))
    return [Resource(resource_id=rid, resource_name=site.title, resource_type=site.sub_type.resource_type,
                     resource_sub_type=site.sub_type.name, meter_point_id=meter_point, ven=site.ven,
                     capacities=site.sub_type.capacities(),
                     location={"longitude": round(site.longitude, 6), "latitude": round(site.latitude, 6)},
                     address=site.address)
            for rid, meter_point, site in zip(ids, meter_points, sites)]
