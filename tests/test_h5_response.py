"""The simulated fleet's response to SIMPLE levels and import capacity limits, with rebound."""

from __future__ import annotations

import numpy as np
import pytest

from venclient.plugins.h5_simulator.response import (DEFAULT_LEVELS, DEFAULT_SHED, ResponseModel, ResponseSettings,
                                                     capacity_shed)

COMPONENTS = np.arange(6)
BASELINE = np.array([500.0, 2000.0, 1500.0, 800.0, 300.0, 400.0])
SHARES = np.array([DEFAULT_SHED[f"load_{i}"] for i in range(6)])


def test_simple_level_two_sheds_the_configured_share_of_each_component_exactly():
    model = ResponseModel(ResponseSettings(), 6)
    responded = model.apply(BASELINE, 15.0, components=COMPONENTS, simple_levels=np.full(6, 2.0))
    assert responded.tolist() == (BASELINE * (1 - SHARES * DEFAULT_LEVELS[2])).tolist()
    assert responded[0] == BASELINE[0]  # Base Load never
    shed_share = 1 - responded / BASELINE
    assert shed_share[1] == shed_share.max() and shed_share[3] < shed_share[4]  # water heater most, kitchen little


def test_uninstructed_loads_and_missing_values_are_unchanged():
    model = ResponseModel(ResponseSettings(), 6)
    baseline = BASELINE.copy()
    baseline[2] = np.nan
    levels = np.array([np.nan, 3.0, 3.0, np.nan, 0.0, np.nan])
    responded = model.apply(baseline, 15.0, components=COMPONENTS, simple_levels=levels)
    assert np.isnan(responded[2])
    assert responded[[0, 3, 4, 5]].tolist() == baseline[[0, 3, 4, 5]].tolist()
    assert responded[1] == pytest.approx(BASELINE[1] * (1 - SHARES[1]))


@pytest.mark.parametrize("efficiency", [0.0, 0.8, 1.0])
def test_energy_over_event_and_rebound_is_baseline_minus_the_lost_share_of_what_was_shed(efficiency):
    settings = ResponseSettings(efficiency=efficiency, rebound_seconds=600.0)
    model = ResponseModel(settings, 6)
    tick = 15.0
    event_ticks, after_ticks = 240, 80  # one hour of SIMPLE 2, then 20 minutes (longer than the rebound)
    energy = np.zeros(6)
    shed_energy = np.zeros(6)
    for n in range(event_ticks + after_ticks):
        levels = np.full(6, 2.0) if n < event_ticks else None
        responded = model.apply(BASELINE, tick, components=COMPONENTS, simple_levels=levels)
        energy += responded * tick
        if n < event_ticks:
            shed_energy += (BASELINE - responded) * tick
    baseline_energy = BASELINE * tick * (event_ticks + after_ticks)
    assert energy == pytest.approx(baseline_energy - (1 - efficiency) * shed_energy)
    assert model.debt_ws.tolist() == [0.0] * 6


def test_rebound_is_spread_evenly_over_the_rebound_window():
    model = ResponseModel(ResponseSettings(efficiency=1.0, rebound_seconds=60.0), 6)
    model.apply(BASELINE, 60.0, components=COMPONENTS, simple_levels=np.full(6, 3.0))
    shed = BASELINE * SHARES
    extra = [model.apply(BASELINE, 15.0, components=COMPONENTS) - BASELINE for _ in range(5)]
    for step in extra[:4]:
        assert step == pytest.approx(shed)  # 60 s of shed paid back over 60 s: the same power, four ticks
    assert extra[4] == pytest.approx(np.zeros(6))


def test_capacity_limit_sheds_the_most_flexible_components_first_and_never_base_load():
    resource = np.zeros(6, dtype=np.intp)
    total = BASELINE.sum()  # 5500 W
    shed = capacity_shed(BASELINE, SHARES, resource, np.array([total - 1000.0]))
    assert shed.sum() == pytest.approx(1000.0)
    assert shed[1] == pytest.approx(1000.0) and shed[[0, 2, 3, 4, 5]].tolist() == [0.0] * 5  # water heater first
    deep = capacity_shed(BASELINE, SHARES, resource, np.array([600.0]))
    assert deep[0] == 0.0  # base load stays
    assert deep.tolist() == pytest.approx((BASELINE * SHARES).tolist())  # every flexible share used, still above


def test_capacity_limits_per_resource_and_the_larger_shed_wins():
    model = ResponseModel(ResponseSettings(), 12)
    baseline = np.concatenate([BASELINE, BASELINE])
    components = np.concatenate([COMPONENTS, COMPONENTS])
    resource = np.repeat([0, 1], 6)
    responded = model.apply(baseline, 15.0, components=components, resource_index=resource,
                            capacity_limits_w=np.array([5000.0, np.nan]),
                            simple_levels=np.concatenate([np.full(6, np.nan), np.full(6, np.nan)]))
    assert responded[:6].sum() == pytest.approx(5000.0)
    assert responded[6:].tolist() == BASELINE.tolist()
    both = ResponseModel(ResponseSettings(), 6).apply(BASELINE, 15.0, components=COMPONENTS,
                                                      simple_levels=np.full(6, 3.0),
                                                      resource_index=np.zeros(6, dtype=np.intp),
                                                      capacity_limits_w=np.array([5400.0]))
    assert both.tolist() == pytest.approx((BASELINE * (1 - SHARES)).tolist())  # SIMPLE 3 sheds more than the cap


def test_disabled_response_returns_the_baseline():
    model = ResponseModel(ResponseSettings(enabled=False), 6)
    assert model.apply(BASELINE, 15.0, components=COMPONENTS, simple_levels=np.full(6, 3.0)) is BASELINE
