"""What the event scheduler tells the sources whose loads respond themselves
(:class:`venclient.protocols.FollowsEvents`): :class:`Instructions`, a read-only mapping
``{load id: {payload type: value}}`` kept as a few groups of loads sharing the same values.

A fleet-wide event tells 116k loads the same values: as a dict that is 116k keys, and the scheduler would keep one
list of 116k id strings per event.  Here the ids of a group are one numpy array of their UTF-8 bytes
(:func:`encode_ids`, ``S`` dtype: 36 bytes a UUID, against ~90 for a ``str`` and its list slot), and the values are
one mapping shared by the whole group.  Followers that know this class use :attr:`Instructions.groups` (a group
whose ids equal the follower's own, in its order, is applied at once); any other follower sees an ordinary
``Mapping`` (iteration, ``len``, ``in``, look-ups, ``items()``; ``==`` a dict with the same content).

A load id ending in a NUL character cannot be told apart from the id without it (``S`` arrays drop trailing NULs).
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, Iterator, Mapping, ValuesView
from dataclasses import dataclass
from typing import Any

import numpy as np


def encode_ids(ids: Iterable[str]) -> np.ndarray:
    """The ids as one ``S`` array of their UTF-8 bytes (what :attr:`FollowGroup.ids` holds)."""
    ids = list(map(str, ids))
    if not ids:
        return np.zeros(0, dtype="S1")
    try:
        return np.array(ids, dtype=bytes)  # ASCII (the usual ids): no bytes object per id
    except UnicodeEncodeError:
        return np.array([str(i).encode() for i in ids], dtype=bytes)


@dataclass(frozen=True, eq=False)
class FollowGroup:
    """Loads told the same values: ``ids`` (UTF-8 bytes, :func:`encode_ids`; no id twice) and ``values``
    (``{payload type: value}``, one mapping shared by every load of the group)."""

    ids: np.ndarray
    values: Mapping[str, float]

    def same(self, other: "FollowGroup") -> bool:
        """Whether both tell the same loads, in the same order, the same values."""
        return dict(self.values) == dict(other.values) and (
            self.ids is other.ids or (len(self.ids) == len(other.ids) and bool(np.array_equal(self.ids, other.ids))))


class Instructions(Mapping[str, Mapping[str, float]]):
    """``{load id: {payload type: value}}`` as :class:`FollowGroup` s (a load in one group at most).

    Iteration yields the groups' ids in order; a look-up scans the groups' id arrays (vectorised, no index is
    kept); ``items()`` and ``values()`` walk the groups once."""

    def __init__(self, groups: Iterable[FollowGroup] = ()):
        self.groups: tuple[FollowGroup, ...] = tuple(g for g in groups if len(g.ids) and g.values)

    def __len__(self) -> int:
        return sum(len(group.ids) for group in self.groups)

    def __iter__(self) -> Iterator[str]:
        for group in self.groups:
            for raw in group.ids.tolist():
                yield raw.decode()

    def _group_of(self, key: Any) -> FollowGroup | None:
        if not isinstance(key, str):
            return None
        raw = key.encode()
        for group in self.groups:
            if group.ids.dtype.itemsize >= len(raw) and bool((group.ids == raw).any()):
                return group
        return None

    def __getitem__(self, key: str) -> Mapping[str, float]:
        group = self._group_of(key)
        if group is None:
            raise KeyError(key)
        return group.values

    def __contains__(self, key: object) -> bool:
        return self._group_of(key) is not None

    def items(self) -> ItemsView[str, Mapping[str, float]]:
        return _Items(self)

    def values(self) -> ValuesView[Mapping[str, float]]:
        return _Values(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Instructions):
            return len(self.groups) == len(other.groups) and all(a.same(b) for a, b in zip(self.groups, other.groups))
        if isinstance(other, Mapping):
            return len(self) == len(other) and dict(self.items()) == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # a mapping

    def __repr__(self) -> str:
        return f"Instructions({len(self)} loads in {len(self.groups)} groups)"


class _Items(ItemsView):
    _mapping: Instructions

    def __iter__(self) -> Iterator[tuple[str, Mapping[str, float]]]:
        for group in self._mapping.groups:
            values = group.values
            for raw in group.ids.tolist():
                yield raw.decode(), values


class _Values(ValuesView):
    _mapping: Instructions

    def __iter__(self) -> Iterator[Mapping[str, float]]:
        for group in self._mapping.groups:
            values = group.values
            for _ in range(len(group.ids)):
                yield values
