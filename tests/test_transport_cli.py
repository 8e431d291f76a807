"""`ven vtn ping`, `ven programs`, `ven events` against a local VTN, and their one-sentence failures."""

from __future__ import annotations

import json
import socket

import pytest

from fixtures.vtn import run_ven


@pytest.mark.parametrize("command", [["vtn", "ping"], ["programs"], ["events", "--json"]])
def test_production_without_vtn_url(command):
    out = run_ven(*command, env={"VEN_ENV": "production"})
    assert out.returncode == 2, out
    assert out.stderr.strip() == "Error: Setting vtn.url is missing: set VEN_VTN__URL or vtn.url in settings.toml."


def test_ping_unreachable_vtn_is_one_sentence():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/openadr3/3.0.1"
    env = {"VEN_VTN__URL": url, "VEN_VTN__RETRIES": "0"}
    out = run_ven("vtn", "ping", env=env)
    assert out.returncode == 1
    assert out.stderr.strip() == f"Error: Cannot reach the VTN at {url}: connection refused."
    as_json = run_ven("vtn", "ping", "--json", env=env)
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout) == {"ok": False, "url": url,
                                          "error": f"Cannot reach the VTN at {url}: connection refused."}


def test_ping_programs_events(local_vtn):
    env = {"VEN_VTN__URL": local_vtn.url}
    ping = run_ven("vtn", "ping", env=env)
    assert ping.returncode == 0, ping.stderr
    text = " ".join(ping.stdout.split())
    assert text.startswith(f"The VTN at {local_vtn.url} answered as client 'ven-dev' in ")
    assert text.endswith(": 1 program, 1 event.")
    ping_json = json.loads(run_ven("vtn", "ping", "--json", env=env).stdout)
    assert ping_json["ok"] and ping_json["programs"] == 1 and ping_json["events"] == 1
    assert "write_reports" in ping_json["scopes"] and ping_json["auth"] == "client_credentials"

    programs = json.loads(run_ven("programs", "--json", env=env).stdout)
    assert [p["programName"] for p in programs] == ["demo-program"]
    events = json.loads(run_ven("events", "--program", "demo-program", "--json", env=env).stdout)
    assert [e["eventName"] for e in events] == ["demo-metering"]
    table = run_ven("events", env={**env, "COLUMNS": "200"})
    assert table.returncode == 0 and "demo-metering" in table.stdout and "USAGE KWH" in table.stdout

    missing = run_ven("events", "--program", "nope", env=env)
    assert missing.returncode == 2
    assert missing.stderr.strip() == (f"Error: No program named 'nope' on the VTN at {local_vtn.url} "
                                      "(programs: demo-program).")


def test_wrong_secret_is_an_auth_error(local_vtn):
    out = run_ven("vtn", "ping", env={"VEN_VTN__URL": local_vtn.url, "VEN_VTN__CLIENT_SECRET": "wrong"})
    assert out.returncode == 2
    assert "refused client 'ven-dev': invalid_client: Unknown client or wrong secret." in out.stderr
    assert "Traceback" not in out.stderr


def test_invalid_transport_setting_is_named():
    out = run_ven("vtn", "ping", env={"VEN_VTN__RETRIES": "-1"})
    assert out.returncode == 2
    assert "vtn.retries must be a whole number from 0 to 100, got -1." in out.stderr


def test_missing_ca_bundle_is_named(tmp_path):
    out = run_ven("vtn", "ping", env={"VEN_VTN__VERIFY_TLS": str(tmp_path / "ca.pem")})
    assert out.returncode == 2
    assert f"vtn.verify_tls points at {tmp_path / 'ca.pem'}, which is not a readable CA bundle file." in out.stderr
