"""No silent new store (issue 19.5): a SQLite ``database_url`` whose folder or file does not exist is one sentence
naming the path (exit 2) for every command, and nothing is created — except for the commands that fill a new
store on purpose (``ven samples generate``, ``ven samples import``; ``ven demo`` in test_demo_cli), which create
the folder and file and say so on stderr."""

from __future__ import annotations

import json

import pytest

from venclient.errors import SettingsError
from venclient.runtime import Runtime
from fixtures.cli import clean_env, run_ven
from fixtures.core import make_settings
from venclient.plugins.sqlite_store import SqlResourceStore

STORE_COMMANDS = [("db", "status"), ("db", "migrate"), ("resources", "list"), ("loads", "generate"),
                  ("collect", "--ven", "Herning"), ("register",), ("register", "--verify"), ("run", "--ticks", "1"),
                  ("outbox",)]


def env_for(tmp_path, database_url: str) -> dict[str, str]:
    return clean_env(VEN_DATABASE_URL=database_url, VEN_H5_PATH=str(tmp_path / "load_data.h5"),
                     VEN_VTN__URL="http://127.0.0.1:9/openadr3/3.0.1", VEN_VTN__RETRIES="0", VEN_LOG_LEVEL="WARNING")


def one_error_line(out) -> str:
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "Traceback" not in out.stderr, out.stderr
    return lines[0]


@pytest.mark.parametrize("command", STORE_COMMANDS, ids=lambda c: " ".join(c))
def test_a_missing_folder_is_an_error_for_every_command(tmp_path, command):
    folder = tmp_path / "mistyped"
    path = folder / "resources.db"
    line = one_error_line(run_ven(*command, env=env_for(tmp_path, f"sqlite:///{path}")))
    assert str(path) in line and f"the folder {folder} does not exist" in line
    assert not folder.exists()


@pytest.mark.parametrize("command", [("db", "status"), ("resources", "list"), ("register",), ("db", "migrate")],
                         ids=lambda c: " ".join(c))
def test_a_missing_file_in_an_existing_folder_is_an_error_too(tmp_path, command):
    path = tmp_path / "resorces.db"  # a typo of resources.db
    line = one_error_line(run_ven(*command, env=env_for(tmp_path, f"sqlite:///{path}")))
    assert f"{path}, which does not exist" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_relative_path_is_named_in_full(tmp_path):
    line = one_error_line(run_ven("db", "status", env=env_for(tmp_path, "sqlite:///nowhere/resources.db"),
                                  cwd=tmp_path))
    assert str(tmp_path / "nowhere" / "resources.db") in line


def test_an_existing_store_and_an_in_memory_store_open(tmp_path):
    path = tmp_path / "resources.db"
    SqlResourceStore(f"sqlite:///{path}").close()
    out = run_ven("db", "status", "--json", env=env_for(tmp_path, f"sqlite:///{path}"))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["resources"] == 0
    memory = run_ven("db", "status", "--json", env=env_for(tmp_path, "sqlite://"))
    assert memory.returncode == 0, memory.stderr


def test_samples_generate_creates_folder_and_file_and_says_so(tmp_path):
    folder = tmp_path / "new" / "deeper"
    path = folder / "resources.db"
    env = env_for(tmp_path, f"sqlite:///{path}")
    out = run_ven("samples", "generate", "-n", "5", "--seed", "3", "--json", env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["resources"] == 5 and path.is_file()
    said = " ".join(out.stderr.split())
    assert f"Created the folder {folder} and the database {path} for a new store." in said
    status = run_ven("db", "status", "--json", env=env)
    assert status.returncode == 0 and json.loads(status.stdout)["resources"] == 5
    again = run_ven("samples", "generate", "-n", "2", "--seed", "4", "--append", "--json", env=env)
    assert again.returncode == 0 and "Created" not in again.stderr  # an existing store is just used


def test_samples_import_creates_the_store_but_a_bad_file_creates_nothing(tmp_path):
    csv = tmp_path / "bars-in-denmark.csv"
    csv.write_text("title,address,longitude,latitude\nCafé Noir,\"Vestergade 5, 7400 Herning\",8.9738,56.1393\n")
    path = tmp_path / "store" / "resources.db"
    env = env_for(tmp_path, f"sqlite:///{path}")
    bad = run_ven("samples", "import", str(tmp_path / "missing-in-denmark.csv"), env=env)
    assert bad.returncode == 2 and not path.parent.exists()
    out = run_ven("samples", "import", str(csv), "--json", env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["imported"] == 1 and path.is_file()
    assert f"the database {path}" in " ".join(out.stderr.split())


def test_library_runtimes_create_unless_told_not_to(tmp_path):
    url = f"sqlite:///{tmp_path / 'a' / 'resources.db'}"
    strict = Runtime.create(make_settings(tmp_path, database_url=url), may_create_store=False)
    with pytest.raises(SettingsError, match="does not exist"):
        strict.store()
    assert not (tmp_path / "a").exists()
    store = strict.store(create=True)
    assert store.created == [f"the folder {tmp_path / 'a'}", f"the database {tmp_path / 'a' / 'resources.db'}"]
    strict.close()
    default = Runtime.create(make_settings(tmp_path, database_url=f"sqlite:///{tmp_path / 'b' / 'r.db'}"))
    assert default.store().count_resources() == 0 and (tmp_path / "b" / "r.db").is_file()
    default.close()
    reopened = SqlResourceStore(url, create=False)
    assert reopened.created == []
    reopened.close()
