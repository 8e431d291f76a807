"""A store written only from the protocols (tests/fixtures/memory_store.py: dicts and lists) serves the whole
VEN: installed as a third-party plugin (an entry point, as a package would declare it), it answers the
``ven_resource_store`` hook, and ``ven register``, ``ven run --once`` and ``ven register --verify`` run against
the real local VTN with it — without any optional store capability (no backlog, no leases, no load counts)."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from venclient import protocols
from fixtures.memory_store import MemoryStore, plugin
from fixtures.run import vtn_reports
from fixtures.samples import run_ven_inprocess, small_fleet

ENTRY_POINT = "memory_store = fixtures.memory_store:plugin"


def install_entry_point(site: Path) -> None:
    """What ``pip install`` of a package declaring the plugin leaves: a dist-info with the entry point."""
    dist = site / "venclient_memory_store-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: venclient-memory-store\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[venclient]\n{ENTRY_POINT}\n")


@pytest.fixture
def memory_env(tmp_path, local_vtn, monkeypatch):
    """The environment of a ``ven`` on a fresh ``memory://`` store (the plugin installed) and the local VTN;
    returns the store."""
    install_entry_point(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    url = f"memory://{uuid.uuid4().hex}"
    for key in [k for k in os.environ if k.startswith("VEN_")]:
        monkeypatch.delenv(key)
    for key, value in {"VEN_DATABASE_URL": url, "VEN_H5_PATH": str(tmp_path / "load_data.h5"),
                       "VEN_VTN__URL": local_vtn.url, "VEN_VTN__CLIENT_ID": "ven-dev",
                       "VEN_VTN__CLIENT_SECRET": "ven-dev-secret", "VEN_VTN__RETRIES": "@int 1",
                       "VEN_VTN__BACKOFF_SECONDS": "@float 0.01", "VEN_VTN__TIMEOUT_SECONDS": "@float 5",
                       "VEN_VTN__REQUEST_DEADLINE_SECONDS": "@float 5", "VEN_LOG_LEVEL": "WARNING",
                       "COLUMNS": "200"}.items():
        monkeypatch.setenv(key, value)
    store = plugin.stores.setdefault(url, MemoryStore(url))
    yield store
    plugin.stores.pop(url, None)


def test_register_run_once_and_verify_with_a_store_written_from_the_protocols(memory_env, local_vtn, tmp_path):
    store = memory_env
    assert isinstance(store, protocols.ResourceStore)
    assert not any(isinstance(store, optional) for optional in (protocols.BacklogRecords, protocols.LeaseRecords,
                                                                protocols.CountsLoads, protocols.ListsConnections))
    fleet = small_fleet(store, tmp_path / "load_data.h5", resources=6, vens=2)
    loads = store.count_loads()
    assert loads == 36 and len(fleet.vens) == 2

    registered = run_ven_inprocess("register", "--json")
    assert registered.exit_code == 0, registered.stderr
    summary = json.loads(registered.stdout)
    assert (summary["vens_registered"], summary["loads_registered"], summary["loads_failed"]) == (2, loads, 0)
    assert all(load.vtn_resource_id for load in store.list_loads())  # the answers went into the memory store

    ran = run_ven_inprocess("run", "--once", "--interval", "1", "--no-register")
    assert ran.exit_code == 0, ran.stderr
    assert {r["clientName"] for r in vtn_reports(local_vtn.state)} == set(fleet.vens)
    assert store.outbox_counts() == {"pending": 0, "rejected": 0}  # posted through the outbox, then deleted

    verified = run_ven_inprocess("register", "--verify")
    assert verified.exit_code == 0, verified.stderr + verified.stdout
    assert "Store and VTN agree" in verified.stdout
