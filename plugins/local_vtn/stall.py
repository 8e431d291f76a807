"""The ``stall:SECONDS`` quirk: every third create of a collection is stored at once but answered late.

A VTN in the field that is slow to answer a POST has usually done the work already; a client that times out
and blindly retries then creates a duplicate.  :class:`CreateStaller` counts the creates that were stored, per
collection kind (``reports``, ``vens``, ``resources`` — all VENs' resources together — and ``subscriptions``),
so "every third POST /reports" holds however many resources are created in between.  The delay is an asyncio
sleep in the request's own task: other requests are served meanwhile.
"""

from __future__ import annotations

import asyncio
from collections import Counter

STALLED_KINDS = ("reports", "vens", "resources", "subscriptions")
STALL_EVERY = 3


class CreateStaller:
    """Per-kind counters of stored creates (``created``) and of answers delayed (``stalled``)."""

    def __init__(self, seconds: float, every: int = STALL_EVERY):
        self.seconds = seconds
        self.every = every
        self.created: Counter[str] = Counter()
        self.stalled: Counter[str] = Counter()

    async def after_create(self, kind: str) -> None:
        """Count a stored create of ``kind``; sleep ``seconds`` when it is the ``every``-th of its kind."""
        if kind not in STALLED_KINDS:
            return
        self.created[kind] += 1
        if self.created[kind] % self.every:
            return
        self.stalled[kind] += 1
        await asyncio.sleep(self.seconds)
