"""``--log-format json`` (issue 15.4): one JSON object per line on stderr, for journald and log shippers; the
default stays human; a bad format is one sentence naming where it came from."""

from __future__ import annotations

import io
import json
import logging

import pytest

from fixtures.cli import clean_env, run_ven
from fixtures.run import make_run_env, ven_env
from venclient.json_logs import json_handler


@pytest.fixture
def env(tmp_path):
    return clean_env(VEN_DATABASE_URL=f"sqlite:///{tmp_path / 'resources.db'}", VEN_H5_PATH=str(tmp_path / "x.h5"))


def test_a_record_is_one_json_object_with_its_extras_and_traceback():
    stream = io.StringIO()
    log = logging.getLogger("venclient.test_json_logs")
    log.propagate, log.level = False, logging.INFO
    handler = json_handler(stream)
    log.addHandler(handler)
    try:
        log.warning("Meter %s is stale\nfor 30 s", "m-1", extra={"ven": "Aalborg", "resource": "r-1"})
        try:
            raise ValueError("bad value")
        except ValueError:
            log.exception("Could not read")
    finally:
        log.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2  # a newline inside a message stays inside its JSON string
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "WARNING" and first["logger"] == "venclient.test_json_logs"
    assert first["message"].startswith("Meter m-1 is stale") and first["ven"] == "Aalborg"
    assert first["resource"] == "r-1" and first["timestamp"].endswith("+00:00")
    assert second["level"] == "ERROR" and "ValueError: bad value" in second["exc_info"]


def test_a_run_logs_json_lines_only(tmp_path, local_vtn):
    make_run_env(tmp_path, local_vtn, None).runtime.close()
    out = run_ven("--log-format", "json", "run", "--once", "--no-register", "--interval", "1",
                  env=ven_env(tmp_path, local_vtn.url))
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stderr.splitlines() if line.strip()]  # every line is JSON
    assert all({"timestamp", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["logger"] == "venclient.run" and r["message"].startswith("tick 0") for r in records)
    summary = [r for r in records if r["message"].startswith("Stopped after")]
    assert len(summary) == 1 and summary[0]["ticks"] == 1 and summary[0]["outbox_pending"] == 0
    assert summary[0]["reports_sent"] == summary[0]["reports_built"] > 0


def test_the_setting_chooses_json_and_the_option_wins(tmp_path, local_vtn):
    make_run_env(tmp_path, local_vtn, None).runtime.close()
    env = ven_env(tmp_path, local_vtn.url, VEN_LOGGING__FORMAT="json")
    as_json = run_ven("run", "--once", "--no-register", "--interval", "1", env=env)
    assert as_json.returncode == 0, as_json.stderr
    assert all(json.loads(line) for line in as_json.stderr.splitlines() if line.strip())
    human = run_ven("--log-format", "human", "run", "--once", "--no-register", "--interval", "1", env=env)
    assert human.returncode == 0, human.stderr
    with pytest.raises(ValueError):
        json.loads(human.stderr.splitlines()[0])


def test_an_error_is_a_json_record_too(env):
    out = run_ven("--log-format", "json", "db", "status", env={**env, "VEN_DATABASE_URL": "sqlite:////nonexistent/x.db"})
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    record = json.loads(lines[0])
    assert record["level"] == "ERROR" and record["message"].startswith("Error: ")


def test_a_bad_format_is_one_sentence(env):
    for args, extra, source in ((("--log-format", "xml"), {}, "--log-format"),
                                ((), {"VEN_LOG_FORMAT": "xml"}, "VEN_LOG_FORMAT")):
        out = run_ven(*args, "settings", env={**env, **extra})
        assert out.returncode == 2, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error:") and "'xml'" in lines[0] and source in lines[0]
        assert "human or json" in lines[0] and "Traceback" not in out.stderr
