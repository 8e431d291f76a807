"""Turn a ``modbustcp``/``modbusrtu`` :class:`venclient.model.Connection` into what the bus needs.

Every check raises :class:`venclient.errors.InputError` with one sentence naming the connection and the
offending ``params`` key.  The schema is documented in this plugin's README.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from venclient.errors import InputError
from venclient.model import LOAD_COMPONENTS, WRITER, Connection
from venclient.plausibility import LIMIT_KEYS, limits_problem
from venclient.plugins.modbus_meter.registermaps import (
    DATA_TYPES, FUNCTIONS, MAP_NAMES, REGISTER_MAPS, WORD_ORDERS, RegisterMap,
)

TCP = "modbustcp"
RTU = "modbusrtu"
KINDS: tuple[str, ...] = (TCP, RTU)
DEFAULT_TCP_PORT = 502
PARITIES = {"N": "N", "E": "E", "O": "O", "NONE": "N", "EVEN": "E", "ODD": "O"}
WRITE_KINDS: tuple[str, ...] = ("holding", "coil")

SERIAL_KEYS = ("serial_port", "baudrate", "parity", "stopbits", "bytesize", "timeout")
READER_KEYS = frozenset({"unit", "map", "channels", "loads", "word_order", *SERIAL_KEYS, *LIMIT_KEYS})
# read by the event scheduler (venclient.engine.scheduler, venclient.engine.writer_mapping): the value written when
# nothing applies any more, the loads an event may act on, the payload type followed and a levels table (``scale``
# stays the register's own: the Modbus writer scales values itself)
EVENT_KEYS = ("release_value", "loads", "payload", "levels")
WRITER_KEYS = frozenset({"unit", "register", "kind", "scale", "type", "word_order", "channels", *SERIAL_KEYS,
                         *EVENT_KEYS})
REGISTER_KEYS = frozenset({"function", "address", "type", "word_order", "scale"})
GENERIC_CHANNEL_KEYS = REGISTER_KEYS | {"energy"}
NAMED_CHANNEL_KEYS = frozenset({"channel", "word_order", "scale", "energy"})
WRITE_CHANNEL_KEYS = frozenset({"register", "kind", "scale", "type", "word_order"})


@dataclass(frozen=True)
class BusAddress:
    """Where a bus is: a TCP ``host:port`` or a serial port.  Equal addresses share one client."""

    kind: str
    host: str | None = None
    port: int | None = None
    serial_port: str | None = None

    def describe(self) -> str:
        """``host:port`` or the serial port path, for messages."""
        return f"{self.host}:{self.port}" if self.kind == TCP else str(self.serial_port)


@dataclass(frozen=True)
class SerialSettings:
    """Line settings of a serial (RTU) bus."""

    baudrate: int = 9600
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8


@dataclass(frozen=True)
class Register:
    """One value to read: register table, start address, data type, word order and scale to watts."""

    function: str
    address: int
    data_type: str = "float32"
    word_order: str = "big"
    scale: float = 1.0

    @property
    def count(self) -> int:
        """Number of 16-bit registers the value occupies."""
        return DATA_TYPES[self.data_type]


@dataclass(frozen=True)
class ModbusTarget:
    """A parsed reader connection: the bus, the unit id, a register per load component (watts) and, for the
    components whose meter register is read too, its register (``energy``: kWh)."""

    bus: BusAddress
    unit: int
    channels: dict[str, Register]
    max_gap: int = 0
    energy: dict[str, Register] = field(default_factory=dict)
    serial: SerialSettings | None = None
    timeout: float | None = None


@dataclass(frozen=True)
class WriteRegister:
    """Where a writer puts a value: a holding register (scaled, typed) or a coil (on when value ≠ 0)."""

    kind: str
    register: int
    data_type: str = "uint16"
    word_order: str = "big"
    scale: float = 1.0


@dataclass(frozen=True)
class WriteTarget:
    """A parsed writer connection: bus, unit, a default register and per-load overrides."""

    bus: BusAddress
    unit: int
    default: WriteRegister | None
    channels: dict[str, WriteRegister] = field(default_factory=dict)
    serial: SerialSettings | None = None
    timeout: float | None = None

    def register_for(self, load_component: str) -> WriteRegister | None:
        """The register that acts on ``load_component`` (its own channel, else the default)."""
        return self.channels.get(load_component, self.default)


class _Checker:
    """Raises one-sentence InputErrors that name the connection."""

    def __init__(self, connection: Connection):
        ident = f" {connection.id}" if connection.id is not None else ""
        self.where = f"Modbus connection{ident} ({connection.type})"

    def fail(self, what: str) -> InputError:
        return InputError(f"{self.where}: {what}.")

    def integer(self, params: Mapping[str, Any], key: str, low: int, high: int, default: int | None = None,
                where: str = "params") -> int:
        value = params.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(f"{where}.{key} must be an integer from {low} to {high}, got {value!r}")
        return value

    def number(self, params: Mapping[str, Any], key: str, default: float, positive: bool = False,
               where: str = "params") -> float:
        value = params.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or (positive and value <= 0) or (not positive and value == 0):
            rule = "a number above 0" if positive else "a non-zero number"
            raise self.fail(f"{where}.{key} must be {rule}, got {value!r}")
        return float(value)

    def choice(self, params: Mapping[str, Any], key: str, choices: tuple[str, ...], default: str,
               where: str = "params") -> str:
        value = params.get(key, default)
        if value not in choices:
            raise self.fail(f"{where}.{key} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def known_keys(self, params: Mapping[str, Any], known: frozenset[str], where: str = "params") -> None:
        unknown = sorted(set(params) - known)
        if unknown:
            raise self.fail(f"{where} has unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")


def _params(connection: Connection, check: _Checker) -> dict[str, Any]:
    params = connection.params or {}
    if not isinstance(params, dict):
        raise check.fail(f"params must be a JSON object, got {type(params).__name__}")
    return params


def _bus(connection: Connection, params: Mapping[str, Any], check: _Checker) -> tuple[BusAddress, SerialSettings | None]:
    if connection.type == TCP:
        if not connection.host:
            raise check.fail("host is missing (the meter's or gateway's IP address or name)")
        port = connection.port if connection.port is not None else DEFAULT_TCP_PORT
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise check.fail(f"port must be an integer from 1 to 65535, got {port!r}")
        return BusAddress(TCP, host=connection.host, port=port), None
    if connection.type != RTU:
        raise check.fail(f"type must be {TCP} or {RTU}")
    serial_port = params.get("serial_port") or connection.file or connection.host
    if not isinstance(serial_port, str) or not serial_port:
        raise check.fail("params.serial_port is missing (e.g. /dev/serial/by-id/usb-FTDI-if00-port0)")
    parity = PARITIES.get(str(params.get("parity", "N")).upper())
    if parity is None:
        raise check.fail(f"params.parity must be N, E or O, got {params.get('parity')!r}")
    serial = SerialSettings(
        baudrate=check.integer(params, "baudrate", 300, 921600, 9600),
        parity=parity,
        stopbits=check.integer(params, "stopbits", 1, 2, 1),
        bytesize=check.integer(params, "bytesize", 7, 8, 8),
    )
    return BusAddress(RTU, serial_port=serial_port), serial


def _timeout(params: Mapping[str, Any], check: _Checker) -> float | None:
    return check.number(params, "timeout", 1.0, positive=True) if "timeout" in params else None


def _component(name: Any, check: _Checker, where: str) -> str:
    if name not in LOAD_COMPONENTS:
        raise check.fail(f"{where} names {name!r}, which is not a load component (load_0 … load_5)")
    return name


def _named_channel(spec: Any, register_map: RegisterMap, word_order: str, check: _Checker,
                   where: str) -> tuple[Register, Register | None]:
    """The power register of a named channel and its meter register (kWh; the map's pairing unless ``energy``
    names another energy channel or is ``null``)."""
    options: Mapping[str, Any] = {}
    if isinstance(spec, dict):
        check.known_keys(spec, NAMED_CHANNEL_KEYS, where)
        options, spec = spec, spec.get("channel")
    channel = register_map.channels.get(spec) if isinstance(spec, str) else None
    if channel is None:
        raise check.fail(f"{where} names channel {spec!r}, which map {register_map.name} does not have "
                         f"(channels: {', '.join(register_map.channels)})")
    if not channel.is_power:
        raise check.fail(f"{where} names channel {spec!r}, which is energy in {channel.unit}, not power in W")
    order = check.choice(options, "word_order", WORD_ORDERS, word_order, where)
    power = Register(function=channel.function, address=channel.address, data_type=channel.data_type,
                     word_order=order, scale=check.number(options, "scale", 1.0, where=where))
    name = options.get("energy", channel.register)
    if name is None:
        return power, None
    energy = register_map.channels.get(name) if isinstance(name, str) else None
    if energy is None or energy.unit != "kWh":
        kwh = [n for n, c in register_map.channels.items() if c.unit == "kWh"]
        raise check.fail(f"{where}.energy names {name!r}, which is not an energy channel of map "
                         f"{register_map.name} (use one of {', '.join(kwh)}, or null for none)")
    return power, Register(function=energy.function, address=energy.address, data_type=energy.data_type,
                           word_order=order)


def _generic_channel(spec: Any, word_order: str, check: _Checker, where: str,
                     keys: frozenset[str] = GENERIC_CHANNEL_KEYS) -> Register:
    if not isinstance(spec, dict):
        raise check.fail(f"{where} must be an object with function, address, type, word_order and scale "
                         f"when map is generic")
    check.known_keys(spec, keys, where)
    if "address" not in spec:
        raise check.fail(f"{where}.address is missing")
    return Register(
        function=check.choice(spec, "function", FUNCTIONS, "input", where),
        address=check.integer(spec, "address", 0, 65535, where=where),
        data_type=check.choice(spec, "type", tuple(DATA_TYPES), "float32", where),
        word_order=check.choice(spec, "word_order", WORD_ORDERS, word_order, where),
        scale=check.number(spec, "scale", 1.0, where=where),
    )


def parse_reader(connection: Connection) -> ModbusTarget:
    """Validate a reader connection and resolve its channels to registers (InputError when bad)."""
    check = _Checker(connection)
    params = _params(connection, check)
    check.known_keys(params, READER_KEYS)
    problem = limits_problem(params)
    if problem:
        raise check.fail(problem)
    bus, serial = _bus(connection, params, check)
    unit = check.integer(params, "unit", 1, 247, 1)
    map_name = check.choice(params, "map", MAP_NAMES, "sdm630")
    word_order = check.choice(params, "word_order", WORD_ORDERS, "big")
    raw_channels = params.get("channels")
    loads = params.get("loads")
    if raw_channels is not None and not isinstance(raw_channels, dict):
        raise check.fail("params.channels must be an object mapping load components to channels")
    if loads is not None and (not isinstance(loads, list) or not loads):
        raise check.fail("params.loads must be a non-empty list of load components")
    channels_spec: dict[str, Any] = dict(raw_channels or {})
    if map_name == "generic":
        if loads is not None:
            raise check.fail("params.loads needs a named map (sdm630, sdm120); give params.channels for generic")
        if not channels_spec:
            raise check.fail("params.channels is missing; a generic map needs one register per load")
        register_map = None
    else:
        register_map = REGISTER_MAPS[map_name]
        for name in loads or ([] if channels_spec else ["load_0"]):
            channels_spec.setdefault(_component(name, check, "params.loads"), "total_power")
    channels: dict[str, Register] = {}
    energy: dict[str, Register] = {}
    for name, spec in channels_spec.items():
        where = f"params.channels.{_component(name, check, 'params.channels')}"
        if register_map is None:
            channels[name] = _generic_channel(spec, word_order, check, where)
            if spec.get("energy") is not None:  # the meter register (kWh) of this load, read with its power
                energy[name] = _generic_channel(spec["energy"], word_order, check, f"{where}.energy",
                                                REGISTER_KEYS)
        else:
            channels[name], register = _named_channel(spec, register_map, word_order, check, where)
            if register is not None:
                energy[name] = register
    return ModbusTarget(bus=bus, unit=unit, channels=channels, serial=serial, timeout=_timeout(params, check),
                        max_gap=register_map.max_gap if register_map is not None else 0, energy=energy)


def _write_register(spec: Mapping[str, Any], check: _Checker, where: str, word_order: str) -> WriteRegister:
    if "register" not in spec:
        raise check.fail(f"{where}.register is missing (the holding register or coil address)")
    return WriteRegister(
        kind=check.choice(spec, "kind", WRITE_KINDS, "holding", where),
        register=check.integer(spec, "register", 0, 65535, where=where),
        data_type=check.choice(spec, "type", tuple(DATA_TYPES), "uint16", where),
        word_order=check.choice(spec, "word_order", WORD_ORDERS, word_order, where),
        scale=check.number(spec, "scale", 1.0, where=where),
    )


def parse_writer(connection: Connection) -> WriteTarget:
    """Validate a writer connection (InputError when bad)."""
    check = _Checker(connection)
    if connection.actortype != WRITER:
        raise check.fail(f"actortype must be {WRITER!r} for a Modbus writer, got {connection.actortype!r}")
    params = _params(connection, check)
    check.known_keys(params, WRITER_KEYS)
    bus, serial = _bus(connection, params, check)
    unit = check.integer(params, "unit", 1, 247, 1)
    word_order = check.choice(params, "word_order", WORD_ORDERS, "big")
    default = _write_register(params, check, "params", word_order) if "register" in params else None
    raw_channels = params.get("channels") or {}
    if not isinstance(raw_channels, dict):
        raise check.fail("params.channels must be an object mapping load components to registers")
    channels: dict[str, WriteRegister] = {}
    for name, spec in raw_channels.items():
        where = f"params.channels.{_component(name, check, 'params.channels')}"
        if not isinstance(spec, dict):
            raise check.fail(f"{where} must be an object with register, kind, type, word_order and scale")
        check.known_keys(spec, WRITE_CHANNEL_KEYS, where)
        channels[name] = _write_register({**{k: params[k] for k in ("kind", "type", "scale") if k in params},
                                          **spec}, check, where, word_order)
    if default is None and not channels:
        raise check.fail("params.register is missing (the holding register or coil to write)")
    return WriteTarget(bus=bus, unit=unit, default=default, channels=channels, serial=serial,
                       timeout=_timeout(params, check))
