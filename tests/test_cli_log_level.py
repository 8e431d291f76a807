"""A bad log level is one sentence, not a traceback (issue 19.6): exit 2, one line `Error: …` naming the levels."""

from __future__ import annotations

import pytest

from fixtures.cli import clean_env, run_ven

LEVELS = "DEBUG, INFO, WARNING, ERROR or CRITICAL"


@pytest.fixture
def env(tmp_path):
    return clean_env(VEN_DATABASE_URL=f"sqlite:///{tmp_path / 'resources.db'}", VEN_H5_PATH=str(tmp_path / "x.h5"))


def assert_one_error_line(out, *fragments: str) -> None:
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    for fragment in fragments:
        assert fragment in lines[0]


def test_bad_level_from_the_environment(env):
    out = run_ven("db", "status", env={**env, "VEN_LOG_LEVEL": "LOUD"})
    assert_one_error_line(out, "'LOUD'", "VEN_LOG_LEVEL", LEVELS)


def test_bad_level_from_the_option(env):
    out = run_ven("--log-level", "loud", "settings", env=env)
    assert_one_error_line(out, "'loud'", "--log-level", LEVELS)


def test_the_option_wins_over_the_environment(env):
    out = run_ven("--log-level", "warning", "settings", "--json", env={**env, "VEN_LOG_LEVEL": "LOUD"})
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("level", ["debug", "INFO", "Warning", "warn", "error", "CRITICAL"])
def test_good_levels_in_any_case(env, level):
    out = run_ven("settings", "--json", env={**env, "VEN_LOG_LEVEL": level})
    assert out.returncode == 0, out.stderr
