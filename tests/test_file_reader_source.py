"""The filereader source: CSV / JSON-lines files a logger appends to; latest value at or before the tick,
stale after an age, partial lines, truncation and rotation, bad rows logged once with their line number."""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from venclient.clock import Tick
from venclient.errors import InputError
from venclient.model import QUALITY_MISSING, QUALITY_OK, QUALITY_STALE, Connection
from venclient.protocols import LoadBatch, MeterSource
from venclient.plugins.file_reader.rows import RowError, RowParser, parse_component, parse_timestamp
from venclient.plugins.file_reader.source import FileReaderSource
from venclient.plugins.file_reader.tail import FileTail

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
T0_S = int(T0.timestamp())


def at(seconds: float) -> Tick:
    return Tick(0, datetime.fromtimestamp(T0_S + seconds, timezone.utc))


def batch(files: dict[int, Path], loads: list[tuple[int, int]]) -> LoadBatch:
    """``loads`` = (connection id, component) pairs; ``files`` maps connection ids to paths."""
    n = len(loads)
    obj = lambda values: np.array(values, dtype=object)  # noqa: E731
    return LoadBatch(load_ids=obj([f"l{i}" for i in range(n)]), resource_ids=obj([f"r{c}" for c, _ in loads]),
                     components=np.array([c for _, c in loads], dtype=np.int8), h5_meter_ids=obj(["m"] * n),
                     connection_ids=np.array([c for c, _ in loads], dtype=np.int64),
                     connections={cid: Connection(id=cid, type="filereader", file=str(p)) for cid, p in files.items()})


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)


async def test_csv_with_header_gives_the_latest_value_at_or_before_the_tick(tmp_path):
    path = tmp_path / "site.csv"
    path.write_text("timestamp,load_component,power_w\n"
                    "2026-03-01T11:58:00Z,load_0,100\n"
                    "2026-03-01T12:00:00+00:00,load_0,110\n"
                    "2026-03-01T12:00:30Z,Water Heater,2000.5\n"
                    "2026-03-01T12:05:00Z,load_0,130\n")
    source = FileReaderSource(stale_after_seconds=600)
    assert isinstance(source, MeterSource) and source.kinds == ("filereader",)
    await source.open(batch({1: path}, [(1, 0), (1, 1), (1, 2)]))
    before = await source.read(at(-180))
    assert before.quality.tolist() == [QUALITY_MISSING] * 3  # nothing at or before the tick yet
    reading = await source.read(at(60))
    assert reading.power_w[:2].tolist() == [110.0, 2000.5] and np.isnan(reading.power_w[2])
    assert reading.quality.tolist() == [QUALITY_OK, QUALITY_OK, QUALITY_MISSING]
    assert (await source.read(at(400))).power_w[0] == 130.0
    stale = await source.read(at(400 + 601))
    assert stale.quality.tolist()[:2] == [QUALITY_STALE, QUALITY_STALE] and stale.power_w[0] == 130.0
    await source.close()


async def test_json_lines_with_unix_seconds_and_milliseconds(tmp_path):
    path = tmp_path / "site.jsonl"
    path.write_text(json.dumps({"ts": T0_S, "load": "load_3", "watts": 42}) + "\n"
                    + json.dumps({"timestamp": (T0_S + 10) * 1000, "component": "HVAC", "power_w": 7.5}) + "\n")
    source = FileReaderSource()
    await source.open(batch({5: path}, [(5, 3), (5, 2)]))
    reading = await source.read(at(20))
    assert reading.power_w.tolist() == [42.0, 7.5] and reading.quality.tolist() == [QUALITY_OK, QUALITY_OK]


async def test_appended_rows_and_a_partial_last_line(tmp_path):
    path = tmp_path / "grow.csv"
    path.write_text(f"{T0_S},load_0,1\n")
    source = FileReaderSource()
    await source.open(batch({1: path}, [(1, 0)]))
    assert (await source.read(at(100))).power_w.tolist() == [1.0]
    append(path, f"{T0_S + 10},load_0,2\n{T0_S + 20},load_0,3")  # the logger is mid-line
    assert (await source.read(at(100))).power_w.tolist() == [2.0]
    append(path, "33\n")
    assert (await source.read(at(100))).power_w.tolist() == [333.0]


async def test_truncated_and_rotated_files_are_read_from_the_top(tmp_path):
    path = tmp_path / "rot.csv"
    path.write_text("timestamp,load,watts\n" + "".join(f"{T0_S + i},load_0,{i}\n" for i in range(50)))
    source = FileReaderSource()
    await source.open(batch({1: path}, [(1, 0)]))
    assert (await source.read(at(1000))).power_w.tolist() == [49.0]
    path.write_text("timestamp,load,watts\n" f"{T0_S + 500},load_0,500\n")  # truncated in place
    assert (await source.read(at(1000))).power_w.tolist() == [500.0]
    os.replace(path, tmp_path / "rot.csv.1")  # rotated: a new file takes the name
    path.write_text("watts,load,timestamp\n" f"600,load_0,{T0_S + 600}\n")  # a new header order too
    assert (await source.read(at(1000))).power_w.tolist() == [600.0]


async def test_bad_rows_are_skipped_and_logged_once_per_file_with_line_number(tmp_path, caplog):
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,load,watts\n"
                    f"{T0_S},load_0,10\n"
                    f"{T0_S + 1},load_9,11\n"          # line 3: unknown component
                    f"yesterday,load_0,12\n"           # line 4: bad timestamp
                    f"{T0_S + 2},load_0,lots\n"        # line 5: bad watts
                    f"{T0_S + 3},load_0\n"             # line 6: short
                    f"{T0_S + 4},load_1,14\n")
    caplog.set_level(logging.WARNING)
    source = FileReaderSource()
    await source.open(batch({1: path}, [(1, 0), (1, 1)]))
    reading = await source.read(at(10))
    assert reading.power_w.tolist() == [10.0, 14.0]
    append(path, "\xff\n{not json\n")
    await source.read(at(10))
    messages = [r.getMessage() for r in caplog.records if "bad.csv" in r.getMessage()]
    assert len(messages) == 1 and "line 3" in messages[0] and "load_9" in messages[0]


async def test_missing_file_is_missing_until_it_appears(tmp_path, caplog):
    path = tmp_path / "later.jsonl"
    caplog.set_level(logging.WARNING)
    source = FileReaderSource()
    await source.open(batch({1: path}, [(1, 0)]))
    for _ in range(3):
        assert (await source.read(at(5))).quality.tolist() == [QUALITY_MISSING]
    assert sum("does not exist" in r.getMessage() for r in caplog.records) == 1
    path.write_text(json.dumps({"time": T0.isoformat(), "load": "load_0", "value": 9}) + "\n")
    assert (await source.read(at(5))).power_w.tolist() == [9.0]


async def test_two_resources_share_one_file_and_a_connection_without_file_is_missing(tmp_path):
    path = tmp_path / "shared.csv"
    path.write_text(f"{T0_S},load_0,1\n{T0_S},load_1,2\n")
    b = batch({1: path, 2: path}, [(1, 0), (2, 1), (3, 0)])
    b.connections[3] = Connection(id=3, type="filereader")
    source = FileReaderSource()
    await source.open(b)
    reading = await source.read(at(1))
    assert reading.power_w[:2].tolist() == [1.0, 2.0] and reading.quality[2] == QUALITY_MISSING


def test_validate_connection(tmp_path):
    source = FileReaderSource()
    source.validate_connection(Connection(id=None, type="filereader", file=str(tmp_path / "not-yet.csv")))
    with pytest.raises(InputError, match="needs --file"):
        source.validate_connection(Connection(id=None, type="filereader"))
    with pytest.raises(InputError, match="remove host"):
        source.validate_connection(Connection(id=None, type="filereader", file="x.csv", host="h"))
    with pytest.raises(InputError, match="folder"):
        source.validate_connection(Connection(id=None, type="filereader", file=str(tmp_path / "no" / "x.csv")))
    with pytest.raises(InputError, match="format"):
        source.validate_connection(Connection(id=None, type="filereader", file="x.csv", params={"format": "xml"}))


async def test_test_read_gives_the_newest_value_per_component(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(f"{T0_S + 5},load_2,5\n{T0_S},load_2,1\n{T0_S},load_4,4\n")
    values = await FileReaderSource().test_read(Connection(id=None, type="filereader", file=str(path)))
    assert values == {"load_0": None, "load_1": None, "load_2": 5.0, "load_3": None, "load_4": 4.0,
                      "load_5": None}
    with pytest.raises(InputError, match="does not exist"):
        await FileReaderSource().test_read(Connection(id=None, type="filereader", file=str(tmp_path / "x.csv")))


def test_row_parsing():
    assert parse_timestamp("2026-03-01T12:00:00Z") == T0_S * 1000
    assert parse_timestamp("2026-03-01T13:00:00+01:00") == T0_S * 1000
    assert parse_timestamp("2026-03-01 12:00:00") == T0_S * 1000  # naive = UTC
    assert parse_timestamp(T0_S) == parse_timestamp(T0_S * 1000) == parse_timestamp(str(T0_S)) == T0_S * 1000
    assert [parse_component(c) for c in ("load_5", "kitchen appliances", "1")] == [5, 3, 1]
    parser = RowParser()
    assert parser.parse("# comment") is None and parser.parse("  ") is None
    assert parser.parse("time,component,power") is None and parser.header == (0, 1, 2)
    for bad in ("[1,2]", '{"ts": 1}', "x,y"):
        with pytest.raises(RowError):
            RowParser().parse(bad)


def test_tail_keeps_line_numbers_across_polls(tmp_path):
    path = tmp_path / "n.txt"
    path.write_text("a\nb\n")
    tail = FileTail(path)
    assert tail.poll().lines == [(1, "a"), (2, "b")]
    append(path, "c\r\nd")
    assert tail.poll().lines == [(3, "c")]
    append(path, "\n")
    assert tail.poll().lines == [(4, "d")]
    assert not FileTail(tmp_path / "none").poll().exists


def test_stale_age_comes_from_settings_and_is_validated(tmp_path):
    from venclient.errors import SettingsError
    from venclient.runtime import Runtime
    from fixtures.core import make_settings

    runtime = Runtime.create(make_settings(tmp_path, filereader={"stale_after_seconds": 42}))
    try:
        assert runtime.meter_sources()["filereader"].stale_after_ms == 42_000
    finally:
        runtime.close()
    with pytest.raises(SettingsError, match="filereader.stale_after_seconds must be a number above 0"):
        Runtime.create(make_settings(tmp_path, filereader={"stale_after_seconds": -1}))
