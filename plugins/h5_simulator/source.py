"""The ``h5sim`` meter source: simulated readings replayed from the seeds' HDF5 layout.

The file format (groups, datasets, shapes) is :mod:`venclient.plugins.h5_simulator.layout`; this module is
the windowed replay.  A resource's ``h5_meter_id`` names the meter.  ``open(batch)`` maps every load to one (meter, component) column and loads a
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
import logging
import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from datetime import datetime
from typing import Any, Sequence

import numpy as np

from venclient.clock import Tick
from venclient.errors import InputError
from venclient.model import QUALITY_MISSING, QUALITY_OK, Connection
from venclient.plugins.h5_simulator.layout import COMPONENT_NAMES, FileStamp, H5MeterFile, power_path
from venclient.protocols import LoadBatch, SourceReading

log = logging.getLogger(__name__)

KIND = "h5sim"
WINDOW_ROWS = 512  # rows of the time axis an H5MeterSource keeps in memory (one file read per WINDOW_ROWS ticks)
_MAP_ATTEMPTS = 3  # how often a batch is mapped again when the file is replaced while it is being read


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

    def forecast_w(self, batch: LoadBatch, times: Sequence[datetime]) -> np.ndarray:
        """The recorded watts of the opened ``batch`` at each of ``times`` — the row holding each moment on the
        time axis (the future rows are in the file: :class:`venclient.protocols.ForecastsPower`); shape
        ``(len(times), len(batch))``, NaN where the file has no value.  Blocking (reads the file)."""
        window = self._window
        if window is None or window.batch is not batch:
            raise ValueError("forecast_w needs the batch this source was opened with")
        axis = self.file.timeline
        out = np.full((len(times), len(batch)), np.nan)
        if not len(axis) or not len(times):
            return out
        stamps = np.array([moment.timestamp() for moment in times], dtype=np.float64)
        rows = np.maximum(0, np.searchsorted(axis, stamps, side="right") - 1)
        first, last = int(rows.min()), int(rows.max())
        # one read of the rows first..last when they are few (samples of a few hours), else one per distinct row
        blocks = [(first, last + 1)] if last - first < self.window_rows else [(r, r + 1) for r in np.unique(rows)]
        for start, stop in blocks:
            values = np.full((stop - start, len(window.keys) + 1), np.nan, dtype=np.float32)
            if window.keys:
                self.file.read_columns(list(window.keys), out=values, start=start, stop=stop)
            mine = (rows >= start) & (rows < stop)
            out[mine] = values[rows[mine] - start][:, window.columns]
        return out

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
                                "%s has no %s; those loads report no value.",
                                self.file.path, power_path(group, component))
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
