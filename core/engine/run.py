"""``ven run``: the long-running VEN — register, collect, report through the outbox, follow events.

One loop, one clock: every tick the collector reads all sources, the reporter answers each event that asks
for reports, and the reports go into the outbox (the store).  Continuous requests are answered per tick, the
others per event interval (:mod:`venclient.engine.report_schedule`: totals accumulate in the tick's transaction,
reports are built when due).  Loads whose source has no baseline of its own (real meters) add their energy to
their hourly history in the same transaction, and their BASELINE comes from it (:mod:`venclient.engine.baseline`).
In replay mode a tick stands for one row of the H5 time axis (its energy and ``intervalPeriod``), in wall-clock
mode for ``reporting.interval_seconds``; ``interval_seconds`` / ``speed`` is only the real time between ticks.
Beside the loop, background tasks

* flush the outbox to the VTN whenever a tick added reports (and right at start: what an earlier run left);
* carry the events out over time (:mod:`venclient.engine.scheduler`): at every interval boundary in the
  clock's time — a task sleeping until it with the wall clock, checked every tick with the replay clock — the
  writers get the values the active intervals ask for (only what changed; their ``release_value`` when nothing
  applies any more) and plugins ``ven_event_interval``; after a restart what is active now is written again;
* poll the VTN's events every ``events.poll_seconds`` (with ``events.subscribe`` a callback server also
  takes the VTN's notifications at once; polling stays as the fallback); while the VTN does not answer, poll
  with backoff from one tick up to ``events.poll_seconds``, and at once when the outbox sees it answer again;
* re-sync registration every ``reporting.register_every_seconds`` (and as soon as the VTN answers, when the
  registration at start could not reach it); the loop re-reads its loads after it;
* renew the VEN leases every third of ``run.lease_seconds`` (:mod:`venclient.engine.lease`).

Schedules are in simulated seconds, like the tick interval, so ``--speed`` scales everything (leases are real
seconds).  A VTN that is away delays nothing but delivery: ticks go on and reports wait in the outbox.

While no event asks for reports (the VTN away at start, its events not read yet, none with
``reportDescriptors``), each tick is kept in the store's backlog (:mod:`venclient.engine.backlog`, at most
``reporting.backlog_max_ticks``); once a report request is known, up to ``reporting.backlog_drain_per_tick``
kept ticks per tick are reported, oldest first, before the current tick (which joins the backlog's end until it
is empty), so a VEN's reports stay in tick order.  In replay mode the clock continues after the last row an
earlier run collected (the row is stored in the transaction that stores the tick — its reports or its backlog
row), so a restart neither repeats nor skips data; a full backlog makes the replay clock wait.

A store that refuses writes (disk full, read-only: :class:`venclient.errors.StoreUnavailable`) loses no tick: the
tick is kept in memory and stored again every tick until the store takes it (one warning per streak, one info
line when writes work again); the replay clock does not move past it.

A VTN that forgot us (restarted without its storage: 404 for our VEN ids, its programs under new ids, our
reports rejected) is noticed after the poll that follows a rejection, a failed registration or a program that
changed its id (:mod:`venclient.engine.recovery`): the VENs it no longer knows are registered again with their loads while the
tick loop waits, subscriptions follow the new program ids, and reports still in the outbox move to the ids the VTN
now uses for the same program and event names (those whose program or event is gone stay aside with the reason).

One process per VEN: :class:`VenRunner` takes the store's lease of every VEN it runs before anything else
(refused with :class:`venclient.errors.LeaseHeld`), and a VEN whose lease another process took over is no longer
served (an error line; the run stops when it has no VEN left).

SIGINT/SIGTERM finish the current tick, flush what can be flushed within ``reporting.shutdown_flush_seconds``,
delete our webhook subscriptions, close the sources and return normally.  Whatever is left in the outbox
is sent by the next run.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import signal
import time
from itertools import chain
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Sequence

import numpy as np

from venclient.engine.backlog import Backlog
from venclient.engine.baseline import BaselineMethod, HistoryBaseline, HistoryWrite
from venclient.clock import REPLAY, WALLCLOCK, Clock
from venclient.engine.collect import Collector
from venclient.errors import StoreUnavailable, VenError
from venclient.engine.events import EventEngine
from venclient.engine.scheduler import EventScheduler
from venclient.engine.lease import DEFAULT_LEASE_SECONDS, VenLeases, describe_holder
from venclient.openadr import Event, ReportDescriptor
from venclient.engine.outbox import Outbox
from venclient.engine.recovery import VtnRecovery
from venclient.engine.register import Registrar, select_vens
from venclient.engine.report import Reporter
from venclient.engine.report_schedule import ReportSchedule
from venclient.engine.webhook import CallbackServer, Subscriptions
from venclient.plugin_manager import IsolatedHook
from venclient.model import QUALITY_OK
from venclient.protocols import AccumulatorRecords, FollowsEvents, HistoryRecords, VtnTransport

log = logging.getLogger("venclient.run")

REPLAY_ROW_KEY = "clock.replay_row"  # the last replayed row collected (its reports are in the outbox or backlog)


@dataclass
class RunOptions:
    """What ``ven run`` does; every field has a settings key (see settings.toml ``[default.reporting]``)."""

    vens: Sequence[str] | None = None
    interval_seconds: float = 15.0
    speed: float = 1.0
    once: bool = False
    max_ticks: int | None = None
    register: bool = True
    level: str = "load"
    max_resources_per_report: int = 2000
    poll_seconds: float = 60.0
    register_every_seconds: float = 3600.0
    shutdown_flush_seconds: float = 10.0
    programs: Sequence[str] | None = None
    fallback_program: str | None = None
    fallback_event: str | None = None
    subscribe: bool = False
    callback_host: str = "127.0.0.1"
    callback_port: int = 0
    callback_url: str | None = None
    backlog_max_ticks: int = 240
    backlog_drain_per_tick: int = 4
    lease_seconds: float = DEFAULT_LEASE_SECONDS

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> "RunOptions":
        """Options from settings, then the non-``None`` ``overrides`` (the command line)."""
        get = settings.get
        options = cls(
            vens=get("vens") or None,
            interval_seconds=float(get("reporting.interval_seconds", 15)),
            level=str(get("reporting.level", "load")),
            max_resources_per_report=int(get("reporting.max_resources_per_report", 2000)),
            poll_seconds=float(get("events.poll_seconds", 60)),
            register_every_seconds=float(get("reporting.register_every_seconds", 3600)),
            shutdown_flush_seconds=float(get("reporting.shutdown_flush_seconds", 10)),
            programs=get("events.programs") or None,
            fallback_program=get("reporting.program") or None,
            fallback_event=get("reporting.event") or None,
            subscribe=bool(get("events.subscribe", False)),
            callback_host=str(get("events.callback_host", "127.0.0.1") or "127.0.0.1"),
            callback_port=int(get("events.callback_port", 0) or 0),
            callback_url=get("events.callback_url") or None,
            backlog_max_ticks=int(get("reporting.backlog_max_ticks", 240)),
            backlog_drain_per_tick=int(get("reporting.backlog_drain_per_tick", 4)),
            lease_seconds=float(get("run.lease_seconds", DEFAULT_LEASE_SECONDS)),
        )
        for key, value in overrides.items():
            if value is not None:
                setattr(options, key, value)
        return options

    @property
    def real_step(self) -> float:
        """Real seconds between ticks."""
        return self.interval_seconds / self.speed


@dataclass
class TickStats:
    """What one tick did (logged as one line)."""

    index: int
    loads: int
    ok: int
    reports: int
    pending: int
    seconds: float
    backlog: int = 0      # ticks kept for later after this tick
    drained: int = 0      # kept ticks reported during this tick


@dataclass
class RunStats:
    """What a whole run did."""

    ticks: list[TickStats] = field(default_factory=list)
    reports_built: int = 0
    reports_sent: int = 0
    reports_rejected: int = 0
    events_seen: int = 0
    notifications: int = 0
    backlog_ticks: int = 0       # ticks kept when the run ended
    backlog_dropped: int = 0     # ticks dropped unreported (wall clock, backlog full)
    vens_lost: list[str] = field(default_factory=list)  # VENs another process took over


class WriteHealth:
    """One warning per streak of writes the store refused, one info line when it takes writes again."""

    def __init__(self) -> None:
        self.failing = False

    def failed(self, err: StoreUnavailable) -> None:
        if not self.failing:
            self.failing = True
            log.warning("%s The tick is kept and stored as soon as the store takes writes again.", err)

    def ok(self) -> None:
        if self.failing:
            self.failing = False
            log.info("The store takes writes again.")


def subscription_client_name(vens: Sequence[str]) -> str:
    """The ``clientName`` of our subscriptions: the VEN's name, or a stable name for a set of VENs."""
    if len(vens) == 1:
        return vens[0][:128]
    digest = hashlib.sha1("\n".join(sorted(vens)).encode()).hexdigest()[:12]
    return f"venclient-{digest}"


class VenRunner:
    """Runs the VEN loop for some VENs until stopped, ``once``, or after ``max_ticks`` ticks."""

    def __init__(self, runtime: Any, options: RunOptions):
        self.runtime = runtime
        self.options = options
        self.store = runtime.store()
        self.stop_event = asyncio.Event()
        self.stats = RunStats()
        self.reporter = Reporter(interval_seconds=options.interval_seconds, level=options.level,
                                 max_resources=options.max_resources_per_report)
        # Event-aligned reports (venclient.engine.report_schedule); the reporter answers the continuous requests.
        self.schedule = ReportSchedule(level=options.level, max_resources=options.max_resources_per_report,
                                       get_state=self.store.get_state)
        self._durable_totals = isinstance(self.store, AccumulatorRecords)
        # Hourly history of the loads whose source has no baseline (real meters), and their baselines from it.
        self.history = (HistoryBaseline(self.store, BaselineMethod.from_settings(runtime.settings))
                        if isinstance(self.store, HistoryRecords) else None)
        if self._durable_totals:  # finished intervals wait in the store, not in memory
            self.schedule.accumulator.reader = lambda ven, event_id: self.store.accumulators_read(  # type: ignore
                [ven], event_id)
        # Backoff in real seconds: from one tick up to ~20 ticks, never more than 5 minutes.
        self.outbox = Outbox(self.store, backoff_base=min(5.0, options.real_step),
                             backoff_max=min(300.0, max(1.0, 20 * options.real_step)))
        self.callbacks: CallbackServer | None = None
        self.subscriptions: Subscriptions | None = None
        self.vens: list[str] = []               # the VENs served (their leases held)
        self.leases: VenLeases | None = None
        self.backlog = Backlog(self.store, [], max_ticks=options.backlog_max_ticks,
                               replay=str(runtime.settings.get("clock.mode", REPLAY) or REPLAY).lower() == REPLAY,
                               log=log)
        self.write_health = WriteHealth()
        self._warned: set[str] = set()
        self._wakeup = asyncio.Event()
        self._poll_now = asyncio.Event()        # set: poll the VTN's events at once (it answers again)
        self._poll_failures = 0
        self._register_pending = False          # the registration at start could not reach the VTN
        self._held: tuple[Any, Any] | None = None  # (tick, readings) collected but not stored yet
        self._events: EventEngine | None = None
        self.scheduler: EventScheduler | None = None
        self.recovery = VtnRecovery(self.store, [])
        self._check_vtn = False                 # a sign the VTN may have forgotten us: check after the next poll
        self._not_recovering = asyncio.Event()  # cleared while registration is rebuilt (the tick loop waits)
        self._not_recovering.set()
        self._vtn_down = False
        self._loads_changed = False
        self._stopping = False

    def stop(self) -> None:
        """Ask the loop to finish the current tick and return."""
        self.stop_event.set()

    def _warn_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)

    def _install_signal_handlers(self) -> list[int]:
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.stop)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread (tests) or not supported
        return installed

    async def _sleep(self, seconds: float) -> None:
        """Sleep up to ``seconds`` real seconds, less when stopped."""
        if seconds <= 0:
            return
        try:
            await asyncio.wait_for(self.stop_event.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            pass

    # ------------------------------------------------------------------------------ report requests
    def report_requests(self, events: EventEngine) -> list[Event]:
        """Events asking for reports; else the configured fallback program/event; else none (warned once)."""
        requests = events.report_requests()
        if requests:
            return requests
        if not events.polled:
            self._warn_once("unknown", "The VTN's events are not known yet (it has not answered): readings are "
                                       "kept in the store and reported once it asks for them.")
            return []
        program_name, event_name = self.options.fallback_program, self.options.fallback_event
        if program_name and event_name:
            program_id = next((p.id for p in events.programs.values() if program_name in (p.id, p.program_name)),
                              None)
            event = events.find_event(program_id, event_name) if program_id else None
            if event is not None:
                return [Event(id=event.id, program_id=program_id, intervals=[],
                              report_descriptors=[ReportDescriptor(payload_type="USAGE", units="KWH")])]
            self._warn_once("fallback", "reporting.program %r / reporting.event %r name no event the VTN lists: "
                                        "readings are kept in the store until an event asks for reports.",
                            program_name, event_name)
            return []
        self._warn_once("no-requests", "No event asks for reports and reporting.program / reporting.event are not "
                                       "set: readings are kept in the store until an event asks for reports.")
        return []

    # ------------------------------------------------------------------------------ the run
    async def run(self) -> RunStats:
        """The loop.  Returns when stopped; never leaves sources, tasks or the callback server running."""
        options = self.options
        vens = select_vens(self.store, options.vens)
        self.leases = VenLeases(self.store, vens, command="ven run", seconds=options.lease_seconds)
        await self.leases.acquire()  # LeaseHeld: another process runs one of these VENs
        self.vens = vens             # the run's list: narrowed in place when a VEN's lease is lost
        self.outbox.vens = set(vens)
        self.backlog.vens = vens
        self.recovery.vens = vens
        # Renewed from here to the end, registration at start included (a fleet's can outlast a lease).
        renewal = asyncio.create_task(self.leases.keep_renewed(self._leases_lost, self.write_health.failed),
                                      name="lease-renewal")
        installed = self._install_signal_handlers()
        try:
            await self.backlog.load()
            if self.backlog.ticks:
                log.info("%d ticks kept by an earlier run wait for a report request.", self.backlog.ticks)
            # strict_input: a meter data file that is missing or not HDF5 at start stops the run with its
            # sentence, before anything talks to the VTN.
            async with Collector.from_runtime(self.runtime, vens=vens, strict_open=False,
                                              strict_input=True) as collector, \
                    self.runtime.transport() as transport:
                collector.history = self.history
                if options.register:
                    await self._register_at_start(transport, vens)
                events = self._events = EventEngine(self.runtime, transport, vens, programs=options.programs)
                clock = collector.build_clock(self.runtime.settings, start_index=await self._replay_start())
                self.scheduler = events.scheduler = self._scheduler(events, clock)
                await self._attach_schedule(events, collector)
                self.scheduler.followers = list({id(source): source for source in collector.sources.values()
                                                 if isinstance(source, FollowsEvents)}.values())
                try:
                    if options.subscribe:
                        await self._start_webhook(transport, events, vens)
                    await self._poll_events(events)
                    await self._run_loop(transport, events, vens, collector, clock)
                finally:
                    await self._stop_webhook()
        finally:
            loop = asyncio.get_running_loop()
            for sig in installed:
                loop.remove_signal_handler(sig)
            renewal.cancel()
            await asyncio.gather(renewal, return_exceptions=True)
            await self.leases.release()
        self.stats.backlog_ticks = self.backlog.ticks
        self.stats.backlog_dropped = self.backlog.dropped
        if self.stats.vens_lost and not self.vens:
            raise VenError("Every VEN of this run was taken over by another process; stopped.")
        return self.stats

    async def _attach_schedule(self, events: EventEngine, collector: Collector) -> None:
        """Give the report schedule the VENs' event states and target resolution, and the interval totals an
        earlier run kept."""
        scheduler = self.scheduler
        self.schedule.received = scheduler.event_state if scheduler is not None else None
        self.schedule.scope = events.directory.target_scope
        self.schedule.forecaster = collector.forecast_w if collector.can_forecast() else None
        if scheduler is not None:
            self.schedule.applied = scheduler.applied_levels
        if self._durable_totals:
            rows = await asyncio.to_thread(self.store.accumulators_read, list(self.vens))  # type: ignore[attr-defined]
            if self.schedule.load(rows, collector.plan):
                log.info("%d event intervals with readings kept by an earlier run continue.", len(rows))

    def _stage(self, time: datetime, seconds: float, readings: Any, plan: Any, aligned: list[Any], tick_ms: int,
               **kwargs: Any) -> Any:
        """The event-aligned part of one tick (``None`` when there is nothing to accumulate or forget)."""
        if not aligned and not self.schedule.accumulator.rows:
            return None
        write = self.schedule.stage(time, seconds, readings, plan, aligned, tick_ms, **kwargs)
        if not self._durable_totals:
            write.write = None
        return write

    def _history_write(self, tick: Any, seconds: float, readings: Any, collector: Collector) -> HistoryWrite | None:
        """The tick's hourly history rows of the loads whose source has no baseline (``None``: nothing to write):
        each load read OK adds its energy; a load an event controls now marks the hour as an event hour."""
        if self.history is None:
            return None
        positions, load_ids = collector.history_loads()
        if not len(positions):
            return None
        plan = collector.plan
        if self.scheduler is not None:
            controlled = self.scheduler.controlled(tick.time, load_ids, plan.resource_ids[positions],
                                                   plan.vens[positions])
        else:
            controlled = np.zeros(len(positions), dtype=bool)
        ok = readings.quality[positions] == QUALITY_OK
        write = self.history.write(tick.time.timestamp(), seconds, load_ids, readings.power_w[positions], ok,
                                   controlled)
        return write if write else None

    def _scheduler(self, events: EventEngine, clock: Clock) -> EventScheduler:
        """The event scheduler in the clock's time: the wall clock, or the replay tick's time."""
        if clock.mode == WALLCLOCK:
            def now() -> datetime:
                return datetime.now(timezone.utc)
        else:
            def now() -> datetime:
                return clock.tick.time
        return EventScheduler(self.store, events.actuator.writers, events.directory, now,
                              IsolatedHook(self.runtime.pm.hook.ven_event_interval))

    async def _run_loop(self, transport: VtnTransport, events: EventEngine, vens: list[str],
                        collector: Collector, clock: Clock) -> None:
        flusher = asyncio.create_task(self._flusher(transport), name="outbox-flusher")
        background = [asyncio.create_task(self._poller(transport, events, vens), name="event-poller")]
        if clock.mode == WALLCLOCK and self.scheduler is not None:
            background.append(asyncio.create_task(self.scheduler.follow_wall_clock(self.stop_event),
                                                  name="event-scheduler"))
        if self.options.register:
            background.append(asyncio.create_task(
                self._every(self.options.register_every_seconds, lambda: self._resync(transport, vens)),
                name="registration"))
        try:
            await self._loop(events, collector, clock)
        finally:
            for task in background:
                task.cancel()
            # Let a flush in progress finish (cancelling would cut requests off mid-body), then flush once more.
            self._stopping = True
            self._wakeup.set()
            deadline = time.monotonic() + self.options.shutdown_flush_seconds
            try:
                await asyncio.wait_for(asyncio.shield(flusher), self.options.shutdown_flush_seconds)
            except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - the flusher logs its own failures
                flusher.cancel()
            await asyncio.gather(flusher, *background, return_exceptions=True)
        await self._final_flush(transport, max(0.0, deadline - time.monotonic()))

    async def _every(self, sim_seconds: float, work: Callable[[], Awaitable[Any]]) -> None:
        """Run ``work`` every ``sim_seconds`` simulated seconds (after the first period) until cancelled."""
        while True:
            await asyncio.sleep(sim_seconds / self.options.speed)
            await work()

    async def _register(self, transport: VtnTransport, vens: list[str]) -> None:
        registrar = Registrar(self.store, transport, vtn_url=self.runtime.settings.get("vtn.url"))
        summary = await registrar.register_vens(vens)
        data = summary.as_dict()
        if data["loads_registered"] or data["loads_failed"]:
            log.info("Registration: %d loads registered, %d failed.", data["loads_registered"], data["loads_failed"])
            self._loads_changed = True
        if data["loads_failed"]:
            self._check_vtn = True  # a 404 for our VEN id fails every load: did the VTN forget us?
        self._register_pending = bool(data.get("failed_vens"))

    async def _register_at_start(self, transport: VtnTransport, vens: list[str]) -> None:
        """Register what is new; a VTN that does not answer delays it until it does (the poller retries)."""
        try:
            await self._register(transport, vens)
        except StoreUnavailable:
            raise
        except Exception as err:  # noqa: BLE001 - collection goes on without the VTN
            self._register_pending = True
            log.warning("Registration could not run (%s); it is tried again when the VTN answers.", err)

    async def _resync(self, transport: VtnTransport, vens: list[str]) -> None:
        try:
            await self._register(transport, vens)
        except Exception as err:  # noqa: BLE001 - the next period retries
            log.warning("Registration re-sync failed: %s", err)

    async def _poll_events(self, events: EventEngine) -> bool:
        """Read the VTN's events (and subscribe first in webhook mode); ``False`` when the VTN did not answer."""
        try:
            if self.subscriptions is not None:
                await self.subscriptions.sync(await events.refresh_programs())  # subscribe before reading
            changes = await events.poll()
            self.stats.events_seen += len(changes)
        except Exception as err:  # noqa: BLE001 - the VTN being away must not stop collection
            if not self._poll_failures:
                log.warning("Could not poll events: %s", err)
            self._poll_failures += 1
            return False
        if self._poll_failures:
            log.info("The VTN answers again: its events are read.")
        self._poll_failures = 0
        return True

    def _poll_delay(self) -> float:
        """Simulated seconds until the next poll: ``events.poll_seconds``, or while the VTN does not answer a
        backoff from one tick doubling up to ``events.poll_seconds``."""
        if not self._poll_failures:
            return self.options.poll_seconds
        backoff = self.options.interval_seconds * 2 ** min(self._poll_failures - 1, 30)
        return min(self.options.poll_seconds, backoff)

    async def _poller(self, transport: VtnTransport, events: EventEngine, vens: list[str]) -> None:
        """Poll events on schedule, with backoff while the VTN is away, and at once when woken (``_poll_now``);
        after a poll that worked, register what the start could not."""
        while True:
            try:
                await asyncio.wait_for(self._poll_now.wait(), self._poll_delay() / self.options.speed)
            except asyncio.TimeoutError:
                pass
            self._poll_now.clear()
            if not await self._poll_events(events):
                continue
            if self._register_pending and self.options.register:
                await self._resync(transport, vens)
            await self._check_forgotten(transport, events)

    async def _check_forgotten(self, transport: VtnTransport, events: EventEngine) -> None:
        """After a poll: when there is a sign the VTN forgot us, rebuild what it lost (see the module docstring)."""
        try:
            renamed = await asyncio.to_thread(self.recovery.remember, events.programs,
                                              list(events.tracker.events.values()))
            if not (renamed or self._check_vtn):
                return
            self._check_vtn = False
            await self._recover(transport)
        except StoreUnavailable as err:
            self.write_health.failed(err)
        except Exception as err:  # noqa: BLE001 - the next sign tries again
            self._check_vtn = True
            log.warning("Could not check whether the VTN still knows this VEN: %s", err)

    async def _recover(self, transport: VtnTransport) -> None:
        """Register again the VENs the VTN answers 404 for (the tick loop waits), then move the outbox to the ids
        the VTN uses now."""
        forgotten = await self.recovery.forgotten_vens(transport)
        if forgotten:
            log.warning("The VTN no longer knows %s (404 for the stored VEN id): registering %s and %s loads again.",
                        ", ".join(forgotten), "it" if len(forgotten) == 1 else "them",
                        "its" if len(forgotten) == 1 else "their")
            self._not_recovering.clear()
            try:
                loads = await self.recovery.forget(forgotten)
                await self._register(transport, forgotten)
                self._loads_changed = True
                log.info("Registration rebuilt: %d VENs, %d loads.", len(forgotten), loads)
            finally:
                self._not_recovering.set()
        programs = {p.id: p for p in await transport.list_programs() if p.id}
        result = await asyncio.to_thread(self.recovery.retarget_outbox, programs, await transport.list_events())
        if result.moved:
            log.info("Moved %d reports in the outbox to the program and event ids the VTN uses now.", result.moved)
            self._wakeup.set()
        if result.set_aside:
            log.warning("Set %d reports aside: %s.", result.set_aside, "; ".join(result.reasons))

    def _leases_lost(self, lost: dict[str, dict[str, Any]]) -> None:
        """Stop serving the VENs another process took over (the list objects are shared with the engines)."""
        for ven, row in sorted(lost.items()):
            log.error("VEN %r was taken over by %s: this run no longer serves it.", ven, describe_holder(row))
            self.stats.vens_lost.append(ven)
        self.vens[:] = [ven for ven in self.vens if ven not in lost]
        self.outbox.vens = set(self.vens)
        if self._events is not None:
            self._events.vens = list(self.vens)
            self._events.directory.vens = list(self.vens)
        self._loads_changed = True
        if not self.vens:
            self.stop()

    async def _start_webhook(self, transport: VtnTransport, events: EventEngine, vens: list[str]) -> None:
        """Start the callback server and take notifications as hints; subscriptions are made by the first poll
        (each with its own random bearer token; a refused one is retried with backoff, about one poll period
        first, then doubling up to an hour)."""
        async def on_notification(notification: dict[str, Any]) -> None:
            try:
                self.stats.events_seen += len(await events.notify(notification))
            finally:
                self.stats.notifications += 1  # handled (checked with the VTN), whatever came of it

        self.callbacks = CallbackServer(on_notification, asyncio.get_running_loop(), host=self.options.callback_host,
                                        port=self.options.callback_port)
        await asyncio.to_thread(self.callbacks.start)
        url = self.options.callback_url or self.callbacks.url
        poll_real = self.options.poll_seconds / self.options.speed
        # 0.9: the retry is due by the next poll that follows the backoff, despite timing jitter.
        self.subscriptions = Subscriptions(transport, client_name=subscription_client_name(vens), callback_url=url,
                                           server=self.callbacks, backoff_base=0.9 * poll_real,
                                           backoff_max=max(0.9 * poll_real, 3600.0))
        events.program_listener = self.subscriptions.sync
        stale = await self.subscriptions.remove_stale()
        log.info("Taking program and event notifications at %s%s; each is checked with the VTN before it is "
                 "acted on.", url, f" (deleted {stale} subscriptions left by an earlier run)" if stale else "")

    async def _stop_webhook(self) -> None:
        if self.subscriptions is not None:
            deleted = await self.subscriptions.close()
            log.debug("Deleted %d subscriptions at exit.", deleted)
            self.subscriptions = None
        if self.callbacks is not None:
            await asyncio.to_thread(self.callbacks.stop)
            self.callbacks = None

    # ------------------------------------------------------------------------------ outbox
    async def _flush_round(self, transport: VtnTransport, *, ignore_backoff: bool = False) -> Any:
        """Flush until nothing more is due right now (a flush reads a bounded batch); returns the last result."""
        while True:
            result = await self.outbox.flush(transport, ignore_backoff=ignore_backoff)
            self._count_deliveries()
            if not (result.more and result.delivered and not result.errors):
                return result

    def _count_deliveries(self) -> None:
        """Copy the outbox's running totals into the stats (they include flushes cut off by a deadline)."""
        self.stats.reports_sent = self.outbox.delivered_total
        self.stats.reports_rejected = self.outbox.rejected_total

    async def _flusher(self, transport: VtnTransport) -> None:
        """Send the outbox at start (an earlier run's leftovers), whenever a tick added reports, and every tick
        while reports wait for their retry."""
        first = True
        while not self._stopping:
            if not first:
                try:
                    await asyncio.wait_for(self._wakeup.wait(), timeout=self.options.real_step)
                except asyncio.TimeoutError:
                    pass
            self._wakeup.clear()
            if self._stopping:
                return
            try:
                result = await self._flush_round(transport)
            except StoreUnavailable as err:  # the report stays in the outbox; the tick loop reports the streak
                self.write_health.failed(err)
                continue
            except Exception:  # noqa: BLE001 - the store or VTN failing must not kill the loop
                log.exception("Flushing the outbox failed")
                continue
            if first and result.delivered:
                log.info("Sent %d reports left from an earlier run.", result.delivered)
            if result.rejected:  # perhaps for a program or event the VTN forgot: re-read, then check
                self._check_vtn = True
                self._poll_now.set()
            first = False
            # The outbox itself warns at the first failed attempt of a streak (not after the whole flush) and
            # logs the recovery, once each.
            was_down, self._vtn_down = self._vtn_down, self.outbox.failing
            if was_down and not self._vtn_down:
                self._poll_now.set()  # its events may have changed while it was away

    async def _final_flush(self, transport: VtnTransport, budget: float) -> None:
        """One more flush, retry times ignored, within ``budget`` seconds (what shutdown_flush_seconds left).

        Reports whose last attempt may have arrived are looked up only after their settle time; when that comes
        within the budget the flush waits for it (and flushes again), so a stall just before exit is resolved now
        rather than by the next run."""
        before = self.stats.reports_sent
        deadline = time.monotonic() + budget

        async def drain() -> None:
            while True:
                await self._flush_round(transport, ignore_backoff=True)
                wait = await asyncio.to_thread(self.outbox.in_doubt_due_in)
                if wait is None or time.monotonic() + wait >= deadline:
                    return
                await asyncio.sleep(max(0.05, wait))

        try:
            if budget <= 0:
                raise asyncio.TimeoutError
            await asyncio.wait_for(drain(), budget)
        except asyncio.TimeoutError:
            log.warning("Stopped flushing after %.0f s; the outbox keeps the rest for the next run.",
                        self.options.shutdown_flush_seconds)
        except StoreUnavailable as err:
            log.warning("%s The outbox keeps the rest for the next run.", err)
        self._count_deliveries()
        if self.stats.reports_sent > before:
            log.info("Flushed %d reports before exiting.", self.stats.reports_sent - before)

    # ------------------------------------------------------------------------------ ticks
    async def _loop(self, events: EventEngine, collector: Collector, clock: Clock) -> None:
        """Tick until stopped, ``once`` or ``max_ticks``: collect, report, queue.  Loads changed by registration
        (at start or later) or by a lost lease are re-read before the next tick (and the events planned again);
        with the replay clock the event scheduler acts on the boundaries up to the tick's time first."""
        while True:
            started = time.monotonic()
            if self._loads_changed:
                self._loads_changed = False
                collector.vens = list(self.vens)
                await collector.refresh()
                self._held = None  # held readings belong to the old plan: collect the tick again
                events.invalidate_loads()
                await events.replan()
            await self._not_recovering.wait()  # registration being rebuilt after the VTN forgot us
            if clock.mode != WALLCLOCK and self.scheduler is not None and self.scheduler.due(clock.tick.time):
                await self.scheduler.reconcile(clock.tick.time)
            stored = await self._tick(collector, clock, events)
            if self._done():
                break
            if stored:  # a tick the store did not take (yet) is not left behind
                clock.increase_time()
            await self._sleep(self.options.real_step - (time.monotonic() - started))
            if self.stop_event.is_set():
                break

    async def _replay_start(self) -> int:
        """The row after the last one a previous run reported, so a restart continues instead of repeating."""
        saved = await asyncio.to_thread(self.store.get_state, REPLAY_ROW_KEY)
        try:
            return int(saved) + 1 if saved is not None else 0
        except ValueError:
            return 0

    def _done(self) -> bool:
        return (self.options.once or self.stop_event.is_set()
                or (self.options.max_ticks is not None and len(self.stats.ticks) >= self.options.max_ticks))

    async def _tick(self, collector: Collector, clock: Any, events: EventEngine) -> bool:
        """Collect the clock's tick (or take the one held since the store refused it) and store it: its reports
        into the outbox when report requests are known and nothing older is kept, else into the backlog.
        ``False`` when it was not stored (the store refuses writes, or a replay run's backlog is full): the tick is
        held and the caller keeps the clock where it is."""
        started = time.perf_counter()
        tick = clock.tick
        if self._held is not None and self._held[0] == tick:
            readings = self._held[1]
        else:
            readings = await collector.collect(tick)
            self._held = (tick, readings)
        plan = collector.plan
        requests = self.report_requests(events)
        continuous, aligned = self.schedule.split(requests) if requests else ([], [])
        seconds_of = getattr(clock, "seconds_of", lambda _tick: self.options.interval_seconds)
        state = {REPLAY_ROW_KEY: str(tick.index)}
        history = self._history_write(tick, seconds_of(tick), readings, collector)
        queued = drained_ticks = drained = 0
        try:
            if requests and self.backlog.ticks:
                drained_ticks, drained = await self.backlog.drain(
                    plan, lambda kept, values: self.reporter.iter_build(kept.time, values, plan, continuous,
                                                                        seconds_of(kept)),
                    self.options.backlog_drain_per_tick,
                    stage=lambda kept, values: self._stage(kept.time, seconds_of(kept), values, plan, aligned,
                                                           kept.timestamp_ms, forget_others=False),
                    commit=self.schedule.commit)
            if requests and not self.backlog.ticks:
                seconds = seconds_of(tick)
                reports = self.reporter.iter_build(tick.time, readings, plan, continuous, seconds)
                write = self._stage(tick.time, seconds, readings, plan, aligned, tick.timestamp_ms)
                if write is not None:
                    reports = chain(reports, write.reports)
                    state.update(write.state)
                queued = len(await self.outbox.put(reports, tick_ms=tick.timestamp_ms, state=state,
                                                   accumulators=write.write if write is not None else None,
                                                   history=history))
                if write is not None:
                    self.schedule.commit(write)
                stored = True
            elif self.backlog.supported:
                stored = await self.backlog.keep(tick, readings, plan, state, history=history)
            else:  # a store without a backlog: the tick goes unreported, as it always did
                self._warn_once("no-backlog", "The store keeps no backlog: ticks without a report request are not "
                                              "reported.")
                await self.outbox.put([], tick_ms=tick.timestamp_ms, state=state, history=history)
                stored = True
        except StoreUnavailable as err:
            self.write_health.failed(err)
            stored = False
        else:
            self.write_health.ok()
        if queued or drained:
            self._wakeup.set()
        self.stats.reports_built += queued + drained
        if not stored:
            return False
        if history is not None and self.history is not None:
            self.history.written(history, tick.time.timestamp())
        self._held = None
        counts = await asyncio.to_thread(self.store.outbox_counts)
        stats = TickStats(index=tick.index, loads=len(readings), ok=int(readings.ok_mask().sum()),
                          reports=queued + drained, pending=counts.get("pending", 0),
                          seconds=time.perf_counter() - started, backlog=self.backlog.ticks, drained=drained_ticks)
        self.stats.ticks.append(stats)
        log.info("tick %d %s: %d/%d loads read, %d reports queued%s, %d in the outbox%s (%.0f ms)",
                 tick.index, tick.time.strftime("%Y-%m-%d %H:%M:%S"), stats.ok, stats.loads, stats.reports,
                 f" ({drained} of {drained_ticks} kept ticks)" if drained_ticks else "", stats.pending,
                 f", {stats.backlog} ticks kept for later" if stats.backlog else "", stats.seconds * 1000)
        return True
