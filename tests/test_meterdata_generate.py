"""``ven meterdata generate``: the seeds' HDF5 layout, profiles that look like their names, atomic writes."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np
import pytest

from venclient.errors import InputError
from venclient.plugins.h5_simulator.generator import START, copenhagen_offset_seconds, write_meterdata

COMPONENTS = [f"load_{i}" for i in range(6)]


def read_all(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as h5:
        return {f"{m}/{c}": h5["meters"][m][c]["power"][:] for m in h5["meters"] for c in COMPONENTS}


def test_layout_attributes_and_shapes(tmp_path):
    path = tmp_path / "deep" / "folder" / "load_data.h5"
    summary = write_meterdata(path, meters=5, hours=30, seed=2)
    assert summary.meters == 5 and summary.hours == 30 and len(summary.meter_ids) == 5
    with h5py.File(path, "r") as h5:
        groups = sorted(h5["meters"])
        assert groups == [f"meter_{m}" for m in summary.meter_ids]
        for name in groups:
            meter = h5["meters"][name]
            meter_id = meter.attrs["meter_id"]
            assert isinstance(meter_id, str) and name == f"meter_{meter_id}"
            assert len(meter_id) == 18 and meter_id.isdigit() and meter_id.startswith("707057500")
            assert int(meter.attrs["num_load_components"]) == 6
            assert sorted(meter) == COMPONENTS
            for component in COMPONENTS:
                power = meter[component]["power"]
                assert power.shape == (30, 2) and power.dtype == np.float64
                data = power[:]
                assert data[0, 0] == datetime(2025, 1, 15, 13, tzinfo=timezone.utc).timestamp()
                assert np.all(np.diff(data[:, 0]) == 3600)
                assert np.all(data[:, 1] >= 0) and np.all(np.isfinite(data[:, 1]))


def test_same_seed_same_data_other_seed_other_data(tmp_path):
    write_meterdata(tmp_path / "a.h5", meters=3, hours=50, seed=9)
    write_meterdata(tmp_path / "b.h5", meters=3, hours=50, seed=9)
    write_meterdata(tmp_path / "c.h5", meters=3, hours=50, seed=10)
    a, b, c = (read_all(tmp_path / f"{n}.h5") for n in "abc")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert a.keys() != c.keys()


def test_danish_summer_time():
    winter = datetime(2025, 1, 15, 12, tzinfo=timezone.utc).timestamp()
    summer = datetime(2025, 7, 1, 12, tzinfo=timezone.utc).timestamp()
    before = datetime(2025, 3, 30, 0, 59, tzinfo=timezone.utc).timestamp()
    after = datetime(2025, 3, 30, 1, 0, tzinfo=timezone.utc).timestamp()
    offsets = copenhagen_offset_seconds(np.array([winter, summer, before, after]))
    assert offsets.tolist() == [3600, 7200, 3600, 7200]


@pytest.fixture(scope="module")
def year(tmp_path_factory):
    """Four meters for a whole year, as (meters, 6, hours) watts plus local hour and month."""
    path = tmp_path_factory.mktemp("year") / "load_data.h5"
    write_meterdata(path, meters=4, hours=8741, seed=21)
    with h5py.File(path, "r") as h5:
        watts = np.stack([np.stack([h5["meters"][m][c]["power"][:, 1] for c in COMPONENTS]) for m in h5["meters"]])
        seconds = h5["meters"][next(iter(h5["meters"]))]["load_0"]["power"][:, 0]
    local = seconds.astype(np.int64) + copenhagen_offset_seconds(seconds)
    hour = (local % 86400) // 3600
    month = np.array([datetime.fromtimestamp(s, timezone.utc).month for s in seconds[::24]]).repeat(24)[:len(seconds)]
    return watts, hour, month


def mean_at(values: np.ndarray, mask: np.ndarray) -> float:
    return float(values[:, mask].mean())


def test_profiles_look_like_their_names(year):
    watts, hour, month = year
    base, water, hvac, kitchen, lighting, other = (watts[:, i, :] for i in range(6))
    # steady base load
    assert np.all(base.std(axis=1) / base.mean(axis=1) < 0.05)
    # water heater: mostly idle, short spikes, more in the morning and evening than at night
    assert np.all(water.max(axis=1) > 5 * np.median(water, axis=1))
    assert mean_at(water, (hour >= 6) & (hour <= 9)) > 2 * mean_at(water, (hour >= 1) & (hour <= 4))
    # HVAC: heating season dominates, and more while the site is open than at night
    assert mean_at(hvac, np.isin(month, [1, 2, 12])) > 3 * mean_at(hvac, np.isin(month, [6, 7, 8]))
    # kitchen: meal-time peaks
    night = mean_at(kitchen, (hour >= 1) & (hour <= 4))
    for meal in (8, 12, 19):
        assert mean_at(kitchen, hour == meal) > 3 * night
    # lighting: after dark, and much more on winter evenings than summer evenings
    assert mean_at(lighting, hour == 20) > 5 * mean_at(lighting, hour == 13)
    assert mean_at(lighting, (hour == 20) & np.isin(month, [12, 1])) > 3 * mean_at(lighting, (hour == 20) & (month == 6))
    # other appliances: noisy
    assert np.all(other.std(axis=1) / other.mean(axis=1) > 0.2)
    assert len(np.unique(np.round(other[0]))) > 1000


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "load_data.h5"
    write_meterdata(path, meters=2, hours=10, seed=1)
    before = path.read_bytes()
    calls = []

    def explode(_: int) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError):
        write_meterdata(path, meters=5, hours=10, seed=2, progress=explode)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["load_data.h5"]


def test_a_directory_as_target_is_refused(tmp_path):
    with pytest.raises(InputError, match=f"The meter data path {tmp_path} is a directory"):
        write_meterdata(tmp_path, meters=1, hours=2)


def test_cli_writes_to_the_h5_path_setting_and_creates_folders(ven, settings, tmp_path):
    result = ven("meterdata", "generate", "--meters", "3", "--hours", "24", "--seed", "5", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["path"] == settings.h5_simulator.h5_path and data["meters"] == 3 and data["hours"] == 24
    assert data["seed"] == 5 and data["start"] == START.isoformat() and data["replaced"] is False
    with h5py.File(settings.h5_simulator.h5_path, "r") as h5:
        assert len(h5["meters"]) == 3


def test_cli_out_option_and_summary_table(ven, tmp_path):
    out = tmp_path / "a" / "b" / "meters.h5"
    result = ven("meterdata", "generate", "--meters", "2", "--hours", "5", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert out.is_file() and "Meter data written" in result.out and "seed" in result.out
    again = ven("meterdata", "generate", "--meters", "2", "--hours", "5", "--out", str(out))
    assert again.exit_code == 0 and "Meter data replaced" in again.out


def test_cli_refuses_a_directory_and_an_unwritable_place(ven, tmp_path):
    result = ven("meterdata", "generate", "--meters", "1", "--hours", "2", "--out", str(tmp_path))
    assert result.exit_code == 2 and f"The meter data path {tmp_path} is a directory" in result.err
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = ven("meterdata", "generate", "--meters", "1", "--hours", "2", "--out", str(blocker / "x.h5"))
    assert result.exit_code == 2 and f"Cannot create the folder {blocker}" in result.err
    assert "Traceback" not in result.stderr
