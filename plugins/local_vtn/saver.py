"""Saving the local VTN's state to its JSON file while it serves."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from venclient.plugins.local_vtn.state import VtnState, save_state

log = logging.getLogger("venclient.local_vtn")

SAVE_SHARE = 0.1
"""At most this share of the time goes to periodic saves: after a save that took ``t`` seconds the next one waits
at least ``t * (1 / SAVE_SHARE - 1)`` seconds (a fleet's state file of hundreds of MB takes seconds to write; saved
every 5 s it was being written all the time, competing with the requests for the CPU)."""


class StateSaver:
    """Saves the state to a JSON file: every ``interval`` seconds when it changed — or, when saving takes long,
    less often, so that saves take at most :data:`SAVE_SHARE` of the time — and always at shutdown."""

    def __init__(self, state: VtnState, path: Path, interval: float = 5.0):
        self.state = state
        self.path = path
        self.interval = interval
        self.saves = 0
        self.last_save_seconds = 0.0
        self._saved_version = state.version

    async def save_if_changed(self, force: bool = False) -> bool:
        """Write the file if anything changed since the last save (or ``force``); return whether it wrote."""
        version = self.state.version
        if version == self._saved_version and not force:
            return False
        snapshot = self.state.snapshot()
        started = time.monotonic()
        await asyncio.to_thread(save_state, snapshot, self.path)
        self.last_save_seconds = time.monotonic() - started
        self._saved_version = version
        self.saves += 1
        return True

    def pause(self) -> float:
        """Seconds to wait before the next periodic save: ``interval``, longer after a long save."""
        return max(self.interval, self.last_save_seconds * (1 / SAVE_SHARE - 1))

    async def run(self) -> None:
        """Save periodically until cancelled; a failing save is logged and retried next period."""
        while True:
            await asyncio.sleep(self.pause())
            try:
                await self.save_if_changed()
            except OSError as err:
                log.warning("Could not save the local VTN state to %s: %s", self.path, err)
