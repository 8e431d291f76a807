"""The plugin author's test kit: a pytest plugin (entry point ``pytest11``), loaded wherever venclient is installed.

Fixtures (all on ``tmp_path``, nothing outside it, network only on loopback):

* ``ven_settings`` — development settings with their own SQLite database and H5 path;
* ``ven_runtime`` — a :class:`venclient.runtime.Runtime` on them, with a small meter file
  (:func:`write_meter_file`) and a small approved fleet (:data:`SMALL_FLEET`, six loads per resource);
* ``ven_local_vtn`` — the local VTN (plugin ``local_vtn``) on 127.0.0.1 and a free port, with the development
  clients and the demo program; ``ven_local_vtn.url`` is its base URL.

Helpers: :func:`collect_once` reads one tick through the runtime's sources (or one source you pass),
:func:`add_fleet`, :func:`write_meter_file` and :func:`expected_watts` build data with known values, and
:func:`make_settings` makes isolated settings with overrides.  Use them from a plain test::

    async def test_my_source_reads(ven_runtime):
        readings = await collect_once(ven_runtime, source=MySource(), connection=Connection(id=None, type="mine"))
        assert (readings.quality == QUALITY_OK).all()
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

import pytest

from venclient.model import APPROVED, LOAD_COMPONENTS, Connection, Resource

if TYPE_CHECKING:  # pragma: no cover
    from venclient.model import Readings
    from venclient.protocols import MeterSource
    from venclient.runtime import Runtime

START_S = 1736946000.0  # 2025-01-15 13:00 UTC, the seeds' first hour
METER_IDS = ("707057500000000001", "707057500000000002", "707057500000000003")
ROWS = 24
SMALL_FLEET: dict[str, tuple[str, ...]] = {"Herning": (METER_IDS[0], METER_IDS[1]), "Aalborg": (METER_IDS[2],)}
"""VEN → the H5 meter of each of its resources, for ``ven_runtime`` (resources ``r-<VEN>-000`` …)."""


# ------------------------------------------------------------------------------------------ helpers
def make_settings(tmp_path: Path, **overrides: Any) -> Any:
    """Settings isolated in ``tmp_path``: own database and H5 path, development environment."""
    from venclient.settings import load_settings

    values = {"database_url": f"sqlite:///{tmp_path / 'resources.db'}",
              "h5_simulator": {"h5_path": str(tmp_path / "load_data.h5")}}
    values.update(overrides)
    return load_settings("development", **values)


def expected_watts(meter_number: int, component: int, row: int) -> float:
    """The value :func:`write_meter_file` stores for meter number ``meter_number`` (1-based) — exact in float32."""
    return float(meter_number * 1000 + component * 100 + row)


def write_meter_file(path: Path, meter_ids: Sequence[str] = METER_IDS, rows: int = ROWS, *,
                     by_attribute: Sequence[str] = (), skip: Sequence[tuple[str, str]] = (),
                     start_s: float = START_S) -> Path:
    """An H5 meter file in the seeds' layout (:mod:`venclient.plugins.h5_simulator.layout`) holding
    :func:`expected_watts`; meters in ``by_attribute`` get an
    arbitrary group name and only a ``meter_id`` attribute; ``(meter_id, "load_n")`` pairs in ``skip`` are
    left out."""
    import h5py
    import numpy as np

    from venclient.plugins.h5_simulator.layout import GROUP_PREFIX, METER_ID_ATTR, METERS_GROUP, POWER_DATASET

    times = start_s + 3600.0 * np.arange(rows)
    with h5py.File(path, "w") as f:
        meters = f.create_group(METERS_GROUP)
        for number, meter_id in enumerate(meter_ids, start=1):
            name = f"site_{number:03d}" if meter_id in by_attribute else f"{GROUP_PREFIX}{meter_id}"
            group = meters.create_group(name)
            group.attrs[METER_ID_ATTR] = meter_id
            group.attrs["num_load_components"] = 6
            for component, load in enumerate(LOAD_COMPONENTS):
                if (meter_id, load) in skip:
                    continue
                watts = np.array([expected_watts(number, component, r) for r in range(rows)])
                group.create_dataset(f"{load}/{POWER_DATASET}", data=np.column_stack([times, watts]))
    return path


def add_fleet(store: Any, fleet: Mapping[str, Sequence[str]], status: str = APPROVED,
              prefix: str = "r") -> list[str]:
    """Resources ``{prefix}-{ven}-{i}`` with six loads each; ``fleet`` maps VEN → H5 meter id per resource."""
    resources, assignments, loads = [], [], []
    for ven, meters in fleet.items():
        for i, meter in enumerate(meters):
            rid = f"{prefix}-{ven}-{i:03d}"
            resources.append(Resource(resource_id=rid, resource_name=f"Site {ven} {i}", resource_type="site",
                                      resource_sub_type="bar", meter_point_id=f"57{i:016d}", ven=ven,
                                      registration_status=status))
            assignments.append((rid, meter))
            loads.extend((str(uuid.uuid4()), rid, comp, name, meter) for comp, name in LOAD_COMPONENTS.items())
    store.insert_resources(resources)
    existing = store.count_loads() if hasattr(store, "count_loads") else 0
    if existing:
        store.bulk_insert_loads([{"load_id": l[0], "resource_id": l[1], "load_component": l[2],
                                  "load_name": l[3], "h5_meter_id": l[4]} for l in loads])
        for rid, meter in assignments:
            store.update_resource_h5_meter(rid, meter)
    else:
        store.assign_meters_and_insert_loads(assignments, loads, replace=False)
    return [r.resource_id for r in resources]


async def collect_once(runtime: "Runtime", *, source: "MeterSource | None" = None,
                       connection: Connection | None = None, vens: Sequence[str] | None = None,
                       index: int = 0, time: datetime | None = None) -> "Readings":
    """One collected tick (row ``index`` of the data, at ``time``, default now) of the runtime's approved loads.

    ``source`` replaces the runtime's source for the kinds it serves; ``connection`` is first given to every
    resource of the store (as its reader, or writer when ``actortype`` says so) — so
    ``collect_once(rt, source=MySource(), connection=Connection(id=None, type="mine"))`` reads the whole
    fleet through your source, opened, read and closed as the collector does it.
    """
    from venclient.clock import Tick
    from venclient.engine.collect import Collector

    store = runtime.store()
    if connection is not None:
        store.connect_resources([r.resource_id for r in store.list_resources()], connection)
    sources = dict(runtime.meter_sources())
    if source is not None:
        sources.update({kind: source for kind in source.kinds})
    collector = Collector(store, sources, vens=vens, hook=runtime.pm.hook,
                          source_timeout=float(runtime.settings.get("collect.source_timeout_seconds", 5.0)))
    async with collector:
        return await collector.collect(Tick(index, time or datetime.now(timezone.utc)))


# ------------------------------------------------------------------------------------------ fixtures
@pytest.fixture
def ven_settings(tmp_path: Path) -> Any:
    """Development settings with a fresh SQLite database and H5 path under ``tmp_path``."""
    return make_settings(tmp_path)


@pytest.fixture
def ven_runtime(ven_settings: Any) -> Iterator["Runtime"]:
    """A runtime (default plugins and entry points) with a meter file and the approved :data:`SMALL_FLEET`."""
    from venclient.runtime import Runtime

    write_meter_file(Path(ven_settings.h5_simulator.h5_path))
    runtime = Runtime.create(ven_settings)
    add_fleet(runtime.store(), SMALL_FLEET)
    yield runtime
    runtime.close()


@pytest.fixture
def ven_local_vtn() -> Iterator[Any]:
    """The local VTN on 127.0.0.1 and a free port (development clients, demo program); ``.url``, ``.state``."""
    from venclient.plugins.local_vtn import LocalVtnServer, VtnState, seed_demo

    state = VtnState()
    seed_demo(state)
    server = LocalVtnServer(state).start()
    yield server
    server.stop()
