"""Settings from the environment keep their type: string settings keep the text as written (issue 11.8).

Dynaconf reads environment values as TOML, so ``VEN_VTN__CLIENT_SECRET=999`` used to be the integer 999 and
failed validation.  Every key whose validator (core's or a plugin's) wants a string must instead hold the raw
text; numeric and boolean settings still parse; dynaconf markers (``@int``, ``@str`` …) still force a type.
"""

from __future__ import annotations

import json

import pytest

from venclient.errors import SettingsError
from venclient.runtime import Runtime
from venclient.settings import core_validators, load_settings, string_setting_keys
from fixtures.cli import clean_env, run_ven

# Text that TOML would turn into something else (or that a lossy str() round trip would change).
TRICKY = ["999", "0123", "1e5", "true", "False", "[1]", "1_000", "nan", "inf", "2024-01-01", "{a = 1}", "0x10",
          "12.50", "-0"]
EXPECTED_STRING_KEYS = {"vtn.client_id", "vtn.client_secret", "vtn.token", "vtn.url", "vtn.token_url",
                        "h5_simulator.h5_path",
                        "database_url", "reporting.program", "reporting.event", "events.callback_host",
                        "events.callback_url", "mqtt.username", "mqtt.password", "mqtt.ca_certs",
                        "mqtt.client_id_prefix", "local_vtn.host", "local_vtn.state_file"}


def env_name(key: str) -> str:
    return "VEN_" + key.upper().replace(".", "__")


@pytest.fixture
def clean_environment(monkeypatch, tmp_path):
    """No VEN_*/DYNACONF_* variables from outside; the store and H5 path under ``tmp_path`` (from the environment,
    so that no override hides what the environment says)."""
    for key in [k for k in __import__("os").environ if k.startswith(("VEN_", "DYNACONF_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("VEN_DATABASE_URL", f"sqlite:///{tmp_path / 'resources.db'}")
    monkeypatch.setenv("VEN_H5_PATH", str(tmp_path / "load_data.h5"))
    return monkeypatch


def all_validators(runtime: Runtime) -> list:
    return core_validators() + [v for group in runtime.pm.hook.ven_settings_validators() for v in (group or [])]


def plain_string_keys(validators) -> set[str]:
    """String keys without an extra condition (a condition such as "must be an http URL" limits the text)."""
    return string_setting_keys([v for v in validators if getattr(v, "condition", None) is None])


def test_string_keys_are_found_in_core_and_plugin_validators(clean_environment):
    runtime = Runtime.create(load_settings("development"))
    keys = string_setting_keys(all_validators(runtime))
    assert EXPECTED_STRING_KEYS <= keys
    assert not {"vtn.timeout_seconds", "vtn.verify_tls", "events.subscribe", "local_vtn.port", "vtn.retries"} & keys


@pytest.mark.parametrize("text", TRICKY)
def test_every_string_setting_keeps_the_environment_text(clean_environment, text):
    probe = Runtime.create(load_settings("development"))
    keys = plain_string_keys(all_validators(probe))
    assert {"vtn.client_secret", "mqtt.password", "local_vtn.host", "h5_simulator.h5_path"} <= keys
    for key in keys:
        clean_environment.setenv(env_name(key), text)
    settings = Runtime.create(load_settings("development")).settings  # validates core and plugin keys
    got = {key: settings.get(key) for key in keys}
    assert got == {key: text for key in keys}
    assert all(type(value) is str for value in got.values())


def test_the_reported_case_client_secret_999(clean_environment):
    clean_environment.setenv("VEN_VTN__CLIENT_SECRET", "999")
    clean_environment.setenv("VEN_VTN__CLIENT_ID", "0123")
    settings = Runtime.create(load_settings("development")).settings
    assert settings.vtn.client_secret == "999" and settings.vtn.client_id == "0123"


def test_urls_keep_their_text(clean_environment):
    clean_environment.setenv("VEN_VTN__URL", "http://127.0.0.1:8080/openadr3/3.0.1")
    clean_environment.setenv("VEN_EVENTS__CALLBACK_URL", "http://127.0.0.1:9000/cb?x=1e5")
    settings = load_settings("development")
    assert settings.vtn.url == "http://127.0.0.1:8080/openadr3/3.0.1"
    assert settings.events.callback_url == "http://127.0.0.1:9000/cb?x=1e5"


def test_numbers_and_booleans_still_parse(clean_environment):
    for name, text in {"VEN_VTN__TIMEOUT_SECONDS": "5", "VEN_VTN__RETRIES": "2", "VEN_EVENTS__SUBSCRIBE": "true",
                       "VEN_LOCAL_VTN__PORT": "0", "VEN_REPORTING__INTERVAL_SECONDS": "1e1",
                       "VEN_VTN__VERIFY_TLS": "false", "VEN_VENS": '["Herning", "Aalborg"]'}.items():
        clean_environment.setenv(name, text)
    settings = Runtime.create(load_settings("development")).settings
    assert settings.vtn.timeout_seconds == 5 and type(settings.vtn.timeout_seconds) is int
    assert settings.vtn.retries == 2 and settings.events.subscribe is True and settings.local_vtn.port == 0
    assert settings.reporting.interval_seconds == 10.0 and settings.vtn.verify_tls is False
    assert list(settings.vens) == ["Herning", "Aalborg"]


def test_markers_force_a_type(clean_environment):
    clean_environment.setenv("VEN_REPORTING__PROGRAM", "@str 0123")
    clean_environment.setenv("VEN_VTN__RETRIES", "@int 4")
    clean_environment.setenv("VEN_VTN__BACKOFF_SECONDS", "@float 2")
    settings = Runtime.create(load_settings("development")).settings
    assert settings.reporting.program == "0123" and settings.vtn.retries == 4
    assert settings.vtn.backoff_seconds == 2.0 and type(settings.vtn.backoff_seconds) is float
    clean_environment.setenv("VEN_VTN__CLIENT_ID", "@int 5")  # a marker wins, also for a string setting
    with pytest.raises(SettingsError, match="vtn.client_id must be a string"):
        Runtime.create(load_settings("development"))  # vtn.* are the openadr_http plugin's settings


def test_a_marker_free_value_starting_with_at_is_kept(clean_environment):
    clean_environment.setenv("VEN_VTN__CLIENT_SECRET", "@bc 123")
    assert load_settings("development").vtn.client_secret == "@bc 123"


def test_the_dynaconf_prefix_is_treated_alike_and_ven_wins(clean_environment):
    clean_environment.setenv("DYNACONF_VTN__CLIENT_ID", "1e5")
    clean_environment.setenv("DYNACONF_VTN__TOKEN", "42")
    clean_environment.setenv("VEN_VTN__TOKEN", "0042")
    settings = Runtime.create(load_settings("development")).settings
    assert settings.vtn.client_id == "1e5" and settings.vtn.token == "0042"


def test_overrides_still_win_over_the_environment(clean_environment, tmp_path):
    clean_environment.setenv("VEN_H5_PATH", "123")
    settings = load_settings("development", h5_path=str(tmp_path / "other.h5"))
    assert settings.h5_simulator.h5_path == str(tmp_path / "other.h5")


def test_a_number_in_a_settings_file_is_still_a_type_error(clean_environment, tmp_path):
    """Only the environment (always text) is kept as written; a TOML file states its types itself."""
    settings_file = tmp_path / "settings.toml"
    settings_file.write_text('[default]\ndatabase_url = "sqlite:///x.db"\nh5_path = "x.h5"\n'
                             '[default.vtn]\nclient_secret = 999\n')
    clean_environment.delenv("VEN_DATABASE_URL")
    clean_environment.delenv("VEN_H5_PATH")
    clean_environment.setenv("VEN_SETTINGS_FILE", str(settings_file))
    with pytest.raises(SettingsError, match="vtn.client_secret must be a string"):
        Runtime.create(load_settings("development"))


def test_ven_settings_accepts_a_numeric_secret_from_the_environment(tmp_path):
    out = run_ven("settings", "--json", env=clean_env(VEN_VTN__CLIENT_SECRET="999", VEN_MQTT__PASSWORD="0123",
                                                      VEN_DATABASE_URL=f"sqlite:///{tmp_path}/x.db"))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["vtn"]["client_secret"] == "***" and data["mqtt"]["password"] == "***"
