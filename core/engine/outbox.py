"""The durable outbox: every report is stored before it is sent and deleted only after the VTN took it.

Sending rules:
* per VEN, oldest first and one at a time, so a VEN's reports reach the VTN in tick order; VENs are sent
  concurrently within ``concurrency``;
* delivered means a 2xx, or a 409 ("identical report exists", OpenADR 3.0.1 ``POST /reports``): the row is
  deleted;
* *rejected* — set aside with the reason, and the VEN's next report goes on — only when the VTN itself judged
  the report: 400 or 422 with a JSON problem body (:func:`is_rejection`).  ``ven outbox retry`` sends such
  reports again, ``ven outbox drop`` deletes them;
* anything else is a fault of the path, not of the report — no answer, a timeout, 5xx, 429, 401/403, a 404
  or 405, any other 4xx, and every HTML / non-JSON / empty error body (a proxy, a load balancer, a wrong base
  URL): it stops that VEN's queue and schedules its oldest report again with exponential backoff (at least the
  VTN's ``Retry-After``); the VEN's later reports wait behind it (a VEN whose oldest report is not due yet sends
  nothing, so a later report can never overtake an earlier one).  The first failure of a streak is logged as
  one warning at once (not one per report, and not after the whole flush), the recovery as one line;
* exactly once: the POST goes out with no transport-level retry, and a report whose earlier attempt *may* have
  reached the VTN (the answer timed out, the connection broke, an ambiguous 5xx, or the process died during
  the send — the store's ``maybe_delivered``) is looked up by its unique ``reportName`` among the VTN's reports
  of that event and VEN before it is sent again, comparing ``reportName``, ``eventID`` and ``clientName`` on our
  side (some VTNs ignore query filters): found means delivered (deleted here, not sent twice); when the look-up
  itself fails the report waits for the next round rather than risk a duplicate.  An attempt that surely did
  not arrive (connection refused, 503, 429, 4xx) is resent without a look-up.

Payloads are kept as JSON text from :meth:`Outbox.put` to the wire: serialised once (orjson), parsed again only
for transports without a raw JSON entry point, and read back from the store one report at a time just before
it is posted, so a flush holds only the reports in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Iterable

import orjson

from venclient.errors import StoreUnavailable
from venclient.engine.report import WireReport
from venclient.protocols import (FindsReports, ListsReports, PostsReportText, ResourceStore, SettlesUnknownOutcomes,
                                 VtnTransport)
from venclient.vtn_errors import VtnConflict, VtnError, is_problem_answer

log = logging.getLogger(__name__)

REJECTING_STATUSES = frozenset({400, 422})
MAX_BYTES_IN_FLIGHT = 16_000_000  # report text being sent at once (Outbox); a fleet tick's reports are ~110 kB


class ByteBudget:
    """At most ``limit`` units held at once by :meth:`hold`; a request above ``limit`` waits until none is held."""

    def __init__(self, limit: int):
        self.limit = limit
        self.held = 0
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def hold(self, size: int) -> AsyncIterator[None]:
        size = max(0, min(int(size), self.limit))
        async with self._changed:
            await self._changed.wait_for(lambda: self.held + size <= self.limit)
            self.held += size
        try:
            yield
        finally:
            async with self._changed:
                self.held -= size
                self._changed.notify_all()


@dataclass
class FlushResult:
    """What one :meth:`Outbox.flush` did."""

    sent: int = 0
    rejected: int = 0
    deferred: int = 0
    already_delivered: int = 0
    blocked_vens: int = 0
    more: bool = False  # the store had more pending rows than one flush reads: flush again
    errors: list[str] = field(default_factory=list)

    @property
    def delivered(self) -> int:
        """Reports the VTN now holds because of this flush (sent, or found there already)."""
        return self.sent + self.already_delivered


def is_rejection(err: VtnError) -> bool:
    """Whether the VTN refused the report itself, for good: 400 or 422 with a JSON problem body.

    A 404/405 or any other 4xx, and an HTML, plain-text or empty body whatever the status, come from the path
    (a proxy, a wrong URL, a VTN being deployed): retrying later may well succeed.
    """
    return err.status in REJECTING_STATUSES and is_problem_answer(err)


def is_delivery(err: VtnError) -> bool:
    """Whether an error answer still means the VTN holds the report: a 2xx whose body was not a valid report,
    or a 409 ("identical report exists")."""
    status = err.status or 0
    return 200 <= status < 300 or isinstance(err, VtnConflict) or status == 409


def _item(report: WireReport | dict[str, Any], tick_ms: int | None) -> dict[str, Any]:
    if isinstance(report, WireReport):
        return {"ven": report.ven, "program_id": report.program_id, "event_id": report.event_id,
                "tick_ms": tick_ms, "payload": report.json}
    return {"ven": report["clientName"], "program_id": report["programID"], "event_id": report["eventID"],
            "tick_ms": tick_ms, "payload": orjson.dumps(report).decode()}


class Outbox:
    """Stores reports in the ResourceStore and delivers them through a transport.

    ``backoff_base``/``backoff_max`` are seconds of the ``clock`` (wall-clock Unix seconds by default):
    the n-th failed attempt of a report waits ``min(backoff_max, backoff_base * 2**(n-1))`` with ±25 % jitter.
    ``batch`` bounds how many reports one flush sends; a report's JSON text is read from the store just before
    it is posted, so a flush holds at most ``concurrency`` payloads — and at most ``max_bytes_in_flight`` of
    their text, for stores whose rows tell the size (``payload_bytes``): a day-long event's reports are MBs each,
    and eight of them in flight held ~200 MB (the text, its bytes, the VTN's echo) and queued at the VTN until
    the last one's answer came after the read timeout.  A report bigger than the bound goes alone.
    ``vens`` (a set the owner may change) limits sending to those VENs' reports — another process sends the
    others.
    """

    def __init__(self, store: ResourceStore, *, concurrency: int = 8, backoff_base: float = 1.0,
                 backoff_max: float = 300.0, clock: Callable[[], float] = time.time, batch: int = 1000,
                 vens: Iterable[str] | None = None, max_bytes_in_flight: int = MAX_BYTES_IN_FLIGHT):
        self.store = store
        self.max_bytes_in_flight = max_bytes_in_flight
        # Only these VENs' reports are sent (the VENs this process holds the lease of); None = every VEN.
        self.vens: set[str] | None = set(vens) if vens is not None else None
        self.concurrency = concurrency
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.clock = clock
        self.batch = batch
        self._no_search_warned = False
        # Running totals over every flush, counted as each report settles — a flush cut off by a deadline
        # still counts what it delivered before the cut.
        self.delivered_total = 0
        self.rejected_total = 0
        self._failed_in_streak = 0  # failed attempts since the last delivery (0: the VTN takes reports)
        self._streak_started = 0.0
        # Attempts are numbered as they start. Only an attempt started after a streak's first failure was seen ends
        # it, and only one started after the last delivery was seen opens one: answers of concurrent attempts
        # arrive in any order, and a late answer to an older request says nothing about the VTN now.
        self._attempts_started = 0
        self._streak_first_attempt = 0
        self._last_delivered_attempt = 0

    @property
    def failing(self) -> bool:
        """Whether the latest attempts failed and no report was delivered since (an outage streak)."""
        return self._failed_in_streak > 0

    async def put(self, reports: Iterable[WireReport | dict[str, Any]], tick_ms: int | None = None,
                  state: dict[str, str] | None = None, accumulators: Any = None, history: Any = None) -> list[int]:
        """Persist reports — :class:`venclient.engine.report.WireReport` text or wire dicts — in one transaction, together
        with the runtime ``state`` entries given; returns their outbox ids in the order given (a VEN's reports
        are sent in that order).  ``reports`` may be a generator (e.g. :meth:`venclient.engine.report.Reporter.iter_build`):
        it is consumed inside the transaction, in a worker thread, one report at a time.  ``accumulators`` (an
        :class:`venclient.engine.accumulate.AccumulatorWrite`, for a store with
        :class:`venclient.protocols.AccumulatorRecords`) and ``history`` (an
        :class:`venclient.engine.baseline.HistoryWrite`, for a store with :class:`venclient.protocols.HistoryRecords`)
        are written in the same transaction."""
        items = (_item(r, tick_ms) for r in reports)
        extra = {name: value for name, value in (("accumulators", accumulators), ("history", history))
                 if value is not None}
        if extra:
            return await asyncio.to_thread(lambda: self.store.outbox_add(items, state, **extra))  # type: ignore[call-arg]
        return await asyncio.to_thread(self.store.outbox_add, items, state)

    def _backoff(self, failures: int) -> float:
        delay = min(self.backoff_max, self.backoff_base * (2 ** max(0, failures - 1)))
        return delay * random.uniform(0.75, 1.25)

    def _due_queues(self, ignore_backoff: bool) -> tuple[dict[str, list[dict[str, Any]]], int, bool]:
        """Per VEN, its pending rows in order (without payloads) — only VENs whose oldest pending report is
        due, at most ``batch`` rows in all, oldest first — the number of VENs waiting for their backoff, and
        whether due rows were left for the next flush (blocking I/O)."""
        now = self.clock()
        pending = self.store.outbox_list(state="pending")  # oldest first, without payloads
        if self.vens is not None:
            pending = [row for row in pending if row["ven"] in self.vens]
        heads: dict[str, dict[str, Any]] = {}
        for row in pending:
            heads.setdefault(row["ven"], row)
        # Only a VEN's oldest row is ever deferred, so every row of a VEN whose head is due is due.  Ignoring the
        # backoff never covers a head whose last attempt may have arrived: its look-up waits for the settle time.
        ready = {ven for ven, head in heads.items() if head["next_attempt_at"] <= now
                 or (ignore_backoff and not (head["attempts"] and head.get("maybe_delivered", True)))}
        queues: dict[str, list[dict[str, Any]]] = {}
        taken = 0
        for row in pending:
            if row["ven"] in ready:
                if taken == self.batch:
                    return queues, len(heads) - len(ready), True
                queues.setdefault(row["ven"], []).append(row)
                taken += 1
        return queues, len(heads) - len(ready), False

    def in_doubt_due_in(self) -> float | None:
        """Seconds until the earliest report whose last attempt may have arrived is due for its look-up (``None``
        when no report of our VENs is in doubt) — the last flush before exit waits for those within its budget
        (blocking I/O)."""
        pending = self.store.outbox_list(state="pending")
        due = [row["next_attempt_at"] for row in pending
               if (self.vens is None or row["ven"] in self.vens) and row["attempts"] and row.get("maybe_delivered", True)]
        return max(0.0, min(due) - self.clock()) if due else None

    async def flush(self, transport: VtnTransport, *, ignore_backoff: bool = False) -> FlushResult:
        """Send every due report: per VEN in order, VENs concurrently.  Never raises for VTN failures.

        ``ignore_backoff`` sends even reports whose retry time has not come (the last flush before exit) — but
        not one whose last attempt may have reached the VTN: it waits to be looked up (the next run does that).
        """
        queues, blocked, more = await asyncio.to_thread(self._due_queues, ignore_backoff)
        result = FlushResult(blocked_vens=blocked, more=more)
        gate = asyncio.Semaphore(self.concurrency)
        budget = ByteBudget(self.max_bytes_in_flight)

        async def drain(rows: list[dict[str, Any]]) -> None:
            async with gate:
                for row in rows:
                    async with budget.hold(row.get("payload_bytes") or 0):
                        sent = await self._send_one(transport, row, result)
                    if not sent:
                        break  # keep this VEN's order: later reports wait behind the failed one

        await asyncio.gather(*(drain(rows) for rows in queues.values()))
        if result.rejected > 1:
            log.warning("The VTN rejected %d reports in this flush; they are kept aside (`ven outbox` lists them, "
                        "`ven outbox retry` sends them again).", result.rejected)
        return result

    async def _send_one(self, transport: VtnTransport, row: dict[str, Any], result: FlushResult) -> bool:
        """Deliver one row; ``True`` when the VEN's next report may go (sent, found, or rejected)."""
        self._attempts_started += 1
        attempt = self._attempts_started
        try:
            payload = await asyncio.to_thread(self.store.outbox_payload, row["id"])
            if payload is None:  # deleted meanwhile (e.g. by `ven outbox drop`): nothing to send
                return True
            if row["attempts"] and row.get("maybe_delivered", True):
                try:
                    found = await self._already_delivered(transport, payload)
                except Exception as err:  # noqa: BLE001 - cannot tell: wait, never resend blindly
                    return await self._defer(transport, row, f"could not check whether the VTN already holds the "
                                             f"report: {err}", result, maybe_delivered=True, err=err,
                                             attempt=attempt)
                if found:
                    log.info("A report of %s whose answer never came is on the VTN already (outbox id %d, found by "
                             "its reportName): not sent again.", row["ven"], row["id"])
                    await self._delivered(row, result, already=True, attempt=attempt)
                    return True
            await asyncio.to_thread(self.store.outbox_mark_attempt, row["id"])
            await self._post(transport, payload)
        except VtnError as err:
            if is_delivery(err):
                await self._delivered(row, result, already=isinstance(err, VtnConflict) or err.status == 409,
                                      attempt=attempt)
                return True
            if is_rejection(err):
                await asyncio.to_thread(self.store.outbox_reject, row["id"], str(err))
                result.rejected += 1
                self.rejected_total += 1
                if result.rejected == 1:
                    log.warning("The VTN rejected a report of %s (outbox id %d); kept aside: %s", row["ven"],
                                row["id"], err)
                return True
            return await self._defer(transport, row, str(err), result, maybe_delivered=err.maybe_delivered, err=err,
                                     attempt=attempt)
        except StoreUnavailable:
            raise  # the store, not the VTN, failed (disk full, read-only): the run loop reports that streak
        except Exception as err:  # noqa: BLE001 - any transport failure leaves the report for the next round
            return await self._defer(transport, row, f"{type(err).__name__}: {err}", result, maybe_delivered=True,
                                     attempt=attempt)
        await self._delivered(row, result, already=False, attempt=attempt)
        return True

    async def _delivered(self, row: dict[str, Any], result: FlushResult, *, already: bool, attempt: int = 0) -> None:
        """Count the row delivered (deleted from the outbox); an ``attempt`` started after the streak's first
        failure was seen ends the streak."""
        await asyncio.to_thread(self.store.outbox_delete, [row["id"]])
        if already:
            result.already_delivered += 1
        else:
            result.sent += 1
        self.delivered_total += 1
        if self._failed_in_streak and attempt > self._streak_first_attempt:
            log.info("The VTN takes reports again (after %d failed attempts in %.0f s).", self._failed_in_streak,
                     max(0.0, self.clock() - self._streak_started))
            self._failed_in_streak = 0
        if not self._failed_in_streak:
            self._last_delivered_attempt = self._attempts_started

    @staticmethod
    async def _post(transport: VtnTransport, payload: str) -> None:
        """POST the report once: as the stored JSON text when the transport :class:`PostsReportText` (without
        transport retries — the outbox's own backoff retries, after a look-up when the outcome is unknown), else
        as a dict through ``create_report``."""
        if isinstance(transport, PostsReportText):
            await transport.post_report_text(payload)
        else:
            await transport.create_report(orjson.loads(payload))

    async def _defer(self, transport: VtnTransport, row: dict[str, Any], reason: str, result: FlushResult, *,
                     maybe_delivered: bool, err: Exception | None = None, attempt: int = 0) -> bool:
        """Schedule the row again with backoff — at least the VTN's ``Retry-After``, and when the attempt may
        have reached the VTN at least the transport's ``unknown_outcome_settle_seconds`` (so a request still on
        its way has landed before the look-up) — remembering ``maybe_delivered``; warn at a streak's start."""
        delay = self._backoff(row["attempts"] + 1)
        retry_after = err.retry_after if isinstance(err, VtnError) else None
        if retry_after:
            delay = max(delay, min(float(retry_after), self.backoff_max))
        if maybe_delivered and isinstance(transport, SettlesUnknownOutcomes):
            delay = max(delay, float(transport.unknown_outcome_settle_seconds or 0.0))
        await asyncio.to_thread(self.store.outbox_retry_later, row["id"], reason, self.clock() + delay,
                                maybe_delivered)
        result.deferred += 1
        result.errors.append(reason)
        if attempt and attempt <= self._last_delivered_attempt:
            return False  # started before a report that was delivered since: no news about the VTN now
        if not self._failed_in_streak:
            self._streak_started = self.clock()
            self._streak_first_attempt = self._attempts_started
            log.warning("The VTN does not take reports (%s); they wait in the outbox and are retried with backoff.",
                        reason.rstrip("."))
        self._failed_in_streak += 1
        return False

    async def _already_delivered(self, transport: VtnTransport, payload: str) -> bool:
        """Whether the VTN holds this report already (same ``reportName``, ``eventID`` and ``clientName``,
        compared here); raises when it cannot tell."""
        report = orjson.loads(payload)
        name = report.get("reportName")
        event_id, client_name, program_id = report.get("eventID"), report.get("clientName"), report.get("programID")
        finds, lists = isinstance(transport, FindsReports), isinstance(transport, ListsReports)
        if not name or not (finds or lists):
            if not self._no_search_warned:
                self._no_search_warned = True
                log.warning("Reports are resent without checking for an earlier delivery: %s.",
                            "the report has no reportName" if not name else "the transport cannot list reports")
            return False
        if finds:
            return await transport.find_report(name, program_id=program_id, event_id=event_id,
                                               client_name=client_name) is not None
        existing = await transport.list_reports(event_id=event_id, client_name=client_name)
        return any(getattr(r, "report_name", None) == name and getattr(r, "event_id", event_id) == event_id
                   and getattr(r, "client_name", client_name) == client_name for r in existing)
