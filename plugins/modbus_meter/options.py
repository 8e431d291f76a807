"""The ``[modbus]`` settings table: timeouts and reconnect backoff, with their validators."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dynaconf import Validator


@dataclass(frozen=True)
class ModbusOptions:
    """Timing of every Modbus bus.

    ``timeout_seconds`` bounds one request (and one connect attempt); a unit that does not answer costs
    at most that once, then it is skipped for a backoff that doubles from ``backoff_min_seconds`` up to
    ``backoff_max_seconds``.  A lost connection is re-opened in the background on the same schedule.
    """

    timeout_seconds: float = 1.0
    backoff_min_seconds: float = 0.5
    backoff_max_seconds: float = 30.0

    @classmethod
    def from_settings(cls, settings: Any) -> "ModbusOptions":
        """Options from ``settings.modbus`` (defaults where a key is absent)."""
        table = (settings.get("modbus") if settings is not None else None) or {}
        get = (lambda key, default: table.get(key, default))
        return cls(
            timeout_seconds=float(get("timeout_seconds", cls.timeout_seconds)),
            backoff_min_seconds=float(get("backoff_min_seconds", cls.backoff_min_seconds)),
            backoff_max_seconds=float(get("backoff_max_seconds", cls.backoff_max_seconds)),
        )


def settings_validators() -> list[Validator]:
    """Validators (with defaults) for ``modbus.*``."""
    return [
        Validator("modbus.timeout_seconds", default=ModbusOptions.timeout_seconds, is_type_of=(int, float), gt=0,
                  messages={"operations": "modbus.timeout_seconds must be a number above 0, got {value!r}."}),
        Validator("modbus.backoff_min_seconds", default=ModbusOptions.backoff_min_seconds,
                  is_type_of=(int, float), gt=0,
                  messages={"operations": "modbus.backoff_min_seconds must be a number above 0, got {value!r}."}),
        Validator("modbus.backoff_max_seconds", default=ModbusOptions.backoff_max_seconds,
                  is_type_of=(int, float), gt=0,
                  messages={"operations": "modbus.backoff_max_seconds must be a number above 0, got {value!r}."}),
    ]
