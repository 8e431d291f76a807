"""The domain model: resources, their six load components, connections, meter readings.

Names follow the seeds: statuses ``PENDING``/``APPROVED``/``SUSPENDED``, components ``load_0``…``load_5``,
``MeterReading(timestamp [Unix ms], load_id, power_w)``.  Domain time is UTC-aware ``datetime``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict


if TYPE_CHECKING:  # pragma: no cover - numpy only types the arrays here
    import numpy as np

PENDING = "PENDING"
APPROVED = "APPROVED"
SUSPENDED = "SUSPENDED"
STATUSES: tuple[str, ...] = (PENDING, APPROVED, SUSPENDED)

LOAD_COMPONENTS: dict[str, str] = {
    "load_0": "Base Load",
    "load_1": "Water Heater",
    "load_2": "HVAC",
    "load_3": "Kitchen Appliances",
    "load_4": "Lighting",
    "load_5": "Other Appliances",
}
COMPONENT_INDEX: dict[str, int] = {name: i for i, name in enumerate(LOAD_COMPONENTS)}

H5SIM_KIND = "h5sim"
"""The connection kind of a resource without a reader connection: its loads are simulated from its H5 meter."""
# Connection kinds known to the default plugins; third-party sources may add more.
KNOWN_KINDS: tuple[str, ...] = (H5SIM_KIND, "filereader", "modbustcp", "modbusrtu", "mqtt")
READER = "reader"
WRITER = "writer"
OPT_OUT_ALL = "*"
"""The resource id of an opt-out that covers every resource of an event (``ven events opt-out EVENT``)."""

# Quality of one value in a Readings batch.
QUALITY_OK = 0
QUALITY_MISSING = 1
QUALITY_STALE = 2
QUALITY_INVALID = 3
"""A value was read but is not plausible (not finite, or outside its load's bounds: :mod:`venclient.plausibility`);
its ``power_w`` is NaN, and it is never reported as a value."""
QUALITY_NAMES = {QUALITY_OK: "ok", QUALITY_MISSING: "missing", QUALITY_STALE: "stale", QUALITY_INVALID: "invalid"}


def utcnow() -> datetime:
    """The current time, UTC-aware."""
    return datetime.now(timezone.utc)


@dataclass
class Connection:
    """How a resource's meter is reached (reader) or its load is acted on (writer).

    ``type`` is the connection kind (``h5sim``, ``modbustcp`` …); ``params`` holds kind-specific options
    (register map, unit id, preset, channel map …).  ``password`` never holds a secret: it names an
    environment variable or settings key (``env:MQTT_PASSWORD``) from which the secret is read.
    """

    id: int | None
    type: str
    actortype: str = READER
    host: str | None = None
    port: int | None = None
    topic: str | None = None
    file: str | None = None
    username: str | None = None
    password: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None


@dataclass
class Resource:
    """A site (bar, hotel, charging station …) behind one meter point, belonging to one VEN (a town)."""

    resource_id: str
    resource_name: str
    resource_type: str
    resource_sub_type: str
    meter_point_id: str
    ven: str
    capacities: dict[str, Any] = field(default_factory=dict)
    location: dict[str, Any] = field(default_factory=dict)
    address: str = ""
    enabled: bool = True
    reporting: bool = True
    registration_status: str = PENDING
    h5_meter_id: str | None = None
    connection_id: int | None = None
    id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass
class Load:
    """One of a resource's six load components; registered with the VTN as its own resource."""

    load_id: str
    resource_id: str
    load_component: str
    load_name: str
    h5_meter_id: str
    vtn_resource_id: str | None = None
    registration_status: str = PENDING
    last_error: str | None = None
    id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def resource_name_on_vtn(self) -> str:
        """The stable, unique OpenADR ``resourceName``: ``"{resource_id}_{load_component}"``."""
        return external_resource_name(self.resource_id, self.load_component)


def external_resource_name(resource_id: str, load_component: str) -> str:
    """The seeds' external id, used as the VTN ``resourceName`` (unique within a VEN, stable)."""
    return f"{resource_id}_{load_component}"


@dataclass
class MeterReading:
    """One load component's reading (the seeds' shape): ``timestamp`` in Unix **milliseconds**."""

    timestamp: int
    load_id: str
    power_w: float


@dataclass
class ResourceMeterData:
    """All readings of one resource at one tick (the seeds' shape)."""

    resource_id: str
    meter_point_id: str
    readings: list[MeterReading] = field(default_factory=list)


@dataclass
class Readings:
    """A batch of readings at one tick, as arrays aligned by position (no object per load).

    ``load_ids``/``resource_ids``/``components`` are object arrays of str; ``power_w`` float64 watts
    (NaN where no value); ``quality`` uint8 codes ``QUALITY_*``; ``baseline_w`` (``None`` when no source has
    one) the watts the loads would draw without load control, NaN where unknown
    (:class:`venclient.protocols.HasBaseline`); ``register_kwh`` (``None`` when no source has one) the meter
    register reading in kWh, NaN where unknown (:class:`venclient.protocols.HasRegisterReading`).
    """

    timestamp_ms: int
    load_ids: np.ndarray
    resource_ids: np.ndarray
    components: np.ndarray
    power_w: np.ndarray
    quality: np.ndarray
    baseline_w: np.ndarray | None = None
    register_kwh: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.load_ids)

    def ok_mask(self) -> np.ndarray:
        """Boolean mask of values that are present and fresh."""
        return self.quality == QUALITY_OK


# ----------------------------------------------------------------------------------------------------------
# Rows: the lean shapes hot paths read from a store (one tuple per load, fields by name, no Load object)
# ----------------------------------------------------------------------------------------------------------
class LoadRow(NamedTuple):
    """One load as ``ResourceStore.load_tuples`` returns it (the first seven :class:`Load` fields)."""

    load_id: str
    resource_id: str
    load_component: str
    load_name: str
    h5_meter_id: str
    vtn_resource_id: str | None
    registration_status: str

    @classmethod
    def of(cls, load: Load) -> "LoadRow":
        """The row of a :class:`Load`."""
        return cls(load.load_id, load.resource_id, load.load_component, load.load_name, load.h5_meter_id,
                   load.vtn_resource_id, load.registration_status)

    def to_load(self) -> Load:
        """The :class:`Load` of this row (its other fields at their defaults)."""
        return Load(load_id=self.load_id, resource_id=self.resource_id, load_component=self.load_component,
                    load_name=self.load_name, h5_meter_id=self.h5_meter_id, vtn_resource_id=self.vtn_resource_id,
                    registration_status=self.registration_status)


class CollectionRow(NamedTuple):
    """One load to collect, as ``ResourceStore.collection_rows`` returns it: the load, its resource's reader
    ``connection_id`` (``None``: none) and ``connection_type`` (:data:`H5SIM_KIND` without a reader connection),
    and ``vtn_resource_id`` (``None`` while the load is not registered)."""

    load_id: str
    resource_id: str
    load_component: str
    h5_meter_id: str | None
    connection_id: int | None
    meter_point_id: str
    ven: str | None
    vtn_resource_id: str | None
    connection_type: str


# Rows that stay dicts (callers read them by key); their keys are declared here once.
class RegistrationRow(TypedDict):
    """One load joined with its resource, as ``ResourceStore.registration_rows`` returns it."""

    load_id: str
    resource_id: str
    load_component: str
    load_name: str
    h5_meter_id: str | None
    vtn_resource_id: str | None
    resource_name: str
    resource_type: str
    resource_sub_type: str
    meter_point_id: str
    capacities: dict[str, Any]
    location: dict[str, Any]
    address: str
    ven: str


class OutboxItem(TypedDict):
    """A report to store in the outbox: ``payload`` is its JSON text as it goes on the wire."""

    ven: str
    program_id: str
    event_id: str
    tick_ms: int | None
    payload: str


class OutboxRow(TypedDict, total=False):
    """A stored report without its payload (``ResourceStore.outbox_list``): ``state`` is ``pending`` or
    ``rejected``; ``maybe_delivered`` (0/1) says whether an attempt may have reached the VTN; ``next_attempt_at``
    is Unix seconds; ``payload_bytes`` (optional) is the length of the payload text, so the outbox can bound the
    text in flight before reading it.  A store may add columns (``created_at`` …)."""

    id: int
    ven: str
    program_id: str
    event_id: str
    tick_ms: int | None
    state: str
    attempts: int
    last_error: str | None
    next_attempt_at: float
    maybe_delivered: int
    payload_bytes: int | None


class BacklogTick(TypedDict):
    """One VEN's row of a tick to keep (``backlog_add``): ``load_ids`` newline-separated in value order,
    ``digest`` names that layout, ``power`` float64 little-endian bytes (NaN = none), ``quality`` uint8 bytes."""

    ven: str
    tick_index: int
    tick_ms: int
    digest: str
    load_ids: str
    power: bytes
    quality: bytes


class BacklogRow(TypedDict, total=False):
    """A kept row as ``backlog_oldest`` returns it (``tick_no``: ticks numbered in the order they were added)."""

    id: int
    ven: str
    tick_no: int
    tick_index: int
    tick_ms: int
    power: bytes
    quality: bytes
    load_ids: str


class LeaseHolder(TypedDict):
    """Who takes a lease: ``holder`` is ``"<host>:<pid>:<run id>"``."""

    holder: str
    host: str
    pid: int
    command: str


class LeaseRow(TypedDict):
    """A VEN's lease (times in Unix seconds of the holder's clock)."""

    ven: str
    holder: str
    host: str
    pid: int
    command: str
    acquired_at: float
    heartbeat_at: float
    expires_at: float
