"""The ``[mqtt]`` settings table: staleness, credentials, TLS, reconnect backoff, with validators.

``mqtt.password`` is a secret: set it with ``VEN_MQTT__PASSWORD`` or in ``.secrets.toml``, never in
``settings.toml``.  A connection may name its own secret instead (``password = "env:SHED_MQTT_PW"``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from dynaconf import Validator


@dataclass(frozen=True)
class MqttOptions:
    """Process-wide MQTT behaviour (a connection's params may override ``stale_after_seconds`` and ``qos``)."""

    stale_after_seconds: float = 600.0
    username: str = ""
    password: str = ""
    tls: bool = False
    ca_certs: str = ""
    keepalive_seconds: int = 60
    backoff_min_seconds: float = 1.0
    backoff_max_seconds: float = 60.0
    connect_timeout_seconds: float = 5.0
    test_wait_seconds: float = 5.0
    qos: int = 0
    client_id_prefix: str = "venclient"

    @classmethod
    def from_settings(cls, settings: Any) -> "MqttOptions":
        """Options from ``settings.mqtt`` (defaults where a key is absent)."""
        table = (settings.get("mqtt") if settings is not None else None) or {}
        values = {f.name: _coerce(getattr(cls, f.name), table.get(f.name))
                  for f in fields(cls) if table.get(f.name) is not None}
        return cls(**values)


def _coerce(default: Any, value: Any) -> Any:
    """``value`` as the type of ``default`` (``"false"`` → ``False`` for booleans)."""
    if isinstance(default, bool):
        return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "on")
    return type(default)(value)


def _validator(key: str, rule: str, **checks: Any) -> Validator:
    default = getattr(MqttOptions, key)
    return Validator(f"mqtt.{key}", default=default, **checks,
                     messages={"operations": f"mqtt.{key} must be {rule}, got {{value!r}}."})


def settings_validators() -> list[Validator]:
    """Validators (with defaults) for ``mqtt.*``."""
    number = (int, float)
    return [
        _validator("stale_after_seconds", "a number of seconds above 0", is_type_of=number, gt=0),
        _validator("username", "a string", is_type_of=str),
        _validator("password", "a string (from VEN_MQTT__PASSWORD or .secrets.toml)", is_type_of=str),
        _validator("tls", "true or false", is_type_of=bool),
        _validator("ca_certs", "a path to a CA bundle or empty", is_type_of=str),
        _validator("keepalive_seconds", "an integer above 0", is_type_of=int, gt=0),
        _validator("backoff_min_seconds", "a number above 0", is_type_of=number, gt=0),
        _validator("backoff_max_seconds", "a number above 0", is_type_of=number, gt=0),
        _validator("connect_timeout_seconds", "a number above 0", is_type_of=number, gt=0),
        _validator("test_wait_seconds", "a number above 0", is_type_of=number, gt=0),
        _validator("qos", "0, 1 or 2", is_type_of=int, is_in=[0, 1, 2]),
        _validator("client_id_prefix", "a string", is_type_of=str),
    ]
