"""``ven run``: the long-running VEN — register, collect, report through the outbox, follow events.

One loop, one clock: every tick the collector reads all sources, the reporter answers each event that asks
for reports, and the reports go into the outbox (the store).  Beside the loop, background tasks

* flush the outbox to the VTN whenever a tick added reports (and right at start: what an earlier run left);
* poll the VTN's events every ``events.poll_seconds`` (with ``events.subscribe`` a callback server also
  takes the VTN's notifications at once; polling stays as the fallback);
* re-sync registration every ``reporting.register_every_seconds``; the loop re-reads its loads after it.

Schedules are in simulated seconds, like the tick interval, so ``--speed`` scales everything.  A VTN that
is away delays nothing but delivery: ticks go on and reports wait in the outbox.

In replay mode the clock continues after the last row an earlier run put into the outbox (the row is stored
in the same transaction as that tick's reports), so a restart neither repeats nor skips data.

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
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Sequence

from core.collect import Collector
from core.events import EventEngine
from core.openadr import Event, ReportDescriptor
from core.outbox import Outbox
from core.register import Registrar, select_vens
from core.report import Reporter
from core.webhook import CallbackServer, Subscriptions

log = logging.getLogger("venclient.run")

REPLAY_ROW_KEY = "clock.replay_row"  # the last replayed row whose reports are in the outbox


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


@dataclass
class RunStats:
    """What a whole run did."""

    ticks: list[TickStats] = field(default_factory=list)
    reports_built: int = 0
    reports_sent: int = 0
    reports_rejected: int = 0
    events_seen: int = 0
    notifications: int = 0


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
        # Backoff in real seconds: from one tick up to ~20 ticks, never more than 5 minutes.
        self.outbox = Outbox(self.store, backoff_base=min(5.0, options.real_step),
                             backoff_max=min(300.0, max(1.0, 20 * options.real_step)))
        self.callbacks: CallbackServer | None = None
        self.subscriptions: Subscriptions | None = None
        self._warned: set[str] = set()
        self._wakeup = asyncio.Event()
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
                                       "collected but not reported until it does.")
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
                                        "readings are collected but not reported.", program_name, event_name)
            return []
        self._warn_once("no-requests", "No event asks for reports and reporting.program / reporting.event are not "
                                       "set: readings are collected but not reported.")
        return []

    # ------------------------------------------------------------------------------ the run
    async def run(self) -> RunStats:
        """The loop.  Returns when stopped; never leaves sources, tasks or the callback server running."""
        options = self.options
        vens = select_vens(self.store, options.vens)
        installed = self._install_signal_handlers()
        try:
            async with self.runtime.transport() as transport:
                if options.register:
                    await self._register(transport, vens)
                events = EventEngine(self.runtime, transport, vens, programs=options.programs)
                try:
                    if options.subscribe:
                        await self._start_webhook(transport, events, vens)
                    await self._poll_events(events)
                    await self._run_loop(transport, events, vens)
                finally:
                    await self._stop_webhook()
        finally:
            loop = asyncio.get_running_loop()
            for sig in installed:
                loop.remove_signal_handler(sig)
        return self.stats

    async def _run_loop(self, transport: Any, events: EventEngine, vens: list[str]) -> None:
        flusher = asyncio.create_task(self._flusher(transport), name="outbox-flusher")
        background = [asyncio.create_task(self._every(self.options.poll_seconds, lambda: self._poll_events(events)),
                                          name="event-poller")]
        if self.options.register:
            background.append(asyncio.create_task(
                self._every(self.options.register_every_seconds, lambda: self._resync(transport, vens)),
                name="registration"))
        try:
            await self._loop(events, vens)
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

    async def _register(self, transport: Any, vens: list[str]) -> None:
        registrar = Registrar(self.store, transport, vtn_url=self.runtime.settings.get("vtn.url"))
        summary = await registrar.register_vens(vens)
        data = summary.as_dict()
        if data["loads_registered"] or data["loads_failed"]:
            log.info("Registration: %d loads registered, %d failed.", data["loads_registered"], data["loads_failed"])
            self._loads_changed = True

    async def _resync(self, transport: Any, vens: list[str]) -> None:
        try:
            await self._register(transport, vens)
        except Exception as err:  # noqa: BLE001 - the next period retries
            log.warning("Registration re-sync failed: %s", err)

    async def _poll_events(self, events: EventEngine) -> None:
        try:
            if self.subscriptions is not None:
                await self.subscriptions.sync(await events.refresh_programs())  # subscribe before reading
            changes = await events.poll()
            self.stats.events_seen += len(changes)
        except Exception as err:  # noqa: BLE001 - the VTN being away must not stop collection
            log.warning("Could not poll events: %s", err)

    async def _start_webhook(self, transport: Any, events: EventEngine, vens: list[str]) -> None:
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
    async def _flush_round(self, transport: Any, *, ignore_backoff: bool = False) -> Any:
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

    async def _flusher(self, transport: Any) -> None:
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
            except Exception:  # noqa: BLE001 - the store or VTN failing must not kill the loop
                log.exception("Flushing the outbox failed")
                continue
            if first and result.delivered:
                log.info("Sent %d reports left from an earlier run.", result.delivered)
            first = False
            # The outbox itself warns at the first failed attempt of a streak (not after the whole flush) and
            # logs the recovery, once each.
            self._vtn_down = self.outbox.failing

    async def _final_flush(self, transport: Any, budget: float) -> None:
        """One more flush, retry times ignored, within ``budget`` seconds (what shutdown_flush_seconds left)."""
        before = self.stats.reports_sent
        try:
            if budget <= 0:
                raise asyncio.TimeoutError
            await asyncio.wait_for(self._flush_round(transport, ignore_backoff=True), budget)
        except asyncio.TimeoutError:
            log.warning("Stopped flushing after %.0f s; the outbox keeps the rest for the next run.",
                        self.options.shutdown_flush_seconds)
        self._count_deliveries()
        if self.stats.reports_sent > before:
            log.info("Flushed %d reports before exiting.", self.stats.reports_sent - before)

    # ------------------------------------------------------------------------------ ticks
    async def _loop(self, events: EventEngine, vens: list[str]) -> None:
        """Tick until stopped, ``once`` or ``max_ticks``: collect, report, queue."""
        async with Collector.from_runtime(self.runtime, vens=vens, strict_open=False) as collector:
            clock = collector.build_clock(self.runtime.settings, start_index=await self._replay_start())
            self._loads_changed = False  # the collector has just read the loads
            while True:
                started = time.monotonic()
                if self._loads_changed:
                    self._loads_changed = False
                    await collector.refresh()
                    events.invalidate_loads()
                await self._tick(collector, clock, events)
                if self._done():
                    break
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

    async def _tick(self, collector: Collector, clock: Any, events: EventEngine) -> None:
        started = time.perf_counter()
        tick = clock.tick
        readings = await collector.collect(tick)
        reports = self.reporter.iter_build(tick.time, readings, collector.plan, self.report_requests(events))
        queued = await self.outbox.put(reports, tick_ms=tick.timestamp_ms, state={REPLAY_ROW_KEY: str(tick.index)})
        self._wakeup.set()
        counts = await asyncio.to_thread(self.store.outbox_counts)
        stats = TickStats(index=tick.index, loads=len(readings), ok=int(readings.ok_mask().sum()),
                          reports=len(queued), pending=counts.get("pending", 0),
                          seconds=time.perf_counter() - started)
        self.stats.ticks.append(stats)
        self.stats.reports_built += stats.reports
        log.info("tick %d %s: %d/%d loads read, %d reports queued, %d in the outbox (%.0f ms)",
                 tick.index, tick.time.strftime("%Y-%m-%d %H:%M:%S"), stats.ok, stats.loads, stats.reports,
                 stats.pending, stats.seconds * 1000)
