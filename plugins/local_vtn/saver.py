"""Saving the local VTN's state to its JSON file while it serves."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from venclient.plugins.local_vtn.state import VtnState, save_state

log = logging.getLogger("venclient.local_vtn")


class StateSaver:
    """Saves the state to a JSON file: every ``interval`` seconds when it changed, and always at shutdown."""

    def __init__(self, state: VtnState, path: Path, interval: float = 5.0):
        self.state = state
        self.path = path
        self.interval = interval
        self.saves = 0
        self._saved_version = state.version

    async def save_if_changed(self, force: bool = False) -> bool:
        """Write the file if anything changed since the last save (or ``force``); return whether it wrote."""
        version = self.state.version
        if version == self._saved_version and not force:
            return False
        snapshot = self.state.snapshot()
        await asyncio.to_thread(save_state, snapshot, self.path)
        self._saved_version = version
        self.saves += 1
        return True

    async def run(self) -> None:
        """Save periodically until cancelled; a failing save is logged and retried next period."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.save_if_changed()
            except OSError as err:
                log.warning("Could not save the local VTN state to %s: %s", self.path, err)
