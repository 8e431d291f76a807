"""Group the registers wanted from one unit into as few read requests as possible.

Registers of the same table (input / holding) are merged into one block when they overlap, touch, or
lie at most ``max_gap`` unused registers apart, as long as the block stays within the 125-register
limit of one Modbus read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from venclient.plugins.modbus_meter.registermaps import MAX_REGISTERS_PER_READ


@dataclass(frozen=True)
class Block:
    """One read request: ``count`` registers of table ``function`` from ``address`` on."""

    function: str
    address: int
    count: int

    @property
    def end(self) -> int:
        """One past the last register."""
        return self.address + self.count


def plan_blocks(spans: Iterable[tuple[str, int, int]], max_gap: int = 0,
                max_count: int = MAX_REGISTERS_PER_READ) -> list[Block]:
    """Blocks covering every ``(function, address, count)`` span, merged where allowed.

    Every span lies entirely inside exactly one returned block; use :func:`locate` to find it.
    """
    unique = sorted(set(spans))
    blocks: list[Block] = []
    current: Block | None = None
    for function, address, count in unique:
        end = address + count
        if current is not None and function == current.function and address <= current.end + max_gap \
                and max(end, current.end) - current.address <= max_count:
            current = Block(function, current.address, max(end, current.end) - current.address)
            continue
        if current is not None:
            blocks.append(current)
        current = Block(function, address, count)
    if current is not None:
        blocks.append(current)
    return blocks


def locate(blocks: list[Block], function: str, address: int, count: int) -> tuple[int, int]:
    """``(block index, offset in registers)`` of the span inside ``blocks``."""
    for index, block in enumerate(blocks):
        if block.function == function and block.address <= address and address + count <= block.end:
            return index, address - block.address
    raise ValueError(f"span {function} {address}+{count} is not covered by the planned blocks")
