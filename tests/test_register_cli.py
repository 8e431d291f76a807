"""`ven register` as a user runs it: JSON summary, killed with SIGKILL mid-run and run again, --verify."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fixtures.run import wait_leases_expired
from fixtures.samples import small_fleet
from fixtures.vtn import REPO
import pytest

pytestmark = pytest.mark.both_vtn_shapes  # end to end: against the plain VTN and one with every quirk


def ven_env(runtime, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEN_")}
    env.update({"VEN_DATABASE_URL": runtime.settings.database_url, "VEN_H5_PATH": runtime.settings.h5_simulator.h5_path,
                "VEN_VTN__URL": runtime.settings.vtn.url, "VEN_VTN__BACKOFF_SECONDS": "0.01",
                "VEN_RUN__LEASE_SECONDS": "@float 3",  # a SIGKILLed register blocks the next one for 3 s only
                "VEN_LOG_LEVEL": "WARNING", "COLUMNS": "200"})
    env.update(extra)
    return env


def ven(*args, env, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "venclient.cli", *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=timeout)


def vtn_resource_names(state) -> list[str]:
    return [r["resourceName"] for ven_id in list(state.resources) for r in list(state.resources[ven_id])]


def test_register_json_summary_and_verify(vtn_runtime, local_vtn):
    small_fleet(vtn_runtime.store(), vtn_runtime.settings.h5_simulator.h5_path, resources=10, vens=2)
    env = ven_env(vtn_runtime)
    before = ven("register", "--verify", "--json", env=env)
    assert before.returncode == 1 and json.loads(before.stdout)["unregistered"] == 60
    out = ven("register", "--json", "--concurrency", "8", env=env)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert {k: summary[k] for k in ("total_vens", "vens_registered", "loads_registered", "loads_failed",
                                    "failed_vens")} == {"total_vens": 2, "vens_registered": 2,
                                                        "loads_registered": 60, "loads_failed": 0, "failed_vens": []}
    assert summary["seconds"] >= 0
    text = ven("register", env=env)
    assert text.returncode == 0 and "REGISTRATION SUMMARY" in text.stdout and "Total loads registered:" in text.stdout
    check = ven("register", "--verify", env=env)
    assert check.returncode == 0 and "Store and VTN agree" in check.stdout


def test_bad_options_are_one_sentence(vtn_runtime, local_vtn):
    small_fleet(vtn_runtime.store(), vtn_runtime.settings.h5_simulator.h5_path, resources=2, vens=1)
    env = ven_env(vtn_runtime)
    unknown = ven("register", "--ven", "Atlantis", env=env)
    assert unknown.returncode == 2 and "Unknown VEN 'Atlantis'" in unknown.stderr and "Traceback" not in unknown.stderr
    repair = ven("register", "--repair", env=env)
    assert repair.returncode == 2 and "--repair only works together with --verify" in repair.stderr
    down = ven("register", env=ven_env(vtn_runtime, VEN_VTN__URL="http://127.0.0.1:9/openadr3/3.0.1",
                                       VEN_VTN__RETRIES="0"))
    assert down.returncode != 0 and "Traceback" not in down.stderr
    assert "127.0.0.1:9" in down.stderr or "127.0.0.1:9" in down.stdout


def test_sigkill_mid_run_then_rerun_registers_every_load_once(vtn_runtime, local_vtn):
    fleet = small_fleet(vtn_runtime.store(), vtn_runtime.settings.h5_simulator.h5_path, resources=100, vens=3)
    total = fleet.loads
    env = ven_env(vtn_runtime)
    proc = subprocess.Popen([sys.executable, "-m", "venclient.cli", "register", "--concurrency", "4", "--rate", "150"],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    try:
        while local_vtn.state.resource_count < total // 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert proc.poll() is None, "register finished before it could be killed; slow it down"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    created_before_rerun = local_vtn.state.resource_count
    assert 0 < created_before_rerun < total
    assert wait_leases_expired(Path(vtn_runtime.settings.database_url[len("sqlite:///"):]))  # the killed one's
    rerun = ven("register", "--json", env=env)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["loads_failed"] == 0
    names = vtn_resource_names(local_vtn.state)
    assert len(names) == len(set(names)) == total  # every load once on the VTN
    store = vtn_runtime.store()
    loads = store.list_loads()
    assert all(l.vtn_resource_id and l.registration_status == "APPROVED" for l in loads)
    verify = ven("register", "--verify", "--json", env=env)
    assert verify.returncode == 0, verify.stdout
    report = json.loads(verify.stdout)
    assert report["clean"] and report["id_mismatch"] == 0 and report["missing_on_vtn"] == 0
