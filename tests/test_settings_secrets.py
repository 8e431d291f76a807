"""Secrets are never shown (issue 19.4): `ven settings` and `--json` mask secret-looking keys at any depth,
lists of tables included, and passwords inside URLs; settings errors do not echo a secret either."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

from venclient.masking import is_secret_key, mask_secrets, mask_text
from fixtures.cli import clean_env, run_ven
from fixtures.vtn import REPO

# Each planted value is unique, so finding it anywhere in the output means it leaked.
IN_FILE = {
    "vtn_client": "plantedVtnSecret1",
    "client_a": "plantedClientSecretA2",
    "client_b_token": "plantedClientTokenB3",
    "nested_password": "plantedNestedPassword4",
    "api_key": "plantedApiKey5",
    "deep_token": "plantedDeepToken6",
    "url_password": "plantedUrlPassword7",
    "number_secret": 8675309,
}
IN_ENV = {
    "VEN_VTN__TOKEN": "plantedEnvToken9",
    "VEN_MQTT__PASSWORD": "31415926",  # digits: a string secret, not a number (issue 11.8)
    "VEN_DATABASE_URL": "postgresql://ven:plantedDbPassword10@127.0.0.1/ven",
    "VEN_EVENTS__CALLBACK_URL": "http://127.0.0.1:9000/cb?token=plantedQueryToken11&x=1",
}
SECRETS_TOML = f"""
[default.vtn]
client_secret = "{IN_FILE['vtn_client']}"

[default.local_vtn]
clients = [
  {{client_id = "ven-a", client_secret = "{IN_FILE['client_a']}", role = "ven"}},
  {{client_id = "bl-b", token = "{IN_FILE['client_b_token']}", role = "bl"}},
]

[default.site]
brokers = [[{{host = "127.0.0.1", password = "{IN_FILE['nested_password']}"}}], ["plain-text"]]
api_key = ["{IN_FILE['api_key']}"]
monitor = "http://monitor:{IN_FILE['url_password']}@127.0.0.1:3000/x"
pin_secret = {IN_FILE['number_secret']}

[default.site.deeper.still]
bearer_token = {{value = "{IN_FILE['deep_token']}", note = "a table under a secret key"}}
token_url = "http://127.0.0.1:8080/auth/token"
"""
PLANTED = [str(v) for v in IN_FILE.values()] + ["plantedEnvToken9", "31415926", "plantedDbPassword10",
                                                 "plantedQueryToken11"]


@pytest.fixture
def planted(tmp_path: Path) -> dict[str, str]:
    """A settings folder (the repo's settings.toml and a .secrets.toml full of secrets) and an environment
    that plants more."""
    folder = tmp_path / "conf"
    folder.mkdir()
    shutil.copy(REPO / "settings.toml", folder / "settings.toml")
    (folder / ".secrets.toml").write_text(SECRETS_TOML)
    return clean_env(VEN_SETTINGS_FILE=str(folder / "settings.toml"), VEN_H5_PATH=str(tmp_path / "x.h5"), **IN_ENV)


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, f"{path}[{index}]")
    else:
        yield path, value


def test_settings_json_hides_every_planted_secret(planted):
    out = run_ven("settings", "--json", env=planted)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for path, value in leaves(data):
        assert not any(secret in str(value) for secret in PLANTED), f"{path} shows a secret: {value!r}"
    for secret in PLANTED:
        assert secret not in out.stdout and secret not in out.stderr
    # the secrets are there, masked, and what is not secret stays readable
    assert data["vtn"]["client_secret"] == "***" and data["vtn"]["token"] == "***"
    assert data["mqtt"]["password"] == "***"
    assert data["local_vtn"]["clients"] == [{"client_id": "ven-a", "client_secret": "***", "role": "ven"},
                                            {"client_id": "bl-b", "token": "***", "role": "bl"}]
    assert data["site"]["brokers"] == [[{"host": "127.0.0.1", "password": "***"}], ["plain-text"]]
    assert data["site"]["api_key"] == ["***"] and data["site"]["pin_secret"] == "***"
    assert data["site"]["monitor"] == "http://monitor:***@127.0.0.1:3000/x"
    assert data["site"]["deeper"]["still"] == {"bearer_token": {"value": "***", "note": "***"},
                                               "token_url": "http://127.0.0.1:8080/auth/token"}
    assert data["database_url"] == "postgresql://ven:***@127.0.0.1/ven"
    assert data["events"]["callback_url"] == "http://127.0.0.1:9000/cb?token=***&x=1"
    assert data["vtn"]["client_id"] == "ven-dev"


def test_settings_table_hides_every_planted_secret(planted):
    out = run_ven("settings", env=planted)
    assert out.returncode == 0, out.stderr
    for secret in PLANTED:
        assert secret not in out.stdout and secret not in out.stderr
    text = " ".join(out.stdout.split())
    assert "site.deeper.still.token_url" in text and "local_vtn.clients" in text and "'***'" in text


def test_a_settings_error_does_not_echo_a_secret(tmp_path):
    folder = tmp_path / "conf"
    folder.mkdir()
    shutil.copy(REPO / "settings.toml", folder / "settings.toml")
    (folder / ".secrets.toml").write_text('[default.local_vtn]\nclients = {client_secret = "plantedInError12"}\n'
                                          '[default.mqtt]\n')
    env = clean_env(VEN_SETTINGS_FILE=str(folder / "settings.toml"))
    out = run_ven("settings", env=env)
    assert out.returncode == 2 and "local_vtn.clients must be a list" in out.stderr
    assert "plantedInError12" not in out.stderr + out.stdout and "***" in out.stderr
    bad_url = run_ven("settings", env={**env, "VEN_VTN__URL": "ftp://u:plantedInError13@127.0.0.1/x"})
    assert bad_url.returncode == 2 and "vtn.url must start with" in bad_url.stderr
    assert "plantedInError13" not in bad_url.stderr


@pytest.mark.parametrize("key, secret", [
    ("client_secret", True), ("token", True), ("bearer_token", True), ("password", True), ("PASSWORD", True),
    ("db-passwd", True), ("api_key", True), ("apikey", True), ("private_key", True), ("tokens", True),
    ("credentials", True), ("secret", True),
    ("token_url", False), ("token_ttl_seconds", False), ("token_refresh_margin_seconds", False),
    ("client_id", False), ("key", False), ("keepalive_seconds", False), ("username", False), ("host", False),
])
def test_secret_looking_keys(key, secret):
    assert is_secret_key(key) is secret


@pytest.mark.parametrize("text, shown", [
    ("postgresql://ven:pw@db/ven", "postgresql://ven:***@db/ven"),
    ("http://u:p@ss@127.0.0.1:1/x", "http://u:***@127.0.0.1:1/x"),
    ("redis://:pw@127.0.0.1", "redis://:***@127.0.0.1"),
    ("https://127.0.0.1/x?access_token=abc&page=2", "https://127.0.0.1/x?access_token=***&page=2"),
    ("http://127.0.0.1:8080/openadr3/3.0.1", "http://127.0.0.1:8080/openadr3/3.0.1"),
    ("sqlite:///config/resources.db", "sqlite:///config/resources.db"),
    ("https://127.0.0.1/x?token_url=abc", "https://127.0.0.1/x?token_url=abc"),
    ("user@example.org", "user@example.org"),
])
def test_url_passwords_are_masked_in_any_string(text, shown):
    assert mask_text(text) == shown


def test_empty_secrets_stay_visible_and_the_input_is_not_changed():
    value = {"vtn": {"client_secret": "", "token": None, "client_id": "x"}, "list": [{"password": "p"}]}
    masked = mask_secrets(value)
    assert masked == {"vtn": {"client_secret": "", "token": None, "client_id": "x"}, "list": [{"password": "***"}]}
    assert value["list"][0]["password"] == "p"
