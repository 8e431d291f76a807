"""A corrupt HDF5 file: one sentence naming the file wherever it is damaged (never an h5py exception), `ven run`
refusing to start on it with the sentence `ven collect` gives (exit 2), and a file that breaks while a run reads
it giving missing values with one warning per streak, then values again once it reads."""

from __future__ import annotations

import logging
import shutil
from datetime import datetime, timezone

import numpy as np

from venclient.clock import Tick
from venclient.engine.collect import Collector
from venclient.errors import InputError
from venclient.model import QUALITY_MISSING, QUALITY_OK
from venclient.protocols import LoadBatch
from fixtures.collect import METER_IDS, START_S, add_fleet, expected_watts, write_meter_file
from fixtures.run import make_run_env, ven_env
from fixtures.vtn import run_ven
from venclient.plugins.h5_simulator.source import H5MeterSource


def tick(index: int) -> Tick:
    return Tick(index, datetime.fromtimestamp(START_S + 3600 * index, timezone.utc))


def every_load() -> LoadBatch:
    """Every (meter, component) of the test file once."""
    meters = [m for m in METER_IDS for _ in range(6)]
    n = len(meters)
    obj = lambda values: np.array(values, dtype=object)  # noqa: E731
    return LoadBatch(load_ids=obj([f"l{i}" for i in range(n)]), resource_ids=obj([f"r{i // 6}" for i in range(n)]),
                     components=np.array([i % 6 for i in range(n)], dtype=np.int8), h5_meter_ids=obj(meters),
                     connection_ids=np.full(n, -1, dtype=np.int64), connections={})


def damage(good, target, offset: int, length: int = 64) -> None:
    shutil.copy(good, target)
    with open(target, "r+b") as f:
        f.seek(offset)
        f.write(b"\x5a" * length)


async def test_damage_anywhere_in_the_file_gives_one_sentence_or_values(tmp_path):
    good = write_meter_file(tmp_path / "good.h5")
    target = tmp_path / "m.h5"
    size = good.stat().st_size
    sentences = 0
    for offset in range(0, size, max(1, size // 150)):
        damage(good, target, offset)
        source = H5MeterSource(target, window_rows=4)
        try:
            assert source.timeline() is not None
            await source.open(every_load())
            for index in (0, 5, 11):
                reading = await source.read(tick(index))
                assert len(reading.power_w) == len(every_load())
        except InputError as err:  # anything else (OSError, RuntimeError, KeyError …) fails the test
            assert str(err).startswith(f"The meter data file {target}"), (offset, str(err))
            assert "\n" not in str(err)
            sentences += 1
        finally:
            await source.close()
    assert sentences >= 10  # the sweep did hit the file's structure, not only its data


async def test_a_file_breaking_mid_run_reads_missing_with_one_warning_then_recovers(collect_runtime, meter_file,
                                                                                    caplog):
    caplog.set_level(logging.INFO)
    store = collect_runtime.store()
    add_fleet(store, {"V": list(METER_IDS)})
    good = meter_file.with_suffix(".good")
    shutil.copy(meter_file, good)
    collector = Collector(store, {"h5sim": H5MeterSource(meter_file, window_rows=4)}, strict_open=False,
                          strict_input=True, source_timeout=5.0)
    async with collector:
        components = collector.plan.component_index
        meters = [METER_IDS.index(m) + 1 for m in collector.plan.h5_meter_ids.tolist()]

        def expected(row: int) -> list[float]:
            return [expected_watts(m, int(c), row) for m, c in zip(meters, components.tolist())]

        for row in (0, 1):
            readings = await collector.collect(tick(row))
            assert readings.power_w.tolist() == expected(row)
        meter_file.write_bytes(b"this is no longer an HDF5 file" * 100)  # replaced by a broken file
        for row in (2, 3):  # still inside the window in memory: the values read before the break
            assert (await collector.collect(tick(row))).power_w.tolist() == expected(row)
        for row in (4, 5, 6):  # a new window is needed: the file cannot give it
            readings = await collector.collect(tick(row))
            assert (readings.quality == QUALITY_MISSING).all() and np.isnan(readings.power_w).all()
        shutil.copy(good, meter_file)
        readings = await collector.collect(tick(7))
        assert (readings.quality == QUALITY_OK).all() and readings.power_w.tolist() == expected(7)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    broken = [m for m in warnings if f"The meter data file {meter_file} is not a readable HDF5 file" in m]
    assert len(broken) == 1 and "missing until it answers again" in broken[0]
    assert not [r for r in caplog.records if r.exc_info]
    assert any("answers again" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)


def test_ven_run_on_a_corrupt_file_exits_2_with_the_sentence_ven_collect_gives(tmp_path, local_vtn, contract):
    env = make_run_env(tmp_path, local_vtn, contract)
    env.runtime.close()
    good = env.h5_path.read_bytes()
    env.h5_path.write_bytes(good[:len(good) // 2])  # cut off, as by a full disk while it was written
    environment = ven_env(tmp_path, local_vtn.url)
    run = run_ven("run", "--once", "--interval", "1", "--no-register", env=environment)
    collect = run_ven("collect", "--ven", env.vens[0], env=environment)
    for result in (run, collect):
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and f"The meter data file {env.h5_path} is not a readable HDF5 file" in errors[0]
    assert run.stderr.strip().splitlines()[-1] == collect.stderr.strip().splitlines()[-1]
    assert len(list(local_vtn.state.reports)) == 0
