"""The ``h5sim`` meter source: simulated readings replayed from the seeds' HDF5 layout.

Layout (written by ``ven meterdata generate``)::

    meters/meter_<id>/load_0 … load_5/power    float64, shape (rows, 2): [unix seconds, watts]
    meters/meter_<id>.attrs["meter_id"]        the meter id (optional; the group name also names it)

A resource's ``h5_meter_id`` matches a group by its name (``meter_<id>``, with or without the prefix) or by
its ``meter_id`` attribute.  ``open(batch)`` loads the watts of every (meter, component) the batch needs,
once, into a float32 tick-major matrix (rows × columns); each ``read(tick)`` is then one numpy gather
of row ``tick.index``.  Loads whose meter or component is not in the file are ``QUALITY_MISSING`` with one
warning per meter; a file that is not HDF5 or has a wrongly shaped dataset raises one
:class:`core.errors.InputError` naming the path and the dataset.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import h5py
import numpy as np

from core.clock import Tick
from core.errors import InputError
from core.model import LOAD_COMPONENTS, QUALITY_MISSING, QUALITY_OK, Connection
from core.protocols import LoadBatch, SourceReading

log = logging.getLogger(__name__)

KIND = "h5sim"
METERS_GROUP = "meters"
GROUP_PREFIX = "meter_"
COMPONENT_NAMES: tuple[str, ...] = tuple(LOAD_COMPONENTS)


def normalize_meter_id(meter_id: Any) -> str:
    """``"meter_7070…"``, ``"7070…"``, ``b"7070…"`` or ``7070…`` → ``"7070…"``."""
    if isinstance(meter_id, bytes):
        meter_id = meter_id.decode("utf-8", "replace")
    if isinstance(meter_id, np.generic):
        meter_id = meter_id.item()
    if isinstance(meter_id, float) and meter_id.is_integer():
        meter_id = int(meter_id)
    text = str(meter_id).strip()
    return text[len(GROUP_PREFIX):] if text.startswith(GROUP_PREFIX) else text


@dataclass(frozen=True)
class FileStamp:
    """Identifies one version of the file; a different stamp means the file was replaced."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> "FileStamp":
        st = path.stat()
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)


class H5MeterFile:
    """Read access to one meter-data file: its meter index, time axis and power columns.

    Every method opens the file read-only for the duration of the call; nothing stays open.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._stamp: FileStamp | None = None
        self._groups: dict[str, str] = {}
        self._timeline: np.ndarray | None = None

    # ------------------------------------------------------------------------------ helpers
    def _open(self) -> h5py.File:
        if not self.path.is_file():
            raise InputError(f"The meter data file {self.path} does not exist; create it with "
                             f"`ven meterdata generate` or set h5_path.")
        try:
            return h5py.File(self.path, "r")
        except OSError as err:
            detail = re.search(r"\(([^()]*)\)", str(err))  # h5py: "Unable to open file (file signature not found)"
            reason = (detail.group(1) if detail else str(err)).strip().rstrip(".") or "unreadable"
            raise InputError(f"The meter data file {self.path} is not a readable HDF5 file ({reason}).") from None

    def _meters(self, f: h5py.File) -> h5py.Group:
        group = f.get(METERS_GROUP)
        if not isinstance(group, h5py.Group):
            raise InputError(f"The meter data file {self.path} has no '{METERS_GROUP}' group; expected "
                             f"meters/meter_<id>/load_0…load_5/power.")
        return group

    def _check_power(self, ds: Any, name: str, rows: int | None) -> None:
        if not isinstance(ds, h5py.Dataset):
            raise InputError(f"The meter data file {self.path}: {name} is not a dataset.")
        if ds.ndim != 2 or ds.shape[1] != 2 or ds.shape[0] == 0:
            raise InputError(f"The meter data file {self.path}: dataset {name} has shape {tuple(ds.shape)}; "
                             f"expected (rows, 2) holding [unix seconds, watts].")
        if ds.dtype.kind not in "fiu":
            raise InputError(f"The meter data file {self.path}: dataset {name} holds {ds.dtype}, not numbers.")
        if rows is not None and ds.shape[0] != rows:
            raise InputError(f"The meter data file {self.path}: dataset {name} has {ds.shape[0]} rows but the "
                             f"time axis has {rows}; every power dataset must have the same rows.")

    def refresh_if_changed(self) -> bool:
        """Re-index when the file was replaced since the last index; True when it was."""
        try:
            stamp = FileStamp.of(self.path)
        except OSError:
            stamp = None
        if stamp is not None and stamp == self._stamp:
            return False
        self._index()
        return True

    def _index(self) -> None:
        with self._open() as f:
            meters = self._meters(f)
            groups: dict[str, str] = {}
            timeline: np.ndarray | None = None
            for name in sorted(meters.keys()):
                group = meters[name]
                if not isinstance(group, h5py.Group):
                    continue
                groups.setdefault(normalize_meter_id(name), name)
                attr = group.attrs.get("meter_id")
                if attr is not None:
                    groups[normalize_meter_id(attr)] = name
                if timeline is None:
                    timeline = self._read_time_axis(group, f"{METERS_GROUP}/{name}")
            if timeline is None:
                raise InputError(f"The meter data file {self.path} has no meters/<meter>/load_<n>/power dataset.")
        self._groups = groups
        self._timeline = timeline
        self._stamp = FileStamp.of(self.path)

    def _read_time_axis(self, group: h5py.Group, where: str) -> np.ndarray | None:
        for component in COMPONENT_NAMES:
            ds = group.get(f"{component}/power")
            if ds is None:
                continue
            name = f"{where}/{component}/power"
            self._check_power(ds, name, None)
            axis = np.asarray(ds[:, 0], dtype=np.float64)
            if axis.size > 1 and not bool(np.all(np.diff(axis) > 0)):
                raise InputError(f"The meter data file {self.path}: the timestamps in {name} do not increase.")
            return axis
        return None

    # ------------------------------------------------------------------------------ public
    @property
    def timeline(self) -> np.ndarray:
        """The time axis (Unix seconds) shared by every power dataset."""
        if self._timeline is None:
            self._index()
        assert self._timeline is not None
        return self._timeline

    def group_for(self, meter_id: Any) -> str | None:
        """The group name serving ``meter_id`` (by name or ``meter_id`` attribute), or ``None``."""
        if self._stamp is None:
            self._index()
        return self._groups.get(normalize_meter_id(meter_id)) if meter_id is not None else None

    def read_columns(self, keys: list[tuple[str, str]], out: np.ndarray | None = None) -> np.ndarray:
        """Watts of ``(group, component)`` pairs into columns 0.. of ``out`` (a new float32 (rows, len(keys))
        matrix by default)."""
        rows = len(self.timeline)
        matrix = np.empty((rows, len(keys)), dtype=np.float32) if out is None else out
        with self._open() as f:
            meters = self._meters(f)
            for col, (group, component) in enumerate(keys):
                name = f"{METERS_GROUP}/{group}/{component}/power"
                ds = meters[group][component]["power"]
                self._check_power(ds, name, rows)
                matrix[:, col] = ds[:, 1]
        return matrix

    def components_of(self, groups: Iterable[str]) -> dict[str, set[str]]:
        """``{group: {components with a power dataset}}`` in one pass over the file."""
        out: dict[str, set[str]] = {}
        with self._open() as f:
            meters = self._meters(f)
            for group in groups:
                node = meters[group]
                out[group] = {c for c in COMPONENT_NAMES if f"{c}/power" in node}
        return out


class H5MeterSource:
    """``h5sim``: the simulated meters of :class:`H5MeterFile`, gathered with numpy per tick."""

    kinds: tuple[str, ...] = (KIND,)

    def __init__(self, path: str | os.PathLike[str]):
        self.file = H5MeterFile(Path(path))
        self._keys: list[tuple[str, str]] = []          # matrix column → (group, component)
        self._matrix: np.ndarray | None = None          # (rows, columns) float32
        self._columns = np.empty(0, dtype=np.intp)      # load → matrix column (the NaN column if absent)
        self._warned: set[str] = set()

    # ------------------------------------------------------------------------------ extras
    def timeline(self) -> np.ndarray | None:
        """The file's time axis (Unix seconds) for the clock, or ``None`` when the file does not exist."""
        if not self.file.path.is_file():
            return None
        return self.file.timeline

    def validate_connection(self, connection: Connection) -> None:
        """``h5sim`` takes no options: it reads the file in settings ``h5_path``."""
        extra = [name for name in ("host", "port", "topic", "file") if getattr(connection, name)]
        extra += [f"--param {key}" for key in (connection.params or {})]
        if extra:
            raise InputError(f"Connection kind h5sim takes no options (it replays {self.file.path}); "
                             f"remove {', '.join(extra)}.")

    async def test_read(self, connection: Connection, *, resource: Any = None,
                        tick: Tick | None = None) -> dict[str, float | None]:
        """The resource's six values at ``tick`` (row 0 without one): ``{load_component: watts or None}``."""
        meter_id = getattr(resource, "h5_meter_id", None)
        if meter_id is None:
            raise InputError("Reading an h5sim connection needs the resource's h5_meter_id; run `ven loads generate`.")
        return await asyncio.to_thread(self._test_read_blocking, meter_id, tick.index if tick else 0)

    def _test_read_blocking(self, meter_id: str, index: int) -> dict[str, float | None]:
        self.file.refresh_if_changed()
        group = self.file.group_for(meter_id)
        if group is None:
            raise InputError(f"Meter {meter_id} is not in {self.file.path}.")
        present = self.file.components_of([group])[group]
        keys = [(group, c) for c in COMPONENT_NAMES if c in present]
        row = self.file.read_columns(keys)[index % len(self.file.timeline)] if keys else []
        values = {c: float(v) for (_, c), v in zip(keys, row)}
        return {c: (None if values.get(c) is None or math.isnan(values[c]) else values[c]) for c in COMPONENT_NAMES}

    # ------------------------------------------------------------------------------ MeterSource
    async def open(self, batch: LoadBatch) -> None:
        """Map the batch's loads to matrix columns, loading only columns not already in memory."""
        await asyncio.to_thread(self._open_blocking, batch)

    def _open_blocking(self, batch: LoadBatch) -> None:
        started = time.perf_counter()
        changed = self.file.refresh_if_changed()
        components = np.asarray(batch.components, dtype=np.int64)
        codes: dict[Any, int] = {}  # meter id → code, without building a big string array
        meter_of_load = np.fromiter((codes.setdefault(m, len(codes)) for m in batch.h5_meter_ids.tolist()),
                                    dtype=np.int64, count=len(batch))
        unique_meters = list(codes)
        groups = [self.file.group_for(m) if m not in (None, "") else None for m in unique_meters]
        for meter, group in zip(unique_meters, groups):
            if group is None:
                self._warn_once(f"meter:{meter}", "H5 meter %s is not in %s; its loads report no value.",
                                meter, self.file.path)
        available = self.file.components_of(sorted({g for g in groups if g is not None}))
        # One column per (meter, component) pair present in the file.
        pair_code = meter_of_load.astype(np.int64) * len(COMPONENT_NAMES) + components
        unique_pairs, load_pair = np.unique(pair_code, return_inverse=True)
        wanted: list[tuple[str, str]] = []
        pair_column = np.full(len(unique_pairs), -1, dtype=np.intp)
        for i, code in enumerate(unique_pairs.tolist()):
            meter_pos, comp = divmod(code, len(COMPONENT_NAMES))
            group = groups[meter_pos]
            if group is None:
                continue
            component = COMPONENT_NAMES[comp] if 0 <= comp < len(COMPONENT_NAMES) else f"load_{comp}"
            if component not in available[group]:
                self._warn_once(f"component:{group}/{component}",
                                "%s has no %s/%s/power; those loads report no value.",
                                self.file.path, group, component)
                continue
            pair_column[i] = len(wanted)
            wanted.append((group, component))
        if changed or self._matrix is None or not set(wanted) <= set(self._keys):
            self._matrix = self._load_matrix(wanted)
            self._keys = wanted
            log.debug("h5sim loaded %d columns × %d rows from %s in %.0f ms", len(wanted),
                      self._matrix.shape[0], self.file.path, (time.perf_counter() - started) * 1000)
        else:  # every column is already in memory: only the gather index changes
            position = {key: col for col, key in enumerate(self._keys)}
            pair_column = np.array([position[wanted[c]] if c >= 0 else -1 for c in pair_column.tolist()],
                                   dtype=np.intp)
        nan_column = self._matrix.shape[1] - 1
        columns = pair_column[load_pair] if len(load_pair) else np.empty(0, dtype=np.intp)
        self._columns = np.where(columns >= 0, columns, nan_column).astype(np.intp)

    def _load_matrix(self, keys: list[tuple[str, str]]) -> np.ndarray:
        """The watts of ``keys`` plus a last all-NaN column that absent loads point at."""
        rows = len(self.file.timeline)
        matrix = np.full((rows, len(keys) + 1), np.nan, dtype=np.float32)
        if keys:
            self.file.read_columns(keys, out=matrix)
        return matrix

    async def read(self, tick: Tick) -> SourceReading:
        """Row ``tick.index`` (modulo the data length) gathered for every load of the batch."""
        if self._matrix is None:
            raise RuntimeError("H5MeterSource.read called before open")
        row = self._matrix[tick.index % self._matrix.shape[0]]
        power = row.take(self._columns).astype(np.float64)
        quality = np.where(np.isnan(power), QUALITY_MISSING, QUALITY_OK).astype(np.uint8)
        return SourceReading(power, quality)

    async def close(self) -> None:
        """Drop the matrix."""
        self._matrix = None
        self._keys = []
        self._columns = np.empty(0, dtype=np.intp)

    # ------------------------------------------------------------------------------ helpers
    def _warn_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)

