"""Fuzz harness, part two: the parsers of files and settings a user gives (issue 18).

Each property feeds one parser generated input, its seed corpus (``tests/data/fuzz/<parser>/``) and mutated
seeds, and checks: a value, or a one-sentence :class:`venclient.errors.VenError` — never another exception,
and after an error the store (an SQL dump of its SQLite file) is unchanged.  Budget: ``VEN_FUZZ_EXAMPLES``.

=================  ================================================  ==========================
parser             called as                                         documented errors
=================  ================================================  ==========================
settings_toml      ``load_settings`` + every plugin's validators,    ``SettingsError``
                   on a generated ``--settings`` file
settings_env       the same with generated ``VEN_*`` variables       ``SettingsError``
asset_csv          ``read_asset_file``                               ``InputError``
connections_toml   ``connect_from_file`` on a store with resources   ``InputError``
=================  ================================================  ==========================
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixtures.fuzz import FUZZ_SETTINGS, mutated, seeds
from fixtures.samples import small_fleet
from venclient.cli.connections import CORE_TOML_KEYS, connect_from_file, kind_options, plugin_options
from venclient.errors import InputError, SettingsError
from venclient.plugins.samples.csv_import import REQUIRED_COLUMNS, read_asset_file
from venclient.runtime import Runtime
from venclient.settings import core_validators, load_settings, validate
from venclient.settings_files import SettingsSearch
from venclient.testing import make_settings

pytestmark = pytest.mark.filterwarnings("ignore:h5_path is deprecated:FutureWarning")  # a seed uses the old key

MARKERS = ["@int fifteen", "@float x", "@bool maybe", "@json {", "@json [1,", "@format {this.nothing}",
           "@format {env[NOPE]}", "@jinja {{ 1/0 }}", "@jinja {{ this.x.y }}", "@del", "@reset", "@empty",
           "@none", "@get nothing", "@str 1", "@merge 1,2", "@insert 0 x", "@path", "@note x"]
TEXT = st.text(max_size=16) | st.sampled_from(MARKERS + ["", " ", "127.0.0.1", "sqlite:///x.db", "load_0", "-1",
                                                         "1e400", "nan", "Herning", "P1D", "0x10"])
SCALAR = (st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats() | TEXT
          | st.sampled_from([0, -1, 65536, 1e308, float("inf"), float("nan")]))
VALUE = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    TEXT, inner, max_size=3), max_leaves=6)


# ------------------------------------------------------------------------------------------------ TOML
def toml_key(key: str) -> str:
    """A bare TOML key when it may be one, else a quoted one."""
    return key if key and all(c.isalnum() and c.isascii() or c in "-_" for c in key) else json.dumps(key)


def toml_value(value: Any) -> str:
    """``value`` as a TOML value (inline tables and arrays; a string JSON-escaped, which TOML reads too)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_table(header: str, values: dict[str, Any]) -> str:
    return header + "\n" + "".join(f"{toml_key(k)} = {toml_value(v)}\n" for k, v in values.items())


@contextlib.contextmanager
def environment(variables: dict[str, str]) -> Iterator[None]:
    """This process's environment without any ``VEN_*`` variable, plus ``variables``; restored afterwards."""
    saved = dict(os.environ)
    try:
        for key in [k for k in os.environ if k.startswith(("VEN_", "DYNACONF_"))]:
            del os.environ[key]
        os.environ.update(variables)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class World(dict):
    """What a module fixture shares with every example (a short repr keeps hypothesis's reports readable)."""

    def __repr__(self) -> str:
        return f"<{self['name']}>"


def sqlite_dump(database: Path) -> list[str]:
    """The SQL dump of an SQLite file: equal dumps, equal stores."""
    with contextlib.closing(sqlite3.connect(database)) as conn:
        return list(conn.iterdump())


# -------------------------------------------------------------------------------------------- settings
@pytest.fixture(scope="module")
def settings_world(tmp_path_factory) -> dict[str, Any]:
    """A folder for generated settings files, and every plugin's settings validators."""
    folder = tmp_path_factory.mktemp("settings_fuzz")
    with environment({}):
        runtime = Runtime.create(make_settings(folder), validate_settings=False)
    validators = [v for group in runtime.pm.hook.ven_settings_validators() for v in (group or [])]
    runtime.close()
    names = sorted({name for v in core_validators() + validators for name in v.names})
    return World(name="settings world", folder=folder, validators=validators, names=names)


def _load(world: dict[str, Any], text: bytes, variables: dict[str, str]) -> Any:
    path = world["folder"] / "fuzzed.toml"
    path.write_bytes(text)
    search = SettingsSearch(cwd=world["folder"] / "cwd", user_dir=world["folder"] / "user",
                            system_dir=world["folder"] / "system", explicit=path)
    with environment(variables):
        settings = load_settings("development", search=search)
        validate(settings, world["validators"])
    return settings


def _settings_files(names: list[str]) -> st.SearchStrategy[bytes]:
    def build(env: str, chosen: dict[str, Any]) -> bytes:
        tables: dict[str, dict[str, Any]] = {}
        for dotted, value in chosen.items():
            table, _, key = dotted.rpartition(".")
            tables.setdefault(table, {})[key] = value
        text = toml_table(f"[{env}]", tables.pop("", {}))
        text += "".join(toml_table(f"[{env}.{toml_key(t)}]", v) for t, v in tables.items())
        return text.encode()
    return st.builds(build, st.sampled_from(["default", "development"]),
                     st.dictionaries(st.sampled_from(names), VALUE, max_size=4))


def check_settings(tally, parser: str, world: dict[str, Any], text: bytes, variables: dict[str, str]) -> None:
    tally.run(parser, lambda: _load(world, text, variables), (SettingsError,))


@FUZZ_SETTINGS
@given(data=st.data())
def test_settings_files_load_or_fail_in_one_sentence(fuzz_tally, settings_world, data):
    text = data.draw(_settings_files(settings_world["names"]) | mutated(seeds("settings_toml")), label="file")
    check_settings(fuzz_tally, "settings_toml", settings_world, text, {})


def _variable(name: str) -> str:
    return "VEN_" + name.upper().replace(".", "__")


@FUZZ_SETTINGS
@given(data=st.data())
def test_settings_from_the_environment_load_or_fail_in_one_sentence(fuzz_tally, settings_world, data):
    names = settings_world["names"] + ["settings", "env", "h5_path", "nope.deeper"]
    values = TEXT | VALUE.map(toml_value) | st.text(max_size=30)
    chosen = data.draw(st.dictionaries(st.sampled_from(names).map(_variable),
                                       values.filter(lambda v: "\x00" not in v), max_size=4), label="environment")
    check_settings(fuzz_tally, "settings_env", settings_world, b"[default]\n", chosen)


# ------------------------------------------------------------------------------------------- asset CSV
def _csv_cell(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',;"\n') else value


ADDRESS = st.sampled_from(["Bredgade 1, 7400 Herning", "Algade 10, 9000 Aalborg", "Vej 2, 12345 Ingen",
                           "7400", "", "Torvet 1, 6620 Vejen"])
COORDINATE = st.floats().map(repr) | st.sampled_from(["55,67", "8.97", "", "-", "1e400", "181", "nan"])


def _asset_files() -> st.SearchStrategy[bytes]:
    row = st.tuples(TEXT, ADDRESS | TEXT, COORDINATE | TEXT, COORDINATE | TEXT).map(
        lambda r: ",".join(_csv_cell(c) for c in r))
    header = st.permutations(list(REQUIRED_COLUMNS)).map(",".join) | st.sampled_from(
        ["title,address", "TITLE , Address,LONGITUDE,latitude,extra", ""])
    return st.builds(lambda h, rows: ("\n".join([h, *rows]) + "\n").encode(), header, st.lists(row, max_size=4))


def check_asset_file(tally, folder: Path, content: bytes) -> None:
    path = folder / "hotels-in-denmark.csv"
    path.write_bytes(content)
    result = tally.run("asset_csv", lambda: read_asset_file(path), (InputError,))
    if not isinstance(result, BaseException):
        for site in result.sites:
            assert site.title and math.isfinite(site.longitude) and math.isfinite(site.latitude)
        assert all(skipped.reason and "\n" not in skipped.reason for skipped in result.skipped)


@FUZZ_SETTINGS
@given(content=_asset_files() | mutated(seeds("asset_csv")))
def test_asset_csv_files_read_or_fail_in_one_sentence(fuzz_tally, tmp_path_factory, content: bytes):
    check_asset_file(fuzz_tally, tmp_path_factory.mktemp("csv", numbered=True), content)


# ------------------------------------------------------------------------------------------ connections
@pytest.fixture(scope="module")
def connect_world(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """A runtime whose SQLite store holds a small fleet (resources r-… from the samples generator)."""
    folder = tmp_path_factory.mktemp("connect_fuzz")
    with environment({}):
        runtime = Runtime.create(make_settings(folder))
    fleet = small_fleet(runtime.store(), folder / "load_data.h5", resources=6, meters=2, hours=2)
    yield World(name="connect world", runtime=runtime, folder=folder, ids=fleet.resource_ids,
                database=folder / "resources.db")
    runtime.close()


def _connection_files(world: dict[str, Any]) -> st.SearchStrategy[bytes]:
    runtime = world["runtime"]
    keys = sorted(CORE_TOML_KEYS | {o.key for o in plugin_options(kind_options(runtime.pm))})
    kinds = st.sampled_from(["h5sim", "filereader", "modbustcp", "modbusrtu", "mqtt", "nope", ""])
    ids = st.sampled_from(world["ids"] + ["r-missing", ""])
    special = {"type": kinds | TEXT, "id": ids | VALUE, "ids": st.lists(ids, max_size=3) | VALUE,
               "port": st.integers(-1, 70000) | TEXT, "file": st.just(str(world["folder"] / "meter.csv")) | TEXT,
               "channels": st.dictionaries(st.sampled_from(["load_0", "load_5", "load_9", "x"]), TEXT, max_size=2)
               | VALUE}
    table = st.fixed_dictionaries({"id": special["id"], "type": special["type"]}, optional={
        key: special.get(key, VALUE) for key in keys if key not in ("id", "type")})
    return st.lists(table, min_size=1, max_size=3).map(
        lambda tables: "\n".join(toml_table("[[resource]]", t) for t in tables).encode())


def check_connections(tally, world: dict[str, Any], content: bytes) -> None:
    path = world["folder"] / "connections.toml"
    path.write_bytes(content)
    before = sqlite_dump(world["database"])
    result = tally.run("connections_toml", lambda: connect_from_file(world["runtime"], path), (InputError,))
    if isinstance(result, BaseException):
        assert sqlite_dump(world["database"]) == before, f"the store changed although {result}"


@FUZZ_SETTINGS
@given(data=st.data())
def test_connection_files_store_all_or_nothing_with_one_sentence(fuzz_tally, connect_world, data):
    content = data.draw(_connection_files(connect_world) | mutated(seeds("connections_toml")), label="file")
    check_connections(fuzz_tally, connect_world, content)


# ------------------------------------------------------------------------------------------ seed corpora
def test_every_settings_seed_passes_the_property(fuzz_tally, settings_world):
    for seed in seeds("settings_toml"):
        check_settings(fuzz_tally, "settings_toml", settings_world, seed, {})


def test_every_asset_csv_seed_passes_the_property(fuzz_tally, tmp_path):
    for seed in seeds("asset_csv"):
        check_asset_file(fuzz_tally, tmp_path, seed)


def test_every_connections_seed_passes_the_property(fuzz_tally, connect_world):
    for seed in seeds("connections_toml"):
        check_connections(fuzz_tally, connect_world, seed)
