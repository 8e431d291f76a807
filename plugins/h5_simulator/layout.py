"""The HDF5 meter-data file format: the one place that knows its groups, datasets, shapes and attributes.

Layout (written by ``ven meterdata generate``, read by the ``h5sim`` source and ``ven loads generate``)::

    attrs: start_unix_seconds, interval_seconds, hours, seed, generator   (informative only)
    meters/meter_<id>/                     attrs: meter_id (str), num_load_components (6)
        load_0 … load_5/                   attrs: name (the component's name)
            power                          float64, shape (rows, 2): [unix seconds, watts]; attrs: columns

A meter id matches a group by its name (``meter_<id>``, with or without the prefix) or by its ``meter_id``
attribute (which wins).  Every power dataset shares one increasing time axis.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import h5py
import numpy as np
from h5py import h5d, h5s, h5t

from venclient.errors import InputError
from venclient.model import LOAD_COMPONENTS

METERS_GROUP = "meters"
GROUP_PREFIX = "meter_"
METER_ID_ATTR = "meter_id"
POWER_DATASET = "power"
POWER_COLUMNS = ("unix_seconds", "watts")
COMPONENT_NAMES: tuple[str, ...] = tuple(LOAD_COMPONENTS)
_NUMERIC_CLASSES = (h5t.INTEGER, h5t.FLOAT)


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
                attr = group.attrs.get(METER_ID_ATTR)
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
            ds = group.get(f"{component}/{POWER_DATASET}")
            if ds is None:
                continue
            name = f"{where}/{component}/{POWER_DATASET}"
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
                name = power_path(group, component)
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
                out[group] = {c for c in COMPONENT_NAMES if f"{c}/{POWER_DATASET}" in node}
        return out


def power_path(group: str, component: str) -> str:
    """The path of one power dataset: ``meters/meter_<id>/load_2/power``."""
    return f"{METERS_GROUP}/{group}/{component}/{POWER_DATASET}"


def meter_id_of(name: str, group: h5py.Group) -> str:
    """The meter id of the group ``name``: its ``meter_id`` attribute, else the name without ``meter_``."""
    attr = group.attrs.get(METER_ID_ATTR)
    if isinstance(attr, bytes):
        attr = attr.decode()
    return str(attr) if attr is not None else name.removeprefix(GROUP_PREFIX)


def write_file_attrs(h5: h5py.File, attrs: Mapping[str, Any]) -> h5py.Group:
    """Set the file's informative attributes and create the (empty) meters group, which is returned."""
    for key, value in attrs.items():
        h5.attrs[key] = value
    return h5.create_group(METERS_GROUP)


def write_meter(meters: h5py.Group, meter_id: str, unix_seconds: np.ndarray, watts: np.ndarray) -> None:
    """Add one meter: ``watts`` is (components, rows), one row per load component, on the time axis given."""
    meter = meters.create_group(f"{GROUP_PREFIX}{meter_id}")
    meter.attrs[METER_ID_ATTR] = meter_id
    meter.attrs["num_load_components"] = len(LOAD_COMPONENTS)
    columns = np.empty((len(unix_seconds), len(POWER_COLUMNS)), dtype=np.float64)
    columns[:, 0] = unix_seconds
    for index, (component, name) in enumerate(LOAD_COMPONENTS.items()):
        load = meter.create_group(component)
        load.attrs["name"] = name
        columns[:, 1] = watts[index]
        dataset = load.create_dataset(POWER_DATASET, data=columns)
        dataset.attrs["columns"] = list(POWER_COLUMNS)
