"""Which loads an event targets: :class:`LoadDirectory` resolves the event's targets against the store, and
:class:`LoadSelection` is the read-only sequence of those loads, read from the store as it is iterated —

* ``RESOURCE_NAME`` targets: loads whose VTN resourceName (or resource id) is listed;
* ``VEN_NAME`` targets: every load of the listed VENs we run;
* no such targets: every load of every VEN we run (the whole program).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from collections.abc import Sequence
from itertools import accumulate, islice
from typing import Any, Iterator

from venclient.model import Load, LoadRow
from venclient.openadr import Event
from venclient.protocols import CountsLoads, ResourceStore


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
    def resource_ids(self) -> set[str]:
        """The distinct resource ids of the selection (without making Load objects; reads the store)."""
        return {row.resource_id for row in self._iter_rows()}


class LoadDirectory:
    """Finds the loads of the VENs we run the ways events target them, reading the store on demand.

    Nothing is kept in memory but the loads per VEN (counts) and the rows of the last VEN read, so a
    fleet-wide event costs no index.  The store needs ``load_tuples(ven)`` (:class:`venclient.model.LoadRow`,
    by resource and component), ``get_resource`` and ``get_loads_by_resource``; ``load_counts(vens)``
    is used when the store has it (:class:`venclient.protocols.CountsLoads`).
    """

    def __init__(self, store: ResourceStore, vens: Sequence[str]):
        self.store = store
        self.vens = list(vens)
        self._counts: dict[str, tuple[int, int]] | None = None
        self._last: tuple[str, list[LoadRow]] | None = None

    def forget(self) -> None:
        """Drop what was read (after registration or status changes)."""
        self._counts = None
        self._last = None

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

    def targeted(self, event: Event) -> LoadSelection:
        """The loads ``event`` targets (see the module docstring), without duplicates, in a stable order:
        whole VENs first (in the order we run them), then loads named by ``RESOURCE_NAME`` in the order named.
        Blocking: reads counts and resolves names in the store."""
        names: list[str] = []
        vens: set[str] = set()
        for target in event.targets or ():
            kind = (target.type or "").upper()
            if kind == "RESOURCE_NAME":
                names.extend(str(v) for v in target.values)
            elif kind == "VEN_NAME":
                vens.update(str(v) for v in target.values)
        counts = self.counts()
        whole = [ven for ven in self.vens if ven in vens] if (names or vens) else list(self.vens)
        parts = [_Part(size=counts[ven][0], resources=counts[ven][1], ven=ven) for ven in whole]
        if names:
            named = self._named_rows(names, skip_vens=set(whole))
            parts.append(_Part(size=len(named), resources=len({row.resource_id for row in named}),
                               rows=tuple(named)))
        return LoadSelection(self, parts)

    def _named_rows(self, names: Sequence[str], skip_vens: set[str]) -> list[LoadRow]:
        """Rows of the loads named by resourceName (``{resource_id}_{component}``) or by resource id, of our
        VENs outside ``skip_vens``; in the order named, each once."""
        ours = set(self.vens) - skip_vens
        resources: dict[str, list[LoadRow] | None] = {}  # resource id → its rows (None: not one of ours)

        def rows_of(resource_id: str) -> list[LoadRow] | None:
            if resource_id not in resources:
                resource = self.store.get_resource(resource_id)
                if resource is None or resource.ven not in ours:
                    resources[resource_id] = None
                else:
                    loads = self.store.get_loads_by_resource(resource_id)
                    resources[resource_id] = [LoadRow.of(load) for load in loads]
            return resources[resource_id]

        chosen: dict[str, LoadRow] = {}
        for name in names:
            cut = name.rfind("_")
            while cut > 0:  # as a resourceName: resource ids may hold "_" themselves, so try every cut
                rows = rows_of(name[:cut])
                match = [row for row in rows or () if row.load_component == name[cut + 1:]]
                if match:
                    chosen.setdefault(match[0].load_id, match[0])
                    break
                cut = name.rfind("_", 0, cut)
            for row in rows_of(name) or ():  # as a resource id: all its loads
                chosen.setdefault(row.load_id, row)
        return list(chosen.values())
