"""Payload presets: how watts are found in what common devices publish.

=============  ==========================================  ===============================  ========
preset         topic (a bare device name expands to)       value                            scale
=============  ==========================================  ===============================  ========
tasmota        ``tele/<name>/SENSOR``                      JSON ``ENERGY.Power``            1
shelly_gen1    ``shellies/<name>/emeter/0/power``          plain number                     1
shelly_gen2    ``<name>/status/em:0``                      JSON ``total_act_power``         1
zigbee2mqtt    ``zigbee2mqtt/<name>``                      JSON ``power``                   1
dsmr           ``<name>/reading/electricity_currently_     plain number in kW, or JSON      1000
               delivered`` (default ``dsmr/…``)            ``electricity_currently_delivered``
json           the topic as given                          plain number or JSON at ``path``  1
=============  ==========================================  ===============================  ========

A plain number is accepted by every preset.  A JSON list at the path is summed (Tasmota devices with
several channels publish ``"Power": [12, 40]``).  ``path`` and ``scale`` given by the user replace the
preset's.

The meter register (kWh, the READING payload of reports) comes from the same message as the power, at the
preset's ``energy_path``: tasmota ``ENERGY.Total``, zigbee2mqtt ``energy`` (both kWh); the other presets have
none unless the connection gives ``energy_path`` (and ``energy_scale`` to kWh).  A message without it, or a
plain number, carries no register value.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any


class FieldAbsent(LookupError):
    """The payload is valid but does not carry the field (e.g. a Zigbee2MQTT message without power)."""


@dataclass(frozen=True)
class Preset:
    """How one kind of device publishes power."""

    name: str
    topic_pattern: str | None = None  # expands a bare device name (no '/') into the full topic
    default_topic: str | None = None  # used when the connection gives no topic at all
    path: str | None = None
    scale: float = 1.0
    energy_path: str | None = None  # the meter register in the same message (kWh × energy_scale)
    energy_scale: float = 1.0


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("tasmota", topic_pattern="tele/{}/SENSOR", path="ENERGY.Power", energy_path="ENERGY.Total"),
    Preset("shelly_gen1", topic_pattern="shellies/{}/emeter/0/power"),
    Preset("shelly_gen2", topic_pattern="{}/status/em:0", path="total_act_power"),
    Preset("zigbee2mqtt", topic_pattern="zigbee2mqtt/{}", path="power", energy_path="energy"),
    Preset("dsmr", topic_pattern="{}/reading/electricity_currently_delivered",
           default_topic="dsmr/reading/electricity_currently_delivered",
           path="electricity_currently_delivered", scale=1000.0),
    Preset("json"),
)}


def expand_topic(preset: Preset, topic: str | None) -> str | None:
    """The full topic: as given when it contains '/', else the preset's pattern around the name."""
    if not topic:
        return preset.default_topic
    if "/" in topic or preset.topic_pattern is None:
        return topic
    return preset.topic_pattern.format(topic)


def split_path(path: str | None) -> tuple[str, ...]:
    """``"ENERGY.Power"`` → ``("ENERGY", "Power")``; digits index lists (``"Power.0"``)."""
    return tuple(part for part in (path or "").split(".") if part)


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a power value")
    if isinstance(value, (int, float)):
        result = float(value)
    elif isinstance(value, str):
        result = float(value.strip())
    elif isinstance(value, list) and value:
        result = sum(_number(v) for v in value)
    else:
        raise ValueError(f"{type(value).__name__} is not a number")
    if not math.isfinite(result):
        raise ValueError("the number is not finite")
    return result


def extract_watts(payload: bytes, path: tuple[str, ...], scale: float) -> float:
    """Watts from one message: a plain number, or the JSON value at ``path``, times ``scale``.

    Raises ``ValueError`` for an unparsable payload (also one nested too deeply to read) and
    :class:`FieldAbsent` when valid JSON lacks the field.
    """
    try:
        return _extract(payload, path, scale)
    except RecursionError:
        raise ValueError("the payload is nested too deeply") from None


def extract_values(payload: bytes, path: tuple[str, ...], scale: float, energy_path: tuple[str, ...] = (),
                   energy_scale: float = 1.0) -> tuple[float, float]:
    """``(watts, kWh)`` from one message, parsed once: the watts as :func:`extract_watts` (raising as it does),
    the meter register at ``energy_path`` × ``energy_scale`` — NaN when ``energy_path`` is empty, the payload is a
    plain number, or the field is absent or not a finite number."""
    try:
        text = payload.decode("utf-8").strip()
        try:
            return _number(text) * scale, math.nan
        except ValueError:
            pass
        document: Any = json.loads(text)
        watts = _at(document, path, scale)
        if not energy_path:
            return watts, math.nan
        try:
            return watts, _at(document, energy_path, energy_scale)
        except (FieldAbsent, ValueError, TypeError):
            return watts, math.nan
    except RecursionError:
        raise ValueError("the payload is nested too deeply") from None


def _extract(payload: bytes, path: tuple[str, ...], scale: float) -> float:
    text = payload.decode("utf-8").strip()
    try:
        return _number(text) * scale
    except ValueError:
        pass
    return _at(json.loads(text), path, scale)


def _at(value: Any, path: tuple[str, ...], scale: float) -> float:
    """The number at ``path`` in a parsed JSON document, times ``scale``."""
    for part in path if isinstance(value, (dict, list)) else ():
        if isinstance(value, dict):
            if part not in value:
                raise FieldAbsent(part)
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise FieldAbsent(part)
    if isinstance(value, dict):
        raise ValueError("the payload is a JSON object; give params.path to the power field")
    return _number(value) * scale
