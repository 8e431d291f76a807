"""The demo content of the local VTN: program ``demo-program`` and its metering event ``demo-metering``.

The event asks every VEN of the program for continuous metering: ``USAGE`` reports (units ``KWH``, reading
type ``DIRECT_READ``), one per reporting interval (``frequency`` 1, ``numIntervals`` 1), forever (``repeat``
-1), over intervals the VEN determines (``reportIntervals`` ``OPEN_INTERVALS``, 3.1's "arbitrary report
intervals", User Guide §7.5) — a VEN's reporting tick, whatever the event's own interval.  Its ``intervalPeriod``
starts at today's midnight UTC with duration ``PT15M``; its single interval carries ``SIMPLE`` level 0 (normal
operation): it asks for data, not for load change.  The local VTN accepts any interval id in reports to it
(:mod:`.report_check`).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from venclient.openadr import Event, Program
from venclient.plugins.local_vtn.state import VtnState

DEMO_PROGRAM = "demo-program"
DEMO_EVENT = "demo-metering"


def demo_program() -> Program:
    """The demo program's body."""
    return Program(program_name=DEMO_PROGRAM, program_long_name="venclient demonstration program",
                   retailer_name="local-vtn", retailer_long_name="venclient local development VTN",
                   program_type="DEMAND_RESPONSE", country="DK")


def demo_metering_event(program_id: str, now: datetime | None = None) -> Event:
    """The metering event's body: USAGE in KWH per 15-minute interval, starting today at 00:00 UTC."""
    now = now or datetime.now(timezone.utc)
    midnight = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return Event.model_validate({
        "programID": program_id,
        "eventName": DEMO_EVENT,
        "priority": 0,
        "intervalPeriod": {"start": midnight, "duration": "PT15M"},
        "payloadDescriptors": [{"objectType": "EVENT_PAYLOAD_DESCRIPTOR", "payloadType": "SIMPLE"}],
        "reportDescriptors": [{"payloadType": "USAGE", "readingType": "DIRECT_READ", "units": "KWH",
                               "aggregate": False, "startInterval": -1, "numIntervals": 1,
                               "historical": True, "frequency": 1, "repeat": -1,
                               "reportIntervals": "OPEN_INTERVALS"}],
        "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [0]}]}],
    })


def seed_demo(state: VtnState, now: datetime | None = None) -> dict[str, Any]:
    """Add the demo program and metering event unless they exist; return both stored objects."""
    program_id = state.programs.id_for_name(DEMO_PROGRAM)
    if program_id is None:
        program = state.stamp(demo_program().to_wire(), "PROGRAM")
        state.programs.add(program)
        program_id = program["id"]
    event = next((e for e in state.events if e.get("programID") == program_id and e.get("eventName") == DEMO_EVENT),
                 None)
    if event is None:
        event = state.stamp(demo_metering_event(program_id, now).to_wire(), "EVENT")
        state.events.add(event)
    return {"program": state.programs.get(program_id), "event": event}
