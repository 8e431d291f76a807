"""Settings that moved to their plugin (issue 12.3): ``h5_path`` is ``h5_simulator.h5_path`` (``VEN_H5_PATH`` and
an old top-level ``h5_path`` still work), and the ``vtn.*`` validators belong to the openadr_http plugin."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

from venclient.errors import SettingsError
from venclient.runtime import Runtime
from venclient.settings import core_validators, load_settings
from venclient.settings_files import SettingsSearch


@pytest.fixture
def search(monkeypatch, tmp_path: Path) -> SettingsSearch:
    """No VEN_* variables; settings looked for only in ``tmp_path`` (empty folders for the user and system)."""
    for key in [k for k in os.environ if k.startswith(("VEN_", "DYNACONF_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("VEN_DATABASE_URL", f"sqlite:///{tmp_path / 'resources.db'}")
    return SettingsSearch(cwd=tmp_path, user_dir=tmp_path / "user", system_dir=tmp_path / "etc")


def test_the_default_h5_path_lies_in_data_dir(search):
    settings = load_settings("development", search=search)
    assert settings.h5_simulator.h5_path == "config/examplemeterdata/load_data.h5"
    assert "h5_path" not in {k.lower() for k in settings.as_dict()}


def test_ven_h5_path_is_an_alias_and_the_new_name_wins(search, monkeypatch):
    monkeypatch.setenv("VEN_H5_PATH", "0123.h5")
    assert load_settings("development", search=search).h5_simulator.h5_path == "0123.h5"
    monkeypatch.setenv("VEN_H5_SIMULATOR__H5_PATH", "new.h5")
    assert load_settings("development", search=search).h5_simulator.h5_path == "new.h5"


def test_an_old_top_level_h5_path_in_a_settings_file_works_with_one_warning(search, tmp_path):
    (tmp_path / "settings.toml").write_text('[default]\nh5_path = "meters/old.h5"\n')
    with pytest.warns(FutureWarning, match="h5_path is deprecated; write h5_simulator.h5_path") as caught:
        settings = Runtime.create(load_settings("development", search=search)).settings
    assert len([w for w in caught if issubclass(w.category, FutureWarning)]) == 1
    assert settings.h5_simulator.h5_path == str(tmp_path / "meters" / "old.h5")


def test_the_new_table_needs_no_warning(search, tmp_path):
    (tmp_path / "settings.toml").write_text('[default.h5_simulator]\nh5_path = "/data/meters.h5"\n')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_settings("development", search=search).h5_simulator.h5_path == "/data/meters.h5"


def test_h5_path_is_validated_by_its_plugin(search, monkeypatch):
    monkeypatch.setenv("VEN_H5_SIMULATOR__H5_PATH", "@int 5")
    load_settings("development", search=search)  # core does not know the key
    with pytest.raises(SettingsError, match="h5_simulator.h5_path must be a file path, got 5"):
        Runtime.create(load_settings("development", search=search))


def test_vtn_settings_are_the_transport_plugins(search, monkeypatch):
    assert not [v for v in core_validators() if any(str(n).startswith("vtn.") for n in v.names)]
    monkeypatch.setenv("VEN_VTN__URL", "ftp://vtn.example")
    with pytest.raises(SettingsError, match="vtn.url must start with http:// or https://"):
        Runtime.create(load_settings("development", search=search))
    runtime = Runtime.create(load_settings("development", search=search, plugins=["sqlite_store"]))
    assert runtime.settings.vtn.url == "ftp://vtn.example"  # without the transport nobody checks it
