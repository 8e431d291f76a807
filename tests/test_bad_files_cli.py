"""Every file ``ven`` reads fails in one sentence: exit 2, one ``Error:`` line naming the file (and the line and
column where the parser gives them), no traceback, and the store exactly as it was."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from fixtures.cli import clean_env, run_ven

GOOD_SETTINGS = '[default]\nlog_level = "INFO"\n'


@dataclass(frozen=True)
class BrokenFile:
    """One kind of file: what to write where, the command that reads it, and what its sentence must say."""

    name: str  # file name, relative to the test's folder
    content: bytes
    command: Callable[[Path, str], list[str]]  # (folder, a resource id) -> ven arguments
    says: tuple[str, ...]  # besides the file's name
    beside: dict[str, bytes] | None = None  # other files written first (a good settings.toml …)


CASES = [
    BrokenFile("settings.toml", b'[default]\nvtn = { url = \n', lambda d, r: ["db", "status"],
               ("not valid TOML", "line 2, column 15")),
    BrokenFile(".secrets.toml", b"[default\nclient_secret = 1\n", lambda d, r: ["db", "status"],
               ("not valid TOML", "line 1, column 9"), beside={"settings.toml": GOOD_SETTINGS.encode()}),
    BrokenFile("extra.toml", b"[default]\nlog_level = 'INFO'\nx = [1,\n]]\n",
               lambda d, r: ["--settings", str(d / "extra.toml"), "db", "status"], ("not valid TOML", "line 4")),
    BrokenFile("latin1.toml", b'[default]\nlog_level = "f\xf8o"\n',
               lambda d, r: ["--settings", str(d / "latin1.toml"), "db", "status"], ("not UTF-8",)),
    BrokenFile("connections.toml", b'[[resource]]\nids = ["a"]\ntype = "mqtt"\nhost = \n',
               lambda d, r: ["resources", "connect", "--from", str(d / "connections.toml")],
               ("connections file", "not valid TOML", "line 4, column 8")),
    BrokenFile("bars-in-denmark.csv", b"title,address,longitude,latitude\nBar\x00,\"Torvet 1, 8000 Aarhus C\",10.2,56.1\n",
               lambda d, r: ["samples", "import", str(d / "bars-in-denmark.csv")],
               ("asset file", "binary data", "line 2, column 4")),
    BrokenFile("bakeries-in-denmark.csv", b"title,address,longitude,latitude\nBager \xe6,x,10.2,56.1\n",
               lambda d, r: ["samples", "import", str(d / "bakeries-in-denmark.csv")],
               ("asset file", "not UTF-8", "line 2, column 7")),
    BrokenFile("no-folder/readings.csv", b"", lambda d, r: [
        "resources", "connect", r, "--type", "filereader", "--file", str(d / "missing" / "readings.csv")],
        ("folder of", "does not exist")),
    BrokenFile("meters.h5", b"\x89HDF\r\n\x1a\nnot really", lambda d, r: ["loads", "generate"],
               ("meter data file", "not a readable HDF5 file")),
    BrokenFile("vtn-state.json", b'{"format": "venclient-local-vtn",\n "programs": [,]}\n',
               lambda d, r: ["vtn", "serve", "--state", str(d / "vtn-state.json"), "--port", "1"],
               ("local VTN state file", "line 2 column")),
]


def store_dump(database: Path) -> list[str]:
    with sqlite3.connect(database) as conn:
        return list(conn.iterdump())


@pytest.fixture(scope="module")
def fleet_store(tmp_path_factory) -> tuple[Path, str]:
    """A store with a few generated resources (no loads yet), and one resource id."""
    folder = tmp_path_factory.mktemp("fleet")
    database = folder / "resources.db"
    env = clean_env(VEN_DATABASE_URL=f"sqlite:///{database}", HOME=str(folder), XDG_CONFIG_HOME=str(folder))
    made = run_ven("samples", "generate", "--resources", "3", "--seed", "7", env=env, cwd=folder)
    assert made.returncode == 0, made.stderr
    listed = run_ven("resources", "list", "--json", env=env, cwd=folder)
    return database, json.loads(listed.stdout)[0]["resource_id"]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_broken_file_is_one_sentence_and_changes_nothing(case, fleet_store, tmp_path):
    database = tmp_path / "resources.db"
    database.write_bytes(fleet_store[0].read_bytes())
    before = store_dump(database)
    for name, content in (case.beside or {}).items():
        (tmp_path / name).write_bytes(content)
    target = tmp_path / case.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(case.content)
    env = clean_env(VEN_DATABASE_URL=f"sqlite:///{database}", VEN_H5_PATH=str(tmp_path / "meters.h5"),
                    HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path))
    result = run_ven(*case.command(tmp_path, fleet_store[1]), env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.stderr
    named = case.name if case.name != "no-folder/readings.csv" else "missing"
    assert named in lines[0], lines[0]
    for words in case.says:
        assert words in lines[0], lines[0]
    assert store_dump(database) == before
