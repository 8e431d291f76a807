"""``ven`` installed from a wheel, not editable, works anywhere (issue 12.1 and 12.4).

One module-scoped fixture builds the wheel from a copy of the sources, installs it in a fresh venv (the pip
cache and the configured indexes supply the dependencies; slow, about a minute, but always run) and the tests
use that venv from empty folders, with ``HOME`` in ``tmp`` so no user's settings are read.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.vtn import REPO

pytestmark = pytest.mark.slow
SOURCES = ("core", "plugins", "pyproject.toml", "README.md")


@dataclass(frozen=True)
class Installed:
    """A venv with the wheel installed: its ``python``, ``ven``, site-packages and the wheel file."""

    python: Path
    ven: Path
    site_packages: Path
    wheel: Path
    home: Path


def run(args: list[str | Path], *, cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def plain_env(home: Path) -> dict[str, str]:
    """This environment without any venv, Python path or ``VEN_*``/``DYNACONF_*`` variable; ``HOME`` is ``home``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VEN_", "DYNACONF_", "PYTHON", "VIRTUAL_ENV", "XDG_CONFIG"))}
    env.update(HOME=str(home), COLUMNS="160")
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy2
        copy(REPO / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                             if (REPO / name).is_dir() else {}))
    home = root / "home"
    home.mkdir()
    env = plain_env(home)
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", root / "dist", source],
                cwd=root, env=env)
    assert built.returncode == 0, built.stdout + built.stderr
    wheel = next((root / "dist").glob("venclient-*.whl"))
    made = run([sys.executable, "-m", "venv", root / "venv"], cwd=root, env=env)
    assert made.returncode == 0, made.stderr
    python = root / "venv" / "bin" / "python"
    done = run([python, "-m", "pip", "install", "--quiet", wheel], cwd=root, env=env, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    site = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=root, env=env)
    return Installed(python, root / "venv" / "bin" / "ven", Path(site.stdout.strip()), wheel, home)


def test_no_top_level_core_or_plugins_in_the_wheel_or_site_packages(installed):
    tops = {name.split("/", 1)[0] for name in zipfile.ZipFile(installed.wheel).namelist()}
    assert tops == {"venclient", installed.wheel.name.split("-py")[0] + ".dist-info"}
    assert not (installed.site_packages / "core").exists() and not (installed.site_packages / "plugins").exists()
    assert (installed.site_packages / "venclient" / "default_settings.toml").is_file()
    assert (installed.site_packages / "venclient" / "plugins" / "samples" / "danish_towns.csv").is_file()


def test_the_front_door_imports_outside_the_checkout(installed, tmp_path):
    out = run([installed.python, "-c", "import venclient; from venclient import hookimpl, MeterSource, LoadBatch, "
               "SourceReading; print(venclient.__file__)"], cwd=tmp_path, env=plain_env(installed.home))
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()).is_relative_to(installed.site_packages)


def test_ven_settings_from_an_empty_folder_reads_only_the_packaged_defaults(installed, tmp_path):
    out = run([installed.ven, "settings", "--json"], cwd=tmp_path, env=plain_env(installed.home))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["settings_files"] == [str(installed.site_packages / "venclient" / "default_settings.toml")]
    assert data["data_dir"] == "config" and data["database_url"] == "sqlite:///config/resources.db"


def test_ven_demo_runs_in_an_empty_folder(installed, tmp_path):
    out = run([installed.ven, "demo", "--ticks", "2", "--resources", "8"], cwd=tmp_path,
              env=plain_env(installed.home), timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "What the VTN received" in out.stdout and "Traceback" not in out.stderr
    assert (tmp_path / "config" / "resources.db").is_file()
    assert (tmp_path / "config" / "examplemeterdata" / "load_data.h5").is_file()
