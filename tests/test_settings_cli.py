"""Settings: validation errors exit 2 with one sentence; `ven settings` masks secrets."""

from __future__ import annotations

import json

import pytest

from test_plugins_manager import run_ven


@pytest.mark.parametrize("env, expected", [
    ({"VEN_VTN__URL": "ftp://vtn.example"}, "vtn.url must start with http:// or https://"),
    ({"VEN_DATABASE_URL": "resources.db"}, "database_url must be an SQLAlchemy URL"),
    ({"VEN_DISABLED_PLUGINS": "@int 3"}, "disabled_plugins must be a list of plugin names"),
    ({"VEN_VTN__TIMEOUT_SECONDS": "-1"}, "vtn.timeout_seconds must be a number above 0"),
])
def test_invalid_setting_exits_2_with_one_sentence(env, expected):
    for command in (["settings"], ["plugins"], ["db", "status"]):
        out = run_ven(*command, env=env)
        assert out.returncode == 2, out
        assert expected in out.stderr
        assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) <= 2


def test_settings_json_masks_secrets(tmp_path):
    out = run_ven("settings", "--json", env={"VEN_VTN__CLIENT_SECRET": "s3cr3t-value",
                                             "VEN_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["vtn"]["client_secret"] == "***" and "s3cr3t-value" not in out.stdout
    assert data["database_url"] == f"sqlite:///{tmp_path}/x.db" and data["env"] == "development"


def test_production_has_no_development_vtn(tmp_path):
    out = run_ven("settings", "--json", env={"VEN_ENV": "production"})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["vtn"]["url"] == ""


def test_missing_settings_file_is_named(tmp_path):
    out = run_ven("settings", env={"VEN_SETTINGS_FILE": str(tmp_path / "nope.toml")})
    assert out.returncode == 2 and "nope.toml" in out.stderr
