"""Which loads an event targets: :class:`LoadDirectory` resolves the event's targets against the store, and
:class:`LoadSelection` is the read-only sequence of those loads, read from the store as it is iterated.

The target types resolved (:data:`RESOLVED_TYPES`), each against the loads of the VENs we run only:

* ``RESOURCE_NAME``: loads whose VTN resourceName (``{resource id}_{component}``) or resource id is listed;
* ``VEN_NAME``: every load of the listed VENs;
* ``GROUP``: every load of the resources in the listed groups (``ven resources set-group``; needs a store with
  :class:`venclient.protocols.ResourceGroups`);
* ``POWER_SERVICE_LOCATION``: every load of the resources whose meter point is listed (what registration
  sends as the ``SERVICE_LOCATION`` attribute).

The rule:

1. **Within one event the targets are a union**: a load is targeted when *any* target names it.  Targets of a
   type we do not resolve name no load.
2. **No targets**: every load of every VEN we run.
3. **Only targets of types we cannot resolve** (``SERVICE_AREA``, ``GEOGRAPHIC_AREA``, …): **no** load, and one
   warning per event naming the event and the types — acting on loads the VTN may not have meant is unsafe.
4. **A program's own targets narrow its events**: the loads an event of the program targets are those its own
   targets select (rules 1–3) *and* the program's targets select (the intersection; a program without targets
   narrows nothing).
"""

from __future__ import annotations

from bisect import bisect_right
import logging
from dataclasses import dataclass, field
from collections.abc import Iterable, Sequence
from itertools import accumulate, islice
from typing import Any, Iterator

from venclient.model import Load, LoadRow
from venclient.openadr import Event
from venclient.protocols import CountsLoads, ResourceGroups, ResourceStore

log = logging.getLogger(__name__)

RESOLVED_TYPES: tuple[str, ...] = ("RESOURCE_NAME", "VEN_NAME", "GROUP", "POWER_SERVICE_LOCATION")


@dataclass(frozen=True)
class _Part:
    """A run of targeted loads: every load of ``ven`` (``rows`` is ``None``, read when needed) or ``rows``;
    ``size`` loads of ``resources`` resources."""

    size: int
    resources: int
    ven: str | None = None
    rows: tuple[LoadRow, ...] | None = None


class LoadSelection(Sequence[Load]):
    """The loads an event targets: a read-only sequence that reads them from the store as it is iterated.

    Whole VENs are read one VEN at a time (only the VEN being read is held), and each :class:`Load` is made
    when it is read: a whole-program event of the fleet targets 116k loads, and plugins that only count or
    filter them never hold 116k objects.  ``len`` and :attr:`resource_count` are known at once; indexing,
    slicing (a slice is a list), iteration and :attr:`resource_ids` do blocking store reads — on the event
    loop, iterate in a thread when the selection is large.  Compares equal to a sequence of the same loads.
    """

    def __init__(self, directory: "LoadDirectory", parts: Sequence[_Part]):
        self._directory = directory
        self._parts = [part for part in parts if part.size]
        self._ends = list(accumulate(part.size for part in self._parts))

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    def _rows(self, part: _Part) -> Sequence[LoadRow]:
        return part.rows if part.rows is not None else self._directory.rows(part.ven or "")

    def _iter_rows(self) -> Iterator[LoadRow]:
        for part in self._parts:
            yield from self._rows(part)

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, slice):
            start, stop, step = item.indices(len(self))
            if step < 0:
                return list(self)[item]
            return [row.to_load() for row in islice(self._iter_rows(), start, stop, step)]
        position = int(item) + (len(self) if int(item) < 0 else 0)
        if not 0 <= position < len(self):
            raise IndexError("LoadSelection index out of range")
        n = bisect_right(self._ends, position)
        offset = position - (self._ends[n - 1] if n else 0)
        return self._rows(self._parts[n])[offset].to_load()

    def rows(self) -> Iterator[LoadRow]:
        """The selection's :class:`venclient.model.LoadRow` s, read as iterated (no Load objects made)."""
        return self._iter_rows()

    def __iter__(self) -> Iterator[Load]:
        return map(LoadRow.to_load, self._iter_rows())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    def __repr__(self) -> str:
        return f"LoadSelection({len(self)} loads)"

    @property
    def resource_count(self) -> int:
        """How many resources the selection's loads belong to (known without reading the loads)."""
        return sum(part.resources for part in self._parts)

    @property
    def key(self) -> tuple[Any, ...]:
        """Hashable, equal for selections of the same loads (the same VENs and single loads in the same order) of
        one directory read: what the scheduler shares the loads' ids by."""
        return tuple(self._parts)

    @property
    def resource_ids(self) -> set[str]:
        """The distinct resource ids of the selection (without making Load objects; reads the store)."""
        return {row.resource_id for row in self._iter_rows()}

    def holds(self, ven: str, load_ids: Sequence[str]) -> list[bool]:
        """Whether each of ``load_ids`` (loads of ``ven``) is in the selection; a whole VEN selected is not read
        from the store."""
        known = getattr(self, "_membership", None)
        if known is None:  # made once: (whole VENs, single load ids)
            known = self._membership = ({part.ven for part in self._parts if part.rows is None},
                                        {row.load_id for part in self._parts if part.rows is not None
                                         for row in part.rows})
        if ven in known[0]:
            return [True] * len(load_ids)
        return [load_id in known[1] for load_id in load_ids]

    def mask(self, load_ids: Sequence[str], vens: Sequence[str]) -> Any:
        """A boolean numpy array: which of ``load_ids`` (each of the VEN aligned in ``vens``) the selection holds,
        as :meth:`holds` tells; reads nothing from the store."""
        import numpy as np

        self.holds("", ())  # makes the membership sets once
        whole, single = self._membership
        return np.fromiter((ven in whole or load_id in single for load_id, ven in zip(load_ids, vens)), dtype=bool,
                           count=len(load_ids))


@dataclass
class _Scope:
    """What a list of targets selects: everything (no targets), or whole VENs plus single loads
    (load id → its row and its resource's VEN, in the order named)."""

    everything: bool = False
    vens: set[str] = field(default_factory=set)
    loads: dict[str, tuple[LoadRow, str]] = field(default_factory=dict)

    def holds(self, row: LoadRow, ven: str) -> bool:
        return self.everything or ven in self.vens or row.load_id in self.loads

    def narrowed(self, other: "_Scope") -> "_Scope":
        """The loads both scopes select."""
        if self.everything:
            return other
        if other.everything:
            return self
        loads = {key: item for key, item in self.loads.items() if other.holds(*item)}
        for key, item in other.loads.items():
            if key not in loads and self.holds(*item):
                loads[key] = item
        return _Scope(False, self.vens & other.vens, loads)


class LoadDirectory:
    """Finds the loads of the VENs we run the ways events target them (see the module docstring), reading the
    store on demand.

    Nothing is kept in memory but the loads per VEN (counts), the rows of the last VEN read and, once a
    ``POWER_SERVICE_LOCATION`` target was resolved, the meter points of our resources; so a fleet-wide event
    costs no index.  The store needs ``load_tuples(ven)`` (:class:`venclient.model.LoadRow`, by resource and
    component), ``get_resource`` and ``get_loads_by_resource``; ``load_counts(vens)`` is used when the store has
    it (:class:`venclient.protocols.CountsLoads`), ``GROUP`` targets need :class:`venclient.protocols.ResourceGroups`.
    """

    def __init__(self, store: ResourceStore, vens: Sequence[str]):
        self.store = store
        self.vens = list(vens)
        self._counts: dict[str, tuple[int, int]] | None = None
        self._last: tuple[str, list[LoadRow]] | None = None
        self._meter_points: dict[str, list[str]] | None = None
        self._warned: set[str] = set()

    def forget(self) -> None:
        """Drop what was read (after registration or status changes)."""
        self._counts = None
        self._last = None
        self._meter_points = None

    def counts(self) -> dict[str, tuple[int, int]]:
        """``(loads, resources with loads)`` per VEN we run."""
        if self._counts is None:
            counts: dict[str, tuple[int, int]] = {}
            if isinstance(self.store, CountsLoads):
                found = self.store.load_counts(self.vens)
                for ven in self.vens:
                    loads, resources = found.get(ven, (0, 0))
                    counts[ven] = (loads, resources)
            else:
                for ven in self.vens:
                    rows = self.store.load_tuples(ven)
                    counts[ven] = (len(rows), len({row.resource_id for row in rows}))
            self._counts = counts
        return self._counts

    def rows(self, ven: str) -> list[LoadRow]:
        """The load rows of ``ven`` (the last VEN read is kept)."""
        last = self._last
        if last is not None and last[0] == ven:
            return last[1]
        rows = list(self.store.load_tuples(ven))
        self._last = (ven, rows)
        return rows

    def resolvable_types(self) -> tuple[str, ...]:
        """The target types this directory resolves with its store (``GROUP`` only with resource groups)."""
        if isinstance(self.store, ResourceGroups):
            return RESOLVED_TYPES
        return tuple(kind for kind in RESOLVED_TYPES if kind != "GROUP")

    def targeted(self, event: Event, program: Any = None, vens: Sequence[str] | None = None) -> LoadSelection:
        """The loads ``event`` targets, narrowed by ``program``'s own targets when given (see the module
        docstring) and to the loads of ``vens`` (some of ours) when given, without duplicates, in a stable order:
        whole VENs first (in the order we run them), then single loads in the order their targets name them.
        Blocking: reads counts and resolves names in the store."""
        scope = self._scope(event.targets, f"event {_label(event, 'event_name')}")
        if program is not None and getattr(program, "targets", None):
            scope = scope.narrowed(self._scope(program.targets, f"program {_label(program, 'program_name')}"))
        counts = self.counts()
        ours = self.vens if vens is None else [ven for ven in self.vens if ven in set(vens)]
        whole = list(ours) if scope.everything else [ven for ven in ours if ven in scope.vens]
        parts = [_Part(size=counts.get(ven, (0, 0))[0], resources=counts.get(ven, (0, 0))[1], ven=ven)
                 for ven in whole]
        covered, allowed = set(whole), set(ours)
        single = [row for row, ven in scope.loads.values() if ven not in covered and ven in allowed]
        if single:
            parts.append(_Part(size=len(single), resources=len({row.resource_id for row in single}),
                               rows=tuple(single)))
        return LoadSelection(self, parts)

    def target_scope(self, targets: Iterable[Any] | None, what: str) -> tuple[bool, set[str], set[str]]:
        """What ``targets`` select by the rules above (e.g. a report descriptor's): ``(everything, whole VENs,
        load ids)``; ``what`` names their owner in a warning.  Blocking."""
        scope = self._scope(targets, what)
        return scope.everything, set(scope.vens), set(scope.loads)

    def _scope(self, targets: Iterable[Any] | None, what: str) -> _Scope:
        """What ``targets`` select (rules 1–3 of the module docstring); ``what`` names their owner in the
        warning."""
        targets = list(targets or ())
        if not targets:
            return _Scope(everything=True)
        resolvable = self.resolvable_types()
        known = [t for t in targets if (t.type or "").upper() in resolvable]
        if not known:
            kinds = sorted({str(t.type) for t in targets})
            if what not in self._warned:
                self._warned.add(what)
                log.warning("The %s targets only %s, which this VEN cannot resolve (it resolves %s): it applies "
                            "to no load.", what, ", ".join(kinds), ", ".join(resolvable))
            return _Scope()
        scope = _Scope()
        ours = set(self.vens)
        resources: dict[str, tuple[str, list[LoadRow]] | None] = {}
        for target in known:
            kind = (target.type or "").upper()
            values = [str(v) for v in target.values]
            if kind == "VEN_NAME":
                scope.vens.update(v for v in values if v in ours)
            elif kind == "RESOURCE_NAME":
                for row, ven in self._named_rows(values, resources):
                    scope.loads.setdefault(row.load_id, (row, ven))
            else:
                ids = (self.store.resources_in_groups(values) if kind == "GROUP"  # type: ignore[attr-defined]
                       else self._by_meter_point(values))
                for resource_id in ids:
                    found = self._resource_rows(resource_id, resources)
                    for row in found[1] if found else ():
                        scope.loads.setdefault(row.load_id, (row, found[0]))  # type: ignore[index]
        return scope

    def _resource_rows(self, resource_id: str,
                       cache: dict[str, tuple[str, list[LoadRow]] | None]) -> tuple[str, list[LoadRow]] | None:
        """``(VEN, load rows)`` of one of our resources (``None``: not one of ours), read once per ``cache``."""
        if resource_id not in cache:
            resource = self.store.get_resource(resource_id)
            if resource is None or resource.ven not in self.vens:
                cache[resource_id] = None
            else:
                loads = self.store.get_loads_by_resource(resource_id)
                cache[resource_id] = (resource.ven, [LoadRow.of(load) for load in loads])
        return cache[resource_id]

    def _named_rows(self, names: Sequence[str],
                    cache: dict[str, tuple[str, list[LoadRow]] | None]) -> list[tuple[LoadRow, str]]:
        """``(row, VEN)`` of the loads named by resourceName (``{resource_id}_{component}``) or by resource id,
        of our VENs; in the order named."""
        chosen: dict[str, tuple[LoadRow, str]] = {}
        for name in names:
            cut = name.rfind("_")
            while cut > 0:  # as a resourceName: resource ids may hold "_" themselves, so try every cut
                found = self._resource_rows(name[:cut], cache)
                match = [row for row in (found[1] if found else ()) if row.load_component == name[cut + 1:]]
                if match and found:
                    chosen.setdefault(match[0].load_id, (match[0], found[0]))
                    break
                cut = name.rfind("_", 0, cut)
            found = self._resource_rows(name, cache)  # as a resource id: all its loads
            for row in found[1] if found else ():
                chosen.setdefault(row.load_id, (row, found[0]))  # type: ignore[index]
        return list(chosen.values())

    def _by_meter_point(self, meter_points: Sequence[str]) -> list[str]:
        """The ids of our resources whose meter point is one of ``meter_points`` (the index is read once)."""
        if self._meter_points is None:
            index: dict[str, list[str]] = {}
            for ven in self.vens:
                for resource in self.store.list_resources(ven=ven):
                    if resource.meter_point_id:
                        index.setdefault(str(resource.meter_point_id), []).append(resource.resource_id)
            self._meter_points = index
        return [rid for point in meter_points for rid in self._meter_points.get(point, ())]


def _label(obj: Any, name_field: str) -> str:
    """``'name' (id)`` of an event or program, for log lines."""
    name = getattr(obj, name_field, None)
    return f"{name!r} ({obj.id})" if name else f"{obj.id}"
