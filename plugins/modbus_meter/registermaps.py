"""Register maps of the meters the Modbus source knows by name (Eastron SDM630 and SDM120).

A map names *channels* (``total_power``, ``l1_power`` …).  Each channel is one value in the device:
the register table it lives in, its start address, its data type and its unit.  Only channels measured
in watts may feed a load; an energy channel (kWh) is a power channel's *register*: ``total_power`` reads
``import_energy`` (Eastron "total import active energy", input registers 0x0048, float32 kWh) along with it,
the READING payload of reports (:class:`venclient.protocols.HasRegisterReading`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

FUNCTIONS: tuple[str, ...] = ("input", "holding")
DATA_TYPES: dict[str, int] = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2}
WORD_ORDERS: tuple[str, ...] = ("big", "little")
MAX_REGISTERS_PER_READ = 125  # the Modbus limit for one read request


@dataclass(frozen=True)
class MapChannel:
    """One named value of a meter's register map."""

    address: int
    data_type: str = "float32"
    function: str = "input"
    unit: str = "W"
    register: str | None = None  # the energy channel read along with this power channel (its meter register)

    @property
    def is_power(self) -> bool:
        """True when the channel is measured in watts (and may therefore feed a load)."""
        return self.unit == "W"


@dataclass(frozen=True)
class RegisterMap:
    """A named register map; ``max_gap`` is how many unused registers a block read may span."""

    name: str
    channels: dict[str, MapChannel] = field(default_factory=dict)
    max_gap: int = 0


SDM630 = RegisterMap(
    name="sdm630",
    channels={
        "l1_power": MapChannel(0x000C),
        "l2_power": MapChannel(0x000E),
        "l3_power": MapChannel(0x0010),
        "total_power": MapChannel(0x0034, register="import_energy"),
        "import_energy": MapChannel(0x0048, unit="kWh"),
        "export_energy": MapChannel(0x004A, unit="kWh"),
    },
    # Eastron meters answer any read inside 0x0000..0x004F, so channels up to 64 registers apart are
    # fetched in one request (e.g. 0x000C..0x0049 for the three phases, the total and the import energy).
    max_gap=64,
)

SDM120 = RegisterMap(
    name="sdm120",
    channels={
        "total_power": MapChannel(0x000C, register="import_energy"),
        "import_energy": MapChannel(0x0048, unit="kWh"),
        "export_energy": MapChannel(0x004A, unit="kWh"),
    },
    max_gap=64,
)

REGISTER_MAPS: dict[str, RegisterMap] = {m.name: m for m in (SDM630, SDM120)}
MAP_NAMES: tuple[str, ...] = (*REGISTER_MAPS, "generic")
