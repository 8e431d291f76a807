"""The ``filereader`` meter source: readings from CSV or JSON-lines files that a data logger appends to.

Each resource's reader connection names its file (``ven resources connect ID --type filereader --file
PATH``); several resources may share a file.  Every tick the source reads what was appended since the last
tick (:class:`venclient.plugins.file_reader.tail.FileTail`), and a load's value is the latest reading of its component
at or before the tick's time: ``QUALITY_STALE`` when that reading is older than
``filereader.stale_after_seconds``, ``QUALITY_MISSING`` when there is none.  A bad row is skipped and logged
once per file with its line number; a missing file is logged once and its loads are missing until it
appears.  File I/O runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from venclient.clock import Tick
from venclient.errors import InputError
from venclient.model import LOAD_COMPONENTS, QUALITY_MISSING, QUALITY_OK, QUALITY_STALE, Connection
from venclient.plausibility import LIMIT_KEYS, limits_problem
from venclient.protocols import LoadBatch, SourceReading
from venclient.plugins.file_reader.rows import FORMATS, Row, RowError, RowParser
from venclient.plugins.file_reader.settings import DEFAULT_STALE_AFTER_SECONDS
from venclient.plugins.file_reader.tail import FileTail

log = logging.getLogger(__name__)

KIND = "filereader"
COMPONENTS = len(LOAD_COMPONENTS)
DEFAULT_MAX_ROWS_PER_LOAD = 10_000
ALLOWED_PARAMS = frozenset({"format", *LIMIT_KEYS})


class ComponentSeries:
    """The readings of one file, per component, ordered by time and bounded to ``max_rows`` each."""

    def __init__(self, max_rows: int = DEFAULT_MAX_ROWS_PER_LOAD):
        self.max_rows = max_rows
        self.times: list[list[int]] = [[] for _ in range(COMPONENTS)]
        self.watts: list[list[float]] = [[] for _ in range(COMPONENTS)]

    def add(self, row: Row) -> None:
        """Insert a reading in time order (appends are O(1); an out-of-order row is inserted)."""
        times, watts = self.times[row.component], self.watts[row.component]
        if not times or row.timestamp_ms >= times[-1]:
            times.append(row.timestamp_ms)
            watts.append(row.watts)
        else:
            at = bisect.bisect_right(times, row.timestamp_ms)
            times.insert(at, row.timestamp_ms)
            watts.insert(at, row.watts)
        if len(times) > 2 * self.max_rows:
            del times[:-self.max_rows], watts[:-self.max_rows]

    def at(self, component: int, time_ms: int) -> tuple[int, float] | None:
        """The latest ``(timestamp_ms, watts)`` at or before ``time_ms``, or ``None``."""
        times = self.times[component]
        at = bisect.bisect_right(times, time_ms) - 1
        return (times[at], self.watts[component][at]) if at >= 0 else None

    def latest(self, component: int) -> tuple[int, float] | None:
        """The newest reading of ``component``, or ``None``."""
        times = self.times[component]
        return (times[-1], self.watts[component][-1]) if times else None


class WatchedFile:
    """One readings file: its tail, its parser and its series."""

    def __init__(self, path: Path, fmt: str = "auto", max_rows: int = DEFAULT_MAX_ROWS_PER_LOAD):
        self.path = path
        self.format = fmt
        self.tail = FileTail(path)
        self.parser = RowParser(fmt)
        self.series = ComponentSeries(max_rows)
        self.bad_rows = 0
        self.rows = 0
        self.exists: bool | None = None

    def update(self) -> None:
        """Take in what was appended; log the first bad row of the file and the file's (dis)appearance."""
        poll = self.tail.poll()
        if not poll.exists:
            if self.exists is not False:
                log.warning("filereader: %s does not exist; its loads report no value until it appears.", self.path)
            self.exists = False
            return
        if self.exists is False:
            log.info("filereader: %s appeared.", self.path)
        self.exists = True
        if poll.restarted:
            log.info("filereader: %s was truncated or replaced; reading it again from the top.", self.path)
            self.parser.reset()
        for line_number in poll.undecodable:
            self._bad(line_number, "it is not UTF-8 text")
        for line_number, text in poll.lines:
            try:
                row = self.parser.parse(text)
            except RowError as err:
                self._bad(line_number, str(err))
                continue
            if row is not None:
                self.series.add(row)
                self.rows += 1

    def _bad(self, line_number: int, reason: str) -> None:
        self.bad_rows += 1
        if self.bad_rows == 1:
            log.warning("filereader: %s line %d skipped: %s (further bad rows of this file are skipped "
                        "without a message).", self.path, line_number, reason)


def connection_file(connection: Connection) -> tuple[Path, str]:
    """The file and format of a filereader connection; InputError with one sentence when invalid."""
    if not connection.file:
        raise InputError("A filereader connection needs --file PATH (the CSV or JSON-lines file to read).")
    extra = [name for name in ("host", "port", "topic") if getattr(connection, name)]
    extra += [f"--param {k}" for k in (connection.params or {}) if k not in ALLOWED_PARAMS]
    if extra:
        raise InputError(f"A filereader connection takes only --file and --param format=auto|csv|jsonl, "
                         f"min_watts=W, max_watts=W; "
                         f"remove {', '.join(extra)}.")
    problem = limits_problem(connection.params)
    if problem:
        raise InputError(f"A filereader connection's {problem}.")
    fmt = str((connection.params or {}).get("format", "auto")).lower()
    if fmt not in FORMATS:
        raise InputError(f"The filereader format must be one of {', '.join(FORMATS)}, got {fmt!r}.")
    return Path(connection.file).expanduser(), fmt


class FileReaderSource:
    """``filereader``: values from growing CSV / JSON-lines files, the latest at or before each tick."""

    kinds: tuple[str, ...] = (KIND,)

    def __init__(self, stale_after_seconds: float = DEFAULT_STALE_AFTER_SECONDS,
                 max_rows_per_load: int = DEFAULT_MAX_ROWS_PER_LOAD):
        self.stale_after_ms = int(round(float(stale_after_seconds) * 1000))
        self.max_rows = max_rows_per_load
        self._files: dict[tuple[Path, str], WatchedFile] = {}
        self._pair_file: list[WatchedFile | None] = []   # unique (file, component) pair → file
        self._pair_component: list[int] = []
        self._load_pair = np.empty(0, dtype=np.intp)   # load → pair
        self._lock = threading.Lock()
        self._warned: set[str] = set()

    # ------------------------------------------------------------------------------ extras
    def validate_connection(self, connection: Connection) -> None:
        """Needs ``file`` (it may not exist yet, but its folder must); ``params.format`` auto|csv|jsonl."""
        path, _ = connection_file(connection)
        if not path.parent.is_dir():
            raise InputError(f"The folder of {path} does not exist.")

    async def test_read(self, connection: Connection, **_: Any) -> dict[str, float | None]:
        """The newest value of each component in the file: ``{load_component: watts or None}``."""
        path, fmt = connection_file(connection)
        if not path.is_file():
            raise InputError(f"The readings file {path} does not exist.")
        watched = WatchedFile(path, fmt, self.max_rows)
        await asyncio.to_thread(watched.update)
        latest = [watched.series.latest(c) for c in range(COMPONENTS)]
        return {name: (None if item is None else item[1]) for name, item in zip(LOAD_COMPONENTS, latest)}

    # ------------------------------------------------------------------------------ MeterSource
    async def open(self, batch: LoadBatch) -> None:
        """Map each load to its file and component, then read every file once."""
        files: dict[tuple[Path, str], WatchedFile] = {}
        pairs: dict[tuple[Any, int], int] = {}
        pair_file: list[WatchedFile | None] = []
        pair_component: list[int] = []
        load_pair = np.empty(len(batch), dtype=np.intp)
        conn_ids = np.asarray(batch.connection_ids).tolist()
        components = np.asarray(batch.components).tolist()
        for i, (conn_id, component) in enumerate(zip(conn_ids, components)):
            watched = self._watched_for(batch.connections.get(int(conn_id)), int(conn_id), files)
            key = (None if watched is None else (watched.path, watched.format), int(component))
            pair = pairs.get(key)
            if pair is None:
                pair = pairs[key] = len(pair_file)
                pair_file.append(watched)
                pair_component.append(int(component))
            load_pair[i] = pair
        with self._lock:
            self._files, self._pair_file, self._pair_component, self._load_pair = (
                files, pair_file, pair_component, load_pair)
        await asyncio.to_thread(self._update_files)

    def _watched_for(self, connection: Connection | None, conn_id: int,
                     files: dict[tuple[Path, str], WatchedFile]) -> WatchedFile | None:
        if connection is None:
            self._warn_once(f"conn:{conn_id}", "filereader: connection %s is not in the batch; its loads report "
                            "no value.", conn_id)
            return None
        try:
            path, fmt = connection_file(connection)
        except InputError as err:
            self._warn_once(f"conn:{conn_id}", "filereader: connection %s: %s Its loads report no value.",
                            conn_id, err)
            return None
        key = (path, fmt)
        if key not in files:
            files[key] = self._files.get(key) or WatchedFile(path, fmt, self.max_rows)
        return files[key]

    def _update_files(self) -> None:
        with self._lock:
            for watched in self._files.values():
                watched.update()

    async def read(self, tick: Tick) -> SourceReading:
        """Take in new rows of every file, then each load's latest value at or before ``tick.time``."""
        return await asyncio.to_thread(self._read_blocking, tick.timestamp_ms)

    def _read_blocking(self, time_ms: int) -> SourceReading:
        with self._lock:
            for watched in self._files.values():
                watched.update()
            n_pairs = len(self._pair_file)
            pair_power = np.full(n_pairs, np.nan)
            pair_quality = np.full(n_pairs, QUALITY_MISSING, dtype=np.uint8)
            for p, (watched, component) in enumerate(zip(self._pair_file, self._pair_component)):
                found = watched.series.at(component, time_ms) if watched is not None else None
                if found is None:
                    continue
                stamp, watts = found
                pair_power[p] = watts
                pair_quality[p] = QUALITY_STALE if time_ms - stamp > self.stale_after_ms else QUALITY_OK
            return SourceReading(pair_power[self._load_pair], pair_quality[self._load_pair])

    async def close(self) -> None:
        """Forget the files."""
        with self._lock:
            self._files, self._pair_file, self._pair_component = {}, [], []
            self._load_pair = np.empty(0, dtype=np.intp)

    def _warn_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)
