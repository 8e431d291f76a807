"""`ven --help` stays fast because it imports nothing heavy: command modules, plugin hook modules and plugin
packages load their engines (numpy, pydantic, SQLAlchemy, httpx, h5py) only when a command runs.

Timing is measured by tests/benchmarks/bench_startup.py; this test checks the cause, in a fresh interpreter
(the test session itself imported all of them long ago).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ("numpy", "pydantic", "sqlalchemy", "httpx", "h5py", "starlette", "uvicorn", "pymodbus", "paho")

PROBE = """
import json, sys
from venclient.cli import main
code = 0  # main returns when a command succeeds and exits with the status otherwise
try:
    main(sys.argv[1:])
except SystemExit as done:
    code = done.code
print(json.dumps({"code": code, "heavy": sorted(m for m in %r if m in sys.modules)}), file=sys.stderr)
""" % (HEAVY,)


def _probe(tmp_path, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEN_")}
    env["VEN_DATABASE_URL"] = f"sqlite:///{tmp_path / 'resources.db'}"
    done = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, cwd=tmp_path, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stderr.strip().splitlines()[-1])


def test_root_help_imports_nothing_heavy(tmp_path):
    seen = _probe(tmp_path, "--help")
    assert seen == {"code": 0, "heavy": []}


def test_a_command_help_imports_nothing_heavy_either(tmp_path):
    # parsing a command's options makes typer itself import pydantic (its option coercion uses it): not ours
    for command in (["run", "--help"], ["resources", "connect", "--help"], ["demo", "--help"]):
        seen = _probe(tmp_path, *command)
        assert seen["code"] == 0 and [m for m in seen["heavy"] if m != "pydantic"] == [], command
