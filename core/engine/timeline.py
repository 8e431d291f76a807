"""When each part of an event applies: absolute starts and ends of its intervals and sub-intervals (pure, no I/O).

The rules are OpenADR 3's (User Guide §7.3–7.4, §7.9; they describe 3.0.1's fields too):

* An interval's own ``intervalPeriod`` overrides the event's, field by field (``start``, ``duration``,
  ``randomizeStart``).  An interval without a start follows the previous one back to back.
* A start of ``0001-01-01`` ('the beginning of time') means *do it now*: the first interval starts when the VEN
  obtained the event (``received``); on a later interval it means 'right after the previous one'.
* A duration of ``P9999Y`` (or any span past year 9999) is open-ended: the slot has ``end = None``.
* A missing duration, or ``PT0S``, is 'instantaneous or infinity, depending on payloadType' (3.0.1 schema,
  ``intervalPeriod``): one-shot commands (:data:`INSTANTANEOUS_TYPES`) are instantaneous (``end == start``);
  every other type lasts until the next interval starts, or is open-ended when it is the last.
* The window ``0001-01-01`` + ``PT0S`` at the event level (or on the first interval without an event period)
  is the cancellation convention of §7.9: the timeline is empty and :attr:`Timeline.cancelled` is true.
* A payload type the enumerations define as one value (:data:`UNITARY_TYPES`: PRICE, SIMPLE, GHG, …) that
  carries several values splits its interval into that many equal sub-intervals, one value each.  Types that
  naturally hold several values (CURVE, OLS, DISPATCH_INSTRUCTION, and types we do not know) are not split,
  and neither is an open-ended interval (there is no length to divide).
* ``randomizeStart`` shifts the first interval's start by a uniform amount in ``[-|bound|, +|bound|]``; later
  intervals move by the same amount (contiguous ones necessarily; ones with their own absolute start too),
  unless an interval carries its own ``randomizeStart``, which draws a new shift for it and those after it.
  The draws come from ``seed`` (one integer the caller keeps per VEN and event), so a restart shifts the same.
* ``event.duration`` (an OpenADR 3.1 field, used when a VTN sends it) shortens the event (slots past it are
  cut) or lengthens it by repeating the interval pattern back to back (``P9999Y``: indefinitely); repeats are
  generated up to ``until`` (default: a week after ``now``).

Overlapping events for the same load and payload type are resolved by :func:`winning_slot`: the lower
``priority`` wins (0 is the highest; a missing priority is lower than any number); on a tie the slot that
started most recently wins (the newer instruction), then the event modified most recently, then the greater
event id, so the choice never depends on the order events were read in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Sequence

from venclient.openadr import parse_duration

UTC = timezone.utc
ZERO = timedelta(0)
BEGINNING_OF_TIME_YEAR = 1  # '0001-01-01': do it now / follow the previous interval
OPEN_ENDED_AFTER = datetime(9000, 1, 1, tzinfo=UTC)  # an end later than this is 'infinity' (P9999Y and the like)
DEFAULT_LOOP_HORIZON = timedelta(days=7)
MAX_SLOTS = 100_000  # bound on what one event may expand to (a looping event with tiny intervals)

#: event payload types whose enumeration holds exactly one value (maxItems 1); several values = sub-intervals
UNITARY_TYPES: frozenset[str] = frozenset({
    "SIMPLE", "PRICE", "PRICE_ALTERNATE", "EXPORT_PRICE", "GHG",
    "CHARGE_STATE_SETPOINT", "DISPATCH_SETPOINT", "DISPATCH_SETPOINT_RELATIVE", "CONTROL_SETPOINT",
    "CONTROL_LEVEL_OFFSET", "CONTROL_LEVEL_OFFSET_PERCENT",
    "IMPORT_CAPACITY_SUBSCRIPTION", "IMPORT_CAPACITY_RESERVATION", "IMPORT_CAPACITY_RESERVATION_FEE",
    "IMPORT_CAPACITY_AVAILABLE", "IMPORT_CAPACITY_AVAILABLE_PRICE", "IMPORT_CAPACITY_LIMIT",
    "EXPORT_CAPACITY_SUBSCRIPTION", "EXPORT_CAPACITY_RESERVATION", "EXPORT_CAPACITY_RESERVATION_FEE",
    "EXPORT_CAPACITY_AVAILABLE", "EXPORT_CAPACITY_AVAILABLE_PRICE", "EXPORT_CAPACITY_LIMIT",
    "ALERT_GRID_EMERGENCY", "ALERT_BLACK_START", "ALERT_POSSIBLE_OUTAGE", "ALERT_FLEX_ALERT", "ALERT_FIRE",
    "ALERT_FREEZING", "ALERT_WIND", "ALERT_TSUNAMI", "ALERT_AIR_QUALITY", "ALERT_OTHER",
    "CTA2045_REBOOT", "CTA2045_SET_OVERRIDE_STATUS",
})

#: one-shot commands: without a duration they happen at their start and do not last
INSTANTANEOUS_TYPES: frozenset[str] = frozenset({"DISPATCH_INSTRUCTION", "CTA2045_REBOOT"})


@dataclass(frozen=True, slots=True)
class Slot:
    """One payload type's values over one interval or sub-interval.

    ``end`` is ``None`` for an open-ended slot; ``end == start`` for an instantaneous one.  ``sub`` numbers the
    sub-intervals of a multi-valued payload (0 otherwise); ``loop`` the repeat of the pattern under
    ``event.duration`` (0 for the first pass).  ``values`` holds one value after a split, else all of them.
    """

    interval_id: int
    payload_type: str
    values: tuple[Any, ...]
    start: datetime
    end: datetime | None
    sub: int = 0
    loop: int = 0

    def active_at(self, moment: datetime) -> bool:
        """``start <= moment < end`` (an open-ended slot never ends; an instantaneous one is active at its start)."""
        if moment < self.start:
            return False
        if self.end is None:
            return True
        return moment < self.end or (self.end == self.start and moment == self.start)

    @property
    def value(self) -> Any:
        """The first value (the one that applies for unitary types)."""
        return self.values[0] if self.values else None


@dataclass(frozen=True)
class Timeline:
    """Every slot of one event, ordered by start; ``start``/``end`` span them (``end`` None: open-ended)."""

    event_id: str | None
    priority: int | None
    slots: tuple[Slot, ...]
    cancelled: bool = False
    modified: datetime | None = None
    shifts: tuple[timedelta, ...] = field(default=())

    @property
    def start(self) -> datetime | None:
        return min((s.start for s in self.slots), default=None)

    @property
    def end(self) -> datetime | None:
        if not self.slots or any(s.end is None for s in self.slots):
            return None
        return max(s.end for s in self.slots)  # type: ignore[type-var]

    def active(self, moment: datetime) -> list[Slot]:
        """The slots that apply at ``moment``."""
        return [s for s in self.slots if s.active_at(moment)]

    def boundaries(self, after: datetime, until: datetime | None = None) -> list[datetime]:
        """Sorted distinct slot starts and ends in ``(after, until]`` — the moments a scheduler must act."""
        moments = {m for s in self.slots for m in (s.start, s.end) if m is not None and m > after
                   and (until is None or m <= until)}
        return sorted(moments)

    def finished(self, moment: datetime) -> bool:
        """Every slot has ended by ``moment`` (an empty or cancelled timeline is finished)."""
        end = self.end
        return not self.slots or (end is not None and moment >= end
                                  and not any(s.active_at(moment) for s in self.slots))


def is_beginning_of_time(moment: datetime | None) -> bool:
    """``0001-01-01`` (any time of that day): the 'do it now' / 'follow the previous interval' marker."""
    return moment is not None and moment.year == BEGINNING_OF_TIME_YEAR


def _duration(text: str | None) -> timedelta | None:
    return None if text is None else parse_duration(text)


def _end(start: datetime, length: timedelta) -> datetime | None:
    """``start + length``, or ``None`` when that is past :data:`OPEN_ENDED_AFTER` (P9999Y: infinity)."""
    try:
        end = start + length
    except OverflowError:
        return None
    return None if end >= OPEN_ENDED_AFTER else end


def _shift(seed: int | None, group: int, bound: timedelta) -> timedelta:
    """The ``group``-th uniform draw in ``[-|bound|, +|bound|]`` from ``seed`` (no shift without a seed or bound)."""
    if seed is None or not bound:
        return ZERO
    rng = random.Random(f"{seed}:{group}")
    return abs(bound) * rng.uniform(-1.0, 1.0)


def _payload_slots(interval_id: int, payloads: Iterable[Any], start: datetime, end: datetime | None,
                   explicit_length: timedelta | None, loop: int) -> list[Slot]:
    """The slots of one interval's payloads between ``start`` and ``end``, split where a unitary type has several values."""
    slots: list[Slot] = []
    for payload in payloads:
        kind = str(payload.type)
        values = tuple(payload.values or ())
        if explicit_length is None and kind in INSTANTANEOUS_TYPES:
            slots.append(Slot(interval_id, kind, values, start, start, 0, loop))
        elif kind in UNITARY_TYPES and len(values) > 1 and end is not None and end > start:
            step = (end - start) / len(values)
            for n, value in enumerate(values):
                sub_end = end if n == len(values) - 1 else start + step * (n + 1)
                slots.append(Slot(interval_id, kind, (value,), start + step * n, sub_end, n, loop))
        else:
            slots.append(Slot(interval_id, kind, values, start, end, 0, loop))
    return slots


def _first_pass(event: Any, received: datetime, seed: int | None) -> tuple[list[tuple[Any, datetime, datetime | None,
                                                                                       timedelta | None]],
                                                                           bool, list[timedelta]]:
    """``[(interval, start, end, explicit length)]`` of one pass over the intervals, whether it is cancelled,
    and the random shifts drawn."""
    default = event.interval_period
    default_start = default.start if default is not None else None
    default_length = _duration(default.duration) if default is not None else None
    default_random = _duration(default.randomize_start) if default is not None else None
    intervals = list(event.intervals or ())
    if not intervals:
        return [], False, []
    rows: list[list[Any]] = []  # [interval, start | None, explicit length | None, shift]
    shifts: list[timedelta] = []
    group_shift = ZERO
    previous_end: datetime | None = None
    cancelled = False
    for index, interval in enumerate(intervals):
        own = interval.interval_period
        own_start = own.start if own is not None else None
        length = _duration(own.duration) if own is not None and own.duration is not None else default_length
        own_random = _duration(own.randomize_start) if own is not None and own.randomize_start is not None else None
        if index == 0:
            start = own_start if own_start is not None and not is_beginning_of_time(own_start) else default_start
            if start is None or is_beginning_of_time(start):
                if length is not None and length == ZERO and (is_beginning_of_time(start)
                                                              or is_beginning_of_time(own_start)):
                    cancelled = True
                start = received
            bound = own_random if own_random is not None else default_random
            group_shift = _shift(seed, 0, bound) if bound else ZERO
            shifts.append(group_shift)
        else:
            if own_start is not None and not is_beginning_of_time(own_start):
                start = own_start
            else:
                start = previous_end  # back to back (None: the previous one never ends)
            if own_random is not None:
                group_shift = _shift(seed, index, own_random)
                shifts.append(group_shift)
        rows.append([interval, start, length, group_shift])
        if start is None:
            previous_end = None
        elif length is None or length == ZERO:
            previous_end = None  # lasts until a later interval's own start, or open-ended
        else:
            previous_end = _end(start, length)
    if cancelled:
        return [], True, shifts
    out = []
    for index, (interval, start, length, shift) in enumerate(rows):
        if start is None:
            continue  # follows an interval that never ends: it never starts
        if length is not None and length > ZERO:
            end = _end(start, length)
        else:  # 'until the next interval with a start of its own', else open-ended
            end = next((later[1] for later in rows[index + 1:] if later[1] is not None and later[1] > start), None)
        shifted_end = None if end is None else end + shift
        out.append((interval, start + shift, shifted_end, length if length else None))
    return out, False, shifts


@dataclass(frozen=True, slots=True)
class IntervalSpan:
    """Where one event interval lies in time: its id, its position in ``event.intervals``, absolute start and
    end (``None``: open-ended), its explicit length (``None`` when it had none) and the repeat it belongs to."""

    interval_id: int
    index: int
    start: datetime
    end: datetime | None
    length: timedelta | None = None
    loop: int = 0


def event_duration(event: Any) -> timedelta | None:
    """The OpenADR 3.1 ``event.duration`` a VTN may send (an extra field on our 3.0.1 model), or ``None``;
    ``ValueError`` when it is not an ISO 8601 duration."""
    text = (getattr(event, "model_extra", None) or {}).get("duration")
    return parse_duration(str(text)) if text else None


def _looped_spans(event: Any, received: datetime, seed: int | None, now: datetime | None,
                  until: datetime | None) -> tuple[list[IntervalSpan], datetime | None, bool, list[timedelta]]:
    """The spans, repeated under ``event.duration`` but not cut; the cut-off moment (``None``: none); cancelled;
    shifts."""
    rows, cancelled, shifts = _first_pass(event, received, seed)
    spans = [IntervalSpan(interval.id, index, start, end, length)
             for index, (interval, start, end, length) in enumerate(rows)]
    span = event_duration(event)
    if span is None or not spans or cancelled:
        return spans, None, cancelled, shifts
    first = min(s.start for s in spans)
    stop = _end(first, span)  # None: indefinitely
    horizon = until or (now or received) + DEFAULT_LOOP_HORIZON
    ends = [s.end for s in spans]
    pattern_end = None if any(e is None for e in ends) else max(e for e in ends if e is not None)
    looped = list(spans)
    if pattern_end is not None and pattern_end > first and (stop is None or stop > pattern_end):
        period = pattern_end - first
        limit = horizon if stop is None else min(stop, horizon)
        loop = 1
        while first + period * loop < limit and len(looped) < MAX_SLOTS:
            offset = period * loop
            looped.extend(IntervalSpan(s.interval_id, s.index, s.start + offset,
                                       None if s.end is None else s.end + offset, s.length, loop) for s in spans)
            loop += 1
    return looped, stop, cancelled, shifts


def _cut(start: datetime, end: datetime | None, stop: datetime | None) -> tuple[bool, datetime | None]:
    """Whether a piece starting at ``start`` survives the cut-off ``stop``, and its end after the cut."""
    if stop is None:
        return True, end
    if start >= stop:
        return False, end
    return True, (end if end is not None and end <= stop else stop)


def interval_spans(event: Any, *, received: datetime, seed: int | None = None, now: datetime | None = None,
                   until: datetime | None = None) -> tuple[list[IntervalSpan], bool]:
    """The spans of ``event``'s intervals (payloads or not: a 'report-only' event's empty intervals count) and
    whether the event is cancelled.  Arguments as for :func:`event_timeline`."""
    looped, stop, cancelled, _shifts = _looped_spans(event, received, seed, now, until)
    spans = []
    for s in looped:
        keep, end = _cut(s.start, s.end, stop)
        if keep:
            spans.append(s if end == s.end else IntervalSpan(s.interval_id, s.index, s.start, end, s.length, s.loop))
    return spans, cancelled


def event_timeline(event: Any, *, received: datetime, seed: int | None = None, now: datetime | None = None,
                   until: datetime | None = None) -> Timeline:
    """The :class:`Timeline` of ``event`` (an :class:`venclient.openadr.Event`).

    ``received`` is when the VEN first obtained this event (what 'do it now' starts from); ``seed`` the
    per-VEN-and-event integer that fixes the ``randomizeStart`` draws; ``until`` bounds the repeats a looping
    ``event.duration`` generates (default ``now`` — or ``received`` — plus a week).
    """
    looped, stop, cancelled, shifts = _looped_spans(event, received, seed, now, until)
    modified = getattr(event, "modification_date_time", None)
    intervals = list(event.intervals or ())
    slots: list[Slot] = []
    for span in looped:
        for slot in _payload_slots(span.interval_id, intervals[span.index].payloads, span.start, span.end,
                                   span.length, span.loop):
            keep, end = _cut(slot.start, slot.end, stop)
            if keep:
                slots.append(slot if end == slot.end else Slot(slot.interval_id, slot.payload_type, slot.values,
                                                               slot.start, end, slot.sub, slot.loop))
    slots.sort(key=lambda s: (s.start, s.interval_id, s.payload_type, s.sub))
    return Timeline(event.id, event.priority, tuple(slots), cancelled, modified, tuple(shifts))


def _priority_rank(priority: int | None) -> float:
    return float("inf") if priority is None else float(priority)


def winning_slot(candidates: Sequence[tuple[Timeline, Slot]]) -> tuple[Timeline, Slot] | None:
    """Of the ``(timeline, slot)`` pairs active for one load and payload type, the one that applies.

    Lower priority number first (missing = lowest); ties: the later slot start, then the later event
    modification time, then the greater event id.
    """
    if not candidates:
        return None
    return max(candidates, key=lambda pair: slot_rank(*pair))


def slot_rank(timeline: Timeline, slot: Slot) -> tuple:
    """The sort key :func:`winning_slot` maximises (the greater key wins)."""
    floor = datetime.min.replace(tzinfo=UTC)
    return (-_priority_rank(timeline.priority), slot.start, timeline.modified or floor, str(timeline.event_id or ""))
