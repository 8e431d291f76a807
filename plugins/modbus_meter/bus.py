"""One Modbus bus: a TCP ``host:port`` or a serial port, served by one pymodbus async client.

Requests on a bus run one after another (Modbus allows one outstanding request per line; pymodbus
serialises them too).  A bus never raises out of :meth:`ModbusBus.read`: a timeout, an exception
response or a lost connection yields ``None`` for the affected blocks.  A block that failed is skipped
for a backoff that doubles up to ``backoff_max_seconds`` (so one dead unit on a shared RS-485 line or
gateway does not cost a timeout every tick), and a lost connection is re-opened in the background on
the same schedule, so the values come back without recreating the source.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Sequence

from venclient.errors import VenError
from venclient.plugins.modbus_meter.options import ModbusOptions
from venclient.plugins.modbus_meter.params import TCP, BusAddress, Register, SerialSettings, WriteRegister
from venclient.plugins.modbus_meter.planner import Block

if TYPE_CHECKING:
    from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

log = logging.getLogger(__name__)

# pymodbus is imported on first use (a bus opened, a value decoded or encoded), not with this module, so a
# process that has no Modbus connections never loads it.
_INT_RANGES = {"int16": (-2**15, 2**15 - 1), "uint16": (0, 2**16 - 1),
               "int32": (-2**31, 2**31 - 1), "uint32": (0, 2**32 - 1)}


@cache
def _mixin() -> Any:
    """``pymodbus.client.mixin.ModbusClientMixin`` (imported on first call)."""
    from pymodbus.client.mixin import ModbusClientMixin
    return ModbusClientMixin


@cache
def _datatypes() -> dict[str, Any]:
    """Our data type names → ``ModbusClientMixin.DATATYPE`` members."""
    datatype = _mixin().DATATYPE
    return {"int16": datatype.INT16, "uint16": datatype.UINT16, "int32": datatype.INT32,
            "uint32": datatype.UINT32, "float32": datatype.FLOAT32}


@cache
def _failures() -> tuple[type[BaseException], ...]:
    """What a request or connect attempt may raise that means "this failed" (pymodbus' own, OS, timeout)."""
    from pymodbus import ModbusException
    return (ModbusException, OSError, asyncio.TimeoutError)


def __getattr__(name: str) -> Any:
    """``DATATYPE``, ``_DATATYPES`` and ``_FAILURES`` (once module constants), importing pymodbus on access."""
    if name == "DATATYPE":
        return _mixin().DATATYPE
    if name == "_DATATYPES":
        return _datatypes()
    if name == "_FAILURES":
        return _failures()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def decode(registers: Sequence[int], register: Register) -> float:
    """The value of ``register`` from its raw 16-bit words, scaled; a float32 holding NaN's or infinity's bit
    pattern (or a product that overflows) gives that non-finite value, which the source marks invalid."""
    value = _mixin().convert_from_registers(list(registers), _datatypes()[register.data_type],
                                            word_order=register.word_order)
    return float(value) * register.scale  # type: ignore[arg-type]


def encode(value: float, register: WriteRegister) -> list[int]:
    """Raw words for writing ``value × scale`` as ``register.data_type`` (VenError when out of range)."""
    raw = value * register.scale
    if register.data_type == "float32":
        return _mixin().convert_to_registers(raw, _datatypes()["float32"], word_order=register.word_order)
    low, high = _INT_RANGES[register.data_type]
    number = round(raw)
    if not low <= number <= high:
        raise VenError(f"Value {value} × scale {register.scale} = {number} does not fit a "
                       f"{register.data_type} register ({low} … {high}).")
    return _mixin().convert_to_registers(number, _datatypes()[register.data_type],
                                         word_order=register.word_order)


@dataclass
class Backoff:
    """A doubling wait between attempts: ``ready()`` until the first failure, reset by success."""

    minimum: float
    maximum: float
    delay: float = 0.0
    next_at: float = 0.0

    def ready(self, now: float) -> bool:
        return now >= self.next_at

    def failed(self, now: float) -> None:
        self.delay = min(max(self.delay * 2, self.minimum), self.maximum)
        self.next_at = now + self.delay

    def succeeded(self) -> None:
        self.delay, self.next_at = 0.0, 0.0

    @property
    def failing(self) -> bool:
        return self.delay > 0


class ModbusBus:
    """A pymodbus client for one bus with sequential requests, per-block backoff and background reconnect."""

    def __init__(self, address: BusAddress, options: ModbusOptions, serial: SerialSettings | None = None,
                 timeout: float | None = None):
        self.address = address
        self.options = options
        self.serial = serial or SerialSettings()
        self.timeout = timeout or options.timeout_seconds
        self._client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None
        self._lock = asyncio.Lock()
        self._connect_lock = asyncio.Lock()
        self._connect_backoff = Backoff(options.backoff_min_seconds, options.backoff_max_seconds)
        self._block_backoff: dict[tuple[int, Block], Backoff] = {}
        self._reconnect_task: asyncio.Task[bool] | None = None
        self._was_connected = False

    # ---------------------------------------------------------------- connection
    def _new_client(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

        common = dict(name=f"ven {self.address.describe()}", reconnect_delay=0, timeout=self.timeout, retries=0)
        if self.address.kind == TCP:
            return AsyncModbusTcpClient(self.address.host or "", port=self.address.port or 502, **common)
        return AsyncModbusSerialClient(
            self.address.serial_port or "", baudrate=self.serial.baudrate, parity=self.serial.parity,
            stopbits=self.serial.stopbits, bytesize=self.serial.bytesize, **common)

    @property
    def connected(self) -> bool:
        """True while the client holds an open connection."""
        return self._client is not None and self._client.connected

    async def connect(self) -> bool:
        """Open a fresh connection unless one is open (bounded by the timeout); on failure extend the backoff."""
        async with self._connect_lock:
            if self.connected:
                return True
            self._drop_client()
            client = self._new_client()
            try:
                ok = await asyncio.wait_for(client.connect(), timeout=self.timeout + 0.5)
            except _failures():
                ok = False
            if ok and client.connected:
                self._client = client
                self._connect_backoff.succeeded()
                if not self._was_connected:
                    log.info("Modbus bus %s connected.", self.address.describe())
                self._was_connected = True
                return True
            client.close()
            if self._was_connected or not self._connect_backoff.failing:
                log.warning("Modbus bus %s is unreachable; retrying with backoff up to %g s.",
                            self.address.describe(), self.options.backoff_max_seconds)
            self._was_connected = False
            self._connect_backoff.failed(time.monotonic())
            return False

    def _kick_reconnect(self) -> None:
        """Start a background reconnect unless one runs or the backoff has not elapsed."""
        if self._reconnect_task is not None and not self._reconnect_task.done():
            return
        if not self._connect_backoff.ready(time.monotonic()):
            return
        self._reconnect_task = asyncio.get_running_loop().create_task(self.connect())

    def _drop_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def close(self) -> None:
        """Stop reconnecting and close the connection."""
        task, self._reconnect_task = self._reconnect_task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, *_failures()):
                pass
        self._drop_client()

    # ---------------------------------------------------------------- requests
    async def read(self, requests: Sequence[tuple[int, Block]]) -> list[list[int] | None]:
        """Raw registers per ``(unit, block)`` request; ``None`` where it failed or is backing off."""
        results: list[list[int] | None] = [None] * len(requests)
        if not self.connected:
            self._kick_reconnect()
            return results
        async with self._lock:
            for index, (unit, block) in enumerate(requests):
                backoff = self._block_backoff.get((unit, block))
                if backoff is not None and not backoff.ready(time.monotonic()):
                    continue
                if not self.connected:
                    break
                results[index] = await self._read_block(unit, block)
        if not self.connected:
            self._kick_reconnect()
        return results

    async def _read_block(self, unit: int, block: Block) -> list[int] | None:
        client = self._client
        assert client is not None
        method = client.read_input_registers if block.function == "input" else client.read_holding_registers
        try:
            response = await method(block.address, count=block.count, device_id=unit)
        except _failures() as err:
            if self.connected:  # a lost connection is the bus's problem, not this unit's
                self._block_failed(unit, block, f"{type(err).__name__}: {err}")
            return None
        if response.isError():
            self._block_failed(unit, block, f"exception response {getattr(response, 'exception_code', '?')}")
            return None
        registers = list(response.registers)
        if len(registers) < block.count:
            self._block_failed(unit, block, f"short answer ({len(registers)} of {block.count} registers)")
            return None
        backoff = self._block_backoff.pop((unit, block), None)
        if backoff is not None and backoff.failing:
            log.info("Modbus %s unit %d answers again (%s registers at %#06x).",
                     self.address.describe(), unit, block.function, block.address)
        return registers[:block.count]

    def _block_failed(self, unit: int, block: Block, reason: str) -> None:
        backoff = self._block_backoff.setdefault(
            (unit, block), Backoff(self.options.backoff_min_seconds, self.options.backoff_max_seconds))
        if not backoff.failing:
            log.warning("Modbus %s unit %d: reading %d %s registers at %#06x failed (%s); "
                        "reporting missing values and retrying with backoff.",
                        self.address.describe(), unit, block.count, block.function, block.address, reason)
        backoff.failed(time.monotonic())

    async def write(self, unit: int, target: WriteRegister, value: float) -> None:
        """Write ``value`` to a coil (on when ≠ 0) or holding register(s); VenError on any failure."""
        where = f"Modbus {self.address.describe()} unit {unit} {target.kind} {target.register}"
        if not self.connected and not await self.connect():
            raise VenError(f"Could not write to {where}: the bus is unreachable.")
        client = self._client
        assert client is not None
        async with self._lock:
            try:
                if target.kind == "coil":
                    response = await client.write_coil(target.register, bool(value), device_id=unit)
                else:
                    words = encode(value, target)
                    if len(words) == 1:
                        response = await client.write_register(target.register, words[0], device_id=unit)
                    else:
                        response = await client.write_registers(target.register, words, device_id=unit)
            except _failures() as err:
                raise VenError(f"Could not write to {where}: {type(err).__name__} {err}.") from None
        if response.isError():
            raise VenError(f"Could not write to {where}: the device answered with exception code "
                           f"{getattr(response, 'exception_code', '?')}.")
