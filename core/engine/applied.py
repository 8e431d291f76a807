"""What load control applied to which load in which event interval: the SIMPLE level and the opt-outs behind the
SIMPLE_LEVEL and OPERATING_STATE report payloads (pure; derived when a report is built, nothing accumulated).

:func:`applied_levels` answers for the loads of one VEN and the intervals of one report, from the event plans the
scheduler made (:class:`venclient.engine.scheduler.EventPlan`: every event's timeline per VEN and the loads it
targets) and the opt-outs it read (:class:`venclient.engine.scheduler.OptOuts`), by the scheduler's own rule:

* at each moment the SIMPLE slot that applies to a load is the winner (:func:`venclient.engine.timeline.winning_slot`)
  among the active SIMPLE slots of the events that target the load and that its resource did not opt out of;
* ``level`` of an interval is the highest value so applied at any moment of it (the interval's start and every
  slot start or end inside it), clipped to SIMPLE's 0–3; 0 when nothing applied;
* ``opted`` of an interval: the load's resource opted out of the report's event, or of an event with a SIMPLE
  slot overlapping the interval that targets the load.  Opt-outs carry no time in the event's clock: the state
  when the report is built (``ven run``: as the scheduler read it at its last reconcile, i.e. interval boundary)
  counts for all its intervals.

The level is what the VEN instructs the load to do, not a value read back from a device.

:func:`own_plan` stands in for the scheduler's plans when there is none (a report schedule used on its own): the
report's event alone, targeting every load, without opt-outs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from venclient.engine.timeline import IntervalSpan, Slot, Timeline, slot_rank

SIMPLE = "SIMPLE"
MAX_LEVEL = 3


@dataclass(frozen=True)
class Applied:
    """Per report interval (rows) and load (columns): the SIMPLE level applied (int) and whether it opted out."""

    level: np.ndarray
    opted: np.ndarray


#: ``(ven, event, load ids, resource ids, spans) -> Applied``: what :class:`ReportSchedule` asks when building
AppliedSource = Callable[[str, Any, np.ndarray, np.ndarray, Sequence[IntervalSpan]], Applied]


@dataclass(frozen=True)
class _Candidate:
    timeline: Timeline
    simple: tuple[Slot, ...]
    allowed: np.ndarray   # targeted and not opted out
    off: np.ndarray       # targeted and opted out
    asked: bool           # the report's own event


def _value(slot: Slot) -> int:
    value = slot.value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return 0
    return int(min(MAX_LEVEL, max(0, round(value))))


def _overlaps(slot: Slot, start: datetime, end: datetime | None) -> bool:
    return (end is None or slot.start < end) and (slot.end is None or slot.end > start)


def applied_levels(plans: Mapping[str, Any], opt_outs: Mapping[str, Any], ven: str, event_id: str,
                   load_ids: np.ndarray, resource_ids: np.ndarray, spans: Sequence[IntervalSpan]) -> Applied:
    """:class:`Applied` for ``ven``'s loads (``load_ids`` with their ``resource_ids``) over ``spans`` of the report
    of ``event_id``; ``plans`` maps event ids to plans, ``opt_outs`` event ids to opt-outs (see the module)."""
    n = len(load_ids)
    ids = [str(i) for i in load_ids.tolist()]
    candidates: list[_Candidate] = []
    for eid, plan in plans.items():
        for group in plan.groups:
            if ven not in group.vens:
                continue
            simple = tuple(s for s in group.timeline.slots if s.payload_type == SIMPLE)
            if not simple and eid != event_id:
                continue
            loads = group.loads
            targeted = np.ones(n, dtype=bool) if loads is None else np.fromiter(loads.holds(ven, ids), dtype=bool,
                                                                                 count=n)
            out = opt_outs.get(eid)
            if not out:
                opted = np.zeros(n, dtype=bool)
            elif out.everything:
                opted = np.ones(n, dtype=bool)
            else:
                opted = np.fromiter((r in out.resources for r in resource_ids.tolist()), dtype=bool, count=n)
            candidates.append(_Candidate(group.timeline, simple, targeted & ~opted, targeted & opted,
                                         eid == event_id))
    level = np.zeros((len(spans), n), dtype=np.int64)
    opted_out = np.zeros((len(spans), n), dtype=bool)
    for i, span in enumerate(spans):
        start, end = span.start, span.end
        moments = {start}
        for c in candidates:
            overlapping = [s for s in c.simple if _overlaps(s, start, end)]
            if c.asked or overlapping:
                opted_out[i] |= c.off
            for s in overlapping:
                moments.update(m for m in (s.start, s.end) if m is not None and m > start
                               and (end is None or m < end))
        for moment in sorted(moments):
            active = sorted(((c, s) for c in candidates for s in c.simple if s.active_at(moment)),
                            key=lambda pair: slot_rank(pair[0].timeline, pair[1]), reverse=True)
            unset = np.ones(n, dtype=bool)
            for c, s in active:
                mine = unset & c.allowed
                level[i][mine] = np.maximum(level[i][mine], _value(s))
                unset &= ~mine
    return Applied(level, opted_out)


@dataclass(frozen=True)
class _OwnGroup:
    vens: tuple[str, ...]
    timeline: Timeline
    loads: Any = None  # every load


@dataclass(frozen=True)
class _OwnPlan:
    groups: list[_OwnGroup]


def own_plan(ven: str, timeline: Timeline) -> Mapping[str, Any]:
    """Plans holding only ``timeline`` (the report's event as ``ven`` sees it), targeting every load."""
    return {str(timeline.event_id): _OwnPlan([_OwnGroup((ven,), timeline)])}
