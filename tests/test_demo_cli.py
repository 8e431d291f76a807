"""``ven demo`` in a fresh folder: generates what is missing, reports to its local VTN, prints the table,
exits 0 — and a second run on the same folder reuses everything and works again."""

from __future__ import annotations

import re

from fixtures.vtn import run_ven


def totals(stdout: str) -> tuple[int, int, float]:
    """(reports, resources, kWh) of the table's total row."""
    line = next(l for l in stdout.splitlines() if re.search(r"\btotal\b", l))
    numbers = re.findall(r"\d+(?:\.\d+)?", line)
    return int(numbers[0]), int(numbers[1]), float(numbers[2])


def test_demo_twice_in_a_fresh_folder(tmp_path):
    config = tmp_path / "config"
    env = {"VEN_DATABASE_URL": f"sqlite:///{config / 'resources.db'}",
           "VEN_H5_PATH": str(config / "examplemeterdata" / "load_data.h5"), "COLUMNS": "160"}
    first = run_ven("demo", "--ticks", "3", "--resources", "20", env=env, timeout=240)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "fleet: generated 20 resources in 4 VENs" in first.stdout
    assert "What the VTN received" in first.stdout
    reports, resources, energy = totals(first.stdout)
    assert (reports, resources) == (3 * 4, 20 * 6) and energy > 0, first.stdout
    assert (config / "local_vtn.json").is_file() and (config / "resources.db").is_file()
    assert "Traceback" not in first.stderr
    said = " ".join(first.stderr.split())  # the demo made config/ and the store, and says so (issue 19.5)
    assert f"Created the folder {config} and the database {config / 'resources.db'} for a new store." in said

    second = run_ven("demo", "--ticks", "3", "--resources", "20", env=env, timeout=240)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "meter data: using" in second.stdout and "fleet: using the 20 resources" in second.stdout
    assert "for a new store" not in second.stderr
    assert "registration: 0 loads registered" in second.stdout  # the VTN kept them (state file)
    assert totals(second.stdout)[:2] == (3 * 4, 20 * 6)  # this run's reports, not the first run's too
