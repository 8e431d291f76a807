"""The ``h5sim`` meter source: simulated readings replayed from the seeds' HDF5 layout.

Layout (written by ``ven meterdata generate``)::

    meters/meter_<id>/load_0 … load_5/power    float64, shape (rows, 2): [unix seconds, watts]
    meters/meter_<id>.attrs["meter_id"]        the meter id (optional; the group name also names it)

A resource's ``h5_meter_id`` matches a group by its name (``meter_<id>``, with or without the prefix) or by
its ``meter_id`` attribute.  ``open(batch)`` maps every load to one (meter, component) column and loads a
*window* of :data:`WINDOW_ROWS` consecutive rows of those columns into a float32 tick-major matrix, so memory
is window rows × columns × 4 bytes (≈ 1.9 MB for 512 rows × 919 columns), not the whole time axis.  Each
``read(tick)`` is one numpy gather of row ``tick.index`` (modulo the data length) from that window; a tick
outside it loads the window starting at its row (clipped at the end of the axis) in a worker thread — with
ticks advancing one row at a time, one file read per :data:`WINDOW_ROWS` ticks.  A file replaced since the
batch was mapped is mapped again before its next window is read.  Loads whose meter or component is not in
the file are ``QUALITY_MISSING`` with one warning per meter; a file that is not HDF5, is corrupt inside, or has a
wrongly shaped dataset raises one :class:`venclient.errors.InputError` naming the path (and the dataset).  A file that
breaks while a run reads it makes ``read`` raise that sentence (the collector reports the loads as missing, one
warning per streak) until the file reads again; a failed window read is tried again on the next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Iterator

import h5py
import numpy as np
from h5py import h5d, h5s, h5t

from venclient.clock import Tick
from venclient.errors import InputError
from venclient.model import LOAD_COMPONENTS, QUALITY_MISSING, QUALITY_OK, Connection
from venclient.protocols import LoadBatch, SourceReading

log = logging.getLogger(__name__)

KIND = "h5sim"
METERS_GROUP = "meters"
GROUP_PREFIX = "meter_"
COMPONENT_NAMES: tuple[str, ...] = tuple(LOAD_COMPONENTS)
WINDOW_ROWS = 512  # rows of the time axis an H5MeterSource keeps in memory (one file read per WINDOW_ROWS ticks)
_NUMERIC_CLASSES = (h5t.INTEGER, h5t.FLOAT)
_MAP_ATTEMPTS = 3  # how often a batch is mapped again when the file is replaced while it is being read


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
                             f"`ven meterdata generate` or set h5_simulator.h5_path.")
        try:
            return h5py.File(self.path, "r")
        except OSError as err:
            raise self._unreadable(err) from None

    def _unreadable(self, err: BaseException) -> InputError:
        """The one sentence for a file HDF5 cannot read (``err`` is h5py's error)."""
        detail = re.search(r"\(([^()]*)\)", str(err))  # h5py: "Unable to open file (file signature not found)"
        reason = (detail.group(1) if detail else str(err)).strip().rstrip(".") or "unreadable"
        return InputError(f"The meter data file {self.path} is not a readable HDF5 file ({reason}).")

    @contextlib.contextmanager
    def _reading(self) -> Iterator[h5py.File]:
        """The file open for reading; a corrupt structure found while reading (h5py raises OSError,
        RuntimeError, KeyError …) becomes the same one sentence as a file that does not open."""
        with self._open() as f:
            try:
                yield f
            except InputError:
                raise
            except (OSError, RuntimeError, KeyError, TypeError, ValueError) as err:
                raise self._unreadable(err) from None

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
        with self._reading() as f:
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

    @property
    def stamp(self) -> FileStamp | None:
        """The version of the file the meter index and time axis come from (``None`` before the first index)."""
        return self._stamp

    def unchanged_since(self, stamp: FileStamp | None) -> bool:
        """Whether the file at the path is still the version ``stamp`` identifies."""
        try:
            return stamp is not None and FileStamp.of(self.path) == stamp
        except OSError:
            return False

    def read_columns(self, keys: list[tuple[str, str]], out: np.ndarray | None = None, *, start: int = 0,
                     stop: int | None = None) -> np.ndarray:
        """Watts of rows ``start:stop`` (the whole axis by default) of ``(group, component)`` pairs into
        columns 0.. of ``out`` (a new float32 (stop - start, len(keys)) matrix by default; a given ``out``
        must be a C-contiguous float32 matrix with ``stop - start`` rows and at least ``len(keys)`` columns).

        Every dataset read is checked against the time axis first, whatever rows are asked for."""
        rows = len(self.timeline)
        stop = rows if stop is None else stop
        if not 0 <= start < stop <= rows:
            raise ValueError(f"rows {start}:{stop} are outside the time axis of {rows} rows")
        count = stop - start
        matrix = np.empty((count, len(keys)), dtype=np.float32) if out is None else out
        if (matrix.dtype != np.float32 or not matrix.flags.c_contiguous or matrix.ndim != 2
                or matrix.shape[0] != count or matrix.shape[1] < len(keys)):
            raise ValueError(f"out must be a C-contiguous float32 matrix of {count} rows and at least "
                             f"{len(keys)} columns")
        with self._reading() as f:
            self._meters(f)
            # h5py's low-level calls: a third of the time of ``ds[start:stop, 1]`` per dataset, which matters
            # with hundreds of columns per window.  Anything unexpected goes through _check_power's sentences.
            memory = h5s.create_simple(matrix.shape)
            for col, (group, component) in enumerate(keys):
                name = f"{METERS_GROUP}/{group}/{component}/power"
                try:
                    dataset = h5d.open(f.id, name.encode())
                except KeyError:  # absent, or not a dataset
                    self._check_power(f.get(name), name, rows)
                    raise
                space = dataset.get_space()
                if space.shape != (rows, 2) or dataset.get_type().get_class() not in _NUMERIC_CLASSES:
                    self._check_power(f[name], name, rows)
                space.select_hyperslab((start, 1), (count, 1))
                memory.select_hyperslab((0, col), (count, 1))
                dataset.read(memory, space, matrix, h5t.NATIVE_FLOAT)
        return matrix

    def components_of(self, groups: Iterable[str]) -> dict[str, set[str]]:
        """``{group: {components with a power dataset}}`` in one pass over the file."""
        out: dict[str, set[str]] = {}
        with self._reading() as f:
            meters = self._meters(f)
            for group in groups:
                node = meters[group]
                out[group] = {c for c in COMPONENT_NAMES if f"{c}/power" in node}
        return out


@dataclass(frozen=True, eq=False)
class _Window:
    """What :meth:`H5MeterSource.read` gathers from: one batch mapped to columns of one file version, and the
    rows ``start:start + len(matrix)`` of those columns.  Never changed in place: a new window replaces it."""

    batch: LoadBatch
    stamp: FileStamp | None                # the file version ``keys`` were found in
    keys: tuple[tuple[str, str], ...]      # matrix column → (group, component)
    columns: np.ndarray                    # load → matrix column (the last, all-NaN column if absent)
    rows: int                              # length of the file's time axis
    start: int                             # the time-axis row of matrix row 0
    matrix: np.ndarray                     # (window rows, len(keys) + 1) float32

    def holds(self, row: int) -> bool:
        return self.start <= row < self.start + self.matrix.shape[0]


def _consume_exception(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _failed(task: asyncio.Task[Any]) -> bool:
    """Whether ``task`` has finished without a result."""
    return task.done() and (task.cancelled() or task.exception() is not None)


class H5MeterSource:
    """``h5sim``: the simulated meters of :class:`H5MeterFile`, gathered with numpy per tick.

    Holds ``window_rows`` (default :data:`WINDOW_ROWS`) consecutive rows of the batch's columns: memory is
    window rows × (columns + 1) × 4 bytes.  ``read`` loads a window in a worker thread when a tick's row falls
    outside the one in memory, and reads the next one ahead while the clock advances row by row — one file
    read per ``window_rows`` ticks, with two windows in memory while one is read ahead.
    """

    kinds: tuple[str, ...] = (KIND,)

    def __init__(self, path: str | os.PathLike[str], *, window_rows: int = WINDOW_ROWS):
        if int(window_rows) < 1:
            raise ValueError(f"window_rows must be at least 1, not {window_rows}")
        self.file = H5MeterFile(Path(path))
        self.window_rows = int(window_rows)
        self._window: _Window | None = None
        self._last_index = 0                            # the last tick index read: where open() loads
        self._loading: tuple[_Window, int, asyncio.Task[_Window]] | None = None  # a window read under way
        self._warned: set[str] = set()

    # ------------------------------------------------------------------------------ extras
    def timeline(self) -> np.ndarray | None:
        """The file's time axis (Unix seconds) for the clock, or ``None`` when the file does not exist."""
        if not self.file.path.is_file():
            return None
        return self.file.timeline

    def validate_connection(self, connection: Connection) -> None:
        """``h5sim`` takes no options: it reads the file in settings ``h5_simulator.h5_path``."""
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
        row = index % len(self.file.timeline)
        values_row = self.file.read_columns(keys, start=row, stop=row + 1)[0] if keys else []
        values = {c: float(v) for (_, c), v in zip(keys, values_row)}
        return {c: (None if values.get(c) is None or math.isnan(values[c]) else values[c]) for c in COMPONENT_NAMES}

    # ------------------------------------------------------------------------------ MeterSource
    async def open(self, batch: LoadBatch) -> None:
        """Map the batch's loads to matrix columns and load the window at the last tick read (row 0 at
        first); when every column is already in memory (same file, a subset batch) nothing is read."""
        self._loading = None  # a read-ahead of the old mapping is of no use
        self._window = await asyncio.to_thread(self._open_blocking, batch, self._window, self._last_index)

    def _open_blocking(self, batch: LoadBatch, previous: _Window | None, index: int) -> _Window:
        for _ in range(_MAP_ATTEMPTS):
            self.file.refresh_if_changed()
            window = self._map(batch, previous, index)
            if window is not None:
                return window
        raise InputError(f"The meter data file {self.file.path} was replaced {_MAP_ATTEMPTS} times while it "
                         f"was being read; try again when it no longer changes.")

    def _map(self, batch: LoadBatch, previous: _Window | None, index: int) -> _Window | None:
        """The batch mapped onto the file as last indexed, with the window at ``index`` (``previous``'s when
        it already holds every column); ``None`` when the file was replaced while the window was read."""
        started = time.perf_counter()
        stamp = self.file.stamp
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
        rows = len(self.file.timeline)
        if previous is not None and previous.stamp == stamp and set(wanted) <= set(previous.keys):
            # every column is already in memory: only the gather index changes
            position = {key: col for col, key in enumerate(previous.keys)}
            pair_column = np.array([position[wanted[c]] if c >= 0 else -1 for c in pair_column.tolist()],
                                   dtype=np.intp)
            keys, start, matrix = previous.keys, previous.start, previous.matrix
        else:
            keys, start = tuple(wanted), index % rows
            matrix = self._read_window(keys, start, rows, stamp)
            if matrix is None:
                return None
            log.debug("h5sim loaded %d columns × rows %d:%d of %d from %s in %.0f ms", len(keys), start,
                      start + matrix.shape[0], rows, self.file.path, (time.perf_counter() - started) * 1000)
        nan_column = matrix.shape[1] - 1
        columns = pair_column[load_pair] if len(load_pair) else np.empty(0, dtype=np.intp)
        columns = np.where(columns >= 0, columns, nan_column).astype(np.intp)
        return _Window(batch=batch, stamp=stamp, keys=keys, columns=columns, rows=rows, start=start, matrix=matrix)

    def _read_window(self, keys: tuple[tuple[str, str], ...], start: int, rows: int,
                     stamp: FileStamp | None) -> np.ndarray | None:
        """Rows ``start:`` (at most ``window_rows``, clipped at the end of the axis) of ``keys`` plus a last
        all-NaN column that absent loads point at; ``None`` when the file is no longer version ``stamp``."""
        stop = min(start + self.window_rows, rows)
        matrix = np.full((stop - start, len(keys) + 1), np.nan, dtype=np.float32)
        if keys:
            self.file.read_columns(list(keys), out=matrix, start=start, stop=stop)
        return matrix if self.file.unchanged_since(stamp) else None

    def _next_window_blocking(self, window: _Window, index: int) -> _Window:
        """The window holding ``index``'s row: the same columns read again, or — when the file was replaced
        since ``window`` was mapped — the batch mapped again as :meth:`open` does."""
        started = time.perf_counter()
        self.file.refresh_if_changed()
        if self.file.stamp == window.stamp:
            start = index % window.rows
            matrix = self._read_window(window.keys, start, window.rows, window.stamp)
            if matrix is not None:
                log.debug("h5sim read rows %d:%d of %d columns from %s in %.0f ms", start,
                          start + matrix.shape[0], len(window.keys), self.file.path,
                          (time.perf_counter() - started) * 1000)
                return replace(window, start=start, matrix=matrix)
        log.info("%s was replaced; mapping its meters again.", self.file.path)
        return self._open_blocking(window.batch, window, index)

    async def read(self, tick: Tick) -> SourceReading:
        """Row ``tick.index`` (modulo the data length) gathered for every load of the batch.

        A row outside the window in memory waits for the window starting at that row, read in a worker
        thread.  Once a tick reaches the last quarter of the window, the next window is read ahead in the
        background, so a clock advancing row by row seldom waits.  A read is shielded: when the collector's
        timeout cancels the tick, the next tick takes the same read over instead of starting again.
        """
        self._last_index = tick.index
        while True:
            window = self._window
            if window is None:
                raise RuntimeError("H5MeterSource.read called before open")
            row = tick.index % window.rows
            if window.holds(row):
                break
            loaded = await asyncio.shield(self._load(window, row))
            if self._window is window:
                self._window, self._loading = loaded, None  # the finished read no longer holds the old window
            # else open() or close() replaced the window meanwhile: start again from the current one
        self._read_ahead(window, row)
        power = window.matrix[row - window.start].take(window.columns).astype(np.float64)
        quality = np.where(np.isnan(power), QUALITY_MISSING, QUALITY_OK).astype(np.uint8)
        return SourceReading(power, quality)

    def _load(self, window: _Window, start: int) -> asyncio.Task[_Window]:
        """The task reading the window at row ``start`` after ``window`` (one already under way is reused)."""
        loading = self._loading
        if loading is not None and loading[0] is window and loading[1] == start and not _failed(loading[2]):
            return loading[2]  # a read that failed (the file broke) is tried again, not handed out again
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(self._next_window_blocking, window, start))
        task.add_done_callback(_consume_exception)  # an unused read-ahead must not log "never retrieved"
        self._loading = (window, start, task)
        return task

    def _read_ahead(self, window: _Window, row: int) -> None:
        """Start reading the window after ``window`` once ``row`` is in its last quarter."""
        size = window.matrix.shape[0]
        following = (window.start + size) % window.rows
        if following != window.start and row - window.start >= size - max(1, size // 4):
            self._load(window, following)

    async def close(self) -> None:
        """Drop the window (a read under way finishes in its thread and is thrown away)."""
        self._window = None
        self._loading = None

    # ------------------------------------------------------------------------------ helpers
    def _warn_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)
