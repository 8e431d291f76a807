"""The examples in ``config/`` (issue 12.5) are read by the code that reads the real files: the settings loader
(every plugin's validators), the connections loader (every plugin checks its options, then the store keeps
them), the asset CSV importer; the systemd unit is parsed and its hardening checked (and verified by
``systemd-analyze verify`` where that exists)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from venclient.cli.resources import connect_from_file
from venclient.plugins.samples.csv_import import read_asset_file
from venclient.runtime import Runtime
from venclient.settings import load_settings
from venclient.settings_files import SettingsSearch
from fixtures.collect import add_fleet
from fixtures.vtn import REPO

CONFIG = REPO / "config"
HARDENING = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
             "StateDirectory": "venclient", "Restart": "on-failure"}


def test_the_production_settings_example_passes_every_validator(monkeypatch, tmp_path):
    for key in [k for k in os.environ if k.startswith(("VEN_", "DYNACONF_"))]:
        monkeypatch.delenv(key)
    search = SettingsSearch(cwd=tmp_path, user_dir=tmp_path / "user", system_dir=tmp_path / "etc",
                            explicit=CONFIG / "settings.production.example.toml")
    settings = Runtime.create(load_settings("production", search=search)).settings
    assert settings.data_dir == "/var/lib/venclient"
    assert settings.database_url == "sqlite:////var/lib/venclient/resources.db"
    assert settings.h5_simulator.h5_path == "/var/lib/venclient/examplemeterdata/load_data.h5"
    assert settings.vtn.url.startswith("https://") and settings.vtn.client_secret == ""
    assert settings.clock.mode == "wallclock" and "demo" in settings.disabled_plugins


def test_the_connections_example_covers_every_meter_kind_and_a_writer(collect_runtime, tmp_path):
    """Each table is checked by its plugin and stored.  The filereader's folder must exist, so the example's
    /var/lib/venclient becomes ``tmp_path``."""
    text = (CONFIG / "connections.example.toml").read_text().replace("/var/lib/venclient", str(tmp_path))
    (tmp_path / "meters").mkdir()
    example = tmp_path / "connections.toml"
    example.write_text(text)
    store = collect_runtime.store()
    add_fleet(store, {"Herning": ["m0", "m1"], "Aalborg": ["m0", "m1", "m2"], "Lemvig": ["m0"]})
    assert connect_from_file(collect_runtime, example) == (7, 7)
    readers = {rid: store.resource_connections(rid)["reader"] for rid in
               ("r-Herning-000", "r-Herning-001", "r-Aalborg-000", "r-Aalborg-001", "r-Lemvig-000")}
    assert {c.type for c in readers.values()} == {"h5sim", "filereader", "modbustcp", "modbusrtu", "mqtt"}
    assert readers["r-Lemvig-000"].password == "env:LEMVIG_MQTT_PASSWORD"
    writer = store.resource_connections("r-Aalborg-000")["writer"]
    assert writer.type == "modbustcp" and writer.params["register"] == 40


def test_the_asset_csv_example_has_five_good_rows():
    assets = read_asset_file(CONFIG / "asset-csv-example" / "hotels-in-denmark.csv")
    assert assets.sub_type.name == "hotel" and assets.rows == 5 and not assets.skipped
    assert {site.ven for site in assets.sites} == {"Herning", "Aalborg", "Lemvig", "Aarhus", "Odense"}


def unit_sections(path: Path) -> dict[str, list[tuple[str, str]]]:
    """``{section: [(key, value), …]}`` of a systemd unit file (keys may repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, sep, value = line.partition("=")
        assert current is not None and sep, f"line {number} is neither a section nor KEY=VALUE: {line!r}"
        assert "#" not in value, f"line {number}: systemd has no end-of-line comments: {line!r}"
        current.append((key.strip(), value.strip()))
    return sections


def test_the_systemd_unit_is_hardened():
    sections = unit_sections(CONFIG / "venclient.service")
    assert {"Unit", "Service", "Install"} <= set(sections)
    service = dict(sections["Service"])  # the last value of a repeated key
    for key, value in HARDENING.items():
        assert service.get(key) == value, key
    assert service.get("DynamicUser") == "yes" or service.get("User"), "the service needs its own user"
    assert service["ExecStart"].endswith("/ven run")
    assert "VEN_ENV=production" in [v for k, v in sections["Service"] if k == "Environment"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_the_unit(tmp_path):
    """The unit names /opt/venclient/bin/ven; verify checks that it exists, so this runs the test venv's."""
    unit = tmp_path / "venclient.service"
    ven = Path(sys.executable).parent / "ven"
    unit.write_text((CONFIG / "venclient.service").read_text().replace("/opt/venclient/bin/ven", str(ven)))
    out = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "venclient.service" not in out.stderr, out.stderr
