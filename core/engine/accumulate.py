"""Per event interval totals of every load, for event-aligned reports: kept in memory, written with each tick.

For one (VEN, event id, interval key) an :class:`IntervalTotals` holds, per load of the VEN (aligned with the
collector plan's VEN slice, and stored with the VEN's load ids so a changed plan still maps): the energy seen
(W × tick seconds / 3600, Wh), the baseline energy (Wh; NaN once a seen tick had no baseline), the seconds and
the ticks seen, and the meter register (kWh: the last finite register reading of a seen tick in the interval, NaN
when none — :class:`venclient.protocols.HasRegisterReading`).  A reading whose quality is not OK counts as not
seen.  While no load has a register value the channel is ``None`` (no array in memory, no blob in the store: the
simulated fleet pays nothing for it), and a store row without one — also one written before the register
channel existed — reads as ``None``.  A tick counts whole into
the interval holding its start.

Nothing changes in memory until the store took the tick: :meth:`Accumulator.stage` computes the new totals of
one tick into a :class:`TickStage` (and the store rows of an :class:`AccumulatorWrite`), the caller writes the
rows in the tick's transaction, then :meth:`Accumulator.commit`; a tick the store refused is staged again later
from the same totals, never counted twice.  At start :meth:`Accumulator.load` reads what the store kept, so a
restart in the middle of an interval loses nothing.

With a durable store (``reader`` given) only the intervals a tick touched stay in memory after its
:meth:`Accumulator.commit`; the others (finished intervals waiting for their report) are read back from the
store when a report needs them, so memory holds about one interval per VEN and event, not a day of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from venclient.engine.report_payloads import Totals

F8, I4 = np.dtype("<f8"), np.dtype("<i4")
Key = tuple[str, str, str]  # (VEN, event id, interval key)


@dataclass
class IntervalTotals:
    """The channels of one VEN's loads in one interval (arrays aligned with ``layout``, the VEN's load ids
    newline-joined); ``stored``: the store's row already holds this layout text."""

    layout: str
    energy_wh: np.ndarray
    baseline_wh: np.ndarray
    seconds: np.ndarray
    ticks: np.ndarray
    register_kwh: np.ndarray | None = None  # kWh per load, NaN where none; None while no load has one
    stored: bool = False

    @classmethod
    def empty(cls, layout: str, n: int) -> "IntervalTotals":
        return cls(layout, np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n, dtype=I4))

    def totals(self, length: float | None) -> Totals:
        return Totals(self.energy_wh, self.baseline_wh, self.seconds, self.ticks, length,
                      register_kwh=self.register_kwh)

    def row(self, key: Key) -> dict[str, Any]:
        ven, event_id, interval_key = key
        return {"ven": ven, "event_id": event_id, "interval_key": interval_key,
                "load_ids": None if self.stored else self.layout,
                "energy": self.energy_wh.astype(F8).tobytes(), "baseline": self.baseline_wh.astype(F8).tobytes(),
                "seconds": self.seconds.astype(F8).tobytes(), "ticks": self.ticks.astype(I4).tobytes(),
                "register_kwh": (None if self.register_kwh is None  # no register read: nothing to store
                                 else self.register_kwh.astype(F8).tobytes())}


@dataclass
class AccumulatorWrite:
    """What the store writes in a tick's transaction: ``upserts`` (rows as :meth:`IntervalTotals.row`; ``load_ids``
    ``None`` keeps the stored text) and ``deletes`` ((VEN, event id, interval key), the key ``None`` = every row of
    that VEN and event)."""

    upserts: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[tuple[str, str, str | None]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.upserts or self.deletes)


@dataclass
class TickStage:
    """One tick's new totals, not applied yet (see the module docstring)."""

    totals: dict[Key, IntervalTotals] = field(default_factory=dict)
    write: AccumulatorWrite = field(default_factory=AccumulatorWrite)
    gone: set[Key] = field(default_factory=set)
    gone_events: set[tuple[str, str]] = field(default_factory=set)
    loaded: dict[Key, IntervalTotals] = field(default_factory=dict)  # read back from the store for this tick
    read: set[tuple[str, str]] = field(default_factory=set)


class Accumulator:
    """Every open interval's totals, aligned with the current collector plan.

    ``reader(ven, event_id)`` (optional) reads that pair's rows back from the store; with it, intervals no tick
    touched are kept only in the store (:attr:`stored_only`)."""

    def __init__(self, reader: Callable[[str, str], Iterable[dict[str, Any]]] | None = None) -> None:
        self.rows: dict[Key, IntervalTotals] = {}
        self.stored_only: set[Key] = set()
        self.reader = reader
        self._plan: Any = None
        self._layouts: dict[str, str] = {}

    # ------------------------------------------------------------------------------ layouts
    def layout(self, plan: Any, ven: str) -> str:
        """The VEN's load ids in plan order, newline-joined (cached per plan)."""
        if self._plan is not plan:
            self.align(plan)
        text = self._layouts.get(ven)
        if text is None:
            text = self._layouts[ven] = "\n".join(plan.load_ids[plan.ven_slice(ven)].tolist())
        return text

    def align(self, plan: Any) -> None:
        """Map every kept interval onto ``plan`` (by load id: a load gone is dropped, a new load starts at 0)."""
        if self._plan is plan:
            return
        self._plan, self._layouts = plan, {}
        for key, totals in list(self.rows.items()):
            self.rows[key] = self._mapped(totals, self.layout(plan, key[0]))

    @staticmethod
    def _mapped(totals: IntervalTotals, layout: str) -> IntervalTotals:
        if totals.layout == layout:
            return totals
        new_ids = layout.split("\n") if layout else []
        where = {load_id: n for n, load_id in enumerate(new_ids)}
        out = IntervalTotals.empty(layout, len(new_ids))
        old_ids = totals.layout.split("\n") if totals.layout else []
        src = np.array([n for n, load_id in enumerate(old_ids) if load_id in where], dtype=np.intp)
        dst = np.array([where[old_ids[n]] for n in src.tolist()], dtype=np.intp)
        for name in ("energy_wh", "baseline_wh", "seconds", "ticks"):
            getattr(out, name)[dst] = getattr(totals, name)[src]
        if totals.register_kwh is not None:
            out.register_kwh = np.full(len(new_ids), np.nan)
            out.register_kwh[dst] = totals.register_kwh[src]
        return out

    # ------------------------------------------------------------------------------ store rows
    def load(self, rows: Iterable[dict[str, Any]], plan: Any) -> int:
        """Take the rows the store kept (``accumulators_read``) onto ``plan``; returns how many."""
        count = 0
        for key, totals in self._decoded(rows, plan):
            self.rows[key] = totals
            self.stored_only.discard(key)
            count += 1
        return count

    def _decoded(self, rows: Iterable[dict[str, Any]], plan: Any) -> Iterable[tuple[Key, IntervalTotals]]:
        for row in rows:
            text = row["load_ids"] or ""
            n = len(text.split("\n")) if text else 0
            arrays = [np.frombuffer(row[name], dtype=dtype).copy() for name, dtype in
                      (("energy", F8), ("baseline", F8), ("seconds", F8), ("ticks", I4))]
            if any(len(a) != n for a in arrays):
                continue  # a row that does not match its layout cannot be placed
            blob = row.get("register_kwh")  # None: no register read (or a row from before the channel)
            register = np.frombuffer(blob, dtype=F8).copy() if blob is not None else None
            if register is not None and len(register) != n:
                register = None
            totals = IntervalTotals(text, *arrays, register, stored=True)
            key = (str(row["ven"]), str(row["event_id"]), str(row["interval_key"]))
            mapped = self._mapped(totals, self.layout(plan, key[0]))
            mapped.stored = mapped.layout == text
            yield key, mapped

    # ------------------------------------------------------------------------------ ticks
    def current(self, stage: TickStage, key: Key) -> IntervalTotals | None:
        """The totals of ``key`` as of ``stage`` (staged this tick, else kept)."""
        if key in stage.gone:
            return None
        found = stage.totals.get(key, self.rows.get(key))
        if found is None and key in self.stored_only and self.reader is not None and self._plan is not None:
            pair = (key[0], key[1])
            if pair not in stage.read:
                stage.read.add(pair)
                stage.loaded.update((k, t) for k, t in self._decoded(self.reader(*pair), self._plan)
                                    if k in self.stored_only)
            found = stage.loaded.get(key)
        return found

    def add(self, stage: TickStage, key: Key, plan: Any, power_w: np.ndarray, baseline_w: np.ndarray | None,
            seconds: float, register_kwh: np.ndarray | None = None) -> None:
        """Stage one tick of the VEN ``key[0]`` (its slice of ``power_w`` — NaN = not seen —, baseline and
        register readings; a register reading of a load not seen this tick is not taken)."""
        layout = self.layout(plan, key[0])
        old = self.current(stage, key) or IntervalTotals.empty(layout, len(power_w))
        ok = np.isfinite(power_w)
        step = np.where(ok, power_w * (seconds / 3600.0), 0.0)
        if baseline_w is None:
            base = np.where(ok, np.nan, 0.0)
        else:
            base = np.where(ok, baseline_w * (seconds / 3600.0), 0.0)
        register = old.register_kwh
        if register_kwh is not None:
            took = ok & np.isfinite(register_kwh)
            if took.any():
                register = np.where(took, register_kwh, np.nan if register is None else register)
        new = IntervalTotals(layout, old.energy_wh + step, old.baseline_wh + base,
                             old.seconds + np.where(ok, seconds, 0.0), old.ticks + ok.astype(I4), register,
                             stored=old.stored and old.layout == layout)
        stage.totals[key] = new
        stage.gone.discard(key)

    def drop(self, stage: TickStage, key: Key) -> None:
        """Stage the deletion of ``key``."""
        if key in self.rows or key in stage.totals or key in self.stored_only:
            stage.gone.add(key)
            stage.totals.pop(key, None)

    def drop_event(self, stage: TickStage, ven: str, event_id: str) -> None:
        """Stage the deletion of every interval of ``(ven, event_id)``."""
        stage.gone_events.add((ven, event_id))
        for key in [k for k in (*self.rows, *stage.totals, *self.stored_only) if k[0] == ven and k[1] == event_id]:
            self.drop(stage, key)

    def keys(self, ven: str, event_id: str, stage: TickStage | None = None) -> list[Key]:
        """The interval keys kept (and staged) for ``(ven, event_id)``."""
        keys = {k for k in (*self.rows, *self.stored_only) if k[0] == ven and k[1] == event_id}
        if stage is not None:
            keys |= {k for k in stage.totals if k[0] == ven and k[1] == event_id}
            keys -= stage.gone
        return sorted(keys)

    def finish(self, stage: TickStage) -> AccumulatorWrite:
        """The store rows of ``stage`` (upserts of what was added, deletes of what went)."""
        write = stage.write
        write.upserts = [totals.row(key) for key, totals in stage.totals.items()]
        write.deletes = [(v, e, None) for v, e in sorted(stage.gone_events)]
        write.deletes += [key for key in sorted(stage.gone) if (key[0], key[1]) not in stage.gone_events]
        return write

    def commit(self, stage: TickStage) -> None:
        """Apply ``stage`` in memory (after the store took it)."""
        for key in stage.gone:
            self.rows.pop(key, None)
            self.stored_only.discard(key)
        for key, totals in stage.totals.items():
            totals.stored = True
            self.rows[key] = totals
            self.stored_only.discard(key)
        if self.reader is not None:  # what this tick did not touch waits in the store
            for key in [k for k in self.rows if k not in stage.totals]:
                del self.rows[key]
                self.stored_only.add(key)

    def events(self) -> set[tuple[str, str]]:
        """``(VEN, event id)`` pairs with kept intervals."""
        return {(k[0], k[1]) for k in (*self.rows, *self.stored_only)}


def event_pairs(keys: Sequence[Key]) -> set[tuple[str, str]]:
    """The ``(VEN, event id)`` pairs of ``keys``."""
    return {(k[0], k[1]) for k in keys}
