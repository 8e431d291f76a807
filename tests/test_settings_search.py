"""Where settings come from (issue 12.4): ``--settings``/``VEN_SETTINGS``, ``./settings.toml``,
``~/.config/venclient/settings.toml``, ``/etc/venclient/settings.toml`` (every one that exists, earlier ones
win), the packaged defaults lowest; relative paths resolve against their file's folder; ``.secrets.toml``
beside a file; without any file, data goes to ``data_dir`` (``./config``); ``ven settings`` names the files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from venclient.errors import SettingsError
from venclient.settings import load_settings
from venclient.settings_files import DEFAULTS_FILE, SettingsSearch, settings_files_read
from fixtures.cli import clean_env, run_ven


@pytest.fixture
def places(monkeypatch, tmp_path: Path) -> dict[str, Path]:
    """Folders standing in for the working folder, ~/.config/venclient and /etc/venclient; no VEN_* variables."""
    for key in [k for k in os.environ if k.startswith(("VEN_", "DYNACONF_"))]:
        monkeypatch.delenv(key)
    folders = {name: tmp_path / name for name in ("cwd", "home", "etc", "explicit")}
    for folder in folders.values():
        folder.mkdir()
    (folders["home"] / ".config" / "venclient").mkdir(parents=True)
    return folders


def search_in(places: dict[str, Path]) -> SettingsSearch:
    return SettingsSearch(cwd=places["cwd"], user_dir=places["home"] / ".config" / "venclient",
                          system_dir=places["etc"])


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_every_file_is_read_and_earlier_ones_win(places, monkeypatch):
    monkeypatch.chdir(places["cwd"])
    etc = write(places["etc"] / "settings.toml", '[default]\nvens = ["etc"]\n[default.reporting]\nlevel = "resource"\n'
                                                  'program = "etc-program"\n')
    user = write(places["home"] / ".config" / "venclient" / "settings.toml",
                 '[default]\nvens = ["user"]\n[default.reporting]\nprogram = "user-program"\n')
    cwd = write(places["cwd"] / "settings.toml", '[default]\nvens = ["cwd"]\n')
    explicit = write(places["explicit"] / "mine.toml", '[default.events]\nprograms = ["explicit"]\n')

    search = SettingsSearch.from_environment(explicit, environ={"HOME": str(places["home"])},
                                             system_dir=places["etc"])
    assert search.found() == [explicit, cwd, user, etc]
    settings = load_settings("development", search=search)
    assert list(settings.vens) == ["cwd"] and list(settings.events.programs) == ["explicit"]
    assert settings.reporting.program == "user-program" and settings.reporting.level == "resource"
    assert settings.reporting.interval_seconds == 15.0  # the packaged defaults fill in the rest
    assert settings_files_read(settings) == [str(p) for p in (explicit, cwd, user, etc)] + [str(DEFAULTS_FILE)]


def test_the_environment_names_the_explicit_file(places):
    mine = write(places["explicit"] / "mine.toml", "[default]\nvens = ['x']\n")
    for variable in ("VEN_SETTINGS", "VEN_SETTINGS_FILE"):
        search = SettingsSearch.from_environment(environ={"HOME": str(places["home"]), variable: str(mine)})
        assert search.explicit == mine
    missing = SettingsSearch.from_environment(environ={"VEN_SETTINGS": str(places["explicit"] / "nope.toml")})
    with pytest.raises(SettingsError, match="VEN_SETTINGS points at .*nope.toml, which is not a readable file"):
        missing.found()


def test_xdg_config_home_replaces_dot_config(places):
    search = SettingsSearch.from_environment(environ={"HOME": str(places["home"]), "XDG_CONFIG_HOME": "/x/conf"})
    assert search.user_dir == Path("/x/conf/venclient")


def test_relative_paths_resolve_against_their_files_folder(places):
    folder = places["etc"]
    write(folder / "settings.toml", '[default]\ndata_dir = "state"\n'
                                    '[default.local_vtn]\nstate_file = "vtn.json"\n'
                                    '[default.mqtt]\nca_certs = "/abs/ca.pem"\n'
                                    '[development.vtn]\nverify_tls = "certs/ca.pem"\nurl = "http://127.0.0.1:1/x"\n')
    settings = load_settings("development", search=search_in(places))
    assert settings.data_dir == str(folder / "state")
    # the packaged defaults name their paths below data_dir
    assert settings.database_url == f"sqlite:///{folder / 'state' / 'resources.db'}"
    assert settings.h5_simulator.h5_path == str(folder / "state" / "examplemeterdata" / "load_data.h5")
    assert settings.local_vtn.state_file == str(folder / "vtn.json") and settings.mqtt.ca_certs == "/abs/ca.pem"
    assert settings.vtn.verify_tls == str(folder / "certs" / "ca.pem")
    assert settings.vtn.url == "http://127.0.0.1:1/x"


def test_a_sqlite_url_in_a_file_resolves_and_other_urls_stay(places):
    write(places["cwd"] / "settings.toml", '[default]\ndatabase_url = "sqlite:///db/resources.db"\n'
                                           '[default.h5_simulator]\nh5_path = "~/meters.h5"\n')
    settings = load_settings("development", search=search_in(places))
    assert settings.database_url == f"sqlite:///{places['cwd'] / 'db' / 'resources.db'}"
    assert settings.h5_simulator.h5_path == str(Path("~/meters.h5").expanduser())
    write(places["cwd"] / "settings.toml", '[default]\ndatabase_url = "postgresql://ven@db/ven"\n')
    assert load_settings("development", search=search_in(places)).database_url == "postgresql://ven@db/ven"


def test_the_environment_and_overrides_are_not_resolved(places, monkeypatch):
    write(places["cwd"] / "settings.toml", '[default]\ndata_dir = "state"\n')
    monkeypatch.setenv("VEN_DATA_DIR", "elsewhere")
    settings = load_settings("development", search=search_in(places))
    assert settings.data_dir == "elsewhere" and settings.database_url == "sqlite:///elsewhere/resources.db"


def test_without_any_settings_file_data_goes_to_data_dir(places):
    settings = load_settings("development", search=search_in(places))
    assert settings_files_read(settings) == [str(DEFAULTS_FILE)]
    assert settings.data_dir == "config" and settings.database_url == "sqlite:///config/resources.db"


def test_secrets_beside_each_file_win_over_it(places):
    write(places["etc"] / "settings.toml", '[default.vtn]\nclient_id = "etc-id"\n')
    write(places["etc"] / ".secrets.toml", '[default.vtn]\nclient_secret = "etc-secret"\n')
    write(places["cwd"] / "settings.toml", '[default.vtn]\nclient_secret = "cwd-secret"\n')
    write(places["cwd"] / ".secrets.toml", '[default.vtn]\nclient_id = "cwd-id"\n')
    settings = load_settings("development", search=search_in(places))
    assert settings.vtn.client_id == "cwd-id" and settings.vtn.client_secret == "cwd-secret"
    assert str(places["etc"] / ".secrets.toml") in settings_files_read(settings)


def test_ven_settings_names_the_files_it_read(tmp_path):
    home, work = tmp_path / "home", tmp_path / "work"
    (home / ".config" / "venclient").mkdir(parents=True)
    work.mkdir()
    user = write(home / ".config" / "venclient" / "settings.toml", '[default]\nvens = ["Herning"]\n')
    mine = write(tmp_path / "mine.toml", '[default]\ndata_dir = "mine-data"\n')
    env = clean_env(HOME=str(home))
    env.pop("XDG_CONFIG_HOME", None)

    out = run_ven("settings", "--json", env=env, cwd=work)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["settings_files"][:1] == [str(user)] and data["settings_files"][-1] == str(DEFAULTS_FILE)
    assert data["vens"] == ["Herning"] and data["database_url"] == "sqlite:///config/resources.db"

    out = run_ven("--settings", str(mine), "settings", "--json", env=env, cwd=work)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["settings_files"][:2] == [str(mine), str(user)]
    assert data["data_dir"] == str(tmp_path / "mine-data")

    table = run_ven("--settings", str(mine), "settings", env=env, cwd=work)
    assert table.returncode == 0 and str(mine) in " ".join(table.stdout.split())

    missing = run_ven("--settings", str(tmp_path / "nope.toml"), "settings", env=env, cwd=work)
    assert missing.returncode == 2 and "--settings points at" in missing.stderr and "nope.toml" in missing.stderr
