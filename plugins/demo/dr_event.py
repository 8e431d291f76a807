"""The demo's demand-response event ``demo-shed``: three intervals ``SIMPLE`` 1, 2, 0 inside the replay window.

The demo's ``ven run`` replays the meter data from the row after the last one an earlier run collected, one row per
tick, so the window is known before the run: :func:`replay_tick_times` predicts each tick's time and
:func:`shed_window` puts the event in its middle — as many ticks before it as during it and after it (each of the
three intervals a third of the event), so the energy before, during and after compare like with like.  The event
targets one VEN (``VEN_NAME``), the others show what the fleet draws without it.  The scheduler and the simulated
fleet's response (:mod:`venclient.plugins.h5_simulator.responding`) do the rest; the event replaces the one an
earlier demo run left in the local VTN's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

from venclient.openadr import Event, format_duration

SHED_EVENT = "demo-shed"
SHED_LEVELS = (1, 2, 0)


@dataclass(frozen=True)
class ShedWindow:
    """When the demo's event runs: ``start``, each interval's ``step``, and ``end`` (start + 3 steps)."""

    start: datetime
    step: timedelta

    @property
    def end(self) -> datetime:
        return self.start + self.step * len(SHED_LEVELS)

    def phase(self, moment: datetime) -> str:
        """``before``, ``during`` or ``after`` the event."""
        return "before" if moment < self.start else "during" if moment < self.end else "after"

    def interval(self, moment: datetime) -> int | None:
        """The index of the event's interval at ``moment`` (``None`` outside the event)."""
        if not self.start <= moment < self.end:
            return None
        return int((moment - self.start) / self.step)


def replay_tick_times(timeline: Sequence[float], start_row: int, ticks: int) -> list[datetime]:
    """The times of the next ``ticks`` replay ticks from row ``start_row`` (the clock wraps after the last row)."""
    length = len(timeline)
    return [datetime.fromtimestamp(float(timeline[(start_row + n) % length]), timezone.utc) for n in range(ticks)]


def shed_window(tick_times: Sequence[datetime]) -> ShedWindow | None:
    """The event's window in the middle of the run's ticks (a third before it, a third during, a third after; at
    least one tick per interval), or ``None`` when the ticks do not move forward evenly (the replay wraps to the
    data's start during this run)."""
    if len(tick_times) < 2:
        return None
    steps = {b - a for a, b in zip(tick_times, tick_times[1:])}
    if len(steps) != 1 or next(iter(steps)) <= timedelta(0):
        return None
    tick = next(iter(steps))
    per_interval = max(1, len(tick_times) // (3 * len(SHED_LEVELS)))
    before = max(1, (len(tick_times) - per_interval * len(SHED_LEVELS)) // 2)
    return ShedWindow(start=tick_times[min(before, len(tick_times) - 1)], step=tick * per_interval)


def shed_event(program_id: str, window: ShedWindow, ven: str) -> Event:
    """The event's body: ``SIMPLE`` 1, 2, 0 in back-to-back intervals of ``window.step`` for VEN ``ven``."""
    return Event.model_validate({
        "programID": program_id,
        "eventName": SHED_EVENT,
        "priority": 1,
        "targets": [{"type": "VEN_NAME", "values": [ven]}],
        "intervalPeriod": {"start": window.start, "duration": format_duration(window.step)},
        "payloadDescriptors": [{"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "SIMPLE"}],
        "intervals": [{"id": n, "payloads": [{"type": "SIMPLE", "values": [level]}]}
                      for n, level in enumerate(SHED_LEVELS)],
    })


def put_shed_event(state: Any, program_id: str, window: ShedWindow, ven: str) -> dict[str, Any]:
    """Store the event in the local VTN's ``state``, replacing an earlier demo run's; returns the stored object."""
    for old in [e for e in state.events if e.get("programID") == program_id and e.get("eventName") == SHED_EVENT]:
        state.events.remove(old["id"])
    event = state.stamp(shed_event(program_id, window, ven).to_wire(), "EVENT")
    state.events.add(event)
    return event
