"""VEN leases: one process at a time works on a VEN of a store (``ven run``, ``ven register``).

A :class:`VenLeases` takes the store's lease rows of its VENs at start (all or nothing; refused with one
sentence naming the VEN and the process holding it), renews them every third of ``run.lease_seconds`` while
the work goes on, and gives them up at the end.  A process killed with SIGKILL gives nothing up: its leases
expire ``run.lease_seconds`` after its last renewal, and then the next process takes them.

The holder is ``"<host>:<pid>:<random run id>"``; the store keeps host, pid, command and times beside it so a
refusal can say who holds the VEN and since when.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

from venclient.errors import LeaseHeld, StoreUnavailable
from venclient.protocols import LeaseRecords, ResourceStore

log = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 30.0


def lease_seconds(settings: Any) -> float:
    """``run.lease_seconds`` (default 30)."""
    return float(settings.get("run.lease_seconds", DEFAULT_LEASE_SECONDS) or DEFAULT_LEASE_SECONDS)


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(float(seconds), timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def describe_holder(row: dict[str, Any]) -> str:
    """```ven run` (host pi-7, pid 4242, since 2026-12-02 14:31:05 UTC)`` — who holds a lease row."""
    return f"`{row['command']}` (host {row['host']}, pid {row['pid']}, since {_when(row['acquired_at'])})"


def refusal(held: dict[str, dict[str, Any]], now: float) -> str:
    """One sentence about the first refused VEN (and how many more there are)."""
    ven = sorted(held)[0]
    row = held[ven]
    more = len(held) - 1
    wait = max(0, int(round(float(row["expires_at"]) - now)))
    return (f"VEN {ven!r} is in use by {describe_holder(row)}"
            + (f", and {more} more of the VENs asked for" if more else "")
            + f"; stop that process first, or if it is gone, its lease expires in {wait} s.")


@dataclass
class VenLeases:
    """The leases of ``vens`` for one process (``command`` names it in refusals).

    ``clock`` is Unix seconds (``time.time``); ``seconds`` the lease time.  Blocking store calls run in a
    worker thread.  Not re-entrant: one ``acquire`` … ``release`` per object.
    """

    store: ResourceStore
    vens: Sequence[str]
    command: str
    seconds: float = DEFAULT_LEASE_SECONDS
    clock: Callable[[], float] = time.time
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    held: list[str] = field(default_factory=list)

    @property
    def holder(self) -> dict[str, Any]:
        """What the store records about this process."""
        return {"holder": f"{self.host}:{self.pid}:{self.run_id}", "host": self.host, "pid": self.pid,
                "command": self.command}

    @property
    def renew_every(self) -> float:
        """Real seconds between renewals: a third of the lease time."""
        return self.seconds / 3.0

    def supported(self) -> bool:
        """Whether the store has leases (a third-party store may not; then nothing is refused)."""
        return isinstance(self.store, LeaseRecords)

    def acquire_blocking(self) -> None:
        """Take every VEN's lease or raise :class:`LeaseHeld` (one sentence) and take none."""
        if not self.supported():
            self.held = list(self.vens)
            return
        now = self.clock()
        refused = self.store.lease_acquire(list(self.vens), self.holder, now, self.seconds)
        if refused:
            raise LeaseHeld(refusal(refused, now), refused)
        self.held = list(self.vens)

    async def acquire(self) -> None:
        """:meth:`acquire_blocking` in a worker thread."""
        await asyncio.to_thread(self.acquire_blocking)

    def renew_blocking(self) -> dict[str, dict[str, Any]]:
        """Extend the leases still held; returns (and stops holding) the VENs another process took over."""
        if not self.supported() or not self.held:
            return {}
        lost = self.store.lease_renew(list(self.held), self.holder, self.clock(), self.seconds)
        if lost:
            self.held = [ven for ven in self.held if ven not in lost]
        return lost

    async def renew(self) -> dict[str, dict[str, Any]]:
        """:meth:`renew_blocking` in a worker thread."""
        return await asyncio.to_thread(self.renew_blocking)

    def release_blocking(self) -> None:
        """Give up every lease still held (a store that cannot be written leaves them to expire)."""
        if not self.supported() or not self.held:
            return
        held, self.held = self.held, []
        try:
            self.store.lease_release(held, self.holder["holder"])
        except StoreUnavailable as err:
            log.warning("%s The leases of this run expire by themselves within %.0f s.", err, self.seconds)

    async def release(self) -> None:
        """:meth:`release_blocking` in a worker thread."""
        await asyncio.to_thread(self.release_blocking)

    async def keep_renewed(self, on_lost: Callable[[dict[str, dict[str, Any]]], None],
                           on_store_error: Callable[[StoreUnavailable], None] | None = None) -> None:
        """Renew every :attr:`renew_every` seconds until cancelled; ``on_lost(rows)`` hears of VENs taken over,
        ``on_store_error(err)`` of renewals the store refused (the next period tries again)."""
        while True:
            await asyncio.sleep(self.renew_every)
            try:
                lost = await self.renew()
            except StoreUnavailable as err:
                if on_store_error is not None:
                    on_store_error(err)
                continue
            except Exception as err:  # noqa: BLE001 - a store hiccup must not end the run; the next period retries
                log.warning("Could not renew the VEN leases: %s", err)
                continue
            if lost:
                on_lost(lost)
            if not self.held:
                return


class LeaseContext:
    """``with LeaseContext(leases):`` — acquire, renew in a background thread, release (for blocking commands
    such as ``ven register`` that run their own event loop inside)."""

    def __init__(self, leases: VenLeases):
        self.leases = leases
        self._stop = None
        self._thread = None

    def __enter__(self) -> VenLeases:
        import threading

        self.leases.acquire_blocking()
        self._stop = threading.Event()
        stop = self._stop

        def renew() -> None:
            while not stop.wait(self.leases.renew_every):
                try:
                    lost = self.leases.renew_blocking()
                except Exception as err:  # noqa: BLE001 - the next period retries
                    log.warning("Could not renew the VEN leases: %s", err)
                    continue
                for ven, row in sorted(lost.items()):
                    log.error("VEN %r was taken over by %s while %s worked on it.", ven, describe_holder(row),
                              self.leases.command)

        self._thread = threading.Thread(target=renew, name="lease-renewal", daemon=True)
        self._thread.start()
        return self.leases

    def __exit__(self, *exc: Any) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.leases.release_blocking()
