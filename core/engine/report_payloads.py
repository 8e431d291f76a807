"""The report payload types the event-aligned reports answer, as a small registry (pure).

Each :class:`PayloadKind` names a payload type, the units it can be expressed in (with the factor from the
accumulated Wh or W), the reading types it honours, and the function computing its value per load and interval
from the accumulated :class:`Totals` (:mod:`venclient.engine.accumulate`) — or, for SIMPLE_LEVEL and
OPERATING_STATE, from what load control applied in the interval (:mod:`venclient.engine.applied`, put on the
totals as ``level`` and ``opted`` when the report is built; READING from the accumulated ``register_kwh``).  A
payload type that needs another accumulated channel is added here with its channel by whoever builds its
source; :func:`register_kind` does it.

The kinds (units and names from ``../shared/openadr3/enumerations/``):

* ``USAGE`` — the energy seen in the interval (WH, KWH, MWH; reading types DIRECT_READ, SUMMED, ESTIMATED);
* ``DEMAND`` — the mean power over the ticks seen (W, KW, MW; MEAN, AVERAGE, DIRECT_READ);
* ``BASELINE`` — what the loads would have drawn without load control (the source's baseline): the energy
  (WH/KWH/MWH) or, with power units or reading type MEAN/AVERAGE, the mean power (W/KW/MW);
* ``DELTA_USAGE`` — "change in usage as compared to a baseline": USAGE minus BASELINE energy (negative while
  load is shed), in WH/KWH/MWH;
* ``READING`` — "an instantaneous data point, as from a meter": the meter's register (import energy) at the end
  of the interval, i.e. the last register value of a tick seen in it (KWH — the only energy unit of the
  enumeration — or MWH; DIRECT_READ, SUMMED), only for loads whose source reads a register
  (:class:`venclient.protocols.HasRegisterReading`); the others have no READING (never a false zero);
* ``DATA_QUALITY`` — the quality of the interval's other payloads: ``OK`` when ticks covered the whole
  interval, ``ESTIMATED`` when some ticks are missing (the values are those of the ticks seen), ``MISSING`` when
  none was seen (then the load's interval carries only this payload).
* ``SIMPLE_LEVEL`` — "simple level that a VEN resource is operating at for each Interval" (integer 0–3, no
  units; DIRECT_READ): the highest level of the winning SIMPLE instruction for the load during the interval
  (0 when none applied or the resource opted out); left out where the load had no data;
* ``OPERATING_STATE`` — one of the enumeration's states (no units; DIRECT_READ), per load and interval:
  ``ERROR`` when the load had no data at all there (ticks 0: "not addressable by VEN"), else
  ``RUNNING_OPTED_OUT`` when its resource opted out, else ``RUNNING_CURTAILED`` while a SIMPLE level above 0
  applied, else ``NORMAL``.  Reported also where the load has no value (then alone, or with DATA_QUALITY).
  For a sum of loads (an aggregate, or a resource at level ``resource``) the most severe state of its loads, in
  the order ERROR > RUNNING_OPTED_OUT > RUNNING_CURTAILED > NORMAL (:data:`STATE_ORDER`).

A ``FORECAST`` reading type is accepted for every kind on a ``historical`` false descriptor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

ENERGY_UNITS = {"WH": 1.0, "KWH": 1e-3, "MWH": 1e-6}
POWER_UNITS = {"W": 1.0, "KW": 1e-3, "MW": 1e-6}
READING_UNITS = {"KWH": 1.0, "MWH": 1e-3}  # on the register's kWh (WH is not in units.schema.yaml)
QUALITY_OK, QUALITY_ESTIMATED, QUALITY_MISSING = "OK", "ESTIMATED", "MISSING"


@dataclass
class Totals:
    """Accumulated channels of some loads in one interval (aligned arrays): energy (Wh), baseline energy (Wh,
    NaN where the source has no baseline), seconds seen, ticks seen; ``length`` the interval's seconds (``None``
    when open-ended); ``register_kwh`` the last meter register reading (kWh, NaN where none; ``None`` when no load
    has one)."""

    energy_wh: np.ndarray
    baseline_wh: np.ndarray
    seconds: np.ndarray
    ticks: np.ndarray
    length: float | None = None
    level: np.ndarray | None = None   # the SIMPLE level applied (int; SIMPLE_LEVEL, OPERATING_STATE), else 0
    opted: np.ndarray | None = None   # the resource opted out (bool; OPERATING_STATE), else False
    register_kwh: np.ndarray | None = None  # the last meter register reading (kWh; READING; NaN, None: none)


Value = Callable[[Totals, float, str], np.ndarray]


@dataclass(frozen=True)
class PayloadKind:
    """One payload type: ``units`` → factor (value = channel × factor), the default units, the reading types
    honoured (the first is the default), and ``value(totals, factor, units)`` → float array (NaN = no value);
    ``power_units`` other units the value may take instead (→ factor on watts), for kinds such as BASELINE."""

    payload_type: str
    units: Mapping[str, float]
    default_units: str | None
    reading_types: tuple[str, ...]
    value: Value
    power_units: Mapping[str, float] | None = None
    textual: bool = False  # values are strings (DATA_QUALITY, OPERATING_STATE)
    integer: bool = False  # values are integers (SIMPLE_LEVEL)
    unseen: bool = False   # also reported where the load has no value (DATA_QUALITY, OPERATING_STATE)
    applied: bool = False  # needs the applied ``level`` / ``opted`` on the totals (SIMPLE_LEVEL, OPERATING_STATE)

    @property
    def unitless(self) -> bool:
        return not self.units and not self.power_units


def _mean_w(totals: Totals) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals.seconds > 0, totals.energy_wh * 3600.0 / totals.seconds, np.nan)


def _seen(totals: Totals, values: np.ndarray) -> np.ndarray:
    return np.where(totals.ticks > 0, values, np.nan)


def _usage(totals: Totals, factor: float, units: str) -> np.ndarray:
    return _seen(totals, totals.energy_wh * factor)


def _demand(totals: Totals, factor: float, units: str) -> np.ndarray:
    return _mean_w(totals) * factor


def _baseline(totals: Totals, factor: float, units: str) -> np.ndarray:
    if units in POWER_UNITS:
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(totals.seconds > 0, totals.baseline_wh * 3600.0 / totals.seconds, np.nan)
        return mean * factor
    return _seen(totals, totals.baseline_wh * factor)


def _delta(totals: Totals, factor: float, units: str) -> np.ndarray:
    return _seen(totals, (totals.energy_wh - totals.baseline_wh) * factor)


def _reading(totals: Totals, factor: float, units: str) -> np.ndarray:
    register = totals.register_kwh if totals.register_kwh is not None else np.full(len(totals.ticks), np.nan)
    return _seen(totals, register * factor)


def quality_codes(totals: Totals) -> np.ndarray:
    """``OK`` / ``ESTIMATED`` / ``MISSING`` per load (an object array), as the module docstring says."""
    out = np.full(len(totals.ticks), QUALITY_OK, dtype=object)
    if totals.length:
        out[totals.seconds < totals.length * (1 - 1e-9)] = QUALITY_ESTIMATED
    out[totals.ticks <= 0] = QUALITY_MISSING
    return out


def _quality(totals: Totals, factor: float, units: str) -> np.ndarray:
    return quality_codes(totals)


#: OPERATING_STATE values from the least to the most severe (a sum of loads reports its most severe)
STATE_ORDER = ("NORMAL", "RUNNING_CURTAILED", "RUNNING_OPTED_OUT", "ERROR")


def _zeros(totals: Totals, name: str, dtype: Any) -> np.ndarray:
    value = getattr(totals, name)
    return np.zeros(len(totals.ticks), dtype=dtype) if value is None else np.asarray(value, dtype=dtype)


def state_severity(totals: Totals) -> np.ndarray:
    """Per entity the index of its OPERATING_STATE in :data:`STATE_ORDER` (see the module docstring)."""
    out = np.where(_zeros(totals, "level", np.int64) > 0, 1, 0)
    out = np.where(_zeros(totals, "opted", bool), 2, out)
    return np.where(totals.ticks <= 0, 3, out)


def _state(totals: Totals, factor: float, units: str) -> np.ndarray:
    return np.asarray(STATE_ORDER, dtype=object)[state_severity(totals)]


def _level(totals: Totals, factor: float, units: str) -> np.ndarray:
    return _seen(totals, _zeros(totals, "level", np.float64))


KINDS: dict[str, PayloadKind] = {}


def register_kind(kind: PayloadKind) -> None:
    """Add (or replace) a payload kind."""
    KINDS[kind.payload_type] = kind


register_kind(PayloadKind("USAGE", ENERGY_UNITS, "KWH", ("DIRECT_READ", "SUMMED", "ESTIMATED"), _usage))
register_kind(PayloadKind("DEMAND", POWER_UNITS, "KW", ("MEAN", "AVERAGE", "DIRECT_READ"), _demand))
register_kind(PayloadKind("BASELINE", ENERGY_UNITS, "KWH", ("ESTIMATED", "DIRECT_READ", "SUMMED", "MEAN",
                                                             "AVERAGE"), _baseline, power_units=POWER_UNITS))
register_kind(PayloadKind("DELTA_USAGE", ENERGY_UNITS, "KWH", ("DIRECT_READ", "SUMMED", "ESTIMATED"), _delta))
register_kind(PayloadKind("READING", READING_UNITS, "KWH", ("DIRECT_READ", "SUMMED"), _reading))
register_kind(PayloadKind("DATA_QUALITY", {}, None, ("DIRECT_READ",), _quality, textual=True, unseen=True))
register_kind(PayloadKind("SIMPLE_LEVEL", {}, None, ("DIRECT_READ",), _level, integer=True, applied=True))
register_kind(PayloadKind("OPERATING_STATE", {}, None, ("DIRECT_READ",), _state, textual=True, unseen=True,
                          applied=True))

NEEDS_BASELINE = frozenset({"BASELINE", "DELTA_USAGE"})


@dataclass(frozen=True)
class Answer:
    """How one descriptor is answered: its kind, the units and reading type sent, and the factor."""

    kind: PayloadKind
    units: str | None
    reading_type: str
    factor: float

    @property
    def payload_type(self) -> str:
        return self.kind.payload_type

    def values(self, totals: Totals) -> np.ndarray:
        return self.kind.value(totals, self.factor, self.units or "")

    def descriptor(self) -> dict[str, Any]:
        out: dict[str, Any] = {"objectType": "REPORT_PAYLOAD_DESCRIPTOR", "payloadType": self.payload_type,
                               "readingType": self.reading_type}
        if self.units:
            out["units"] = self.units
        return out


def answer(payload_type: str, units: str | None, reading_type: str | None, *,
           historical: bool = True) -> tuple[Answer | None, str | None]:
    """``(Answer, None)`` for a descriptor we can answer, else ``(None, reason)`` naming the field refused."""
    kind = KINDS.get(payload_type.upper())
    if kind is None:
        return None, (f"payloadType {payload_type or '(none)'} is not supported (supported: {', '.join(KINDS)})")
    chosen_units = (units or kind.default_units or "").upper() or None
    if kind.textual or kind.unitless:  # no units to express (a descriptor's units are not ours to honour)
        factor = 1.0
        chosen_units = None
    elif chosen_units in kind.units:
        factor = kind.units[chosen_units]
    elif kind.power_units and chosen_units in kind.power_units:
        factor = kind.power_units[chosen_units]
    else:
        allowed = list(kind.units) + list(kind.power_units or ())
        return None, f"units {chosen_units} cannot express {kind.payload_type} (use one of {', '.join(allowed)})"
    wanted = (reading_type or "").upper()
    if not wanted:
        wanted = kind.reading_types[0] if historical else "FORECAST"
    elif wanted == "FORECAST" and historical:
        return None, "readingType FORECAST asks for a forecast, but historical is true"
    elif wanted != "FORECAST" and wanted not in kind.reading_types:
        return None, (f"readingType {wanted} is not supported for {kind.payload_type} "
                      f"(use one of {', '.join(kind.reading_types)})")
    if kind.payload_type == "BASELINE" and units is None and wanted in ("MEAN", "AVERAGE"):
        chosen_units, factor = "KW", POWER_UNITS["KW"]
    return Answer(kind, chosen_units, wanted, factor), None
