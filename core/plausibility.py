"""Plausible readings only: bounds per load from its resource's capacities or its connection's limits (pure).

A meter that publishes ``-1e308`` W, a float32 register holding NaN's bit pattern or a file row with a
typo's extra digits must not reach reports or hooks as a value.  Every reading is checked against the
bounds of its load before it leaves the collector; one outside them (or not finite) becomes
``QUALITY_INVALID`` with no value.

Bounds, in watts (consumption positive, export negative):

* a connection's own ``max_watts`` / ``min_watts`` params, when set, are the bounds as given;
* else the resource's capacities (OpenADR resource attributes, kW): up to ``MAX_POWER_CONSUMPTION`` and down
  to ``-MAX_POWER_EXPORT``, each times :data:`DEFAULT_MARGIN` (meters overshoot on start-up currents, and
  sample capacities are nominal), and never tighter than :data:`MIN_SPAN_W` either way, so a resource whose
  capacities say 0 W still reports a standby trickle;
* else :data:`FALLBACK_LIMIT_W` either way — nothing a single load of a customer site draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:  # numpy is imported where it is used: connection params import this module for a --help
    import numpy as np

DEFAULT_MARGIN = 1.5
MIN_SPAN_W = 100.0
FALLBACK_LIMIT_W = 10_000_000.0  # 10 MW


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def load_bounds(capacities: Mapping[str, Any] | None, params: Mapping[str, Any] | None = None,
                margin: float = DEFAULT_MARGIN) -> tuple[float, float]:
    """``(low, high)`` watts for one load of a resource with ``capacities`` read through a connection with
    ``params`` (see the module docstring for the rule)."""
    params = params or {}
    given_high, given_low = _number(params.get("max_watts")), _number(params.get("min_watts"))
    if given_high is not None or given_low is not None:
        return (given_low if given_low is not None else -FALLBACK_LIMIT_W,
                given_high if given_high is not None else FALLBACK_LIMIT_W)
    capacities = capacities or {}
    consume_kw = _number(capacities.get("MAX_POWER_CONSUMPTION"))
    export_kw = _number(capacities.get("MAX_POWER_EXPORT"))
    high = FALLBACK_LIMIT_W if consume_kw is None else max(abs(consume_kw) * 1000.0 * margin, MIN_SPAN_W)
    low = -FALLBACK_LIMIT_W if export_kw is None else -max(abs(export_kw) * 1000.0 * margin, MIN_SPAN_W)
    return low, high


LIMIT_KEYS = ("min_watts", "max_watts")
"""A reader connection's own bounds (params), accepted by every reader kind that reads watts."""


def limits_problem(params: Mapping[str, Any] | None) -> str | None:
    """What is wrong with the ``min_watts`` / ``max_watts`` of a connection's ``params`` (a clause such as
    ``"params.max_watts must be a finite number, got 'x'"``), or ``None`` when they are usable or absent."""
    params = params or {}
    for key in LIMIT_KEYS:
        value = params.get(key)
        if value is not None and (isinstance(value, bool) or _number(value) is None
                                  or not isinstance(value, (int, float))):
            return f"params.{key} must be a finite number of watts, got {value!r}"
    low, high = _number(params.get("min_watts")), _number(params.get("max_watts"))
    if low is not None and high is not None and low >= high:
        return f"params.min_watts ({low:g}) must be below params.max_watts ({high:g})"
    return None


def implausible(power_w: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Mask of values that are present (not NaN) but infinite or outside ``[low, high]``.

    NaN stays 'missing', not 'invalid': a source marks what it could not read with NaN itself."""
    import numpy as np

    with np.errstate(invalid="ignore"):
        present = ~np.isnan(power_w)
        return present & ((power_w < low) | (power_w > high) | ~np.isfinite(power_w))


@dataclass
class StreakWarnings:
    """Warn once per streak per key: a key (a connection) is reported when it turns implausible, and again
    only after it has read plausibly in between."""

    _open: set[Any] = field(default_factory=set)

    def update(self, bad_keys: set[Any], seen_keys: set[Any]) -> set[Any]:
        """The keys of ``bad_keys`` starting a streak now; keys of ``seen_keys`` not in ``bad_keys`` end theirs."""
        new = bad_keys - self._open
        self._open -= seen_keys - bad_keys
        self._open |= bad_keys
        return new

    def any_open(self) -> bool:
        """Whether some key is in a streak now (callers skip :meth:`update` while none is and nothing is bad)."""
        return bool(self._open)
