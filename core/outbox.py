"""The durable outbox: every report is stored before it is sent and deleted only after the VTN's 2xx.

Sending rules:
* per VEN, oldest first and one at a time, so a VEN's reports reach the VTN in tick order; VENs are sent
  concurrently within ``concurrency``;
* a retryable failure (no answer, timeout, 5xx, 429, 401/403 …) stops that VEN's queue and schedules its
  oldest report again with exponential backoff; the VEN's later reports wait behind it (a VEN whose oldest
  report is not due yet sends nothing, so a later report can never overtake an earlier one);
* a 4xx other than 401/403/408/429 means the VTN will never take the report: it is set aside (``rejected``)
  with the reason, and the VEN's next report goes on;
* a report that was attempted before (the attempt failed, timed out or was interrupted by a crash) may
  have reached the VTN — the transport retries internally and a crash can fall between the VTN's 2xx and
  the local delete — so before it is sent again the VTN's reports of that VEN and event are searched for
  its ``reportName``: found means delivered (deleted here, not sent twice); when the search itself fails
  the report waits for the next round rather than risk a duplicate.

Payloads are kept as JSON text from :meth:`Outbox.put` to the wire: serialised once (orjson), parsed again only
for transports without a raw JSON entry point, and read back from the store one report at a time just before
it is posted, so a flush holds only the reports in flight.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import orjson

from core.report import WireReport
from core.vtn_errors import VtnBadRequest, VtnError

log = logging.getLogger(__name__)

NOT_REJECTIONS = frozenset({401, 403, 408, 429})


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
    """A 4xx answer that retrying will not change (400, 404, 409, 422 …); not 401/403/408/429."""
    status = err.status or 0
    return isinstance(err, VtnBadRequest) or (400 <= status < 500 and status not in NOT_REJECTIONS)


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
    it is posted, so a flush holds at most ``concurrency`` payloads.  ``vens`` (a set the owner may change)
    limits sending to those VENs' reports — another process sends the others.
    """

    def __init__(self, store: Any, *, concurrency: int = 8, backoff_base: float = 1.0, backoff_max: float = 300.0,
                 clock: Callable[[], float] = time.time, batch: int = 1000, vens: Iterable[str] | None = None):
        self.store = store
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

    async def put(self, reports: Iterable[WireReport | dict[str, Any]], tick_ms: int | None = None,
                  state: dict[str, str] | None = None) -> list[int]:
        """Persist reports — :class:`core.report.WireReport` text or wire dicts — in one transaction, together
        with the runtime ``state`` entries given; returns their outbox ids in the order given (a VEN's reports
        are sent in that order).  ``reports`` may be a generator (e.g. :meth:`core.report.Reporter.iter_build`):
        it is consumed inside the transaction, in a worker thread, one report at a time."""
        items = (_item(r, tick_ms) for r in reports)
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
        # Only a VEN's oldest row is ever deferred, so every row of a VEN whose head is due is due.
        ready = {ven for ven, head in heads.items() if ignore_backoff or head["next_attempt_at"] <= now}
        queues: dict[str, list[dict[str, Any]]] = {}
        taken = 0
        for row in pending:
            if row["ven"] in ready:
                if taken == self.batch:
                    return queues, len(heads) - len(ready), True
                queues.setdefault(row["ven"], []).append(row)
                taken += 1
        return queues, len(heads) - len(ready), False

    async def flush(self, transport: Any, *, ignore_backoff: bool = False) -> FlushResult:
        """Send every due report: per VEN in order, VENs concurrently.  Never raises for VTN failures.

        ``ignore_backoff`` sends even reports whose retry time has not come (the last flush before exit).
        """
        queues, blocked, more = await asyncio.to_thread(self._due_queues, ignore_backoff)
        result = FlushResult(blocked_vens=blocked, more=more)
        gate = asyncio.Semaphore(self.concurrency)

        async def drain(rows: list[dict[str, Any]]) -> None:
            async with gate:
                for row in rows:
                    if not await self._send_one(transport, row, result):
                        break  # keep this VEN's order: later reports wait behind the failed one

        await asyncio.gather(*(drain(rows) for rows in queues.values()))
        return result

    async def _send_one(self, transport: Any, row: dict[str, Any], result: FlushResult) -> bool:
        """Deliver one row; ``True`` when the VEN's next report may go (sent, found, or rejected)."""
        try:
            payload = await asyncio.to_thread(self.store.outbox_payload, row["id"])
            if payload is None:  # deleted meanwhile (e.g. by `ven outbox` housekeeping): nothing to send
                return True
            if row["attempts"]:
                found = await self._already_delivered(transport, payload)
                if found:
                    await asyncio.to_thread(self.store.outbox_delete, [row["id"]])
                    result.already_delivered += 1
                    self.delivered_total += 1
                    return True
            await asyncio.to_thread(self.store.outbox_mark_attempt, row["id"])
            await self._post(transport, payload)
        except VtnError as err:
            if err.status is not None and 200 <= err.status < 300:
                pass  # a 2xx whose body was not a valid report: the VTN took it
            elif is_rejection(err):
                await asyncio.to_thread(self.store.outbox_reject, row["id"], str(err))
                result.rejected += 1
                self.rejected_total += 1
                log.warning("The VTN rejected a report of %s (outbox id %d); kept aside: %s", row["ven"], row["id"],
                            err)
                return True
            else:
                return await self._defer(row, str(err), result)
        except Exception as err:  # noqa: BLE001 - any transport failure leaves the report for the next round
            return await self._defer(row, f"{type(err).__name__}: {err}", result)
        await asyncio.to_thread(self.store.outbox_delete, [row["id"]])
        result.sent += 1
        self.delivered_total += 1
        return True

    @staticmethod
    async def _post(transport: Any, payload: str) -> None:
        """POST the report: as the stored JSON text when the transport offers ``raw``, else as a dict."""
        raw = getattr(transport, "raw", None)
        if raw is not None:
            await raw("POST", "/reports", json=orjson.Fragment(payload))
        else:
            await transport.create_report(orjson.loads(payload))

    async def _defer(self, row: dict[str, Any], reason: str, result: FlushResult) -> bool:
        next_at = self.clock() + self._backoff(row["attempts"] + 1)
        await asyncio.to_thread(self.store.outbox_retry_later, row["id"], reason, next_at)
        result.deferred += 1
        result.errors.append(reason)
        return False

    async def _already_delivered(self, transport: Any, payload: str) -> bool:
        """Whether the VTN holds this report already (by ``reportName``); raises when it cannot tell."""
        report = orjson.loads(payload)
        name = report.get("reportName")
        search = getattr(transport, "list_reports", None)
        if not name or search is None:
            if not self._no_search_warned:
                self._no_search_warned = True
                log.warning("Reports are resent without checking for an earlier delivery: %s.",
                            "the report has no reportName" if not name else "the transport cannot list reports")
            return False
        existing = await search(event_id=report["eventID"], client_name=report["clientName"])
        return any(getattr(r, "report_name", None) == name for r in existing)
