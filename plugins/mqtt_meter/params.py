"""Turn an ``mqtt`` :class:`venclient.model.Connection` into broker address, channels and writer targets.

Every check raises :class:`venclient.errors.InputError` with one sentence naming the connection and the
offending field.  The schema is documented in this plugin's README.md.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import urlsplit

from venclient.errors import InputError
from venclient.model import LOAD_COMPONENTS, WRITER, Connection
from venclient.plausibility import LIMIT_KEYS, limits_problem
from venclient.plugins.mqtt_meter.presets import PRESETS, expand_topic, split_path

KIND = "mqtt"
DEFAULT_PORT = 1883
DEFAULT_TLS_PORT = 8883
READER_KEYS = frozenset({"broker", "preset", "path", "scale", "energy_path", "energy_scale", "channels", "loads",
                         "qos", "tls", "stale_after_seconds", *LIMIT_KEYS})
CHANNEL_KEYS = frozenset({"topic", "preset", "path", "scale", "energy_path", "energy_scale"})
WRITER_KEYS = frozenset({"broker", "command_topic", "payload_template", "qos", "retain", "tls", "channels",
                         "release_value", "loads", "payload", "levels", "scale", "offset"})
# the last six are read by the event scheduler (venclient.engine.scheduler, venclient.engine.writer_mapping)
WRITE_CHANNEL_KEYS = frozenset({"command_topic", "payload_template", "qos", "retain"})
TEMPLATE_FIELDS = frozenset({"value", "on_off", "load", "load_id", "resource"})
SECRET_SCHEMES = ("env:", "settings:")


@dataclass(frozen=True)
class BrokerAddress:
    """One broker and the identity used on it; equal addresses share one client."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password_ref: str | None = None

    def describe(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


@dataclass(frozen=True)
class Channel:
    """One load's feed: a topic and how to read watts from its payload, and its meter register (kWh at
    ``energy_path`` × ``energy_scale``; an empty path: none)."""

    topic: str
    preset: str
    path: tuple[str, ...]
    scale: float
    energy_path: tuple[str, ...] = ()
    energy_scale: float = 1.0


@dataclass(frozen=True)
class MqttTarget:
    """A parsed reader connection."""

    broker: BrokerAddress
    channels: dict[str, Channel]
    qos: int | None = None
    stale_after_seconds: float | None = None


@dataclass(frozen=True)
class Command:
    """Where and what a writer publishes for one load."""

    topic: str
    payload_template: str
    qos: int = 1
    retain: bool = False


@dataclass(frozen=True)
class WriteTarget:
    """A parsed writer connection: the default command and per-load overrides."""

    broker: BrokerAddress
    default: Command | None
    channels: dict[str, Command] = field(default_factory=dict)

    def command_for(self, load_component: str) -> Command | None:
        return self.channels.get(load_component, self.default)


class _Checker:
    def __init__(self, connection: Connection):
        ident = f" {connection.id}" if connection.id is not None else ""
        self.where = f"MQTT connection{ident}"

    def fail(self, what: str) -> InputError:
        return InputError(f"{self.where}: {what}.")

    def known_keys(self, params: Mapping[str, Any], known: frozenset[str], where: str = "params") -> None:
        unknown = sorted(set(params) - known)
        if unknown:
            raise self.fail(f"{where} has unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")

    def topic(self, value: Any, where: str, purpose: str = "the topic the meter publishes on") -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(f"{where} is missing ({purpose})")
        if "+" in value or "#" in value:
            raise self.fail(f"{where} {value!r} must be one topic, without the wildcards + or #")
        return value

    def qos(self, params: Mapping[str, Any], where: str, default: int | None) -> int | None:
        value = params.get("qos", default)
        if value is not None and (isinstance(value, bool) or value not in (0, 1, 2)):
            raise self.fail(f"{where}.qos must be 0, 1 or 2, got {value!r}")
        return value

    def scale(self, params: Mapping[str, Any], where: str, default: float, key: str = "scale") -> float:
        value = params.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value == 0:
            raise self.fail(f"{where}.{key} must be a non-zero number, got {value!r}")
        return float(value)


def _params(connection: Connection, check: _Checker, known: frozenset[str]) -> dict[str, Any]:
    params = connection.params or {}
    if not isinstance(params, dict):
        raise check.fail(f"params must be a JSON object, got {type(params).__name__}")
    check.known_keys(params, known)
    return params


def _broker(connection: Connection, params: Mapping[str, Any], check: _Checker) -> BrokerAddress:
    tls = params.get("tls", False)
    if not isinstance(tls, bool):
        raise check.fail(f"params.tls must be true or false, got {tls!r}")
    host, port = connection.host, connection.port
    if params.get("broker"):
        try:
            url = urlsplit(str(params["broker"]))
            hostname = url.hostname
        except ValueError:  # an unbalanced "[" (urllib: "Invalid IPv6 URL")
            hostname = None
        if not hostname or url.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise check.fail(f"params.broker must look like mqtt://host:1883 or mqtts://host:8883, "
                             f"got {params['broker']!r}")
        try:
            url_port = url.port
        except ValueError:
            raise check.fail(f"params.broker has an invalid port: {params['broker']!r}") from None
        tls = tls or url.scheme in ("mqtts", "ssl")
        host, port = url.hostname, url_port or port
    if not host:
        raise check.fail("host is missing (give host and port, or params.broker like mqtt://192.168.1.10:1883)")
    port = port if port is not None else (DEFAULT_TLS_PORT if tls else DEFAULT_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise check.fail(f"port must be an integer from 1 to 65535, got {port!r}")
    password = connection.password or None
    if password is not None and not password.startswith(SECRET_SCHEMES):
        raise check.fail("password must name where the secret is (env:VAR_NAME or settings:mqtt.password), "
                         "not hold the secret itself")
    return BrokerAddress(host=host, port=port, tls=tls, username=connection.username or None,
                         password_ref=password)


def _component(name: Any, check: _Checker, where: str) -> str:
    if name not in LOAD_COMPONENTS:
        raise check.fail(f"{where} names {name!r}, which is not a load component (load_0 … load_5)")
    return name


def _channel(spec: Mapping[str, Any], base: Mapping[str, Any], check: _Checker, where: str) -> Channel:
    preset_name = spec.get("preset", base.get("preset", "json"))
    preset = PRESETS.get(preset_name) if isinstance(preset_name, str) else None
    if preset is None:
        raise check.fail(f"{where}.preset must be one of {', '.join(PRESETS)}, got {preset_name!r}")
    path = spec.get("path", base.get("path", preset.path))
    if path is not None and not isinstance(path, str):
        raise check.fail(f"{where}.path must be a dotted path such as ENERGY.Power, got {path!r}")
    energy_path = spec.get("energy_path", base.get("energy_path", preset.energy_path))
    if energy_path is not None and not isinstance(energy_path, str):
        raise check.fail(f"{where}.energy_path must be a dotted path such as ENERGY.Total (or null for none), "
                         f"got {energy_path!r}")
    topic = expand_topic(preset, spec.get("topic", base.get("topic")))
    return Channel(topic=check.topic(topic, f"{where}.topic" if "topic" in spec else "topic"),
                   preset=preset.name, path=split_path(path),
                   scale=check.scale(spec if "scale" in spec else base, where, preset.scale),
                   energy_path=split_path(energy_path),
                   energy_scale=check.scale(spec if "energy_scale" in spec else base, where, preset.energy_scale,
                                            "energy_scale"))


def parse_reader(connection: Connection) -> MqttTarget:
    """Validate a reader connection and resolve every load's channel (InputError when bad)."""
    check = _Checker(connection)
    params = _params(connection, check, READER_KEYS)
    problem = limits_problem(params)
    if problem:
        raise check.fail(problem)
    broker = _broker(connection, params, check)
    base = {**params, "topic": connection.topic}
    raw_channels = params.get("channels")
    loads = params.get("loads")
    if raw_channels is not None and not isinstance(raw_channels, dict):
        raise check.fail("params.channels must be an object mapping load components to topics")
    if loads is not None and (not isinstance(loads, list) or not loads):
        raise check.fail("params.loads must be a non-empty list of load components")
    specs: dict[str, Mapping[str, Any]] = {}
    for name, spec in (raw_channels or {}).items():
        where = f"params.channels.{_component(name, check, 'params.channels')}"
        if isinstance(spec, str):
            spec = {"topic": spec}
        if not isinstance(spec, dict):
            raise check.fail(f"{where} must be a topic or an object with topic, preset, path and scale")
        check.known_keys(spec, CHANNEL_KEYS, where)
        specs[name] = spec
    for name in loads or ([] if specs else ["load_0"]):
        specs.setdefault(_component(name, check, "params.loads"), {})
    channels = {name: _channel(spec, base, check, f"params.channels.{name}" if spec else "params")
                for name, spec in specs.items()}
    stale = params.get("stale_after_seconds")
    if stale is not None and (isinstance(stale, bool) or not isinstance(stale, (int, float)) or stale <= 0):
        raise check.fail(f"params.stale_after_seconds must be a number above 0, got {stale!r}")
    return MqttTarget(broker=broker, channels=channels, qos=check.qos(params, "params", None),
                      stale_after_seconds=float(stale) if stale is not None else None)


def _template(value: Any, check: _Checker, where: str) -> str:
    if not isinstance(value, str):
        raise check.fail(f"{where}.payload_template must be a string such as '{{value}}', got {value!r}")
    try:
        value.format(value=1.0, on_off="ON", load="load_0", load_id="x", resource="r")
    except KeyError as err:
        raise check.fail(f"{where}.payload_template uses {{{err.args[0]}}}; known fields: "
                         f"{', '.join(sorted(TEMPLATE_FIELDS))}") from None
    except (ValueError, IndexError, AttributeError) as err:
        raise check.fail(f"{where}.payload_template {value!r} is not a valid template ({err})") from None
    return value


def _command(spec: Mapping[str, Any], base: Mapping[str, Any], check: _Checker, where: str) -> Command:
    retain = spec.get("retain", base.get("retain", False))
    if not isinstance(retain, bool):
        raise check.fail(f"{where}.retain must be true or false, got {retain!r}")
    return Command(
        topic=check.topic(spec.get("command_topic", base.get("command_topic")), f"{where}.command_topic",
                          "the topic the command is published to"),
        payload_template=_template(spec.get("payload_template", base.get("payload_template", "{value}")),
                                   check, where),
        qos=check.qos(spec, where, check.qos(base, "params", 1)) or 0,
        retain=retain,
    )


def parse_writer(connection: Connection) -> WriteTarget:
    """Validate a writer connection (InputError when bad)."""
    check = _Checker(connection)
    if connection.actortype != WRITER:
        raise check.fail(f"actortype must be {WRITER!r} for an MQTT writer, got {connection.actortype!r}")
    params = _params(connection, check, WRITER_KEYS)
    broker = _broker(connection, params, check)
    base = {**params, "command_topic": params.get("command_topic") or connection.topic}
    default = _command({}, base, check, "params") if base.get("command_topic") else None
    raw_channels = params.get("channels") or {}
    if not isinstance(raw_channels, dict):
        raise check.fail("params.channels must be an object mapping load components to commands")
    channels: dict[str, Command] = {}
    for name, spec in raw_channels.items():
        where = f"params.channels.{_component(name, check, 'params.channels')}"
        if not isinstance(spec, dict):
            raise check.fail(f"{where} must be an object with command_topic and payload_template")
        check.known_keys(spec, WRITE_CHANNEL_KEYS, where)
        channels[name] = _command(spec, base, check, where)
    if default is None and not channels:
        raise check.fail("params.command_topic is missing (the topic the command is published to)")
    return WriteTarget(broker=broker, default=default, channels=channels)


def resolve_secret(reference: str | None, settings: Any, where: str) -> str | None:
    """The secret a reference names: ``env:VAR`` (environment) or ``settings:key.path`` (settings).

    Raises InputError naming ``where`` when the variable or key is not set.
    """
    if not reference:
        return None
    scheme, _, name = reference.partition(":")
    if scheme == "env":
        value = os.environ.get(name)
        if value is None:
            raise InputError(f"{where}: password refers to environment variable {name}, which is not set.")
        return value
    value = settings.get(name) if settings is not None else None
    if value in (None, ""):
        raise InputError(f"{where}: password refers to setting {name}, which is not set.")
    return str(value)
