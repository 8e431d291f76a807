"""`ven register` small things (issue 11.9), run as a user runs it, against the local VTN on loopback:
Ctrl-C still prints the summary (text and --json) of what was done and exits 130; the counts say what THIS run
did; `--verify` with `--ven` / `--limit-vens` checks only those VENs."""

from __future__ import annotations

import asyncio
import json
import signal

import pytest

from venclient.engine.register import Registrar
from venclient.runtime import Runtime
from fixtures.cli import run_ven
from fixtures.run import VenProcess, ven_env, wait_until
from fixtures.samples import small_fleet
from fixtures.vtn_runtime import vtn_settings

SLOW = ("--concurrency", "4", "--rate", "100")  # ~6 s for 600 loads: slow enough to interrupt mid-run


def register_env(tmp_path, url: str) -> dict[str, str]:
    return ven_env(tmp_path, url, VEN_LOG_LEVEL="WARNING")


def registered_in_store(runtime: Runtime) -> tuple[int, set[str]]:
    """(loads with a VTN id, VENs with a VTN id) as the store says now."""
    loads = runtime.store().list_loads()
    return sum(1 for l in loads if l.vtn_resource_id), set(runtime.store().ven_vtn_ids())


def interrupt_register(tmp_path, vtn, total: int, *extra: str, name: str) -> tuple[int, str, str]:
    """Start `ven register`, send SIGINT once a quarter of the loads is on the VTN; (status, stdout, stderr)."""
    proc = VenProcess(tmp_path, register_env(tmp_path, vtn.url), "register", *SLOW, *extra, name=name)
    try:
        started = wait_until(lambda: vtn.state.resource_count >= total // 4 or proc.proc.poll() is not None, 60)
        assert started and proc.proc.poll() is None, "register ended before it could be interrupted: " + proc.stderr
        proc.signal(signal.SIGINT)
        status = proc.wait(60)
        return status, proc.stdout_path.read_text(), proc.stderr
    finally:
        proc.close()


def test_sigint_prints_the_json_summary_of_what_was_done_and_a_rerun_counts_only_its_own_work(
        vtn_runtime, local_vtn, tmp_path):
    fleet = small_fleet(vtn_runtime.store(), vtn_runtime.settings.h5_simulator.h5_path, resources=100, vens=3)
    total = fleet.loads
    status, stdout, stderr = interrupt_register(tmp_path, local_vtn, total, "--json", name="first")
    assert status == 130, stderr
    assert "Traceback" not in stderr
    first = json.loads(stdout)
    loads_in_store, vens_in_store = registered_in_store(vtn_runtime)
    assert first["interrupted"] is True
    assert 0 < first["loads_registered"] == loads_in_store < total
    assert first["loads_registered"] == sum(v["registered"] + v["adopted"] for v in first["per_ven"])
    assert first["vens_registered"] == len(vens_in_store) == sum(1 for v in first["per_ven"] if v["registered_now"])
    assert {v["ven"] for v in first["per_ven"] if v["vtn_ven_id"]} == vens_in_store
    assert first["vens_already_registered"] == 0 and first["loads_already_registered"] == 0
    not_started_loads = sum(len(vtn_runtime.store().list_loads(ven=ven)) for ven in first["vens_not_started"])
    assert first["loads_registered"] + first["loads_failed"] + first["loads_not_attempted"] + not_started_loads == total
    assert first["total_vens"] == 3 == len(first["per_ven"]) + len(first["vens_not_started"])

    second_run = run_ven("register", "--json", env=register_env(tmp_path, local_vtn.url))
    assert second_run.returncode == 0, second_run.stderr
    second = json.loads(second_run.stdout)
    assert second["interrupted"] is False and second["loads_failed"] == 0
    assert second["loads_registered"] == total - first["loads_registered"]
    assert second["loads_already_registered"] == first["loads_registered"]
    assert second["vens_already_registered"] == first["vens_registered"]
    assert second["vens_registered"] == 3 - first["vens_registered"]
    names = [r["resourceName"] for ven_id in list(local_vtn.state.resources) for r in local_vtn.state.resources[ven_id]]
    assert len(names) == len(set(names)) == total  # every load exactly once on the VTN

    third = json.loads(run_ven("register", "--json", env=register_env(tmp_path, local_vtn.url)).stdout)
    assert (third["vens_registered"], third["vens_already_registered"]) == (0, 3)
    assert (third["loads_registered"], third["loads_already_registered"], third["loads_not_attempted"]) == (0, total, 0)


def test_sigint_prints_the_text_summary(vtn_runtime, local_vtn, tmp_path):
    fleet = small_fleet(vtn_runtime.store(), vtn_runtime.settings.h5_simulator.h5_path, resources=100, vens=3)
    status, stdout, stderr = interrupt_register(tmp_path, local_vtn, fleet.loads, name="text")
    assert status == 130 and "Traceback" not in stderr
    text = " ".join(stdout.split())
    assert "REGISTRATION SUMMARY (interrupted: what was done before Ctrl-C)" in text
    loads_in_store, vens_in_store = registered_in_store(vtn_runtime)
    assert f"Total loads registered: {loads_in_store}" in text
    assert f"VENs registered now: {len(vens_in_store)}" in text and "Loads not attempted:" in text
    assert "run `ven register` again" in text


def register_in_process(runtime: Runtime, vens: list[str]) -> dict:
    async def go():
        async with runtime.transport() as transport:
            registrar = Registrar(runtime.store(), transport, vtn_url=runtime.settings.vtn.url)
            return (await registrar.register_vens(vens)).as_dict()
    return asyncio.run(go())


def test_counts_say_what_this_run_did_when_loads_are_added(vtn_runtime, local_vtn):
    store = vtn_runtime.store()
    fleet = small_fleet(store, vtn_runtime.settings.h5_simulator.h5_path, resources=8, vens=2)
    first = register_in_process(vtn_runtime, fleet.vens)
    assert (first["vens_registered"], first["loads_registered"]) == (2, 48)
    # forget two loads' ids, and let the store think the second VEN was registered at another VTN: the VTN
    # still holds all of them, so this run adopts them, and says so
    load_ids = [l.load_id for l in store.list_loads(ven=fleet.vens[0])[:2]]
    store.clear_registrations(load_ids, "test")
    store.set_ven_vtn_id(fleet.vens[1], store.get_ven_vtn_id(fleet.vens[1]), "http://127.0.0.1:1/elsewhere")
    again = register_in_process(vtn_runtime, fleet.vens)
    assert again["vens_registered"] == 1 and again["vens_already_registered"] == 1
    assert again["loads_registered"] == 2 and again["loads_adopted"] == 2 and again["loads_created"] == 0
    assert again["loads_already_registered"] == 46 and again["loads_not_attempted"] == 0
    per_ven = {v["ven"]: v for v in again["per_ven"]}
    assert per_ven[fleet.vens[0]]["loads_already_registered"] == len(store.list_loads(ven=fleet.vens[0])) - 2
    assert per_ven[fleet.vens[0]]["already_registered"] and per_ven[fleet.vens[1]]["registered_now"]


@pytest.fixture
def two_registered_vens(tmp_path, faulty_vtn):
    server, injector = faulty_vtn
    runtime = Runtime.create(vtn_settings(tmp_path, server.url))
    fleet = small_fleet(runtime.store(), runtime.settings.h5_simulator.h5_path, resources=6, vens=2)
    summary = register_in_process(runtime, fleet.vens)
    assert summary["loads_registered"] == 36
    yield runtime, server, injector, sorted(fleet.vens)
    runtime.close()


def test_verify_with_ven_checks_only_that_ven(two_registered_vens, tmp_path):
    runtime, server, injector, (first, second) = two_registered_vens
    second_id = runtime.store().get_ven_vtn_id(second)
    first_id = runtime.store().get_ven_vtn_id(first)
    lost = next(iter(server.state.resources[second_id]))["id"]
    server.state.remove_resource(second_id, lost)  # the second VEN now differs from the store
    env = register_env(tmp_path, server.url)

    injector.seen.clear()
    only_first = run_ven("register", "--verify", "--ven", first, "--json", env=env)
    assert only_first.returncode == 0, only_first.stdout + only_first.stderr
    report = json.loads(only_first.stdout)
    assert [v["ven"] for v in report["per_ven"]] == [first] and report["clean"]
    assert not [path for _method, path in injector.seen if second_id in path]
    assert any(first_id in path for _method, path in injector.seen)

    injector.seen.clear()
    limited = run_ven("register", "--verify", "--limit-vens", "1", "--json", env=env)
    assert limited.returncode == 0 and [v["ven"] for v in json.loads(limited.stdout)["per_ven"]] == [first]
    assert not [path for _method, path in injector.seen if second_id in path]

    everything = run_ven("register", "--verify", "--json", env=env)
    assert everything.returncode == 1
    full = json.loads(everything.stdout)
    assert full["missing_on_vtn"] == 1 and [v["ven"] for v in full["per_ven"]] == [first, second]

    repaired = run_ven("register", "--verify", "--repair", "--ven", first, "--json", env=env)
    assert repaired.returncode == 0 and json.loads(repaired.stdout)["repaired"]["forgotten_ids"] == 0
    assert sum(1 for l in runtime.store().list_loads(ven=second) if not l.vtn_resource_id) == 0  # untouched
