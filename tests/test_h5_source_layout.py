"""The h5sim source: the seeds' layout, both meter-id forms, a numpy gather per tick, missing meters and
components as warnings, bad files as one sentence naming the path and the dataset."""

from __future__ import annotations

import logging
from pathlib import Path

import h5py
import numpy as np
import pytest

from core.clock import Tick
from core.errors import InputError
from core.model import QUALITY_MISSING, QUALITY_OK, Connection, Resource
from core.protocols import LoadBatch, MeterSource
from fixtures.collect import METER_IDS, ROWS, START_S, expected_watts, write_meter_file
from plugins.h5_simulator.source import H5MeterSource, normalize_meter_id


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
