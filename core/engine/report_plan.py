"""Which reports an event's report descriptor asks for, when each is due and which intervals it covers (pure).

The descriptor fields and their defaults are the 3.0.1 schema's (``reportDescriptor``); their meaning is the
User Guide's §7.5, whose timelines read consistently as follows:

* ``startInterval`` (default -1) is the *anchor* of the first report: the interval at which it is generated.
  -1 means the last interval of the event (of one pass, when ``event.duration`` loops the intervals) or, when
  ``frequency`` asks for periodic reports, the last interval of the first period; for a forecast
  (``historical`` false) and for ad hoc reports -1 means the first interval.
* ``historical`` (default true): a report covers the anchor interval and the ones *before* it and is due at
  the anchor's end; a forecast covers the anchor and the ones *after* it and is due at the anchor's start.
* ``numIntervals`` (default -1) is how many intervals one report covers; -1 means every interval since the
  previous report (historical) or up to the next report (forecast) — with the defaults, all intervals.
* ``frequency`` (default -1) is the number of intervals between two reports' anchors; -1 means all intervals
  (the next report is one pass later, which exists only when ``event.duration`` loops); 0 is *ad hoc*: the
  VEN chooses — we plan one report per interval (at its end; a forecast at its start) and may send more.
* ``repeat`` (default 1) is how many reports; -1 means as long as there are intervals (for an event that loops
  forever, or a 'report-only' event with implied intervals, up to the planning horizon ``until``).

(§7.5's 'subset of intervals' example, and the '10 intervals, last 5' sentence, read ``startInterval`` as the
first interval of interest instead; the periodic and rolling timelines, which also fix ``frequency`` and
``repeat``, only fit the anchor reading above, so that is the one implemented.)

'Report-only' events: an event without intervals but with a default ``intervalPeriod`` of some duration implies
back-to-back intervals of that duration from its start (§7.5, Example 8.7-1), numbered 0, 1, … by us (ids are
the VEN's to choose there); without a usable period the VEN determines the interval itself: one ad hoc report
(``due`` ``None``).  Intervals with empty payloads are ordinary intervals for planning.  ``reportIntervals``
(3.1: ``INTERVALS``, ``SUB_INTERVALS``, ``OPEN_INTERVALS``) is carried on the plan for the report builder.

For a 'do it now' event, reports whose due time passed before the VEN obtained the event collapse into one,
sent at once (§7.5 'do it now' event reporting): :func:`collapse_overdue`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from venclient.engine.timeline import (DEFAULT_LOOP_HORIZON, IntervalSpan, ZERO, event_duration, interval_spans,
                                       is_beginning_of_time)
from venclient.openadr import parse_duration

INTERVALS, SUB_INTERVALS, OPEN_INTERVALS = "INTERVALS", "SUB_INTERVALS", "OPEN_INTERVALS"
MAX_REPORTS = 10_000  # bound on what one descriptor may expand to within the horizon


@dataclass(frozen=True)
class PlannedReport:
    """One report a descriptor asks for: its number (0, 1, …), when it is due (``None``: whenever the VEN
    chooses) and the event intervals it covers, in time order."""

    number: int
    due: datetime | None
    intervals: tuple[IntervalSpan, ...]

    @property
    def interval_ids(self) -> list[int]:
        return [span.interval_id for span in self.intervals]


@dataclass(frozen=True)
class ReportPlan:
    """Every report one descriptor of one event asks for, within the horizon.

    ``ad_hoc``: the VEN may report whenever it chooses (``frequency`` 0, or a report-only event without a usable
    period); ``implied``: the intervals are implied by the event's default period (their ids are ours);
    ``endless``: more reports follow beyond the horizon (plan again later).
    """

    payload_type: str
    historical: bool
    reports: tuple[PlannedReport, ...]
    ad_hoc: bool = False
    implied: bool = False
    endless: bool = False
    report_intervals: str = INTERVALS

    def due_between(self, after: datetime, until: datetime) -> list[PlannedReport]:
        """The reports due in ``(after, until]``, in order."""
        return [r for r in self.reports if r.due is not None and after < r.due <= until]


def _field(descriptor: Any, name: str, default: Any) -> Any:
    value = getattr(descriptor, name, None)
    return default if value is None else value


def _extra(obj: Any, name: str) -> Any:
    return (getattr(obj, "model_extra", None) or {}).get(name)


def _implied_spans(event: Any, received: datetime, count: int) -> list[IntervalSpan] | None:
    """``count`` back-to-back intervals of the event's default period, or ``None`` when it has no usable one."""
    period = event.interval_period
    if period is None or not period.duration:
        return None
    length = parse_duration(period.duration)
    if length <= ZERO or length >= timedelta(days=365 * 1000):
        return None
    start = received if period.start is None or is_beginning_of_time(period.start) else period.start
    return [IntervalSpan(n, n, start + length * n, start + length * (n + 1), length) for n in range(count)]


def report_plan(event: Any, descriptor: Any, *, received: datetime, seed: int | None = None,
                now: datetime | None = None, until: datetime | None = None) -> ReportPlan:
    """The :class:`ReportPlan` of ``descriptor`` (one of ``event.report_descriptors``).

    ``received``, ``seed`` and ``until`` as for :func:`venclient.engine.timeline.event_timeline`; ``until``
    (default ``now`` — or ``received`` — plus a week) also bounds endless plans.
    """
    historical = bool(_field(descriptor, "historical", True))
    start_interval = int(_field(descriptor, "start_interval", -1))
    num_intervals = int(_field(descriptor, "num_intervals", -1))
    frequency = int(_field(descriptor, "frequency", -1))
    repeat = int(_field(descriptor, "repeat", 1))
    report_intervals = str(_extra(descriptor, "reportIntervals") or INTERVALS)
    horizon = until or (now or received) + DEFAULT_LOOP_HORIZON
    common = {"payload_type": str(descriptor.payload_type), "historical": historical,
              "report_intervals": report_intervals}

    implied = not (event.intervals or ())
    if implied:
        reach = max(start_interval, 0) + max(num_intervals, 1) + (
            MAX_REPORTS if repeat < 0 else max(repeat, 1) * max(frequency, 1))
        spans = _implied_spans(event, received, min(reach, MAX_REPORTS * 2))
        if spans is None:
            return ReportPlan(reports=(PlannedReport(0, None, ()),), ad_hoc=True, implied=True, **common)
        cover = (spans[0].end - spans[0].start) * max(num_intervals, 1)  # a report due by the horizon covers this
        spans = [s for s in spans if s.start < horizon + cover] or spans[:1]
        pass_length = 1
    else:
        spans, cancelled = interval_spans(event, received=received, seed=seed, now=now, until=horizon)
        if cancelled or not spans:
            return ReportPlan(reports=(), **common)
        spans.sort(key=lambda s: (s.start, s.index))
        pass_length = len(event.intervals)

    ad_hoc = frequency == 0
    if start_interval < 0:  # 'the end of the last interval' — of each period when reports are periodic
        if not historical or implied or ad_hoc:
            anchor = 0
        else:
            anchor = frequency - 1 if frequency > 0 else pass_length - 1
    else:
        anchor = start_interval
    step = 1 if ad_hoc else (pass_length if frequency < 0 else frequency)
    count = repeat if repeat > 0 else MAX_REPORTS
    if ad_hoc:
        count = MAX_REPORTS if repeat < 0 else max(repeat, len(spans))

    reports: list[PlannedReport] = []
    previous_anchor = -1
    number = 0
    while number < count and anchor < len(spans) and len(reports) < MAX_REPORTS:
        next_anchor = anchor + step
        if historical:
            first = previous_anchor + 1 if num_intervals < 0 or ad_hoc else anchor - num_intervals + 1
            covered = spans[max(first, 0):anchor + 1] if not ad_hoc else spans[anchor:anchor + 1]
            due = spans[anchor].end
        else:
            last = next_anchor - 1 if num_intervals < 0 or ad_hoc else anchor + num_intervals - 1
            covered = spans[anchor:last + 1] if not ad_hoc else spans[anchor:anchor + 1]
            due = spans[anchor].start
        if due is not None and due > horizon:
            break
        if due is not None or ad_hoc:
            reports.append(PlannedReport(number, due, tuple(covered)))
        number += 1
        previous_anchor, anchor = anchor, next_anchor
    endless = repeat < 0 and (implied or _loops_forever(event))
    return ReportPlan(reports=tuple(reports), ad_hoc=ad_hoc, implied=implied, endless=endless, **common)


def _loops_forever(event: Any) -> bool:
    try:
        span = event_duration(event)
    except ValueError:
        return False
    return span is not None and span >= timedelta(days=365 * 1000)


def collapse_overdue(plan: ReportPlan, obtained: datetime) -> list[PlannedReport]:
    """§7.5 'do it now' reporting: of the reports due before the VEN ``obtained`` the event, only the latest is
    sent, at once (its due time becomes ``obtained``); the later ones keep theirs."""
    overdue = [r for r in plan.reports if r.due is not None and r.due < obtained]
    later = [r for r in plan.reports if r.due is None or r.due >= obtained]
    if not overdue:
        return later
    latest = overdue[-1]
    return [PlannedReport(latest.number, obtained, latest.intervals), *later]
