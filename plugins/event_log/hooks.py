"""Hook implementations of the event log plugin: every demand-response event change, and every interval start and
end, in one readable line."""

from __future__ import annotations

import logging
from typing import Any

from venclient.hookspecs import hookimpl

log = logging.getLogger("venclient.events")


def describe(change: str, event: Any, loads: list[Any]) -> str:
    """``created event 'peak-shave' (e-12) of program p-1: 2 intervals, SIMPLE=1.0, 36 loads in 6 resources``."""
    payloads = []
    for interval in (event.intervals or [])[:1]:
        for payload in interval.payloads:
            payloads.append(f"{payload.type}={', '.join(str(v) for v in payload.values)}")
    resources = getattr(loads, "resource_count", None)  # a LoadSelection knows it without reading 100k loads
    if resources is None:
        resources = len({load.resource_id for load in loads})
    name = f"'{event.event_name}' " if event.event_name else ""
    what = f"{len(event.intervals or [])} intervals" + (f", {'; '.join(payloads)}" if payloads else "")
    reports = f", asks for {len(event.report_descriptors)} report(s)" if event.report_descriptors else ""
    return (f"{change} event {name}({event.id}) of program {event.program_id}: {what}{reports}; "
            f"{len(loads)} loads in {resources} resources")


@hookimpl
def ven_event(change: str, event: Any, loads: list[Any]) -> None:
    """Log the change."""
    log.info(describe(change, event, loads))


def describe_interval(phase: str, event: Any, interval: Any, loads: Any, opted_out: Any) -> str:
    """``interval 1 of event 'peak-shave' (e-12) started: SIMPLE=2; 36 loads (6 resources opted out)``."""
    name = f"'{event.event_name}' " if event.event_name else ""
    payloads = "; ".join(f"{p.type}={', '.join(str(v) for v in p.values)}" for p in interval.payloads) \
        if interval is not None else ""
    everything = getattr(opted_out, "everything", False)
    resources = getattr(opted_out, "resources", ())
    opted = " (all opted out)" if everything else (f" ({len(resources)} resources opted out)" if resources else "")
    number = interval.id if interval is not None else "?"
    return (f"interval {number} of event {name}({event.id}) {'started' if phase == 'start' else 'ended'}"
            f"{': ' + payloads if payloads and phase == 'start' else ''}; {len(loads)} loads{opted}")


@hookimpl
def ven_event_interval(phase: str, event: Any, interval: Any, loads: Any, opted_out: Any) -> None:
    """Log the interval's start or end."""
    log.info(describe_interval(phase, event, interval, loads, opted_out))
