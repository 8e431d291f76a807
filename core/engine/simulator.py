"""The seeds' collection API, synchronous: ``increase_time()`` and ``collect_next_metering(ven_id)``.

:class:`MeterDataSimulator` keeps the prototype's names but none of its globals: it is given the runtime
(store, meter sources, hooks, settings) and the one :class:`venclient.clock.Clock` explicitly, and runs the async
:class:`venclient.engine.collect.Collector` on a private event loop.  All VENs it serves are collected together, once
per tick (the first ``collect_next_metering`` of a tick reads every source; the other VENs reuse that tick's
:class:`venclient.model.Readings`), so every VEN sees the same time, as in the seeds::

    simulator = MeterDataSimulator(runtime, clock, vens=["Herning"])
    data = simulator.collect_next_metering("Herning")   # {resource_id: ResourceMeterData}
    simulator.increase_time()

Code that already runs an event loop uses :class:`~venclient.engine.collect.Collector` directly.
"""

from __future__ import annotations

import asyncio
from typing import Any, Sequence

import numpy as np

from venclient.clock import Clock, Tick
from venclient.engine.collect import CollectionPlan, Collector, tidy_watts
from venclient.model import QUALITY_OK, MeterReading, Readings, ResourceMeterData


class MeterDataSimulator:
    """The seeds' facade over a :class:`Collector` for ``vens`` (every VEN when ``None``).

    ``clock`` defaults to one built from the sources' timeline and ``settings.clock.mode``; pass the
    process's shared clock when several components must agree on the time.  Call :meth:`refresh` after
    statuses or connections change, and :meth:`close` (or use ``with``) at the end.
    """

    def __init__(self, runtime: Any = None, clock: Clock | None = None, *, vens: Sequence[str] | None = None,
                 collector: Collector | None = None, settings: Any = None):
        if collector is None:
            if runtime is None:
                raise ValueError("MeterDataSimulator needs a runtime or a collector")
            collector = Collector.from_runtime(runtime, vens=vens)
        self.collector = collector
        self._loop = asyncio.new_event_loop()
        self._cache: tuple[Tick, Readings] | None = None
        try:
            self._run(self.collector.open())
            if clock is None:
                clock = self.collector.build_clock(settings if settings is not None else runtime.settings)
        except BaseException:
            self.close()
            raise
        self.clock = clock

    # ------------------------------------------------------------------------------ seeds' names
    @property
    def current_timestamp_index(self) -> int:
        """*(seeds)* The clock's current row."""
        return self.clock.index

    @property
    def h5_data_length(self) -> int:
        """*(seeds)* Rows of simulated data (cached by the clock)."""
        return self.clock.length

    def increase_time(self) -> int:
        """*(seeds)* Move the shared clock to the next row (wraps to 0 at the end); returns the new index."""
        return self.clock.increase_time()

    def get_ven_list(self) -> list[str]:
        """*(seeds)* The VENs with loads to collect."""
        return list(self.plan.ven_slices)

    def collect_next_metering(self, ven_id: str) -> dict[str, ResourceMeterData]:
        """*(seeds)* ``{resource_id: ResourceMeterData}`` for the approved resources of ``ven_id`` at the
        current tick.  ``MeterReading.load_id`` is the load component (``load_0`` …), ``timestamp`` Unix ms.
        Loads without a fresh value (missing meter, late source, stale file) are left out; a resource with
        no value at all is absent."""
        tick, readings = self.collect_fleet()
        return resource_meter_data(self.plan, readings, self.plan.ven_slice(ven_id), tick.timestamp_ms)

    # ------------------------------------------------------------------------------ fleet
    @property
    def plan(self) -> CollectionPlan:
        """The collector's plan: per-load arrays (VEN, meter point, VTN id …) and a slice per VEN."""
        return self.collector.plan

    def collect_fleet(self) -> tuple[Tick, Readings]:
        """The current tick and the readings of every load of the plan (read once per tick)."""
        tick = self.clock.tick
        if self._cache is None or self._cache[0] != tick:
            self._cache = (tick, self._run(self.collector.collect(tick)))
        return self._cache

    def refresh(self) -> CollectionPlan:
        """Re-read loads and connections from the store (after status or connection changes)."""
        self._cache = None
        return self._run(self.collector.refresh())

    def close(self) -> None:
        """Close the sources and the private loop."""
        if self._loop.is_closed():
            return
        try:
            if self.collector.is_open:
                self._run(self.collector.close())
        finally:
            self._loop.close()

    def __enter__(self) -> "MeterDataSimulator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _run(self, coroutine: Any) -> Any:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._loop.run_until_complete(coroutine)
        coroutine.close()
        raise RuntimeError("MeterDataSimulator is synchronous; inside an event loop use venclient.engine.collect.Collector")


def resource_meter_data(plan: CollectionPlan, readings: Readings, positions: slice,
                        timestamp_ms: int) -> dict[str, ResourceMeterData]:
    """The seeds' shape for ``positions`` of a plan: OK values only, grouped by resource in plan order."""
    quality = readings.quality[positions]
    keep = np.flatnonzero(quality == QUALITY_OK)
    if not len(keep):
        return {}
    start = positions.start or 0
    index = keep + start
    resource_ids = plan.resource_ids[index].tolist()
    meter_points = plan.meter_point_ids[index].tolist()
    components = plan.components[index].tolist()
    watts = tidy_watts(readings.power_w[index]).tolist()
    out: dict[str, ResourceMeterData] = {}
    current: ResourceMeterData | None = None
    for resource_id, meter_point, component, value in zip(resource_ids, meter_points, components, watts):
        if current is None or current.resource_id != resource_id:
            current = out[resource_id] = ResourceMeterData(resource_id, meter_point, [])
        current.readings.append(MeterReading(timestamp_ms, component, value))
    return out
