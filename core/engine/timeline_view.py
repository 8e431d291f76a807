"""What ``ven events timeline`` shows: the upcoming and active slots of planned events, one row each (pure).

A row tells the event, the VENs sharing that timeline, the interval (and sub-interval), payload type and values,
start and end, the event's priority, whether the slot wins at its start among the slots of the same payload type
of every planned event that targets loads of those VENs (:func:`venclient.engine.timeline.winning_slot`; per VEN,
not per load), how many loads the event targets for those VENs, and the opt-outs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from venclient.engine.scheduler import EventPlan, OptOuts
from venclient.engine.timeline import winning_slot


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _opted(opted: OptOuts) -> str:
    if opted.everything:
        return "all"
    return f"{len(opted.resources)} resources" if opted.resources else ""


def timeline_rows(plans: Mapping[str, EventPlan], opt_outs: Mapping[str, OptOuts], now: datetime) -> list[dict[str,
                                                                                                           Any]]:
    """One dict per slot not over at ``now``, by start, then event id (keys: ``event_id``, ``event``, ``vens``,
    ``interval``, ``sub``, ``payload``, ``values``, ``start``, ``end``, ``active``, ``priority``, ``wins``,
    ``loads``, ``opted_out``)."""
    rows = []
    for event_id, plan in plans.items():
        for group in plan.groups:
            for slot in group.timeline.slots:
                if slot.end is not None and slot.end <= now and not slot.active_at(now):
                    continue
                rivals = [(other.timeline, candidate) for rival in plans.values() for other in rival.groups
                          if set(other.vens) & set(group.vens) and len(other.loads)
                          for candidate in other.timeline.active(slot.start)
                          if candidate.payload_type == slot.payload_type]
                won = winning_slot(rivals)
                rows.append({
                    "event_id": event_id, "event": plan.event.event_name or event_id, "vens": list(group.vens),
                    "interval": slot.interval_id, "sub": slot.sub, "payload": slot.payload_type,
                    "values": list(slot.values), "start": _iso(slot.start), "end": _iso(slot.end),
                    "active": slot.active_at(now), "priority": plan.event.priority,
                    "wins": won is not None and won[1] == slot and won[0] == group.timeline,
                    "loads": len(group.loads), "opted_out": _opted(opt_outs.get(event_id, OptOuts()))})
    rows.sort(key=lambda row: (row["start"] or "", row["event_id"], row["interval"], row["sub"]))
    return rows
