"""The readings backlog: ticks collected while no report request is known, kept in the store until reported.

``ven run`` collects every tick whether or not the VTN has said what it wants reported.  While no event asks
for reports — the VTN away at start, an outage before the first poll, no event with ``reportDescriptors`` yet —
each tick goes into the store's backlog instead of being thrown away: per VEN one row holding the VEN's values
as float64 bytes and quality codes as uint8 bytes (8 + 1 bytes per load and tick, never a row per load), aligned
with a *layout* (the VEN's load ids, stored once per distinct set).  Once a report request is known the ticks
are turned into reports oldest first, against the loads collected *now* (a load gone since is left out; a load
registered since is reported), and each tick's reports enter the outbox in the transaction that deletes it
from the backlog.

This module is pure data handling between :class:`venclient.model.Readings` and the store's backlog methods
(section *backlog* of :class:`venclient.protocols.ResourceStore`); :mod:`venclient.engine.run` decides when to keep and drain.
"""

from __future__ import annotations

import asyncio
import hashlib
from itertools import chain
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from venclient.clock import Tick
from venclient.model import QUALITY_MISSING, Readings
from venclient.protocols import BacklogRecords, ResourceStore

POWER_DTYPE = np.dtype("<f8")
QUALITY_DTYPE = np.dtype("u1")


@dataclass(frozen=True)
class _Layout:
    """One VEN's load ids in value order, their digest and their newline-joined text (what the store keeps)."""

    digest: str
    text: str


@dataclass
class BacklogTick:
    """One backlogged tick read back: the tick, its readings on the current plan, and the row ids it came from."""

    tick: Tick
    readings: Readings
    row_ids: list[int]
    tick_no: int


class ReadingsBacklog:
    """Encodes ticks into backlog rows and decodes them onto a collector's current plan.

    Keeps per plan (by identity) the VEN layouts, and per stored layout text the positions it maps to in the
    current plan, so a tick costs one ``tobytes`` per VEN to keep and one ``take`` per VEN to read back.
    """

    def __init__(self) -> None:
        self._plan: Any = None
        self._layouts: dict[str, _Layout] = {}
        self._positions_plan: Any = None
        self._positions: dict[str, np.ndarray] = {}  # layout text → current plan position per stored value (-1: gone)
        self._index: dict[str, int] | None = None

    # ------------------------------------------------------------------------------ keep
    def _layout(self, plan: Any, ven: str, positions: slice) -> _Layout:
        if self._plan is not plan:
            self._plan, self._layouts = plan, {}
        layout = self._layouts.get(ven)
        if layout is None:
            text = "\n".join(plan.load_ids[positions].tolist())
            digest = hashlib.sha256(f"{ven}\n{text}".encode()).hexdigest()
            layout = self._layouts[ven] = _Layout(digest, text)
        return layout

    def rows(self, tick: Tick, readings: Readings, plan: Any, vens: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The backlog rows of one tick: one per VEN of ``plan`` (of ``vens`` when given) that has loads."""
        wanted = None if vens is None else set(vens)
        out = []
        power = np.ascontiguousarray(readings.power_w, dtype=POWER_DTYPE)
        quality = np.ascontiguousarray(readings.quality, dtype=QUALITY_DTYPE)
        for ven, sl in plan.ven_slices.items():
            if (wanted is not None and ven not in wanted) or sl.stop <= sl.start:
                continue
            layout = self._layout(plan, ven, sl)
            out.append({"ven": ven, "tick_index": int(tick.index), "tick_ms": int(tick.timestamp_ms),
                        "digest": layout.digest, "load_ids": layout.text,
                        "power": power[sl].tobytes(), "quality": quality[sl].tobytes()})
        return out

    # ------------------------------------------------------------------------------ read back
    def _targets(self, plan: Any, load_ids_text: str) -> np.ndarray:
        """Where each stored value goes in ``plan`` (-1 for a load the plan no longer has)."""
        if self._positions_plan is not plan:
            self._positions_plan, self._positions, self._index = plan, {}, None
        targets = self._positions.get(load_ids_text)
        if targets is None:
            if self._index is None:
                self._index = {load_id: i for i, load_id in enumerate(plan.load_ids.tolist())}
            index = self._index
            targets = np.fromiter((index.get(load_id, -1) for load_id in load_ids_text.split("\n")),
                                  dtype=np.intp)
            self._positions[load_ids_text] = targets
        return targets

    def ticks(self, rows: Sequence[dict[str, Any]], plan: Any) -> Iterator[BacklogTick]:
        """The ticks of ``rows`` (from the store's ``backlog_oldest``, grouped by ``tick_no``) as readings of
        ``plan``: values of loads the plan has, NaN / missing for the rest."""
        group: list[dict[str, Any]] = []
        for row in rows:
            if group and row["tick_no"] != group[0]["tick_no"]:
                yield self._tick(group, plan)
                group = []
            group.append(row)
        if group:
            yield self._tick(group, plan)

    def _tick(self, group: list[dict[str, Any]], plan: Any) -> BacklogTick:
        n = len(plan)
        power = np.full(n, np.nan)
        quality = np.full(n, QUALITY_MISSING, dtype=np.uint8)
        for row in group:
            values = np.frombuffer(row["power"], dtype=POWER_DTYPE)
            codes = np.frombuffer(row["quality"], dtype=QUALITY_DTYPE)
            targets = self._targets(plan, row["load_ids"])
            if len(values) != len(targets) or len(codes) != len(targets):
                continue  # a row that does not match its layout cannot be placed: left out
            present = targets >= 0
            power[targets[present]] = values[present]
            quality[targets[present]] = codes[present]
        first = group[0]
        tick = Tick(int(first["tick_index"]), datetime.fromtimestamp(int(first["tick_ms"]) / 1000, timezone.utc))
        readings = Readings(timestamp_ms=int(first["tick_ms"]), load_ids=plan.load_ids,
                            resource_ids=plan.resource_ids, components=plan.components, power_w=power,
                            quality=quality)
        return BacklogTick(tick=tick, readings=readings, row_ids=[int(row["id"]) for row in group],
                           tick_no=int(first["tick_no"]))


def outbox_items(reports: Iterable[Any], tick_ms: int) -> Iterator[dict[str, Any]]:
    """:class:`venclient.engine.report.WireReport` objects as the store's outbox items (see ``outbox_add``)."""
    for report in reports:
        yield {"ven": report.ven, "program_id": report.program_id, "event_id": report.event_id,
               "tick_ms": tick_ms, "payload": report.json}


class Backlog:
    """When ``ven run`` keeps ticks, how many, and how they drain — over the store's backlog methods.

    * :meth:`keep` stores a tick (with the ``state`` entries, e.g. the replay row, in the same transaction).  At
      ``max_ticks`` a *replay* run keeps nothing more (returns ``False``: the clock waits, nothing is dropped); a
      *wall-clock* run drops the oldest tick unreported.  Each streak is warned once and its end logged.
    * :meth:`drain` turns up to ``limit`` of the oldest ticks into reports (``build(tick, readings)``) and moves
      each tick to the outbox in one transaction.

    ``vens`` are the VENs whose rows this process keeps and drains (the runner narrows it when it loses a VEN).
    Blocking store calls run in worker threads.  A store refusing a write raises
    :class:`venclient.errors.StoreUnavailable` out of :meth:`keep` / :meth:`drain` with nothing changed for that tick.
    """

    def __init__(self, store: ResourceStore, vens: Sequence[str], *, max_ticks: int, replay: bool, log: Any):
        self.store = store
        self.vens = list(vens)
        self.max_ticks = max(1, int(max_ticks))
        self.replay = replay
        self.log = log
        self.codec = ReadingsBacklog()
        self.ticks = 0            # ticks kept for self.vens (read at start, then counted here)
        self.dropped = 0          # ticks dropped unreported (wall clock, backlog full), over the run
        self._full_streak = False
        self._dropped_in_streak = 0

    @property
    def supported(self) -> bool:
        """Whether the store keeps a backlog (a third-party store may not)."""
        return isinstance(self.store, BacklogRecords)

    async def load(self) -> int:
        """Read how many ticks an earlier run left; returns it."""
        if self.supported:
            self.ticks = int(await asyncio.to_thread(self.store.backlog_ticks, list(self.vens)))
        return self.ticks

    async def keep(self, tick: Tick, readings: Readings, plan: Any, state: dict[str, str] | None = None, *,
                   history: Any = None) -> bool:
        """Store one tick (and its ``history``, a :class:`venclient.engine.baseline.HistoryWrite`, in the same
        transaction); ``False`` when a replay run's backlog is full (nothing stored, the caller waits)."""
        if self.ticks >= self.max_ticks:
            if self.replay:
                if not self._full_streak:
                    self._full_streak = True
                    self.log.warning("The backlog holds %d ticks (reporting.backlog_max_ticks) and no event asks for "
                                     "reports yet: the replay clock waits; nothing is dropped.", self.ticks)
                return False
            excess = self.ticks - self.max_ticks + 1
            dropped = int(await asyncio.to_thread(self.store.backlog_drop_oldest, list(self.vens), excess))
            self.ticks -= dropped
            self.dropped += dropped
            self._dropped_in_streak += dropped
            if not self._full_streak:
                self._full_streak = True
                self.log.warning("The backlog holds %d ticks (reporting.backlog_max_ticks) and no event asks for "
                                 "reports yet: the oldest ticks are dropped unreported until one does.",
                                 self.max_ticks)
        rows = self.codec.rows(tick, readings, plan, self.vens)
        if history is not None:
            await asyncio.to_thread(lambda: self.store.backlog_add(rows, state, history=history))  # type: ignore[call-arg]
        else:
            await asyncio.to_thread(self.store.backlog_add, rows, state)
        if rows:  # a tick without loads (nothing approved yet) stores only the state
            self.ticks += 1
        return True

    async def drain(self, plan: Any, build: Callable[[Tick, Readings], Iterable[Any]], limit: int, *,
                    stage: Callable[[Tick, Readings], Any] | None = None,
                    commit: Callable[[Any], None] | None = None) -> tuple[int, int]:
        """Report up to ``limit`` of the oldest ticks, oldest first; returns ``(ticks, reports)`` moved to the
        outbox.  A tick's reports and the deletion of its rows are one transaction.  ``stage(tick, readings)``
        (event-aligned reports: a :class:`venclient.engine.report_schedule.TickWrite` or ``None``) adds its reports,
        state and interval totals to that transaction; ``commit(write)`` is called once the store took it."""
        if not self.ticks or not self.supported:
            return 0, 0
        rows = await asyncio.to_thread(self.store.backlog_oldest, list(self.vens), max(1, int(limit)))
        if not rows:
            self.ticks = 0
            return 0, 0
        ticks = reports = 0
        for kept in self.codec.ticks(rows, plan):
            write = stage(kept.tick, kept.readings) if stage is not None else None
            built = build(kept.tick, kept.readings)
            if write is None:
                items = outbox_items(built, kept.tick.timestamp_ms)
                reports += len(await asyncio.to_thread(self.store.backlog_to_outbox, kept.row_ids, items))
            else:
                items = outbox_items(chain(built, write.reports), kept.tick.timestamp_ms)
                reports += len(await asyncio.to_thread(lambda: self.store.backlog_to_outbox(  # type: ignore[call-arg]
                    kept.row_ids, items, state=write.state or None, accumulators=write.write)))
                if commit is not None:
                    commit(write)
            ticks += 1
            self.ticks = max(0, self.ticks - 1)
        if self._full_streak and self.ticks < self.max_ticks:
            self._end_full_streak()
        return ticks, reports

    def _end_full_streak(self) -> None:
        self._full_streak = False
        if self.replay:
            self.log.info("The backlog has room again: the replay clock goes on.")
        else:
            self.log.info("The backlog has room again; %d ticks were dropped unreported while it was full.",
                          self._dropped_in_streak)
        self._dropped_in_streak = 0
