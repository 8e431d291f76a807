"""Registration engine: every VEN (one per town) and every load as its own OpenADR resource, exactly once.

How it stays exactly-once across crashes:

* A load's ``resourceName`` is stable and unique within its VEN (``"{resource_id}_{load_component}"``).
* Results are written to the store as they arrive (flushed in small batches every ``flush_seconds``).
* A 409 means the VTN already holds that name (a previous run crashed before its result was stored, or
  another client made it): the engine looks the name up in that VEN and adopts the VTN's id.  The 409's body
  does not matter (a problem object, ``[]``, nothing).
* A create whose outcome is unknown (the VTN did not answer in time, the connection broke after the request
  was sent, an ambiguous 5xx — ``err.maybe_delivered``) is never repeated blindly: the name is looked up
  first; found means adopted, surely absent means created again (at most ``UNKNOWN_OUTCOME_ROUNDS`` times).
* A failure keeps the load ``PENDING`` with ``last_error``; the next run retries it.

Two dispatch strategies share the per-load step: a bounded *window* of requests in flight (the default,
optionally capped at ``rate`` requests per second) and the seeds' *batch-then-sleep*
(:func:`register_loads_parallel`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Awaitable, Callable, Sequence

from venclient.model import APPROVED, external_resource_name
from venclient.protocols import CountsLoads, CreatesResourceIds, ResourceGroups, ResourceStore, VtnTransport
from venclient.vtn_errors import VtnConflict, VtnError

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int, int], None]  # (ven, done, total)
UNKNOWN_OUTCOME_ROUNDS = 3  # create → (unknown outcome) → look up → create again, at most this many creates


@dataclass
class VenResult:
    """What registration did for one VEN in one run.

    ``registered`` and ``adopted`` count loads created on the VTN, or found there after a 409 and adopted, by
    this run; ``total_loads`` is how many of the VEN's loads this run set out to register (those without a VTN
    id); ``loads_already_registered`` how many had one before it.  ``already_registered`` is true when the store
    held the VEN's VTN id for this VTN before the run (else a ``vtn_ven_id`` means it was created or adopted now).
    """

    ven: str
    vtn_ven_id: str | None = None
    total_loads: int = 0
    registered: int = 0
    adopted: int = 0
    failed: int = 0
    error: str | None = None
    already_registered: bool = False
    loads_already_registered: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None and self.failed == 0

    @property
    def registered_now(self) -> bool:
        """The VEN was created or adopted on the VTN by this run."""
        return self.vtn_ven_id is not None and not self.already_registered

    @property
    def not_attempted(self) -> int:
        """Loads this run meant to register but did not get to (only after an interruption)."""
        return max(0, self.total_loads - self.registered - self.adopted - self.failed)


@dataclass
class RegistrationSummary:
    """The outcome of one ``ven register`` run (the JSON of ``--json``): what THIS run did.

    ``vens`` are the VENs the run started on; ``not_started`` the ones it was asked for but never reached
    (only when ``interrupted``, e.g. by Ctrl-C).  Keys of :meth:`as_dict`:

    * ``total_vens`` — VENs asked for; ``vens_registered`` — created or adopted on the VTN now;
      ``vens_already_registered`` — known from an earlier run; ``failed_vens`` — a VEN or a load failed;
      ``vens_not_started``;
    * ``loads_registered`` — created or adopted now (``loads_created`` + ``loads_adopted``);
      ``loads_already_registered`` — registered by an earlier run; ``loads_failed``; ``loads_not_attempted``;
    * ``interrupted``, ``seconds``, ``per_ven``.
    """

    vens: list[VenResult] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False
    not_started: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "total_vens": len(self.vens) + len(self.not_started),
            "vens_registered": sum(1 for v in self.vens if v.registered_now),
            "vens_already_registered": sum(1 for v in self.vens if v.already_registered),
            "failed_vens": [v.ven for v in self.vens if not v.ok],
            "vens_not_started": list(self.not_started),
            "loads_registered": sum(v.registered + v.adopted for v in self.vens),
            "loads_created": sum(v.registered for v in self.vens),
            "loads_adopted": sum(v.adopted for v in self.vens),
            "loads_already_registered": sum(v.loads_already_registered for v in self.vens),
            "loads_failed": sum(v.failed for v in self.vens),
            "loads_not_attempted": sum(v.not_attempted for v in self.vens),
            "interrupted": self.interrupted,
            "seconds": round(self.seconds, 3),
            "per_ven": [{**asdict(v), "registered_now": v.registered_now} for v in self.vens],
        }


@dataclass
class _StoreBefore:
    """What the store said before a run: ``{ven: (vtn_ven_id, vtn_url)}`` and ``{ven: loads}``."""

    registrations: dict[str, tuple[str | None, str | None]]
    loads: dict[str, int]


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def resource_payload(row: dict[str, Any]) -> dict[str, Any]:
    """The OpenADR resource (wire format) for one load row of ``store.registration_rows``."""
    attributes: list[dict[str, Any]] = [
        {"type": "DESCRIPTION", "values": [f"{row['resource_name']} - {row['load_name']}"[:128]]},
    ]
    location = row.get("location") or {}
    lon, lat = _number(location.get("longitude")), _number(location.get("latitude"))
    if lon is not None and lat is not None:
        attributes.append({"type": "LOCATION", "values": [lon, lat]})
    for key, value in sorted((row.get("capacities") or {}).items()):
        number = _number(value)
        if number is not None:
            attributes.append({"type": str(key).upper(), "values": [number]})
    for type_, value in (("RESOURCE_TYPE", row.get("resource_type")),
                         ("RESOURCE_SUB_TYPE", row.get("resource_sub_type")),
                         ("LOAD_COMPONENT", row.get("load_component")),
                         ("LOAD_NAME", row.get("load_name")),
                         ("LOAD_ID", row.get("load_id")),
                         ("RESOURCE_ID", row.get("resource_id")),
                         ("H5_METER_ID", row.get("h5_meter_id")),
                         ("SERVICE_LOCATION", row.get("meter_point_id")),
                         ("GROUP", row.get("group")),
                         ("ADDRESS", row.get("address"))):
        if value:
            attributes.append({"type": type_, "values": [str(value)]})
    return {"resourceName": external_resource_name(row["resource_id"], row["load_component"]),
            "attributes": attributes}


class RateLimiter:
    """At most ``rate`` acquisitions per second, evenly spaced (``None`` = unlimited)."""

    def __init__(self, rate: float | None):
        self.interval = 1.0 / rate if rate else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            wait = self._next - now
            self._next = max(now, self._next) + self.interval
        if wait > 0:
            await asyncio.sleep(wait)


class ResultWriter:
    """Buffers registration results and writes them to the store in small transactions, off the loop."""

    def __init__(self, store: ResourceStore, flush_every: int = 200, flush_seconds: float = 0.25):
        self.store = store
        self.flush_every = flush_every
        self.flush_seconds = flush_seconds
        self._ok: list[tuple[str, str]] = []
        self._failed: list[tuple[str, str]] = []
        self._last = time.monotonic()
        self._writing = asyncio.Lock()  # one write at a time, so flush() returns only when all is stored

    async def ok(self, load_id: str, vtn_id: str) -> None:
        self._ok.append((load_id, vtn_id))
        await self._maybe_flush()

    async def failed(self, load_id: str, error: str) -> None:
        self._failed.append((load_id, error))
        await self._maybe_flush()

    async def _maybe_flush(self) -> None:
        if (len(self._ok) + len(self._failed) >= self.flush_every
                or time.monotonic() - self._last >= self.flush_seconds):
            await self.flush()

    async def flush(self) -> None:
        """Write what is buffered; returns after every result handed in before the call is in the store
        (also those another task's flush is still writing)."""
        async with self._writing:
            ok, failed = self._ok, self._failed
            self._ok, self._failed = [], []
            self._last = time.monotonic()
            if ok or failed:
                await asyncio.to_thread(self._write, ok, failed)

    def _write(self, ok: list[tuple[str, str]], failed: list[tuple[str, str]]) -> None:
        if ok:
            self.store.record_registrations(ok, status=APPROVED)
        if failed:
            self.store.record_registration_failures(failed)


@dataclass
class _VenProgress:
    """Counts one VEN's finished loads; ``finished`` is set when all are done (at once for none)."""

    ven: str
    total: int
    progress: ProgressCallback | None
    done: int = 0
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        if self.total == 0:
            self.finished.set()
            if self.progress:
                self.progress(self.ven, 0, 0)

    def one_done(self) -> None:
        self.done += 1
        if self.progress:
            self.progress(self.ven, self.done, self.total)
        if self.done >= self.total:
            self.finished.set()


@dataclass
class _Work:
    """One load to register, with the VEN result and progress it counts towards."""

    result: VenResult
    row: dict[str, Any]
    tracker: _VenProgress


class Registrar:
    """Registers VENs and their loads through a transport, writing results to the store as they arrive."""

    def __init__(self, store: ResourceStore, transport: VtnTransport, *, vtn_url: str | None = None,
                 concurrency: int = 50, rate: float | None = None,
                 progress: ProgressCallback | None = None):
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.store = store
        self.transport = transport
        self.vtn_url = vtn_url
        self.concurrency = concurrency
        self.limiter = RateLimiter(rate)
        self.progress = progress
        self.writer = ResultWriter(store)
        self._create_id = transport.create_resource_id if isinstance(transport, CreatesResourceIds) else None
        self._started: list[VenResult] = []  # the VENs :meth:`register_vens` began, in order
        self.last_summary: RegistrationSummary | None = None  # also set when register_vens is interrupted

    async def ven_id(self, ven: str) -> str:
        """The VTN id of ``ven``: from the store when it was registered at this VTN, else find-or-create."""
        known_id, known_url = await asyncio.to_thread(self.store.get_ven_registration, ven)
        if known_id and known_url == self.vtn_url:
            return known_id
        ven_obj = await self.transport.find_or_create_ven(ven)
        await asyncio.to_thread(self.store.set_ven_vtn_id, ven, ven_obj.id, self.vtn_url)
        return ven_obj.id

    async def register_one(self, ven_id: str, row: dict[str, Any], result: VenResult) -> None:
        """Create one load's resource; adopt the existing id on 409 or after a create with an unknown outcome
        that did arrive; record the outcome."""
        await self.limiter.acquire()
        payload = resource_payload(row)
        try:
            vtn_id, adopted = await self._create_or_adopt(ven_id, payload)
        except (VtnError, OSError) as err:
            result.failed += 1
            await self.writer.failed(row["load_id"], str(err))
            return
        if adopted:
            result.adopted += 1
        else:
            result.registered += 1
        await self.writer.ok(row["load_id"], vtn_id)

    async def _create_or_adopt(self, ven_id: str, payload: dict[str, Any]) -> tuple[str, bool]:
        """``(VTN id, adopted)`` of the resource ``payload`` names: created, or found after a 409 or after a
        create whose outcome is unknown.  Raises when the VTN fails or a look-up cannot tell."""
        name = payload["resourceName"]
        unknown: VtnError | None = None
        for _ in range(UNKNOWN_OUTCOME_ROUNDS):
            try:
                if self._create_id is not None:  # a transport may offer an id-only create (no model parse)
                    return await self._create_id(ven_id, payload), False
                return (await self.transport.create_resource(ven_id, payload)).id, False
            except VtnConflict:
                existing = await self.transport.find_resource(ven_id, name)
                if existing is None:
                    raise VtnError(f"The VTN answered 409 Conflict for resource {name} but does not list it "
                                   f"in VEN {ven_id}.") from None
                return existing.id, True
            except VtnError as err:
                if not err.maybe_delivered:
                    raise
                unknown = err
            existing = await self.transport.find_resource(ven_id, name)  # did the unanswered create arrive?
            if existing is not None:
                return existing.id, True
        assert unknown is not None
        raise unknown

    async def register_ven(self, ven: str, queue: "asyncio.Queue[_Work | None] | None" = None) -> VenResult:
        """Register one VEN and its unregistered loads.  With ``queue`` the requests go to the shared workers
        of :meth:`register_vens` (one in-flight window for every VEN); without, this VEN gets its own."""
        if queue is None:
            return (await self.register_vens([ven])).vens[0]
        result, rows = await self._begin_ven(ven)
        self._started.append(result)
        if result.error is not None:
            return result
        tracker = _VenProgress(ven, len(rows), self.progress)
        for row in rows:
            await queue.put(_Work(result, row, tracker))  # blocks while the window is full
        await tracker.finished.wait()
        await self._end_ven(ven)
        return result

    async def _begin_ven(self, ven: str) -> tuple[VenResult, list[dict[str, Any]]]:
        """The VEN's VTN id and its loads still to register (an error in the result when the VEN fails)."""
        result = VenResult(ven=ven)
        try:
            result.vtn_ven_id = await self.ven_id(ven)
        except (VtnError, OSError) as err:
            result.error = f"VEN {ven}: {err}"
            log.warning("Could not register VEN %s: %s", ven, err)
            return result, []
        rows = await asyncio.to_thread(self._rows_to_register, ven)
        result.total_loads = len(rows)
        return result, rows

    def _rows_to_register(self, ven: str) -> list[dict[str, Any]]:
        """The VEN's loads still to register, each with its resource's ``group`` when the store keeps groups."""
        rows: list[dict[str, Any]] = list(self.store.registration_rows(ven))  # type: ignore[arg-type]
        if rows and isinstance(self.store, ResourceGroups):
            groups = self.store.resource_groups(sorted({row["resource_id"] for row in rows}))
            for row in rows:
                if row["resource_id"] in groups:
                    row["group"] = groups[row["resource_id"]]
        return rows

    async def _end_ven(self, ven: str) -> None:
        """Store every result, then let the VEN's fully registered resources become APPROVED."""
        await self.writer.flush()
        await asyncio.to_thread(self.store.refresh_resource_registration, ven)

    async def _worker(self, queue: "asyncio.Queue[_Work | None]") -> None:
        """One slot of the in-flight window: take the next load of any VEN, register it, repeat."""
        while (work := await queue.get()) is not None:
            try:
                await self.register_one(work.result.vtn_ven_id, work.row, work.result)
            finally:
                work.tracker.one_done()

    async def register_vens(self, vens: Sequence[str], ven_parallelism: int = 4) -> RegistrationSummary:
        """Register ``vens``: a few VENs feed their loads at once into ``concurrency`` workers (the window).

        Cancelled (Ctrl-C under ``asyncio.run``), it stores every result that arrived, leaves the summary of
        what was done in :attr:`last_summary` (``interrupted`` set) and re-raises the cancellation.
        """
        started = time.perf_counter()
        vens = list(dict.fromkeys(vens))
        self._started = []
        self.last_summary = None
        before = _StoreBefore({}, {})
        queue: asyncio.Queue[_Work | None] = asyncio.Queue(maxsize=self.concurrency)
        workers = [asyncio.create_task(self._worker(queue)) for _ in range(self.concurrency)]
        gate = asyncio.Semaphore(max(1, ven_parallelism))

        async def guarded(ven: str) -> VenResult:
            async with gate:
                return await self.register_ven(ven, queue)

        interrupted = False
        try:
            before = await asyncio.to_thread(self._store_before, vens)
            await asyncio.gather(*(guarded(v) for v in vens))
            for _ in workers:
                await queue.put(None)  # every load is done: let the workers end
        except asyncio.CancelledError:
            interrupted = True
            raise
        finally:
            for worker in workers:
                worker.cancel()  # harmless for a worker that has ended; stops the rest on errors
            await asyncio.gather(*workers, return_exceptions=True)
            await self.writer.flush()
            self.last_summary = await asyncio.to_thread(self._summarise, vens, before, interrupted,
                                                        time.perf_counter() - started)
        return self.last_summary

    def _store_before(self, vens: Sequence[str]) -> _StoreBefore:
        """Each VEN's stored registration and load count, before the run touches them."""
        counts = self.store.load_counts(vens) if isinstance(self.store, CountsLoads) else {}
        return _StoreBefore({ven: self.store.get_ven_registration(ven) for ven in vens},
                            {ven: counts[ven][0] for ven in counts})

    def _summarise(self, vens: Sequence[str], before: _StoreBefore, interrupted: bool,
                   seconds: float) -> RegistrationSummary:
        """The summary of this run, per VEN in ``vens`` order, from the results and the store before it.

        A VEN the run had not begun when it was interrupted counts as not started, unless the store shows that
        its VTN id was written by this run (the interruption fell between the VEN and its loads)."""
        results = {r.ven: r for r in self._started}
        summary = RegistrationSummary(seconds=seconds, interrupted=interrupted)
        for ven in vens:
            known_id, known_url = before.registrations.get(ven, (None, None))
            result = results.get(ven)
            if result is None:
                now_id, now_url = self.store.get_ven_registration(ven)
                if not now_id or (now_id, now_url) == (known_id, known_url) or not before.registrations:
                    summary.not_started.append(ven)
                    continue
                result = VenResult(ven=ven, vtn_ven_id=now_id, total_loads=len(self.store.registration_rows(ven)))
            result.already_registered = (known_id is not None and known_url == self.vtn_url
                                         and result.vtn_ven_id == known_id)
            if result.error is None and ven in before.loads:
                result.loads_already_registered = max(0, before.loads[ven] - result.total_loads)
            summary.vens.append(result)
        return summary

    async def register_ven_in_batches(self, ven: str, batch_size: int = 50,
                                      delay_between_batches: float = 0.5) -> VenResult:
        """The seeds' strategy: ``batch_size`` requests with ``gather``, then sleep, then the next batch."""
        result, rows = await self._begin_ven(ven)
        if result.error is not None:
            return result
        for start in range(0, len(rows), batch_size):
            await asyncio.gather(*(self.register_one(result.vtn_ven_id, row, result)
                                   for row in rows[start:start + batch_size]))
            if self.progress:
                self.progress(ven, min(start + batch_size, len(rows)), len(rows))
            if start + batch_size < len(rows):
                await asyncio.sleep(delay_between_batches)
        await self._end_ven(ven)
        return result


def select_vens(store: ResourceStore, vens: Sequence[str] | None = None, limit_vens: int | None = None) -> list[str]:
    """The VENs to work on: the named ones (each must exist) or all, optionally only the first N."""
    from venclient.errors import InputError

    known = store.get_ven_list()
    if vens:
        unknown = [v for v in vens if v not in known]
        if unknown:
            raise InputError(f"Unknown VEN {unknown[0]!r}: no resource in the store belongs to it.")
        chosen = list(dict.fromkeys(vens))
    else:
        chosen = known
    return chosen[:limit_vens] if limit_vens else chosen


async def with_transport(runtime: Any, work: Callable[[Any], Awaitable[Any]]) -> Any:
    """Open the runtime's transport, run ``work(transport)``, close it."""
    async with runtime.transport() as transport:
        return await work(transport)


async def register_loads_parallel(runtime: Any, ven_id: str, batch_size: int = 50,
                                  delay_between_batches: float = 0.5) -> dict[str, Any]:
    """The seeds' API: register one VEN's loads in batches; returns the seeds' stats dict."""
    store = runtime.store()

    async def work(transport: VtnTransport) -> VenResult:
        registrar = Registrar(store, transport, vtn_url=runtime.settings.vtn.url)
        return await registrar.register_ven_in_batches(ven_id, batch_size, delay_between_batches)

    result = await with_transport(runtime, work)
    mapped = result.registered + result.adopted
    return {"success": result.error is None and result.failed == 0, "ven_id": ven_id,
            "total_loads": result.total_loads, "registered": mapped, "failed": result.failed,
            "vtn_ids_mapped": mapped}


async def sample_registration(runtime: Any, limit_vens: int | None = None, batch_size: int = 50,
                              delay_between_batches: float = 0.5) -> dict[str, Any]:
    """The seeds' API: every VEN (or the first ``limit_vens``) with :func:`register_loads_parallel`."""
    started = time.perf_counter()
    stats = [await register_loads_parallel(runtime, ven, batch_size, delay_between_batches)
             for ven in select_vens(runtime.store(), limit_vens=limit_vens)]
    return {"total_vens": len(stats), "vens_registered": sum(1 for s in stats if s["success"]),
            "loads_registered": sum(s["registered"] for s in stats),
            "loads_failed": sum(s["failed"] for s in stats),
            "failed_vens": [s["ven_id"] for s in stats if not s["success"]],
            "seconds": round(time.perf_counter() - started, 3), "per_ven": stats}
