"""The malloc arena cap `ven run` sets (setting ``memory.malloc_arenas``)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import sys
from venclient.memory import limit_malloc_arenas
print(limit_malloc_arenas(int(sys.argv[1])))
"""


def probe(arenas: int, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
    done = subprocess.run([sys.executable, "-c", PROBE, str(arenas)], cwd=ROOT, env=environment,
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the cap exists only in glibc's malloc")
def test_arena_cap_is_set_on_glibc():
    assert probe(2) == "True"


def test_zero_or_an_explicit_environment_leaves_malloc_alone():
    assert probe(0) == "False"
    assert probe(2, MALLOC_ARENA_MAX="4") == "False"  # the operator's MALLOC_ARENA_MAX wins
