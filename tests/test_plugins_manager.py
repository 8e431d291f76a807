"""Plugin discovery: default plugins, the `venclient` entry-point group, allow-list and block-list."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from venclient.errors import PluginError
from venclient.hookspecs import hookimpl
from venclient.plugin_manager import list_plugins
from venclient.runtime import Runtime
from fixtures.core import make_settings


def run_ven(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("VEN_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "venclient.cli", *args], capture_output=True, text=True, env=full_env)


def names(rt: Runtime) -> set[str]:
    return {p.name for p in list_plugins(rt.pm)}


def test_third_party_entry_point_is_discovered(tmp_path):
    rt = Runtime.create(make_settings(tmp_path))
    infos = {p.name: p for p in list_plugins(rt.pm)}
    assert infos["example"].origin == "entry point"
    assert infos["example"].distribution == "venclient-example"
    assert "ven_cli" in infos["example"].hooks
    assert infos["sqlite_store"].origin == "default"
    assert "ven_resource_store" in infos["sqlite_store"].hooks


def test_allow_list_keeps_only_named_plugins(tmp_path):
    rt = Runtime.create(make_settings(tmp_path, plugins=["sqlite_store", "example"]))
    assert names(rt) == {"sqlite_store", "example"}


def test_block_list_stops_entry_point_before_import(tmp_path):
    sys.modules.pop("venclient_example.plugin", None)
    rt = Runtime.create(make_settings(tmp_path, disabled_plugins=["example", "samples"]))
    assert "example" not in names(rt) and "samples" not in names(rt)
    assert "venclient_example.plugin" not in sys.modules  # blocked before entry points load
    assert "sqlite_store" in names(rt)


def test_a_registered_store_plugin_is_used(tmp_path):
    class MemoryStore:
        url = "memory://"
        closed = False

        def close(self):
            self.closed = True

    class MyStorePlugin:
        @hookimpl
        def ven_resource_store(self, settings):
            return MemoryStore()

    rt = Runtime.create(make_settings(tmp_path))
    plugin = MyStorePlugin()
    rt.pm.register(plugin, name="my_store")
    try:
        store = rt.store()
        assert isinstance(store, MemoryStore)  # later-registered plugins win the firstresult hook
        assert {p.name: p.origin for p in list_plugins(rt.pm)}["my_store"] == "registered"
    finally:
        rt.close()
        rt.pm.unregister(plugin)
    assert store.closed


def test_no_store_plugin_is_a_clear_error(tmp_path):
    rt = Runtime.create(make_settings(tmp_path, disabled_plugins=["sqlite_store"]))
    with pytest.raises(PluginError, match="No plugin provides a resource store"):
        rt.store()


def test_ven_plugins_json_lists_origins(tmp_path):
    out = run_ven("plugins", "--json", env={"VEN_DATABASE_URL": f"sqlite:///{tmp_path}/r.db"})
    assert out.returncode == 0, out.stderr
    listed = {p["name"]: p for p in json.loads(out.stdout)}
    assert listed["example"]["origin"] == "entry point"
    assert listed["sqlite_store"]["origin"] == "default"
    blocked = run_ven("plugins", "--json", env={"VEN_DISABLED_PLUGINS": '["example"]'})
    assert "example" not in {p["name"] for p in json.loads(blocked.stdout)}


def test_third_party_command_runs():
    out = run_ven("example-hello")
    assert out.returncode == 0 and "hello from venclient-example" in out.stdout
