"""The contracts between core and plugins, as ``typing.Protocol`` classes.

A plugin returns objects satisfying these from its hooks (see :mod:`venclient.hookspecs`).  They are
structural: no base class to inherit, just the attributes and methods below.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Protocol, Sequence, TypeVar, runtime_checkable

import numpy as np

T = TypeVar("T")

if TYPE_CHECKING:  # pragma: no cover
    from datetime import datetime

    from venclient.clock import Tick
    from venclient.model import (BacklogRow, BacklogTick, CollectionRow, Connection, LeaseHolder, LeaseRow, Load, LoadRow,
                                 OutboxItem, OutboxRow, RegistrationRow, Resource)


# --------------------------------------------------------------------------------------------------
# Resource store: one sub-protocol per aggregate, ResourceStore their union, optional capabilities apart
# --------------------------------------------------------------------------------------------------
# Every write method is atomic: on error nothing changes.  A write the database cannot take (disk full,
# read-only database or file system, failing disk) raises :class:`venclient.errors.StoreUnavailable` with one
# sentence, so ``ven run`` can retry it.  Method names marked *(seeds)* keep the prototype's names.  Reads
# return domain objects and rows from :mod:`venclient.model` or plain dicts.  An unknown id, VEN or status
# raises :class:`venclient.errors.InputError` (one sentence).
@runtime_checkable
class StoreLifecycle(Protocol):
    """Opening, migrating and closing a store."""

    url: str

    def migrate(self) -> list[str]:
        """Bring the schema up to date in place without losing rows; return what changed."""

    def close(self) -> None:
        """Release connections."""


@runtime_checkable
class ResourceRecords(Protocol):
    """Resources (sites) and the VENs they belong to."""

    def insert_resources(self, resources: Iterable["Resource"]) -> int:
        """Insert many resources in one transaction; a duplicate ``resource_id`` fails the whole batch."""

    def get_resource(self, resource_id: str) -> "Resource | None":
        """*(seeds)* One resource by its id."""

    def list_resources(self, ven: str | None = None, status: str | None = None) -> list["Resource"]:
        """Resources, optionally of one VEN and/or one registration status, ordered by VEN and resource_id."""

    def resource_ids(self) -> list[str]:
        """Every resource id, sorted."""

    def count_resources(self) -> int:
        """How many resources the store holds."""

    def get_ven_list(self) -> list[str]:
        """*(seeds)* The distinct VEN names, sorted."""

    def get_resources_by_ven_and_status(self, ven: str, status: str) -> list["Resource"]:
        """*(seeds)* Resources of ``ven`` with ``registration_status == status``."""

    def update_resource_status(self, resource_id: str, status: str) -> None:
        """*(seeds)* Set one resource's registration status; unknown id or status raises InputError."""

    def set_resources_status(self, resource_ids: Sequence[str], status: str) -> int:
        """Set the status of many resources at once (all or nothing); returns the count."""

    def set_ven_status(self, ven: str, status: str) -> int:
        """Set the status of every resource of a VEN; an unknown VEN raises InputError."""

    def update_resource_h5_meter(self, resource_id: str, h5_meter_id: str) -> None:
        """*(seeds)* Assign an H5 meter to a resource."""

    def statistics(self) -> dict[str, Any]:
        """The full ``ven db status`` dictionary (resources, vens, loads, loads_by_component …)."""


@runtime_checkable
class LoadRecords(Protocol):
    """The six load components of each resource, and the lean rows hot paths read."""

    def insert_load(self, load: "Load") -> None:
        """*(seeds)* Insert one load."""

    def bulk_insert_loads(self, loads: Iterable["Load | dict[str, Any]"]) -> int:
        """*(seeds)* Insert many loads in one transaction; returns the count."""

    def assign_meters_and_insert_loads(self, assignments: Sequence[tuple[str, str]],
                                       loads: Sequence[dict[str, Any]] | Sequence[tuple],
                                       replace: bool = False) -> int:
        """One transaction: (with ``replace``) delete every load, set each ``(resource_id, h5_meter_id)``
        assignment, insert ``loads`` (dicts, or tuples of the first five :class:`venclient.model.LoadRow`
        fields); without ``replace`` existing loads raise InputError and nothing changes.  Returns the count."""

    def get_loads_by_resource(self, resource_id: str) -> list["Load"]:
        """*(seeds)* The loads of one resource, ordered by component."""

    def get_loads_by_h5_meter(self, h5_meter_id: str) -> list["Load"]:
        """*(seeds)* Loads simulated from one H5 meter."""

    def list_loads(self, ven: str | None = None) -> list["Load"]:
        """Every load, optionally of one VEN, ordered by resource and component."""

    def load_tuples(self, ven: str) -> list["LoadRow"]:
        """One VEN's loads as :class:`venclient.model.LoadRow`, by resource and component (lean reads for fleet
        indexes)."""

    def collection_rows(self, vens: Sequence[str] | None = None, status: str = "APPROVED") -> list["CollectionRow"]:
        """Loads to collect (:class:`venclient.model.CollectionRow`) of enabled resources with ``status`` (of
        ``vens`` when given), ordered by VEN, resource and component; ``connection_type`` is
        :data:`venclient.model.H5SIM_KIND` without a reader connection."""

    def count_loads(self) -> int:
        """How many loads the store holds."""

    def clear_all_loads(self) -> int:
        """*(seeds)* Delete every load; returns how many."""

    def get_load_statistics(self) -> dict[str, Any]:
        """*(seeds)* Counts of loads: total, by component, by status, unique H5 meters."""


@runtime_checkable
class ConnectionRecords(Protocol):
    """How each resource's meter is read (reader) and its load acted on (writer)."""

    def add_connection(self, connection: "Connection") -> int:
        """Insert a connection; returns its id."""

    def get_connection(self, connection_id: int) -> "Connection | None":
        """One connection by id."""

    def connect_resources(self, resource_ids: Sequence[str], connection: "Connection") -> int:
        """Give ``resource_ids`` a new reader/writer connection (all or nothing); loads are untouched."""

    def connect_many(self, pairs: Sequence[tuple[str, "Connection"]]) -> int:
        """Connect each ``(resource_id, connection)`` pair in one transaction (all or nothing)."""

    def resource_connections(self, resource_id: str) -> dict[str, "Connection | None"]:
        """``{"reader": Connection|None, "writer": Connection|None}`` of one resource."""

    def connections_by_id(self, ids: Iterable[int]) -> dict[int, "Connection"]:
        """The connections with the given ids."""


@runtime_checkable
class RegistrationRecords(Protocol):
    """What the VTN calls our VENs and loads (:mod:`venclient.engine.register`, ``verify``, ``recovery``)."""

    def registration_rows(self, ven: str, only_unregistered: bool = True) -> list["RegistrationRow"]:
        """Loads of ``ven`` joined with their resource (:class:`venclient.model.RegistrationRow`), by resource and
        component; with ``only_unregistered`` just loads without a VTN id or not APPROVED."""

    def get_ven_registration(self, ven_name: str) -> tuple[str | None, str | None]:
        """``(vtn_ven_id, vtn_url)`` the VEN was registered with, or ``(None, None)``."""

    def set_ven_vtn_id(self, ven_name: str, vtn_ven_id: str, vtn_url: str | None = None) -> None:
        """Remember a VEN's VTN id and the VTN it belongs to (insert or update)."""

    def record_registrations(self, results: Sequence[tuple[str, str]], status: str = "APPROVED") -> int:
        """Store ``(load_id, vtn_resource_id)`` pairs with ``status`` in one transaction, clearing last errors."""

    def record_registration_failures(self, failures: Sequence[tuple[str, str]]) -> int:
        """Keep loads PENDING with their ``(load_id, error)`` recorded, for the next run to retry."""

    def update_load_vtn_resource_id(self, load_id: str, vtn_resource_id: str, status: str = "APPROVED") -> None:
        """*(seeds)* Record the VTN's id for one load after registration."""

    def refresh_resource_registration(self, ven: str | None = None) -> int:
        """PENDING resources (of ``ven``) whose loads are all APPROVED with a VTN id become APPROVED; returns
        how many."""

    def clear_registrations(self, load_ids: Sequence[str], reason: str) -> int:
        """Forget the VTN ids of loads the VTN no longer has (PENDING again, ``reason`` kept); returns how many."""

    def clear_ven_vtn_id(self, ven_name: str) -> None:
        """Forget a VEN's VTN id; the next registration finds or creates the VEN again."""

    def forget_ven_registration(self, ven_name: str, reason: str) -> int:
        """Forget the VTN ids of a VEN and all its loads at once (statuses stay); returns how many loads."""


@runtime_checkable
class ReportOutbox(Protocol):
    """Reports stored before they are sent, until the VTN took or refused them (:mod:`venclient.engine.outbox`)."""

    def outbox_add(self, items: Iterable["OutboxItem"], state: dict[str, str] | None = None) -> list[int]:
        """Store reports (:class:`venclient.model.OutboxItem`) and the ``state`` entries in one transaction;
        returns the new ids in order (``items`` may be a generator)."""

    def outbox_list(self, state: str | None = None) -> list["OutboxRow"]:
        """Rows without payloads (:class:`venclient.model.OutboxRow`) of ``state`` (or all), oldest first."""

    def outbox_payload(self, outbox_id: int) -> str | None:
        """One report's JSON text, ``None`` when it is gone."""

    def outbox_delete(self, ids: Sequence[int]) -> int:
        """Delete delivered reports; returns how many."""

    def outbox_mark_attempt(self, outbox_id: int) -> None:
        """Count an attempt before sending and set ``maybe_delivered`` (a crash during the send leaves it set)."""

    def outbox_retry_later(self, outbox_id: int, error: str, next_attempt_at: float,
                           maybe_delivered: bool = True) -> None:
        """Record a failed attempt, when to try again, and whether it may have reached the VTN
        (``maybe_delivered``: the outbox looks such a report up by ``reportName`` before sending it again)."""

    def outbox_reject(self, outbox_id: int, reason: str) -> None:
        """Set a report the VTN refused aside (state ``rejected``, ``maybe_delivered`` cleared) with the reason."""

    def outbox_select_rejected(self, ids: Sequence[int] | None = None, ven: str | None = None) -> list["OutboxRow"]:
        """Rejected rows (as :meth:`outbox_list`) named by ``ids``, or of ``ven``, or all when neither is given;
        an id that is unknown or not rejected, a VEN the store does not know, or both ``ids`` and ``ven``,
        raises :class:`venclient.errors.InputError` (one sentence)."""

    def outbox_requeue(self, ids: Sequence[int] | None = None, ven: str | None = None,
                       now: float | None = None) -> list[int]:
        """Rejected reports (chosen as :meth:`outbox_select_rejected`) back to ``pending``, due at ``now``
        (default: at once), attempts kept; all or nothing; returns their ids (``ven outbox retry``)."""

    def outbox_drop(self, ids: Sequence[int] | None = None, ven: str | None = None) -> list[int]:
        """Delete rejected reports (chosen as :meth:`outbox_select_rejected`), never pending ones; all or
        nothing; returns their ids (``ven outbox drop``)."""

    def outbox_counts(self) -> dict[str, int]:
        """``{"pending": n, "rejected": m}``."""

    def outbox_retarget(self, moves: Sequence[tuple[str, str, str, str]],
                        aside: Sequence[tuple[str, str, str]] = ()) -> tuple[int, int]:
        """All at once: reports of each ``(old program id, old event id, new program id, new event id)`` get the new
        ids (columns and JSON) and wait to be sent; reports of each ``(program id, event id, reason)`` are set aside
        with the reason.  Returns ``(moved, set aside)``."""


@runtime_checkable
class RuntimeState(Protocol):
    """Small named values one run leaves for the next (the replay position …)."""

    def get_state(self, key: str) -> str | None:
        """A value a previous run stored under ``key``."""

    def set_state(self, key: str, value: str) -> None:
        """Store ``value`` under ``key`` for the next run."""


@runtime_checkable
class ResourceStore(StoreLifecycle, ResourceRecords, LoadRecords, ConnectionRecords, RegistrationRecords,
                    ReportOutbox, RuntimeState, Protocol):
    """Resources, their loads, connections, VENs' registration, the report outbox and runtime state, in one
    transactional store: everything core and the default plugins call on every store.

    The capabilities below (:class:`BacklogRecords`, :class:`LeaseRecords`, :class:`CountsLoads`,
    :class:`ListsConnections`, :class:`ReadsCapacities`, :class:`EventStateRecords`, :class:`ResourceGroups`) are
    optional; the framework
    checks for them with ``isinstance``.
    """


# Optional store capabilities ----------------------------------------------------------------------
@runtime_checkable
class BacklogRecords(Protocol):
    """Readings ``ven run`` keeps while no report request is known (:mod:`venclient.engine.backlog`).

    A tick is one row per VEN (:class:`venclient.model.BacklogTick`; the layout ``load_ids`` is stored once per
    ``digest``); rows come back as :class:`venclient.model.BacklogRow`, ticks numbered in the order they were added
    (``tick_no``).  Without it ``ven run`` reports only ticks whose report requests are known (and says so once).
    """

    def backlog_add(self, rows: Sequence["BacklogTick"], state: dict[str, str] | None = None) -> int:
        """Store one tick's rows and the ``state`` entries (e.g. the replay row) in one transaction; returns
        the tick's ``tick_no``."""

    def backlog_ticks(self, vens: Sequence[str] | None = None) -> int:
        """How many ticks are kept (those with a row of ``vens``, when given)."""

    def backlog_oldest(self, vens: Sequence[str] | None = None, ticks: int = 1) -> list["BacklogRow"]:
        """The rows (of ``vens``) of the oldest ``ticks`` ticks, by ``tick_no`` then insertion."""

    def backlog_to_outbox(self, backlog_ids: Sequence[int], items: Iterable["OutboxItem"]) -> list[int]:
        """One transaction: add report ``items`` to the outbox (as :meth:`ReportOutbox.outbox_add`) and delete
        the backlog rows ``backlog_ids`` — a crash leaves either both or neither; returns the outbox ids."""

    def backlog_drop_oldest(self, vens: Sequence[str] | None = None, ticks: int = 1) -> int:
        """Delete the oldest ``ticks`` ticks (rows of ``vens``) unreported; returns how many ticks went."""


@runtime_checkable
class AccumulatorRecords(Protocol):
    """Per event interval totals of ``ven run``'s event-aligned reports (:mod:`venclient.engine.accumulate`).

    A row is one (VEN, event id, interval key): ``load_ids`` (newline-joined text) and the channels as bytes
    (``energy``, ``baseline``, ``seconds`` float64, ``ticks`` int32, aligned with the load ids).  A store with
    this capability also takes ``accumulators=`` (an :class:`venclient.engine.accumulate.AccumulatorWrite`) in
    :meth:`ReportOutbox.outbox_add` and :meth:`BacklogRecords.backlog_to_outbox`, written in the same transaction
    as the reports and state — read *after* the report items are consumed: the items are built while they are
    iterated, and building them completes that write.  ``accumulators_read`` may be called
    while the items are consumed, inside that transaction (it reads what earlier ticks committed).  Without this
    capability the totals live in memory only (a restart loses the open intervals).
    """

    def accumulators_read(self, vens: Sequence[str], event_id: str | None = None) -> list[dict[str, Any]]:
        """Every row of ``vens`` (of ``event_id`` only, when given): dicts with ven, event_id, interval_key,
        load_ids and the channel bytes."""


@runtime_checkable
class HistoryRecords(Protocol):
    """Hourly energy of the loads whose source has no baseline of its own (:mod:`venclient.engine.baseline`).

    A row is one (load id, UTC hour start in Unix seconds): ``energy_wh``, ``seconds`` read, ``event`` (an event
    controlled the load in that hour).  Adding a row to an hour already stored sums energy and seconds and keeps
    the event flag once set.  A store with this capability also takes ``history=`` (a
    :class:`venclient.engine.baseline.HistoryWrite`) in :meth:`ReportOutbox.outbox_add` and
    :meth:`BacklogRecords.backlog_add`, written in the same transaction as the tick.  Without it no history is
    kept and real meters have no BASELINE.
    """

    def history_add(self, rows: Sequence[dict[str, Any]], prune_before: int | None = None) -> int:
        """Add rows (dicts: load_id, hour_start, energy_wh, seconds, event) in one transaction, then delete hours
        before ``prune_before``; a bad row raises InputError and nothing changes.  Returns the rows given."""

    def history_read(self, load_ids: Sequence[str], since: int, until: int, *,
                     hour_of_day: int | None = None) -> list[tuple[str, int, float, float, bool]]:
        """``(load_id, hour_start, energy_wh, seconds, event)`` with ``since <= hour_start < until``, by load and
        hour; with ``hour_of_day`` (seconds after midnight UTC) only hours starting then, and event hours."""


@runtime_checkable
class LeaseRecords(Protocol):
    """Which process works on which VEN (:mod:`venclient.engine.lease`).

    Rows are :class:`venclient.model.LeaseRow`, ``holder`` arguments :class:`venclient.model.LeaseHolder`.
    Taking a lease must be atomic against
    another process doing the same (one conditional upsert per VEN in one transaction).  A store without leases
    lets every process work on every VEN.
    """

    def lease_acquire(self, vens: Sequence[str], holder: "LeaseHolder", now: float,
                      seconds: float) -> dict[str, "LeaseRow"]:
        """Take or extend the leases of all ``vens`` until ``now + seconds``, all or nothing: ``{}`` when taken,
        else ``{ven: lease row}`` of the VENs other holders keep (not expired at ``now``), nothing changed."""

    def lease_renew(self, vens: Sequence[str], holder: "LeaseHolder", now: float,
                    seconds: float) -> dict[str, "LeaseRow"]:
        """Extend ``holder``'s leases (re-taking expired ones nobody took); returns ``{ven: row}`` of the VENs
        another holder has taken over."""

    def lease_release(self, vens: Sequence[str], holder_id: str) -> int:
        """Delete ``holder_id``'s lease rows of ``vens``; returns how many."""

    def lease_list(self, vens: Sequence[str] | None = None) -> list["LeaseRow"]:
        """Lease rows (of ``vens`` or all), by VEN, expired ones included."""


@runtime_checkable
class CountsLoads(Protocol):
    """Load counts per VEN without reading the loads (the event engine and registration use it when present)."""

    def load_counts(self, vens: Sequence[str] | None = None) -> dict[str, tuple[int, int]]:
        """``{ven: (loads, resources with loads)}`` of ``vens`` (or every VEN); VENs without loads are absent."""


@runtime_checkable
class ReadsCapacities(Protocol):
    """Resources' capacities without reading whole resources (the collector's plausibility bounds use it when
    present, else :meth:`ResourceRecords.list_resources`)."""

    def resource_capacities(self, vens: Sequence[str]) -> dict[str, dict[str, Any]]:
        """``{resource_id: capacities}`` of the resources of ``vens`` that have capacities."""


@runtime_checkable
class ListsConnections(Protocol):
    """Every connection at once (the event actuator skips its per-resource look-ups when no writer exists)."""

    def list_connections(self) -> list["Connection"]:
        """Every connection, by id."""


@runtime_checkable
class EventStateRecords(Protocol):
    """What ``ven run``'s event scheduler keeps across restarts (:mod:`venclient.engine.scheduler`).

    Per VEN and event: ``received_at`` (Unix seconds: when the VEN first obtained the event, the origin of
    'do it now' starts) and ``seed`` (an integer drawn once; the event's ``randomizeStart`` draws come from it).
    Per event: opt-outs, by resource id or for every resource (:data:`venclient.model.OPT_OUT_ALL`).  Without
    it the scheduler keeps both in memory (a restart draws again and starts 'do it now' events anew).
    """

    def event_states(self, ven: str, proposed: Mapping[str, tuple[float, int]]) -> dict[str, tuple[float, int]]:
        """``{event id: (received_at, seed)}`` kept for ``ven`` for every id of ``proposed``: a stored pair as it
        is, a new one stored from ``proposed`` first (one transaction; the first writer wins)."""

    def event_states_forget(self, event_ids: Sequence[str]) -> int:
        """Delete the states (of every VEN) and the opt-outs of ``event_ids`` (events that are gone); returns
        how many rows went."""

    def opt_out(self, event_id: str, resource_ids: Sequence[str] | None = None) -> int:
        """Opt the resources ``resource_ids`` (``None``: every resource) out of ``event_id``; returns how many
        opt-outs are new.  An unknown resource id raises InputError, nothing changed."""

    def opt_in(self, event_id: str, resource_ids: Sequence[str] | None = None) -> int:
        """Remove those opt-outs (``None``: every opt-out of ``event_id``); returns how many went."""

    def opt_outs(self, event_ids: Sequence[str] | None = None) -> dict[str, set[str]]:
        """``{event id: resource ids opted out}`` (``OPT_OUT_ALL`` among them: every resource), of ``event_ids``
        or all; events without opt-outs are absent."""


@runtime_checkable
class ResourceGroups(Protocol):
    """A group per resource: what an event's ``GROUP`` target names; registered as the ``GROUP`` attribute."""

    def set_resource_group(self, resource_ids: Sequence[str], group: str | None) -> int:
        """Put ``resource_ids`` in ``group`` (``None``: in no group), all or nothing; an unknown resource id
        raises InputError.  Returns how many resources were set."""

    def resource_groups(self, resource_ids: Sequence[str] | None = None) -> dict[str, str]:
        """``{resource id: group}`` of ``resource_ids`` (or every resource in a group)."""

    def resources_in_groups(self, groups: Sequence[str]) -> list[str]:
        """The ids of the resources in any of ``groups``, sorted."""



# --------------------------------------------------------------------------------------------------
# Meter sources
# --------------------------------------------------------------------------------------------------
@dataclass
class LoadBatch:
    """The loads one source must read, as arrays aligned by position.

    ``components`` holds component indexes 0..5 (``load_0``…``load_5``); ``connections`` maps the
    ``connection_ids`` to their :class:`venclient.model.Connection` (id ``-1`` = the default h5sim source).
    """

    load_ids: np.ndarray
    resource_ids: np.ndarray
    components: np.ndarray
    h5_meter_ids: np.ndarray
    connection_ids: np.ndarray
    connections: dict[int, "Connection"]

    def __len__(self) -> int:
        return len(self.load_ids)


def parsed_connections(batch: LoadBatch, kinds: Sequence[str], parse: Callable[["Connection"], T],
                       reported: set[int], log: logging.Logger) -> dict[int, T]:
    """``{connection_id: parse(connection)}`` for the batch's connections of ``kinds`` — a helper for sources.

    A connection ``parse`` rejects with :class:`venclient.errors.InputError` is left out (its loads report nothing)
    and logged once: its id goes into ``reported``, which the source keeps across ``open`` calls.
    """
    from venclient.errors import InputError

    parsed: dict[int, T] = {}
    for connection_id in {int(c) for c in np.unique(batch.connection_ids)}:
        connection = batch.connections.get(connection_id)
        if connection is None or connection.type not in kinds:
            continue
        try:
            parsed[connection_id] = parse(connection)
        except InputError as err:
            if connection_id not in reported:
                reported.add(connection_id)
                log.warning("%s Its loads report no value.", err)
    return parsed


@dataclass
class SourceReading:
    """What a source returns for its batch at one tick: watts (NaN = no value) and quality codes."""

    power_w: np.ndarray
    quality: np.ndarray


@runtime_checkable
class MeterSource(Protocol):
    """Reads meters of one or more connection kinds, a whole batch of loads per tick.

    Lifecycle: ``open(batch)`` when the set of loads changes, ``read(tick)`` every tick, ``close()`` at
    the end.  ``read`` must never raise for a meter that fails: it returns ``QUALITY_MISSING`` for those
    loads.  Blocking I/O goes to a thread; the collector cancels a read that passes its deadline.
    ``open`` may be called again with a new batch without ``close`` in between (:meth:`venclient.engine.collect.
    Collector.refresh`); one source object serving several kinds gets one batch holding all of them.

    Optional capabilities, checked with ``isinstance``: :class:`HasTimeline`, :class:`WaitsReady`,
    :class:`ValidatesConnections` and :class:`ReadsOnDemand` (below).  :func:`parsed_connections` helps a source
    read its batch's connections.

    Calling rules: ``read`` may return the same arrays every tick, overwritten in place (the collector copies
    what it keeps), but their length must be the batch's.  ``validate_connection`` gets a connection that is
    not stored yet (``id`` is ``None``): check its options, never look it up.  Connection conventions every
    kind shares: ``params["channels"]`` maps load components (``load_0`` …) to the kind's channels
    (``--channel LOAD=CHANNEL``); ``params["loads"]`` and ``params["release_value"]`` are the event engine's
    (which components a writer connection acts on, and the value written when an event ends) — accept them.
    """

    kinds: tuple[str, ...]

    async def open(self, batch: LoadBatch) -> None:
        """Prepare to read ``batch`` (connect, subscribe, build gather indexes)."""

    async def read(self, tick: "Tick") -> SourceReading:
        """Values for every load of the opened batch at ``tick``, aligned with the batch."""

    async def close(self) -> None:
        """Disconnect and release resources."""


@runtime_checkable
class HasTimeline(Protocol):
    """A source replaying recorded data: the :class:`venclient.clock.Clock` follows its time axis."""

    def timeline(self) -> np.ndarray | None:
        """Unix seconds of the recorded rows, or ``None``; may raise :class:`venclient.errors.VenError`."""


@runtime_checkable
class HasBaseline(Protocol):
    """A source that knows what its loads would draw without load control (the simulated fleet: the H5 values
    before its response).  Read right after :meth:`MeterSource.read`: aligned with the batch, or ``None``."""

    baseline_w: np.ndarray | None


@runtime_checkable
class HasRegisterReading(Protocol):
    """A source that reads its loads' meter register (a Modbus meter's total import energy, a Tasmota plug's
    ``ENERGY.Total``): the READING payload of event-aligned reports (:mod:`venclient.engine.report_payloads`).
    Read right after :meth:`MeterSource.read`: aligned with the batch, kWh, NaN where the load has no register
    (or it was not read this tick), or ``None``."""

    energy_register_kwh: np.ndarray | None


@runtime_checkable
class ForecastsPower(Protocol):
    """A source that can look ahead (the H5 simulator reads future rows): forecasts for ``historical`` false
    report descriptors (:mod:`venclient.engine.report_schedule`)."""

    def forecast_w(self, batch: LoadBatch, times: Sequence[datetime]) -> np.ndarray:
        """Watts per load of ``batch`` (columns) at each of ``times`` (rows): shape ``(len(times), len(batch))``,
        NaN where unknown."""


@runtime_checkable
class WaitsReady(Protocol):
    """A source whose first values arrive after ``open`` (e.g. subscriptions acknowledged, retained values in)."""

    async def wait_ready(self, timeout: float) -> bool:
        """Awaited after ``open``: ``True`` once the first tick will have values, ``False`` after ``timeout``."""


@runtime_checkable
class ValidatesConnections(Protocol):
    """Checks a connection before ``ven resources connect`` stores it."""

    def validate_connection(self, connection: "Connection") -> None:
        """Raise :class:`venclient.errors.InputError` with one sentence when ``connection`` cannot work."""


@runtime_checkable
class FollowsEvents(Protocol):
    """A source whose loads respond to events themselves (the simulated fleet): ``ven run``'s scheduler tells it,
    at every interval boundary, what applies to each load from then on (:mod:`venclient.engine.scheduler`)."""

    def follow(self, instructions: Mapping[str, Mapping[str, float]]) -> None:
        """``{load id: {payload type: value}}`` now in force, replacing the previous instructions (a load not
        named: nothing applies to it).  Ids of loads the source does not read are ignored.  Quick: no I/O.

        The scheduler passes a :class:`venclient.engine.followed.Instructions`: a read-only ``Mapping`` (use it
        like a dict; do not keep a per-load copy for a fleet) whose ``groups`` hold the loads sharing one values
        mapping as one array of encoded ids (``encode_ids``) — the fast way for a source with many loads.  Tests
        and other callers may pass a plain dict."""


@runtime_checkable
class ReadsOnDemand(Protocol):
    """Reads one connection once (``ven resources test``)."""

    async def test_read(self, connection: "Connection", **options: Any) -> dict[str, float | None]:
        """``{load_component: watts | None}``; may accept ``resource=`` and ``tick=`` keywords."""


@runtime_checkable
class Writer(Protocol):
    """Acts on a load through a writer connection (a Modbus register, an MQTT command topic).

    ``write`` is awaited on the event loop: blocking I/O goes to a thread.  A writer may have
    ``validate_connection(connection)`` (else its kind's source's is used); the connection conventions of
    :class:`MeterSource` hold (``release_value``, ``loads``, ``channels`` in ``params``).
    """

    kinds: tuple[str, ...]

    async def write(self, connection: "Connection", load: "Load", value: float) -> None:
        """Apply ``value`` (e.g. a power limit in W, or 0/1 to switch) to ``load``; raise VenError on failure.

        The event scheduler maps payload values through the connection's ``levels``, ``scale`` and ``offset``
        (:mod:`venclient.engine.writer_mapping`); a writer whose own options use ``scale``/``offset`` (a register's
        scale) says so with a true class attribute ``scales_values`` and is then given the unscaled value."""


# --------------------------------------------------------------------------------------------------
# VTN transport
# --------------------------------------------------------------------------------------------------
@runtime_checkable
class VtnTransport(Protocol):
    """Talks OpenADR 3.0.1 to a VTN.  An async context manager; methods raise ``venclient.vtn_errors`` types.

    Objects are the pydantic models of :mod:`venclient.openadr`.  Exactly-once rules every transport keeps:

    * a ``POST`` is repeated only when it surely did not reach the VTN (no connection, or 408/429/503); when
      its outcome is unknown (timeout, broken connection, ambiguous 5xx) the error has ``maybe_delivered =
      True`` and the caller looks the object up before creating it again;
    * listings that take a filter (``venName``, ``resourceName``, ``programID``, ``eventID``, ``clientName``)
      return only matching objects even when the VTN ignores the filter.

    Optional capabilities, checked with ``isinstance``: :class:`PostsReportText`, :class:`FindsReports`,
    :class:`ListsReports`, :class:`SettlesUnknownOutcomes`, :class:`CreatesResourceIds`, :class:`RawRequests`
    and :class:`ListsSubscriptions` (below).  Webhook mode (``events.subscribe``) checks every notification by
    re-reading the event it names with :meth:`get_event`.
    """

    async def __aenter__(self) -> "VtnTransport": ...

    async def __aexit__(self, *exc: Any) -> None: ...

    async def find_or_create_ven(self, ven_name: str) -> Any:
        """The VEN named ``ven_name``, created when missing; a 409 or a create with an unknown outcome is
        resolved by looking the name up (never two VENs of one name)."""

    async def find_ven(self, ven_name: str) -> Any | None:
        """The VEN named exactly ``ven_name``, or ``None``."""

    async def get_ven(self, ven_id: str) -> Any:
        """One VEN by id; a VTN that does not know it raises ``VtnNotFound``."""

    async def create_resource(self, ven_id: str, resource: Any) -> Any:
        """POST a resource to the VEN; 409 raises ``VtnConflict``; an unknown outcome raises a ``VtnError``
        with ``maybe_delivered`` (the registrar then looks the ``resourceName`` up)."""

    async def find_resource(self, ven_id: str, resource_name: str) -> Any | None:
        """The VEN's resource with that name, or ``None``."""

    async def list_resources(self, ven_id: str) -> list[Any]:
        """Every resource of the VEN (paged until a short page)."""

    async def list_programs(self) -> list[Any]:
        """Every program."""

    async def list_events(self, program_id: str | None = None) -> list[Any]:
        """Every event, optionally of one program (only that program's, whatever the VTN does with the filter)."""

    async def get_event(self, event_id: str) -> Any:
        """One event by id; a VTN that does not know it raises ``VtnNotFound``."""

    async def create_report(self, report: Any) -> Any:
        """POST a report; 409 ("identical report exists") raises ``VtnConflict`` (the outbox: delivered)."""

    async def create_subscription(self, subscription: Any) -> Any:
        """POST a subscription."""

    async def delete_subscription(self, subscription_id: str) -> None:
        """DELETE a subscription."""


# Optional transport capabilities ------------------------------------------------------------------
@runtime_checkable
class PostsReportText(Protocol):
    """POSTs a stored report as it is (the outbox's way when the transport has it; else ``create_report``)."""

    async def post_report_text(self, payload: str) -> None:
        """POST the report ``payload`` (JSON text, sent unchanged) once: no transport retries, the outbox keeps
        its own backoff.  Errors as :meth:`VtnTransport.create_report` (409: ``VtnConflict``)."""


@runtime_checkable
class FindsReports(Protocol):
    """Looks one report up by name (the outbox, before resending a report whose outcome is unknown)."""

    async def find_report(self, report_name: str, *, program_id: str | None = None, event_id: str | None = None,
                          client_name: str | None = None) -> dict[str, Any] | None:
        """The VTN's report named ``report_name`` (of that program, event and client when given) as its JSON
        object, or ``None``."""


@runtime_checkable
class ListsReports(Protocol):
    """Lists reports (the outbox's look-up when the transport cannot :class:`FindsReports`)."""

    async def list_reports(self, program_id: str | None = None, event_id: str | None = None,
                           client_name: str | None = None) -> list[Any]:
        """Reports, optionally filtered by program, event and client name (only matching ones)."""


@runtime_checkable
class SettlesUnknownOutcomes(Protocol):
    """Says how long a request whose outcome is unknown may still be on its way."""

    unknown_outcome_settle_seconds: float
    """Seconds the outbox waits after an unknown outcome before it looks the report up."""


@runtime_checkable
class CreatesResourceIds(Protocol):
    """Creates a resource answering only its id (registration's hot path: no model parse)."""

    async def create_resource_id(self, ven_id: str, resource: Any) -> str:
        """As :meth:`VtnTransport.create_resource`, returning the new resource's id."""


@runtime_checkable
class RawRequests(Protocol):
    """Sends any request below the base URL (webhook mode creates and lists subscriptions through it and reads
    them in any spelling)."""

    async def raw(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                  retries: int | None = None) -> Any:
        """The 2xx ``httpx.Response`` of the request (with auth; ``retries`` overrides the transport's);
        errors raise ``venclient.vtn_errors`` types."""


@runtime_checkable
class ListsSubscriptions(Protocol):
    """Lists subscriptions (webhook mode finds those an earlier run left, when the transport has no ``raw``)."""

    async def list_subscriptions(self, program_id: str | None = None, client_name: str | None = None) -> list[Any]:
        """Subscriptions, optionally of one program and/or client (only matching ones)."""
