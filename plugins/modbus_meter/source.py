"""The Modbus meter source (kinds ``modbustcp`` and ``modbusrtu``).

``open(batch)`` resolves every load's channel to a register, groups the registers per bus and unit into
block reads, and connects the buses.  ``read(tick)`` asks all buses concurrently (requests on one bus in
sequence) and scatters the decoded watts into arrays aligned with the batch.  A load whose connection has
no channel for its component reports NaN / ``QUALITY_MISSING`` — nothing, not zero; a register holding a
float32 NaN or infinity pattern reads NaN / ``QUALITY_INVALID``.

A load whose channel has a meter register (``total_power`` of the SDM maps reads ``import_energy``; a generic
channel's ``energy``) has that register planned into the same block reads, and after each ``read`` its kWh are
in :attr:`ModbusMeterSource.energy_register_kwh` (:class:`venclient.protocols.HasRegisterReading`; NaN for the
other loads and for a failed or non-finite read).
"""

from __future__ import annotations

import asyncio
import math
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from venclient.errors import InputError
from venclient.model import LOAD_COMPONENTS, QUALITY_INVALID, QUALITY_MISSING, QUALITY_OK, WRITER, Connection
from venclient.protocols import LoadBatch, SourceReading, parsed_connections
from venclient.plugins.modbus_meter.bus import ModbusBus, decode
from venclient.plugins.modbus_meter.options import ModbusOptions
from venclient.plugins.modbus_meter.params import KINDS, BusAddress, ModbusTarget, Register, parse_reader, parse_writer
from venclient.plugins.modbus_meter.planner import Block, locate, plan_blocks

log = logging.getLogger(__name__)

COMPONENT_NAMES: tuple[str, ...] = tuple(LOAD_COMPONENTS)


@dataclass
class _Slot:
    """One load to fill: its batch position, the request holding its register and where in it."""

    position: int
    request: int
    offset: int
    register: Register


@dataclass
class _BusPlan:
    """Everything one bus reads per tick and where the values go."""

    bus: ModbusBus
    requests: list[tuple[int, Block]] = field(default_factory=list)
    slots: list[_Slot] = field(default_factory=list)
    positions: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.intp))
    energy_slots: list[_Slot] = field(default_factory=list)  # meter registers (kWh), in the same requests
    energy_positions: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.intp))


Wanted = dict[int, list[tuple[int, Register]]]  # unit → (batch position, register)


def _plan_bus(bus: ModbusBus, wanted: Wanted, gaps: dict[int, int], energy: Wanted | None = None) -> _BusPlan:
    """Block reads for every unit of one bus: the power registers ``wanted[unit]`` and the meter registers
    ``energy[unit]`` planned together, so a register near the power block costs no extra request."""
    plan = _BusPlan(bus=bus)
    energy = energy or {}
    for unit in sorted(set(wanted) | set(energy)):
        both = [*wanted.get(unit, ()), *energy.get(unit, ())]
        blocks = plan_blocks(((r.function, r.address, r.count) for _, r in both), max_gap=gaps[unit])
        first = len(plan.requests)
        plan.requests.extend((unit, block) for block in blocks)
        for slots, listed in ((plan.slots, wanted), (plan.energy_slots, energy)):
            for position, register in listed.get(unit, ()):
                index, offset = locate(blocks, register.function, register.address, register.count)
                slots.append(_Slot(position, first + index, offset, register))
    plan.positions = np.fromiter((s.position for s in plan.slots), dtype=np.intp, count=len(plan.slots))
    plan.energy_positions = np.fromiter((s.position for s in plan.energy_slots), dtype=np.intp,
                                        count=len(plan.energy_slots))
    return plan


def _decoded(raw: list[Any], slots: list[_Slot]) -> np.ndarray:
    """The value of each slot from the requests' words ``raw``: NaN where its request failed, infinity where
    the decode is not finite."""
    values = np.full(len(slots), np.nan)
    for i, slot in enumerate(slots):
        words = raw[slot.request]
        if words is not None:
            value = decode(words[slot.offset:slot.offset + slot.register.count], slot.register)
            values[i] = value if math.isfinite(value) else math.inf
    return values


class ModbusMeterSource:
    """Reads Eastron SDM630/SDM120 and generic Modbus meters over TCP and RTU (see the plugin README)."""

    kinds: tuple[str, ...] = KINDS

    def __init__(self, options: ModbusOptions | None = None):
        self.options = options or ModbusOptions()
        self._size = 0
        self._plans: list[_BusPlan] = []
        self._buses: dict[BusAddress, ModbusBus] = {}
        self._reported_bad: set[int] = set()
        self.energy_register_kwh: np.ndarray | None = None  # HasRegisterReading: kWh per load after read()

    # ------------------------------------------------------------------ contract extras
    def validate_connection(self, connection: Connection) -> None:
        """Raise InputError (one sentence) when the connection's options are unusable."""
        (parse_writer if connection.actortype == WRITER else parse_reader)(connection)

    async def test_read(self, connection: Connection) -> dict[str, float | None]:
        """Read one connection once: ``{load_component: watts or None}``; InputError when unreachable."""
        target = parse_reader(connection)
        bus = ModbusBus(target.bus, self.options, target.serial, target.timeout)
        try:
            if not await bus.connect():
                raise InputError(f"Modbus {target.bus.describe()} is unreachable (no connection within "
                                 f"{bus.timeout:g} s).")
            wanted = {target.unit: [(i, r) for i, r in enumerate(target.channels.values())]}
            plan = _plan_bus(bus, wanted, {target.unit: target.max_gap})
            _, values, _, _ = await self._read_plan(plan)
        finally:
            await bus.close()
        return {name: (float(v) if math.isfinite(v) else None) for name, v in zip(target.channels, values)}

    # ------------------------------------------------------------------ MeterSource
    async def open(self, batch: LoadBatch) -> None:
        """Plan block reads for ``batch`` and connect its buses (reusing buses that stay)."""
        targets = self._targets(batch)
        wanted: dict[BusAddress, dict[int, list[tuple[int, Register]]]] = defaultdict(lambda: defaultdict(list))
        energy: dict[BusAddress, dict[int, list[tuple[int, Register]]]] = defaultdict(lambda: defaultdict(list))
        gaps: dict[BusAddress, dict[int, int]] = defaultdict(dict)
        first_target: dict[BusAddress, ModbusTarget] = {}
        for position, (connection_id, component) in enumerate(zip(batch.connection_ids, batch.components)):
            target = targets.get(int(connection_id))
            name = COMPONENT_NAMES[int(component)]
            register = target.channels.get(name) if target is not None else None
            if target is None or register is None:
                continue  # no channel: this load reports nothing
            wanted[target.bus][target.unit].append((position, register))
            if name in target.energy:
                energy[target.bus][target.unit].append((position, target.energy[name]))
            gaps[target.bus][target.unit] = min(gaps[target.bus].get(target.unit, target.max_gap), target.max_gap)
            first_target.setdefault(target.bus, target)

        buses: dict[BusAddress, ModbusBus] = {}
        for address, target in first_target.items():
            fresh = ModbusBus(address, self.options, target.serial, target.timeout)
            kept = self._buses.get(address)
            if kept is not None and (kept.serial, kept.timeout) == (fresh.serial, fresh.timeout):
                fresh = self._buses.pop(address)
            buses[address] = fresh
        await self._close_buses(self._buses.values())
        self._buses = buses
        self._plans = [_plan_bus(buses[a], wanted[a], gaps[a], energy.get(a)) for a in buses]
        self._size = len(batch)
        self.energy_register_kwh = None
        await asyncio.gather(*(b.connect() for b in buses.values() if not b.connected))

    async def read(self, tick: Any = None) -> SourceReading:
        """Watts per load of the opened batch; failures give NaN / QUALITY_MISSING, never an exception."""
        power = np.full(self._size, np.nan)
        quality = np.full(self._size, QUALITY_MISSING, dtype=np.uint8)
        registers = np.full(self._size, np.nan) if any(p.energy_slots for p in self._plans) else None
        results = await asyncio.gather(*(self._read_plan(p) for p in self._plans), return_exceptions=True)
        for plan, result in zip(self._plans, results):
            if isinstance(result, BaseException):
                if isinstance(result, asyncio.CancelledError):
                    raise result
                log.error("Modbus bus %s failed unexpectedly: %r", plan.bus.address.describe(), result)
                continue
            positions, values, energy_positions, kwh = result
            if registers is not None and len(energy_positions):
                registers[energy_positions] = np.where(np.isfinite(kwh), kwh, np.nan)
            finite = np.isfinite(values)
            power[positions] = np.where(finite, values, np.nan)
            # NaN from a failed read is missing; a non-finite decode (NaN/inf pattern) is invalid
            quality[positions] = np.where(finite, QUALITY_OK, np.where(np.isinf(values), QUALITY_INVALID,
                                                                       QUALITY_MISSING))
        self.energy_register_kwh = registers
        return SourceReading(power_w=power, quality=quality)

    async def close(self) -> None:
        """Close every bus."""
        await self._close_buses(self._buses.values())
        self._buses, self._plans, self._size = {}, [], 0
        self.energy_register_kwh = None

    # ------------------------------------------------------------------ internals
    def _targets(self, batch: LoadBatch) -> dict[int, ModbusTarget]:
        """Parsed reader connections of the batch; a bad one is logged once and its loads stay missing."""
        return parsed_connections(batch, self.kinds, parse_reader, self._reported_bad, log)

    @staticmethod
    async def _read_plan(plan: _BusPlan) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Read one bus and decode its slots: ``(batch positions, watts, register positions, kWh)``: NaN for a
        failed read, infinity for a decode that is not finite (so the caller can tell them apart)."""
        raw = await plan.bus.read(plan.requests)
        return plan.positions, _decoded(raw, plan.slots), plan.energy_positions, _decoded(raw, plan.energy_slots)

    @staticmethod
    async def _close_buses(buses: Any) -> None:
        await asyncio.gather(*(b.close() for b in list(buses)))

