"""Load generation: give every resource an H5 meter and create its six load components.

The meter ids come from the HDF5 file (:mod:`venclient.plugins.h5_simulator.layout`: ``meters/meter_<id>``
groups; the ``meter_id`` attribute wins over the group name).  Assignment is random but balanced: with at least as many resources as meters
every meter is used, and no meter serves more than one resource above any other.  Everything is
written in one store transaction (``assign_meters_and_insert_loads``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from venclient.errors import InputError
from venclient.model import LOAD_COMPONENTS
from venclient.plugins.samples.ids import make_rng, uuid4_strings


def read_meter_ids(h5_path: str | Path) -> list[str]:
    """The sorted, distinct meter ids of an H5 meter-data file; :class:`InputError` naming the path if unusable."""
    import h5py

    from venclient.plugins.h5_simulator.layout import METERS_GROUP, meter_id_of

    path = Path(h5_path)
    if not path.exists():
        raise InputError(f"The meter data file {path} does not exist; create it with `ven meterdata generate`.")
    if path.is_dir():
        raise InputError(f"The meter data file {path} is a directory, not an HDF5 file.")
    try:
        with h5py.File(path, "r") as h5:
            meters = h5.get(METERS_GROUP)
            if not isinstance(meters, h5py.Group):
                raise InputError(f"The meter data file {path} has no '{METERS_GROUP}' group.")
            ids = {meter_id_of(name, group) for name, group in meters.items() if isinstance(group, h5py.Group)}
            ids.discard("")
    except OSError as err:
        raise InputError(f"The meter data file {path} is not a readable HDF5 file ({err}).") from None
    if not ids:
        raise InputError(f"The meter data file {path} holds no meters (no meters/meter_<id> groups).")
    return sorted(ids)


def assign_meters(resource_ids: list[str], meter_ids: list[str], rng: np.random.Generator) -> list[str]:
    """One meter per resource, aligned with ``resource_ids``: each meter used ⌊n/m⌋ or ⌈n/m⌉ times.

    With fewer resources than meters each resource gets a different meter.
    """
    order = rng.permutation(len(meter_ids))
    picks = np.resize(order, len(resource_ids))  # the permutation tiled: every meter before any repeats
    rng.shuffle(picks)
    return [meter_ids[i] for i in picks.tolist()]


def plan_loads(resource_ids: list[str], resource_meters: list[str],
               rng: np.random.Generator) -> list[tuple[str, str, str, str, str]]:
    """Six load rows per resource: ``(load_id, resource_id, load_component, load_name, h5_meter_id)``.

    The random UUID4 load ids are handed out in ascending order along ``resource_ids`` (pass them
    sorted): the store's unique index on ``load_id`` is then appended to instead of written all over,
    which makes the bulk insert of 116k loads about a third faster.
    """
    per_resource = len(LOAD_COMPONENTS)
    count = len(resource_ids) * per_resource
    load_ids = uuid4_strings(rng, count, ascending=True)
    repeated_ids = np.repeat(np.array(resource_ids, dtype=object), per_resource).tolist()
    repeated_meters = np.repeat(np.array(resource_meters, dtype=object), per_resource).tolist()
    return list(zip(load_ids, repeated_ids, list(LOAD_COMPONENTS) * len(resource_ids),
                    list(LOAD_COMPONENTS.values()) * len(resource_ids), repeated_meters))


@dataclass(frozen=True)
class LoadGeneration:
    """What ``generate_loads`` did."""

    resources: int
    meters_available: int
    meters_used: int
    loads: int
    replaced: int
    seed: int | None
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return asdict(self)


def generate_loads(store: Any, h5_path: str | Path, *, seed: int | None = None,
                   force: bool = False) -> LoadGeneration:
    """Assign meters and create six loads for every resource of ``store``, in one transaction.

    Refuses (InputError, nothing changed) when the H5 file is unusable, the store has no resources, or
    loads exist and ``force`` is false; with ``force`` all existing loads are replaced.
    """
    started = time.perf_counter()
    meter_ids = read_meter_ids(h5_path)
    resource_ids = store.resource_ids()
    if not resource_ids:
        raise InputError("The store has no resources; add some with `ven samples generate` or "
                         "`ven samples import` first.")
    existing = store.count_loads()
    if existing and not force:
        raise InputError(f"The store already holds {existing} loads; pass --force to replace them all.")
    rng = make_rng(seed)
    resource_meters = assign_meters(resource_ids, meter_ids, rng)
    rows = plan_loads(resource_ids, resource_meters, rng)
    inserted = store.assign_meters_and_insert_loads(list(zip(resource_ids, resource_meters)), rows,
                                                    replace=force)
    return LoadGeneration(resources=len(resource_ids), meters_available=len(meter_ids),
                          meters_used=len(set(resource_meters)), loads=inserted, replaced=existing if force else 0,
                          seed=seed, seconds=time.perf_counter() - started)
