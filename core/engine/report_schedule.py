"""Reports the way the VTN asked: which descriptors are answered per tick, and the event-aligned reports.

Each report descriptor of an event asking for reports takes one of two paths:

* **continuous** — ``reportIntervals`` ``OPEN_INTERVALS`` (3.1: the VEN chooses the intervals), the
  ``reporting.program`` / ``reporting.event`` fallback request, and descriptors whose plan has no due time the VEN
  could wait for (a 'report-only' event without a usable period, an open-ended interval): each tick is one
  VEN-chosen interval, one report per tick (:class:`venclient.engine.report.Reporter`, as before);
* **event-aligned** — every other descriptor: reports follow :func:`venclient.engine.report_plan.report_plan`.
  The ticks inside an event interval accumulate per load (:mod:`venclient.engine.accumulate`) in the tick's
  transaction; when a planned report is due (the tick's end reached its ``due``) it is built from the totals of
  its intervals, each interval with the event's interval ``id`` and its own ``intervalPeriod``, and goes into the
  outbox in that same transaction, which also deletes the totals no later planned report of the event needs and
  remembers the report's number (runtime state ``report.built:<VEN>:<event id>:<group>``), so a restart neither
  repeats nor skips a report.  Reports due before the VEN obtained the event collapse into one sent at once
  (:func:`venclient.engine.report_plan.collapse_overdue`).  An event that is gone takes its totals with it.

Descriptors of one event with the same timing fields, ``aggregate`` and ``targets`` form one *group*: one report
carrying each descriptor's payload.  A descriptor we cannot answer (payload type, ``units`` or ``readingType``,
:mod:`venclient.engine.report_payloads`) is refused with one warning naming the event and the field.

Forecasts (``historical`` false: the report covers its anchor interval and the ones after it, due at the anchor's
start) are built from a source that can look ahead (:class:`venclient.protocols.ForecastsPower`, the H5
simulator; ``forecaster(times)`` gives the plan's watts at ``times``).  When such a report is due, each covered
interval is sampled at tick steps from its start (at most :data:`MAX_FORECAST_SAMPLES` samples: longer steps
beyond), each sample standing for the watts until the next one (the last one until the interval's end); the
energy is the sum of watts × step (USAGE), the mean power that energy over the seconds sampled (DEMAND), with
``readingType`` FORECAST unless the descriptor names one.  Nothing is accumulated for them.  Without such a
source a forecast is refused with one warning naming the event.

SIMPLE_LEVEL and OPERATING_STATE come from what load control applied (:mod:`venclient.engine.applied`):
``applied(ven, event, load ids, resource ids, spans)`` (``ven run`` gives the scheduler's plans and opt-outs; on
its own the schedule uses the report's event alone, without opt-outs), derived when the report is built.

What a report holds: at level ``load`` each registered load under its VTN resourceName, at level ``resource``
each resource as the sum of its loads (an interval where one of them was not seen is left out), with
``aggregate`` one resource ``AGGREGATED_REPORT`` per VEN holding the sum over the loads reported that have a value
in the interval (DATA_QUALITY, when asked, says ``ESTIMATED`` when a load is missing or incomplete there, and the
interval is left out when no load has a value).  A descriptor's ``targets`` narrow the loads reported (resolved as
event targets are: :mod:`venclient.engine.targets`).  A load with no tick at all in an interval is left out of
that interval (with DATA_QUALITY or OPERATING_STATE asked it carries only those there: ``MISSING``, ``ERROR``),
and a load without a value in any interval of the report is left out of the report — unless OPERATING_STATE is
asked: then it is reported ``ERROR`` (not addressable by the VEN) in every interval.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import math
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import orjson

from venclient.engine.accumulate import Accumulator, TickStage
from venclient.engine.applied import Applied, AppliedSource, applied_levels, own_plan
from venclient.engine.report import WireReport, _resource_names, event_scope, significant
from venclient.engine.report_payloads import NEEDS_BASELINE, Answer, Totals, answer, quality_codes
from venclient.engine.report_plan import OPEN_INTERVALS, PlannedReport, ReportPlan, collapse_overdue, report_plan
from venclient.engine.timeline import IntervalSpan, event_timeline, interval_spans
from venclient.openadr import format_duration

log = logging.getLogger(__name__)

AGGREGATED_REPORT = "AGGREGATED_REPORT"
BUILT_KEY = "report.built"
REPLAN_BEFORE = timedelta(days=1)  # an endless plan is made again this long before its horizon
MAX_FORECAST_SAMPLES = 96  # samples of one forecast interval (a longer interval is sampled at longer steps)


def interval_key(span: IntervalSpan) -> str:
    """The accumulator key of one event interval (ids repeat when ``event.duration`` loops: the start tells)."""
    return f"{span.interval_id}@{span.start.isoformat()}"


def _field(descriptor: Any, name: str) -> Any:
    return getattr(descriptor, name, None)


def _extra(obj: Any, name: str) -> Any:
    return (getattr(obj, "model_extra", None) or {}).get(name)


@dataclass
class Group:
    """Descriptors of one event answered by the same reports."""

    number: int
    descriptor: Any           # the first one: its timing fields make the plan
    answers: list[Answer]
    aggregate: bool
    targets: list[Any] | None
    historical: bool = True   # false: a forecast

    @property
    def applied(self) -> bool:
        """An answer needs what load control applied (SIMPLE_LEVEL, OPERATING_STATE)."""
        return any(a.kind.applied for a in self.answers)

    @property
    def states(self) -> bool:
        """OPERATING_STATE among the answers (a load without any value is still reported: ``ERROR``)."""
        return any(a.payload_type == "OPERATING_STATE" for a in self.answers)


@dataclass
class AlignedEvent:
    """An event's event-aligned groups."""

    event: Any
    groups: list[Group]
    randomized: bool = False


@dataclass
class _Plan:
    """One group's plan for some received moment: reports by number, sorted spans, and the last report number
    covering each span."""

    plan: ReportPlan
    reports: list[PlannedReport]
    spans: list[IntervalSpan]
    starts: list[datetime]
    last_number: list[int]
    until: datetime


class BuiltReports:
    """A tick's event-aligned reports, built one VEN at a time while they are iterated — once: a store consumes
    them inside the tick's transaction, so a fleet's reports (hundreds of MB of JSON at the end of a day-long
    event) are never all in memory.  Iterating also stages the deletion of the totals they used and fills the
    tick's :class:`venclient.engine.accumulate.AccumulatorWrite`, which the stores write after the reports."""

    def __init__(self, reports: Iterable[WireReport] = ()):
        self._reports: Iterable[WireReport] | None = reports
        self.done = False  # iterated to the end

    def __iter__(self) -> Iterator[WireReport]:
        if self._reports is None:
            raise RuntimeError("A tick's event-aligned reports can be iterated only once.")
        reports, self._reports = self._reports, None
        return self._run(reports)

    def _run(self, reports: Iterable[WireReport]) -> Iterator[WireReport]:
        yield from reports
        self.done = True


@dataclass
class TickWrite:
    """What one tick adds for the event-aligned reports: the reports (:class:`BuiltReports`, iterable once),
    state entries and the accumulator stage (``write``: its rows, complete once the reports were iterated)."""

    reports: BuiltReports = field(default_factory=BuiltReports)
    state: dict[str, str] = field(default_factory=dict)
    stage: TickStage = field(default_factory=TickStage)
    built: dict[tuple[str, str, int], int] = field(default_factory=dict)
    write: Any = None


def _randomized(event: Any) -> bool:
    periods = [event.interval_period, *(i.interval_period for i in event.intervals or ())]
    return any(p is not None and p.randomize_start for p in periods)


class ReportSchedule:
    """Splits report requests into continuous and event-aligned ones and builds the event-aligned reports.

    ``received(ven, event_id)`` gives ``(received Unix seconds, seed)`` of a VEN's event (the scheduler's), or
    ``None`` (then the first tick that saw the event stands for it); ``scope(targets, what)`` resolves a
    descriptor's targets to ``(everything, VEN names, load ids)``; ``get_state`` reads the runtime state;
    ``reader(ven, event_id)`` reads that pair's totals back from a durable store (then finished intervals are not
    kept in memory); ``forecaster(times)`` gives the plan's watts at ``times`` (shape ``(len(times), len(plan))``,
    NaN where unknown; ``None``: forecasts are refused); ``applied`` tells what load control applied
    (:data:`venclient.engine.applied.AppliedSource`; ``None``: the report's event alone).
    """

    def __init__(self, *, level: str = "load", max_resources: int = 2000,
                 received: Callable[[str, str], tuple[float, int] | None] | None = None,
                 scope: Callable[[Sequence[Any], str], tuple[bool, set[str], set[str]]] | None = None,
                 get_state: Callable[[str], str | None] | None = None,
                 forecaster: Callable[[Sequence[datetime]], np.ndarray] | None = None,
                 reader: Callable[[str, str], Any] | None = None, applied: AppliedSource | None = None):
        self.level = level
        self.max_resources = max_resources
        self.received = received
        self.scope = scope
        self.get_state = get_state
        self.forecaster = forecaster
        self.applied = applied
        self.accumulator = Accumulator(reader)
        self._split_cache: dict[str, tuple[Any, Any, AlignedEvent | None]] = {}
        self._plans: dict[tuple, _Plan] = {}
        self._built: dict[tuple[str, str, int], int] = {}
        self._first_seen: dict[tuple[str, str], float] = {}
        self._scopes: dict[tuple[str, int], tuple[bool, set[str], set[str]]] = {}
        self._warned: set[str] = set()

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            log.warning("Reporting: %s.", message)

    # ------------------------------------------------------------------------------ split
    def split(self, events: Sequence[Any]) -> tuple[list[Any], list[AlignedEvent]]:
        """``(events for the per-tick Reporter — only their continuous descriptors —, event-aligned events)``."""
        continuous: list[Any] = []
        aligned: list[AlignedEvent] = []
        for event in events:
            stamp = (getattr(event, "modification_date_time", None), id(event.report_descriptors))
            cached = self._split_cache.get(event.id)
            if cached is None or cached[0] != stamp:
                cached = (stamp, *self._classify(event))
                self._split_cache[event.id] = cached
            if cached[1] is not None:
                continuous.append(cached[1])
            if cached[2] is not None:
                aligned.append(cached[2])
        return continuous, aligned

    def _path(self, event: Any, descriptor: Any) -> str | None:
        """``"continuous"``, ``"aligned"``, or ``None`` for a cancelled event (nothing to report)."""
        if str(_extra(descriptor, "reportIntervals") or "").upper() == OPEN_INTERVALS:
            return "continuous"
        now = datetime.now().astimezone()
        if event.intervals and interval_spans(event, received=now)[1]:
            return None
        try:
            plan = report_plan(event, descriptor, received=now)
        except ValueError:
            return "continuous"
        return "continuous" if not plan.reports or all(r.due is None for r in plan.reports) else "aligned"

    def _classify(self, event: Any) -> tuple[Any, AlignedEvent | None]:
        plain: list[Any] = []
        groups: dict[str, Group] = {}
        name = f"event {event.event_name!r} ({event.id})" if getattr(event, "event_name", None) else \
            f"event {event.id}"
        for n, descriptor in enumerate(event.report_descriptors or ()):
            path = self._path(event, descriptor)
            if path is None:
                continue
            if path == "continuous":
                plain.append(descriptor)
                continue
            historical = _field(descriptor, "historical")
            historical = True if historical is None else bool(historical)
            if not historical and self.forecaster is None:
                self._warn_once(f"{name} asks for a forecast (reportDescriptors[{n}].historical false), which "
                                f"no meter source can give: it is not answered")
                continue
            chosen, reason = answer(str(descriptor.payload_type), _field(descriptor, "units"),
                                    _field(descriptor, "reading_type"), historical=historical)
            if chosen is None:
                self._warn_once(f"{name} reportDescriptors[{n}]: {reason}; it is not answered")
                continue
            targets = _field(descriptor, "targets") or None
            key = orjson.dumps([_field(descriptor, f) for f in ("start_interval", "num_intervals", "frequency",
                                                                 "repeat")]
                               + [historical, bool(_field(descriptor, "aggregate")),
                                  [t.model_dump(mode="json") if hasattr(t, "model_dump") else t
                                   for t in targets or ()]], option=orjson.OPT_SORT_KEYS).decode()
            group = groups.get(key)
            if group is None:
                group = groups[key] = Group(int(hashlib.sha1(key.encode()).hexdigest()[:8], 16), descriptor, [],
                                            bool(_field(descriptor, "aggregate")), targets, historical)
            if chosen not in group.answers:
                group.answers.append(chosen)
        continuous = None
        if plain:
            continuous = event if len(plain) == len(event.report_descriptors or ()) else \
                event.model_copy(update={"report_descriptors": plain})
        kept = [g for g in groups.values() if g.answers]
        return continuous, (AlignedEvent(event, kept, _randomized(event)) if kept else None)

    # ------------------------------------------------------------------------------ plans
    def _state(self, ven: str, event_id: str, moment: datetime) -> tuple[float, int]:
        found = self.received(ven, event_id) if self.received is not None else None
        if found is not None:
            return found
        return self._first_seen.setdefault((ven, event_id), moment.timestamp()), 0

    def _plan(self, aligned: AlignedEvent, group: Group, received: float, seed: int, moment: datetime) -> _Plan:
        event = aligned.event
        key = (event.id, getattr(event, "modification_date_time", None), group.number, received,
               seed if aligned.randomized else 0)
        cached = self._plans.get(key)
        if cached is not None and moment < cached.until - REPLAN_BEFORE:
            return cached
        obtained = datetime.fromtimestamp(received, moment.tzinfo)
        until = max(moment, obtained) + timedelta(days=7)
        plan = report_plan(event, group.descriptor, received=obtained, seed=seed, now=moment, until=until)
        reports = sorted(collapse_overdue(plan, obtained), key=lambda r: r.number)
        last: dict[tuple[int, datetime], tuple[IntervalSpan, int]] = {}
        for report in reports:
            for span in report.intervals:
                last[(span.interval_id, span.start)] = (span, report.number)
        ordered = sorted(last.values(), key=lambda item: item[0].start)
        made = _Plan(plan, reports, [s for s, _ in ordered], [s.start for s, _ in ordered],
                     [n for _, n in ordered], until)
        self._plans = {k: v for k, v in self._plans.items() if k[0] != event.id or k[1] == key[1]}
        self._plans[key] = made
        return made

    def _built_number(self, ven: str, event_id: str, group: int) -> int:
        key = (ven, event_id, group)
        if key not in self._built:
            text = self.get_state(f"{BUILT_KEY}:{ven}:{event_id}:{group}") if self.get_state else None
            try:
                self._built[key] = int(text) if text is not None else -1
            except ValueError:
                self._built[key] = -1
        return self._built[key]

    # ------------------------------------------------------------------------------ ticks
    def load(self, rows: Sequence[dict[str, Any]], plan: Any) -> int:
        """Take the totals an earlier run kept (the store's ``accumulators_read``)."""
        return self.accumulator.load(rows, plan)

    def stage(self, time: datetime, seconds: float, readings: Any, plan: Any, aligned: Sequence[AlignedEvent],
              tick_ms: int, *, forget_others: bool = True) -> TickWrite:
        """Accumulate one tick (start ``time``, ``seconds`` long) into the intervals it falls in, and build the
        reports due by its end; nothing changes until :meth:`commit`.  ``forget_others``: totals of events not in
        ``aligned`` are deleted (they are gone or no longer ask for event-aligned reports)."""
        out = TickWrite()
        deferred: list[tuple] = []
        acc = self.accumulator
        acc.align(plan)
        end = time + timedelta(seconds=seconds)
        power = np.where(readings.quality == 0, readings.power_w, np.nan)
        baseline = getattr(readings, "baseline_w", None)
        register = getattr(readings, "register_kwh", None)
        wanted = {a.event.id for a in aligned}
        forecasts: dict[tuple[datetime, ...], np.ndarray] = {}  # this tick's forecasts of the plan, by times
        if forget_others:
            for ven, event_id in acc.events():
                if event_id not in wanted:
                    acc.drop_event(out.stage, ven, event_id)
        for item in aligned:
            event = item.event
            vens, names = event_scope(event)
            for ven, sl in plan.ven_slices.items():
                if vens is not None and ven not in vens and names is None:
                    continue
                received, seed = self._state(ven, event.id, time)
                plans = [(g, self._plan(item, g, received, seed, time)) for g in item.groups]
                self._accumulate(out, ven, event.id, plans, time, seconds, plan, sl, power, baseline, register)
                due_groups = []
                for group, gplan in plans:
                    built = self._built_number(ven, event.id, group.number)
                    due = [r for r in gplan.reports if r.number > built and r.due is not None and r.due <= end]
                    if not due:
                        continue
                    due_groups.append((group, due))
                    number = due[-1].number
                    out.built[(ven, event.id, group.number)] = number
                    out.state[f"{BUILT_KEY}:{ven}:{event.id}:{group.number}"] = str(number)
                if due_groups:
                    deferred.append((ven, sl, event, plans, due_groups, vens, names))
                else:
                    self._forget_done(out, ven, event.id, plans)
        if not deferred:
            out.write = acc.finish(out.stage)
            return out
        out.write = out.stage.write  # filled by finish() once the reports were built
        out.reports = BuiltReports(self._build_deferred(out, deferred, plan, tick_ms, seconds, forecasts))
        return out

    def _build_deferred(self, out: TickWrite, deferred: list[tuple], plan: Any, tick_ms: int, seconds: float,
                        forecasts: dict[tuple[datetime, ...], np.ndarray]) -> Iterator[WireReport]:
        """The due reports, one VEN at a time; then the totals they used go (staged) and the write is complete."""
        for ven, sl, event, plans, due_groups, vens, names in deferred:
            for group, due in due_groups:
                for report in due:
                    yield from self._build(ven, sl, event, group, report, out.stage, plan, tick_ms, vens, names,
                                           seconds, forecasts)
            self._forget_done(out, ven, event.id, plans)
            for key in [k for k in out.stage.loaded if k[0] == ven and k[1] == event.id]:
                del out.stage.loaded[key]  # read back for these reports only: one VEN's at a time in memory
        self.accumulator.finish(out.stage)

    def _accumulate(self, out: TickWrite, ven: str, event_id: str, plans: list[tuple[Group, _Plan]],
                    time: datetime, seconds: float, plan: Any, sl: slice, power: np.ndarray,
                    baseline: np.ndarray | None, register: np.ndarray | None = None) -> None:
        keys: set[str] = set()
        for group, gplan in plans:
            if not group.historical:
                continue  # a forecast comes from the source when due: nothing to accumulate
            built = self._built_number(ven, event_id, group.number)
            n = bisect.bisect_right(gplan.starts, time) - 1
            while n >= 0:
                span = gplan.spans[n]
                if span.end is None or span.end > time:
                    if gplan.last_number[n] > built:
                        keys.add(interval_key(span))
                    n -= 1
                    continue
                break
        for key in sorted(keys):
            self.accumulator.add(out.stage, (ven, event_id, key), plan, power[sl],
                                 None if baseline is None else baseline[sl], seconds,
                                 None if register is None else register[sl])

    def _forget_done(self, out: TickWrite, ven: str, event_id: str, plans: list[tuple[Group, _Plan]]) -> None:
        """Stage the deletion of totals no unbuilt report of the event needs."""
        needed: set[str] = set()
        for group, gplan in plans:
            if not group.historical:
                continue
            built = out.built.get((ven, event_id, group.number), self._built_number(ven, event_id, group.number))
            needed.update(interval_key(span) for span, last in zip(gplan.spans, gplan.last_number) if last > built)
        for key in self.accumulator.keys(ven, event_id, out.stage):
            if key[2] not in needed:
                self.accumulator.drop(out.stage, key)

    def commit(self, write: TickWrite) -> None:
        """Apply a :meth:`stage` once the store took it (its reports included: they must have been iterated)."""
        if write.built and not write.reports.done:
            raise RuntimeError("The tick's event-aligned reports were not stored: its stage cannot be committed.")
        self.accumulator.commit(write.stage)
        self._built.update(write.built)

    # ------------------------------------------------------------------------------ building
    def _selection(self, ven: str, sl: slice, event: Any, group: Group, plan: Any, vens: set[str] | None,
                   names: set[str] | None) -> np.ndarray:
        """Positions (within the VEN slice) of the loads reported."""
        keep = plan.registered[sl].copy()
        if names is not None and (vens is None or ven not in vens):
            keep &= np.fromiter((n in names for n in _resource_names(plan, sl)), dtype=bool, count=len(keep))
        if group.targets and self.scope is not None:
            cache_key = (event.id, group.number)
            scope = self._scopes.get(cache_key)
            if scope is None:
                scope = self._scopes[cache_key] = self.scope(group.targets, f"report descriptor of event {event.id}")
            everything, target_vens, load_ids = scope
            if not everything and ven not in target_vens:
                keep &= np.fromiter((i in load_ids for i in plan.load_ids[sl].tolist()), dtype=bool,
                                    count=len(keep))
        return np.flatnonzero(keep)

    def _build(self, ven: str, sl: slice, event: Any, group: Group, report: PlannedReport, stage: TickStage,
               plan: Any, tick_ms: int, vens: set[str] | None, names: set[str] | None, seconds: float = 0.0,
               forecasts: dict[tuple[datetime, ...], np.ndarray] | None = None) -> Iterator[WireReport]:
        rows = self._selection(ven, sl, event, group, plan, vens, names)
        spans = list(report.intervals)
        if not spans:
            return []
        if group.aggregate:
            labels = [AGGREGATED_REPORT]
        elif self.level == "resource":
            bounds = plan.resource_bounds(sl) - sl.start
            labels = plan.resource_ids[sl][bounds[:-1]].tolist()
        else:
            labels = _resource_names(plan, rows + sl.start)
        n = sl.stop - sl.start
        applied = self._applied(ven, event, plan, sl, spans) if group.applied else None
        columns: list[tuple[list[list[Any]], np.ndarray]] = []  # per span: values per answer, seen
        for i, span in enumerate(spans):
            length = None if span.end is None else (span.end - span.start).total_seconds()
            if not group.historical:
                totals = self._forecast_totals(span, sl, seconds, forecasts if forecasts is not None else {},
                                               len(plan.load_ids))
            else:
                stored = self.accumulator.current(stage, (ven, event.id, interval_key(span)))
                if stored is None or len(stored.ticks) != n:
                    totals = Totals(np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int32), length)
                else:
                    totals = stored.totals(length)
            if applied is not None:
                totals.level, totals.opted = applied.level[i], applied.opted[i]
            columns.append(self._span_values(group, totals, rows, plan, sl))
        period = {span.start: self._period(span) for span in spans}
        # Text is assembled per span for a chunk of entities at once (a day-long event's last tick is ~2.8M
        # intervals): each answer's payload prefix is encoded once, and only one chunk's text is held at a time.
        answers = [('{"type":%s,"values":[' % orjson.dumps(answer_.payload_type).decode(), answer_.kind.unseen)
                   for answer_ in group.answers]
        any_seen = np.zeros(len(labels), dtype=bool)
        has_interval = np.zeros(len(labels), dtype=bool)
        for values, seen in columns:
            any_seen |= seen
            for (_, unseen), column in zip(answers, values):
                present = np.fromiter((v is not None for v in column), dtype=bool, count=len(labels))
                has_interval |= present if unseen else seen & present
        kept = np.flatnonzero(has_interval & (True if group.states else any_seen)).tolist()
        if not kept:
            return []
        heads = ['{"id":%d,"intervalPeriod":%s,"payloads":[' % (span.interval_id, period[span.start]) for span in spans]
        first_period = period[spans[0].start]
        encoder = self._encoder(ven, event, group, report, -(-len(kept) // self.max_resources))
        for first in range(0, len(kept), self.max_resources):
            block = kept[first:first + self.max_resources]
            texts = [self._span_texts(head, values, seen, answers, block) for head, (values, seen) in zip(heads, columns)]
            resources = []
            for n, e in enumerate(block):
                intervals = [column[n] for column in texts if column[n] is not None]
                resources.append('{"resourceName":%s,"intervalPeriod":%s,"intervals":[%s]}'
                                 % (orjson.dumps(labels[e]).decode(), first_period, ",".join(intervals)))
            del texts
            yield encoder(resources)

    @staticmethod
    def _span_texts(head: str, values: list[list[Any]], seen: np.ndarray, answers: list[tuple[str, bool]],
                    entities: list[int]) -> list[str | None]:
        """Each of ``entities``' interval text in one span (``None``: it has none there); ``answers`` are each
        answer's payload prefix and whether it is reported where the entity has no value (``kind.unseen``)."""
        def text(value: Any) -> str:
            return orjson.dumps(value).decode() if isinstance(value, str) else repr(value)

        ok = seen.tolist()
        if len(answers) == 1 and not answers[0][1]:
            start, vals = head + answers[0][0], values[0]
            return [start + text(vals[e]) + "]}]}" if ok[e] and vals[e] is not None else None for e in entities]
        out: list[str | None] = []
        for e in entities:
            payloads = [prefix + text(column[e]) + "]}" for (prefix, unseen), column in zip(answers, values)
                        if (ok[e] or unseen) and column[e] is not None]
            out.append(head + ",".join(payloads) + "]}" if payloads else None)
        return out

    def _applied(self, ven: str, event: Any, plan: Any, sl: slice, spans: Sequence[IntervalSpan]) -> Applied:
        """What load control applied to the VEN's loads in ``spans`` (see :mod:`venclient.engine.applied`)."""
        load_ids, resource_ids = plan.load_ids[sl], plan.resource_ids[sl]
        if self.applied is not None:
            return self.applied(ven, event, load_ids, resource_ids, spans)
        received, seed = self._state(ven, event.id, spans[0].start)
        timeline = event_timeline(event, received=datetime.fromtimestamp(received, spans[0].start.tzinfo),
                                  seed=seed, now=spans[0].start)
        return applied_levels(own_plan(ven, timeline), {}, ven, event.id, load_ids, resource_ids, spans)

    def _forecast_totals(self, span: IntervalSpan, sl: slice, seconds: float,
                         cache: dict[tuple[datetime, ...], np.ndarray], size: int) -> Totals:
        """The totals of one forecast interval for the VEN slice ``sl`` (see the module docstring)."""
        times, weights = forecast_samples(span, seconds)
        key = tuple(times)
        watts = cache.get(key)
        if watts is None:
            watts = cache[key] = self._forecast(times, size)
        part = np.asarray(watts[:, sl], dtype=np.float64)
        ok = np.isfinite(part)
        w = weights[:, None]
        n = part.shape[1]
        length = None if span.end is None else (span.end - span.start).total_seconds()
        return Totals(np.where(ok, part * w / 3600.0, 0.0).sum(axis=0), np.full(n, np.nan),
                      np.where(ok, w, 0.0).sum(axis=0), ok.sum(axis=0).astype(np.int32), length)

    def _forecast(self, times: list[datetime], size: int) -> np.ndarray:
        """The plan's watts at ``times`` (all NaN, with one warning, when the source fails to look ahead)."""
        try:
            watts = np.asarray(self.forecaster(times), dtype=np.float64)  # type: ignore[misc]
            if watts.shape != (len(times), size):
                raise ValueError(f"it gave shape {watts.shape}, not {(len(times), size)}")
            return watts
        except Exception as err:  # noqa: BLE001 - a source failing to look ahead leaves the values out
            self._warn_once(f"the forecast from {times[0].isoformat()} failed ({err}); its values are left out")
            return np.full((len(times), size), np.nan)

    @staticmethod
    def _period(span: IntervalSpan) -> str:
        body: dict[str, Any] = {"start": span.start.isoformat().replace("+00:00", "Z")}
        if span.end is not None:
            body["duration"] = format_duration(span.end - span.start)
        return orjson.dumps(body).decode()

    def _span_values(self, group: Group, totals: Totals, rows: np.ndarray, plan: Any,
                     sl: slice) -> tuple[list[list[Any]], np.ndarray]:
        """Per answer the values (``None`` = none) of each reported entity, and whether each was seen."""
        register = totals.register_kwh  # None: no load has a meter register reading (no READING values)
        picked = Totals(totals.energy_wh[rows], totals.baseline_wh[rows], totals.seconds[rows], totals.ticks[rows],
                        totals.length, None if totals.level is None else totals.level[rows],
                        None if totals.opted is None else totals.opted[rows],
                        None if register is None else register[rows])
        if group.aggregate:
            seen_loads = picked.ticks > 0
            registers = np.zeros(0) if register is None else register[rows][seen_loads]
            registers = registers[np.isfinite(registers)]  # READING: the sum of the registers read, NaN if none
            summed = Totals(np.array([picked.energy_wh[seen_loads].sum()]),
                            np.array([picked.baseline_wh[seen_loads].sum()]),
                            np.array([picked.seconds[seen_loads].mean() if seen_loads.any() else 0.0]),
                            np.array([int(seen_loads.any())]), totals.length,
                            register_kwh=np.array([registers.sum()]) if len(registers) else None)
            if picked.level is not None:  # the highest level, the most severe state of the loads with data
                summed.level = np.array([picked.level[seen_loads].max(initial=0)])
            if picked.opted is not None:
                summed.opted = np.array([bool(picked.opted[seen_loads].any())])
            codes = quality_codes(picked)
            quality = np.array(["MISSING" if not seen_loads.any() else
                                ("OK" if (codes == "OK").all() else "ESTIMATED")], dtype=object)
            return self._values(group, summed, quality), summed.ticks > 0
        if self.level == "resource":
            bounds = plan.resource_bounds(sl) - sl.start
            starts = bounds[:-1]
            n = sl.stop - sl.start
            if len(starts) == 0:
                return [[] for _ in group.answers], np.zeros(0, dtype=bool)
            full = Totals(np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int32), totals.length)
            full.energy_wh[rows], full.baseline_wh[rows] = picked.energy_wh, picked.baseline_wh
            full.seconds[rows], full.ticks[rows] = picked.seconds, picked.ticks
            full_register = None
            if register is not None:
                full_register = np.full(n, np.nan)
                full_register[rows] = register[rows]
            all_seen = np.minimum.reduceat(full.ticks, starts) > 0
            summed = Totals(np.add.reduceat(full.energy_wh, starts), np.add.reduceat(full.baseline_wh, starts),
                            np.minimum.reduceat(full.seconds, starts),
                            np.where(all_seen, np.minimum.reduceat(full.ticks, starts), 0), totals.length,
                            register_kwh=None if full_register is None  # else NaN unless all loads have one
                            else np.add.reduceat(full_register, starts))
            if picked.level is not None:  # the highest level, the most severe state of the resource's loads
                level = np.zeros(n, dtype=np.int64)
                level[rows] = picked.level
                summed.level = np.maximum.reduceat(level, starts)
            if picked.opted is not None:
                opted = np.zeros(n, dtype=np.int8)
                opted[rows] = picked.opted
                summed.opted = np.maximum.reduceat(opted, starts) > 0
            return self._values(group, summed), all_seen
        return self._values(group, picked), picked.ticks > 0

    @staticmethod
    def _values(group: Group, totals: Totals, quality: np.ndarray | None = None) -> list[list[Any]]:
        out: list[list[Any]] = []
        for a in group.answers:
            if a.kind.textual:
                codes = quality if quality is not None and a.payload_type == "DATA_QUALITY" else a.values(totals)
                out.append([str(c) for c in np.asarray(codes, dtype=object).tolist()])
                continue
            raw = np.asarray(a.values(totals), dtype=np.float64)
            if a.payload_type in NEEDS_BASELINE:
                raw = np.where(np.isfinite(raw), raw, np.nan)
            if a.kind.integer:
                out.append([None if not np.isfinite(v) else int(v) for v in raw.tolist()])
                continue
            rounded = significant(raw)
            listed = rounded.tolist()
            for n in np.flatnonzero(~np.isfinite(rounded)).tolist():
                listed[n] = None
            out.append(listed)
        return out

    def _encoder(self, ven: str, event: Any, group: Group, report: PlannedReport,
                 chunks: int) -> Callable[[list[str]], WireReport]:
        """Turns each chunk of a report's resource texts, in order, into its :class:`WireReport` (``chunks`` of
        them: with more than one each name gets ``#<chunk>``)."""
        base = f"{ven}:{event.id}:{group.number}:{report.number}:{secrets.token_hex(4)}"
        head = (f'{{"programID":{orjson.dumps(event.program_id).decode()},"eventID":{orjson.dumps(event.id).decode()},'
                f'"clientName":{orjson.dumps(ven).decode()},"reportName":')
        tail = (f',"payloadDescriptors":{orjson.dumps([a.descriptor() for a in group.answers]).decode()},'
                f'"resources":[')
        made = 0

        def encode(part: list[str]) -> WireReport:
            nonlocal made
            name = base if chunks == 1 else f"{base}#{made}"
            made += 1
            return WireReport(ven=ven, program_id=event.program_id, event_id=event.id, report_name=name,
                              resources=len(part), json=head + orjson.dumps(name).decode() + tail + ",".join(part) + "]}")
        return encode


def forecast_samples(span: IntervalSpan, step_seconds: float) -> tuple[list[datetime], np.ndarray]:
    """The moments one forecast interval is sampled at and the seconds each stands for (see the module): every
    ``step_seconds`` from the start, at most :data:`MAX_FORECAST_SAMPLES`; an open-ended interval once, for one
    step."""
    step = max(float(step_seconds), 1e-3)
    if span.end is None:
        return [span.start], np.array([step])
    length = (span.end - span.start).total_seconds()
    if length <= 0:
        return [span.start], np.array([0.0])
    step = max(step, length / MAX_FORECAST_SAMPLES)
    count = max(1, min(MAX_FORECAST_SAMPLES, math.ceil(length / step - 1e-9)))
    times = [span.start + timedelta(seconds=k * step) for k in range(count)]
    weights = np.array([min(step, length - k * step) for k in range(count)])
    return times, weights


def iter_reports(writes: Sequence[TickWrite]) -> Iterator[WireReport]:
    """Every report of ``writes``, in order."""
    for write in writes:
        yield from write.reports
