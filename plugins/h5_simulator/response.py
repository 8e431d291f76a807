"""How simulated loads respond to demand-response instructions (pure numpy, one call per tick).

The sample fleet's H5 values are what the loads would draw with no event: the *baseline*.  During an event
the simulated loads draw less, the way devices would, and afterwards part of what they did not draw comes
back (a water heater reheats, a building cools down again):

* **SIMPLE level L** (1–3) sheds ``shed[component] × levels[L]`` of each load's baseline: with the defaults
  Base Load never, Water Heater and HVAC most, Lighting and Other Appliances some, Kitchen Appliances little.
  Level 0 is normal operation.
* **IMPORT_CAPACITY_LIMIT** (watts, per resource) caps each resource's sum: components are shed in order of
  their flexibility (largest ``shed`` share first), each by at most ``shed[component]`` of its baseline,
  until the sum is within the limit; what cannot be shed (Base Load) stays.  Where both apply to a load the
  larger shed wins.
* **Rebound**: every watt-second shed goes into the load's debt; once the load is no longer instructed, the
  debt times ``efficiency`` comes back spread evenly over ``rebound_seconds`` (so a load's energy over event
  plus rebound is its baseline energy minus ``(1 - efficiency)`` of what it shed).

:class:`ResponseModel` keeps the debts between ticks; the baseline stays what the source read, so reports
can send it as BASELINE beside the responded USAGE.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from venclient.model import LOAD_COMPONENTS

#: share of each component's baseline shed at the highest SIMPLE level (and at most under a capacity limit)
DEFAULT_SHED: dict[str, float] = {"load_0": 0.0, "load_1": 0.9, "load_2": 0.7, "load_3": 0.1, "load_4": 0.4,
                                  "load_5": 0.3}
#: how much of ``shed`` each SIMPLE level applies
DEFAULT_LEVELS: dict[int, float] = {0: 0.0, 1: 0.35, 2: 0.7, 3: 1.0}
DEFAULT_EFFICIENCY = 0.8
DEFAULT_REBOUND_SECONDS = 3600.0


@dataclass(frozen=True)
class ResponseSettings:
    """The ``[h5_simulator.response]`` table: ``enabled``, ``shed`` per component, ``levels`` per SIMPLE
    level, ``efficiency`` (0–1) and ``rebound_seconds`` (> 0)."""

    enabled: bool = True
    shed: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SHED))
    levels: Mapping[int, float] = field(default_factory=lambda: dict(DEFAULT_LEVELS))
    efficiency: float = DEFAULT_EFFICIENCY
    rebound_seconds: float = DEFAULT_REBOUND_SECONDS

    def shed_shares(self, components: np.ndarray) -> np.ndarray:
        """The ``shed`` share of each load given its component index (0–5)."""
        table = np.array([float(self.shed.get(name, 0.0)) for name in LOAD_COMPONENTS])
        return table[components.astype(np.intp)]

    def level_factor(self, levels: np.ndarray) -> np.ndarray:
        """How much of ``shed`` each SIMPLE level applies (NaN or 0: nothing; levels above 3 count as 3)."""
        table = np.array([float(self.levels.get(n, 0.0)) for n in range(4)])
        clean = np.nan_to_num(levels, nan=0.0)
        return table[np.clip(clean, 0, 3).astype(np.intp)]


def capacity_shed(baseline_w: np.ndarray, shares: np.ndarray, resource_index: np.ndarray,
                  limits_w: np.ndarray) -> np.ndarray:
    """Per load, the watts to shed so each resource's sum stays within its limit (NaN limit: none).

    ``resource_index`` numbers each load's resource 0..R-1; ``limits_w`` has one entry per resource.  Loads are
    shed in order of ``shares`` (largest first) within their resource, each by at most ``share × baseline``.
    """
    shed = np.zeros_like(baseline_w)
    if not len(baseline_w):
        return shed
    base = np.nan_to_num(baseline_w, nan=0.0)
    totals = np.bincount(resource_index, weights=base, minlength=len(limits_w))
    excess = np.where(np.isnan(limits_w), 0.0, np.maximum(totals - np.nan_to_num(limits_w, nan=np.inf), 0.0))
    if not excess.any():
        return shed
    flexible = np.maximum(base, 0.0) * shares
    order = np.lexsort((-shares, resource_index))  # by resource, most flexible first
    for position in order:
        resource = resource_index[position]
        need = excess[resource]
        if need <= 0.0:
            continue
        take = min(need, flexible[position])
        shed[position] = take
        excess[resource] = need - take
    return shed


@dataclass
class ResponseModel:
    """The responding fleet: per load, the energy debt still to come back (watt-seconds)."""

    settings: ResponseSettings
    size: int
    debt_ws: np.ndarray = field(init=False)
    payback_w: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.debt_ws = np.zeros(self.size)
        self.payback_w = np.zeros(self.size)
        self.owing = False  # some load still has energy to pay back (kept by apply, so callers skip a pass)

    def apply(self, baseline_w: np.ndarray, seconds: float, *, components: np.ndarray,
              simple_levels: np.ndarray | None = None, resource_index: np.ndarray | None = None,
              capacity_limits_w: np.ndarray | None = None) -> np.ndarray:
        """The responded watts for one tick of ``seconds``.

        ``simple_levels`` has one SIMPLE level per load (NaN: none); ``capacity_limits_w`` one import limit per
        resource (NaN: none) with ``resource_index`` numbering each load's resource.  A load with neither pays
        back its debt; a NaN baseline (no reading) stays NaN and changes nothing.
        """
        if not self.settings.enabled:
            return baseline_w
        shares = self.settings.shed_shares(components)
        shed = np.zeros_like(baseline_w)
        instructed = np.zeros(len(baseline_w), dtype=bool)
        present = ~np.isnan(baseline_w)
        if simple_levels is not None:
            factor = self.settings.level_factor(simple_levels)
            shed = np.maximum(shed, np.where(present, np.maximum(baseline_w, 0.0) * shares * factor, 0.0))
            instructed |= ~np.isnan(simple_levels) & (simple_levels > 0)
        if capacity_limits_w is not None and resource_index is not None:
            limited = capacity_shed(baseline_w, shares, resource_index, capacity_limits_w)
            shed = np.maximum(shed, limited)
            instructed |= ~np.isnan(capacity_limits_w)[resource_index]
        self.debt_ws += shed * seconds
        # loads no longer instructed pay back: the debt at the moment they were released, evenly over the window
        releasing = ~instructed & (self.debt_ws > 0.0)
        start_payback = releasing & (self.payback_w == 0.0)
        rebound = max(float(self.settings.rebound_seconds), 1e-9)
        self.payback_w[start_payback] = (self.debt_ws[start_payback] * self.settings.efficiency) / rebound
        self.payback_w[instructed] = 0.0
        extra = np.zeros_like(baseline_w)
        paying = releasing & present
        # energy left to pay back = debt × efficiency; pay at most that much this tick
        owed_ws = self.debt_ws[paying] * self.settings.efficiency
        step_ws = np.minimum(self.payback_w[paying] * seconds, owed_ws)
        extra[paying] = step_ws / seconds if seconds > 0 else 0.0
        efficiency = self.settings.efficiency
        self.debt_ws[paying] -= step_ws / efficiency if efficiency > 0 else self.debt_ws[paying]
        done = self.debt_ws <= 1e-9
        self.debt_ws[done] = 0.0
        self.payback_w[done] = 0.0
        self.owing = not done.all()
        return np.where(present, baseline_w - shed + extra, baseline_w)
