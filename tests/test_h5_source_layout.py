"""The h5sim source: the seeds' layout, both meter-id forms, a numpy gather per tick from a window of rows,
missing meters and components as warnings, bad files as one sentence naming the path and the dataset."""

from __future__ import annotations

import logging
import asyncio
import os
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

from venclient.clock import Tick
from venclient.errors import InputError
from venclient.model import QUALITY_MISSING, QUALITY_OK, Connection, Resource
from venclient.protocols import LoadBatch, MeterSource
from fixtures.collect import METER_IDS, ROWS, START_S, expected_watts, write_meter_file
from venclient.plugins.h5_simulator.layout import normalize_meter_id
from venclient.plugins.h5_simulator.source import WINDOW_ROWS, H5MeterSource


def batch_for(meter_ids: list[str], components: list[int]) -> LoadBatch:
    n = len(meter_ids)
    obj = lambda values: np.array(values, dtype=object)  # noqa: E731
    return LoadBatch(load_ids=obj([f"l{i}" for i in range(n)]), resource_ids=obj([f"r{i}" for i in range(n)]),
                     components=np.array(components, dtype=np.int8), h5_meter_ids=obj(meter_ids),
                     connection_ids=np.full(n, -1, dtype=np.int64), connections={})


def tick(index: int) -> Tick:
    from datetime import datetime, timezone
    return Tick(index, datetime.fromtimestamp(START_S + 3600 * index, timezone.utc))


async def test_values_are_the_file_s_row_for_both_meter_id_forms(tmp_path):
    path = write_meter_file(tmp_path / "m.h5", by_attribute=[METER_IDS[1]])
    source = H5MeterSource(path)
    assert isinstance(source, MeterSource) and source.kinds == ("h5sim",)
    # meter 1 by group name (with and without the prefix), meter 2 only through its meter_id attribute
    meters = [METER_IDS[0], f"meter_{METER_IDS[0]}", METER_IDS[1], METER_IDS[1]]
    comps = [0, 5, 2, 4]
    await source.open(batch_for(meters, comps))
    for index in (0, 7, ROWS - 1, ROWS + 2):  # the index wraps modulo the data length
        reading = await source.read(tick(index))
        assert reading.quality.tolist() == [QUALITY_OK] * 4
        row = index % ROWS
        assert reading.power_w.tolist() == [expected_watts(1, 0, row), expected_watts(1, 5, row),
                                            expected_watts(2, 2, row), expected_watts(2, 4, row)]
    await source.close()


async def test_missing_meter_and_component_warn_once_and_read_missing(tmp_path, caplog):
    path = write_meter_file(tmp_path / "m.h5", skip=[(METER_IDS[2], "load_3")])
    source = H5MeterSource(path)
    caplog.set_level(logging.WARNING)
    await source.open(batch_for([METER_IDS[0], "123456", METER_IDS[2], METER_IDS[2], "123456"], [1, 0, 3, 1, 2]))
    for index in range(3):
        reading = await source.read(tick(index))
        assert reading.quality.tolist() == [QUALITY_OK, QUALITY_MISSING, QUALITY_MISSING, QUALITY_OK,
                                            QUALITY_MISSING]
        assert np.isnan(reading.power_w[[1, 2, 4]]).all()
        assert reading.power_w[3] == expected_watts(3, 1, index)
    await source.open(batch_for([METER_IDS[0], "123456"], [1, 0]))  # re-open: still one warning each
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("123456" in w for w in warnings) == 1
    assert sum("load_3" in w for w in warnings) == 1


async def test_reopen_with_other_loads_follows_the_new_batch(tmp_path):
    source = H5MeterSource(write_meter_file(tmp_path / "m.h5"))
    await source.open(batch_for([METER_IDS[0], METER_IDS[1]], [0, 1]))
    await source.open(batch_for([METER_IDS[1]], [1]))          # a subset: no reload needed
    assert (await source.read(tick(4))).power_w.tolist() == [expected_watts(2, 1, 4)]
    await source.open(batch_for([METER_IDS[2], METER_IDS[0]], [5, 0]))  # new columns
    assert (await source.read(tick(4))).power_w.tolist() == [expected_watts(3, 5, 4), expected_watts(1, 0, 4)]


async def test_a_replaced_file_is_read_again(tmp_path):
    path = write_meter_file(tmp_path / "m.h5")
    source = H5MeterSource(path)
    await source.open(batch_for([METER_IDS[0]], [0]))
    write_meter_file(path, meter_ids=(METER_IDS[1], METER_IDS[0]))  # meter 0 now holds "meter 2" values
    await source.open(batch_for([METER_IDS[0]], [0]))
    assert (await source.read(tick(1))).power_w.tolist() == [expected_watts(2, 0, 1)]


def test_timeline_comes_from_the_file(tmp_path):
    source = H5MeterSource(write_meter_file(tmp_path / "m.h5"))
    assert source.timeline().tolist() == [START_S + 3600 * i for i in range(ROWS)]
    assert H5MeterSource(tmp_path / "absent.h5").timeline() is None


@pytest.mark.parametrize("normalized", ["707057500057158458"])
def test_meter_id_forms_normalize(normalized):
    for form in ("707057500057158458", "meter_707057500057158458", b"707057500057158458", 707057500057158458,
                 np.int64(707057500057158458)):
        assert normalize_meter_id(form) == normalized


def bad_files(tmp_path: Path) -> dict[str, tuple[Path, list[str]]]:
    text = tmp_path / "text.h5"
    text.write_text("timestamp,watts\n1,2\n")
    no_meters = tmp_path / "no_meters.h5"
    with h5py.File(no_meters, "w") as f:
        f.create_group("readings")
    flat = tmp_path / "flat.h5"
    with h5py.File(flat, "w") as f:
        f.create_dataset(f"meters/meter_{METER_IDS[0]}/load_0/power", data=np.arange(10.0))
    short = write_meter_file(tmp_path / "short.h5")
    with h5py.File(short, "a") as f:
        del f[f"meters/meter_{METER_IDS[1]}/load_2/power"]
        f.create_dataset(f"meters/meter_{METER_IDS[1]}/load_2/power", data=np.zeros((5, 2)))
    return {
        "not hdf5": (text, ["not a readable HDF5 file"]),
        "no meters group": (no_meters, ["no 'meters' group"]),
        "wrong shape": (flat, [f"meters/meter_{METER_IDS[0]}/load_0/power", "shape (10,)"]),
        "wrong rows": (short, [f"meters/meter_{METER_IDS[1]}/load_2/power", "5 rows"]),
        "missing": (tmp_path / "absent.h5", ["does not exist", "ven meterdata generate"]),
    }


@pytest.mark.parametrize("case", ["not hdf5", "no meters group", "wrong shape", "wrong rows", "missing"])
async def test_bad_files_give_one_sentence_naming_path_and_dataset(tmp_path, case):
    path, expected = bad_files(tmp_path)[case]
    source = H5MeterSource(path)
    with pytest.raises(InputError) as info:
        await source.open(batch_for([METER_IDS[0], METER_IDS[1]], [0, 2]))
    message = str(info.value)
    assert str(path) in message and all(e in message for e in expected), message
    assert len(message.splitlines()) == 1


async def test_test_read_gives_the_resource_s_six_values(tmp_path):
    source = H5MeterSource(write_meter_file(tmp_path / "m.h5", skip=[(METER_IDS[1], "load_4")]))
    resource = Resource("r1", "Bar", "site", "bar", "57", "Herning", h5_meter_id=METER_IDS[1])
    values = await source.test_read(Connection(id=None, type="h5sim"), resource=resource, tick=tick(3))
    assert values == {f"load_{c}": (None if c == 4 else expected_watts(2, c, 3)) for c in range(6)}


def test_validate_connection_refuses_options(tmp_path):
    source = H5MeterSource(tmp_path / "m.h5")
    source.validate_connection(Connection(id=None, type="h5sim"))
    with pytest.raises(InputError, match="h5sim takes no options"):
        source.validate_connection(Connection(id=None, type="h5sim", file="x.csv"))


# ---------------------------------------------------------------------------------------------- the window
def counting_reads(source: H5MeterSource) -> list[tuple[int, int, str]]:
    """Record ``(start, stop, thread name)`` of every ``read_columns`` call the source makes."""
    calls: list[tuple[int, int, str]] = []
    original = source.file.read_columns

    def read_columns(keys, out=None, *, start=0, stop=None):
        calls.append((start, stop, threading.current_thread().name))
        return original(keys, out, start=start, stop=stop)

    source.file.read_columns = read_columns  # type: ignore[method-assign]
    return calls


def replace_file(path: Path, **options) -> None:
    """Write a new file beside ``path`` and move it over ``path``, as ``ven meterdata generate`` does."""
    temporary = path.with_name(f".{path.name}.tmp")
    write_meter_file(temporary, **options)
    os.replace(temporary, path)


async def test_values_across_window_boundaries_and_the_wrap_are_the_file_s(tmp_path):
    rows = 10
    source = H5MeterSource(write_meter_file(tmp_path / "m.h5", rows=rows), window_rows=4)
    calls = counting_reads(source)
    await source.open(batch_for([METER_IDS[0], METER_IDS[2], "123456"], [0, 5, 1]))
    for index in range(3 * rows + 2):  # row by row over three wraps: windows 0:4, 4:8, 8:10 (clipped), 0:4 …
        reading = await source.read(tick(index))
        row = index % rows
        assert reading.power_w[:2].tolist() == [expected_watts(1, 0, row), expected_watts(3, 5, row)]
        assert reading.quality.tolist() == [QUALITY_OK, QUALITY_OK, QUALITY_MISSING]
    assert [(start, stop) for start, stop, _ in calls] == [(0, 4), (4, 8), (8, 10)] * 3 + [(0, 4)]
    main = threading.current_thread().name
    assert all(thread != main for _, _, thread in calls)  # every file read in a worker thread
    await source.close()


async def test_a_jump_outside_the_window_loads_the_window_at_the_new_row(tmp_path):
    source = H5MeterSource(write_meter_file(tmp_path / "m.h5"), window_rows=4)  # 24 rows
    calls = counting_reads(source)
    await source.open(batch_for([METER_IDS[1]], [3]))
    for index, window in ((0, (0, 4)), (17, (17, 21)), (18, (17, 21)), (2, (2, 6)), (23, (23, 24)),
                          (ROWS * 5 + 6, (6, 10)), (ROWS * 5 + 9, (6, 10))):
        assert (await source.read(tick(index))).power_w.tolist() == [expected_watts(2, 3, index % ROWS)]
        assert window in [call[:2] for call in calls]
    await source._loading[2]  # row 9 is in the last quarter of its window: rows 10:14 are being read ahead
    # open, then 17, 2, 23 and 6; rows 23 and 9 end their windows, so rows 0:4 and 10:14 were read ahead.
    # Reads inside a window do not touch the file.
    assert sorted(call[:2] for call in calls) == [(0, 4), (0, 4), (2, 6), (6, 10), (10, 14), (17, 21), (23, 24)]
    # new columns while running: loaded at the current tick's row, not at row 0
    await source.open(batch_for([METER_IDS[1], METER_IDS[0]], [3, 4]))
    assert calls[-1][:2] == (9, 13)
    assert (await source.read(tick(ROWS * 5 + 10))).power_w.tolist() == [expected_watts(2, 3, 10),
                                                                        expected_watts(1, 4, 10)]
    assert len(calls) == 8


async def test_the_next_window_is_read_ahead_and_a_timed_out_read_is_taken_over(tmp_path):
    source = H5MeterSource(write_meter_file(tmp_path / "m.h5"), window_rows=4)  # 24 rows
    calls = counting_reads(source)
    await source.open(batch_for([METER_IDS[0]], [1]))
    for index in range(3):
        await source.read(tick(index))
    assert [call[:2] for call in calls] == [(0, 4)]
    await source.read(tick(3))  # the last quarter of the window: rows 4:8 are read in the background
    await source._loading[2]
    assert [call[:2] for call in calls] == [(0, 4), (4, 8)]
    assert (await source.read(tick(4))).power_w.tolist() == [expected_watts(1, 1, 4)]
    assert len(calls) == 2  # the tick that crossed into the next window did not wait for the file
    # A slow file: the collector's timeout cancels the tick, the next tick takes the same read over.
    gate = threading.Event()
    original = source.file.read_columns

    def slow(keys, out=None, *, start=0, stop=None):
        gate.wait(10)
        return original(keys, out, start=start, stop=stop)

    source.file.read_columns = slow  # type: ignore[method-assign]
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(source.read(tick(12)), 0.05)
    gate.set()
    assert (await source.read(tick(12))).power_w.tolist() == [expected_watts(1, 1, 12)]
    assert [call[:2] for call in calls] == [(0, 4), (4, 8), (12, 16)]  # read once, not started again
    await source.close()


async def test_a_file_replaced_between_windows_is_mapped_again(tmp_path, caplog):
    path = write_meter_file(tmp_path / "m.h5")
    source = H5MeterSource(path, window_rows=4)
    await source.open(batch_for([METER_IDS[0], METER_IDS[1], METER_IDS[2]], [0, 2, 1]))
    for index in range(3):
        assert (await source.read(tick(index))).power_w.tolist() == [
            expected_watts(1, 0, index), expected_watts(2, 2, index), expected_watts(3, 1, index)]
    # The new file: meter 2 only under another group name (its meter_id attribute), meter 3 gone, 12 rows.
    # Reading the old columns by their positions would fail; the batch is mapped onto the new file instead.
    replace_file(path, meter_ids=METER_IDS[:2], rows=12, by_attribute=[METER_IDS[1]])
    caplog.set_level(logging.WARNING)
    assert (await source.read(tick(3))).power_w[:2].tolist() == [expected_watts(1, 0, 3),
                                                                 expected_watts(2, 2, 3)]  # still in the window
    for index in range(4, 30):  # the new axis has 12 rows: index 12 is row 0 again
        reading = await source.read(tick(index))
        row = index % 12
        assert reading.power_w[:2].tolist() == [expected_watts(1, 0, row), expected_watts(2, 2, row)]
        assert reading.quality.tolist() == [QUALITY_OK, QUALITY_OK, QUALITY_MISSING]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum(METER_IDS[2] in w for w in warnings) == 1
    assert source.timeline().tolist() == [START_S + 3600 * i for i in range(12)]


async def test_a_bad_file_replacing_a_good_one_fails_the_next_window_with_one_sentence(tmp_path):
    path = write_meter_file(tmp_path / "m.h5")
    source = H5MeterSource(path, window_rows=4)
    await source.open(batch_for([METER_IDS[0]], [0]))
    temporary = tmp_path / "bad.h5"
    temporary.write_text("not hdf5\n")
    os.replace(temporary, path)
    assert (await source.read(tick(3))).power_w.tolist() == [expected_watts(1, 0, 3)]  # still in memory
    with pytest.raises(InputError) as info:
        await source.read(tick(4))
    assert str(path) in str(info.value) and "not a readable HDF5 file" in str(info.value)
    assert len(str(info.value).splitlines()) == 1


async def test_memory_is_one_window_not_the_whole_time_axis(tmp_path):
    rows = WINDOW_ROWS + 88
    source = H5MeterSource(write_meter_file(tmp_path / "m.h5", rows=rows))
    meters = [m for m in METER_IDS for _ in range(6)]
    await source.open(batch_for(meters, list(range(6)) * 3))
    matrix = source._window.matrix
    assert matrix.shape == (WINDOW_ROWS, 18 + 1) and matrix.dtype == np.float32  # 18 columns + the NaN one
    assert matrix.nbytes == WINDOW_ROWS * 19 * 4
    reading = await source.read(tick(rows - 1))  # the last window is clipped at the end of the axis
    assert reading.power_w.tolist() == [expected_watts(n, c, rows - 1) for n in (1, 2, 3) for c in range(6)]
    assert source._window.matrix.shape == (1, 19)
    await source.close()
    assert source._window is None
    with pytest.raises(ValueError, match="window_rows"):
        H5MeterSource(tmp_path / "m.h5", window_rows=0)
