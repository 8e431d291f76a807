"""The plugin manager: default plugins + the ``venclient`` entry-point group, filtered by settings.

``plugins`` (allow-list) and ``disabled_plugins`` (block-list) name plugins by their short name:
the folder name for a default plugin (``sqlite_store``) or the entry-point name for a third-party one.
Blocked names are set before entry points are imported, so a blocked plugin's code never runs.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import pluggy

from venclient import hookspecs
from venclient.errors import PluginError

DEFAULT_PLUGIN_NAMES: tuple[str, ...] = ("sqlite_store", "samples", "h5_simulator", "file_reader", "modbus_meter",
                                         "mqtt_meter", "openadr_http", "local_vtn", "event_log", "demo")
DEFAULT_PLUGINS: tuple[str, ...] = tuple(f"venclient.plugins.{name}.hooks" for name in DEFAULT_PLUGIN_NAMES)
"""The default plugins' entry files: every plugin folder keeps its hook implementations in ``hooks.py``."""

ENTRY_POINT_GROUP = hookspecs.PROJECT_NAME


@dataclass(frozen=True)
class PluginInfo:
    """One active plugin: its short name, where it came from, its module and implemented hooks."""

    name: str
    origin: str  # "default", "entry point" or "registered"
    module: str
    hooks: tuple[str, ...]
    distribution: str | None = None
    version: str | None = None


def short_name(module_path: str) -> str:
    """``venclient.plugins.sqlite_store.hooks`` → ``sqlite_store`` (the folder name; else the last part)."""
    parts = module_path.split(".")
    return parts[-2] if parts[-1] == "hooks" and len(parts) > 1 else parts[-1]


def build_plugin_manager(settings: Any, *, load_entry_points: bool = True) -> pluggy.PluginManager:
    """Create the plugin manager for ``settings``: defaults, then entry points, filtered by settings."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    allowed = settings.get("plugins")
    allow = set(allowed) if allowed is not None else None
    blocked = set(settings.get("disabled_plugins") or [])
    for name in blocked:
        pm.set_blocked(name)

    pm._venclient_origins = {}  # type: ignore[attr-defined]  # name -> (origin, dist, version)
    for module_path in DEFAULT_PLUGINS:
        name = short_name(module_path)
        if name in blocked or (allow is not None and name not in allow):
            continue
        try:
            module = importlib.import_module(module_path)
        except ModuleNotFoundError as err:
            if err.name in (module_path, module_path.rsplit(".", 1)[0]):
                continue  # a default plugin not present in this build
            raise PluginError(f"Default plugin {name} could not be imported: {err}.") from err
        pm.register(module, name=name)
        pm._venclient_origins[name] = ("default", None, None)  # type: ignore[attr-defined]

    if load_entry_points:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in blocked or pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
                continue
            if allow is not None and ep.name not in allow:
                continue
            try:
                plugin = ep.load()
            except Exception as err:  # noqa: BLE001 - a third-party plugin can fail in any way
                raise PluginError(f"Plugin {ep.name} (entry point {ep.value}) failed to load: {err}.") from err
            pm.register(plugin, name=ep.name)
            dist = ep.dist
            pm._venclient_origins[ep.name] = (  # type: ignore[attr-defined]
                "entry point", dist.name if dist else None, dist.version if dist else None)
    return pm


def list_plugins(pm: pluggy.PluginManager) -> list[PluginInfo]:
    """Every registered plugin with its origin and the hooks it implements, sorted by name."""
    origins = getattr(pm, "_venclient_origins", {})
    result = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue  # blocked
        hooks = tuple(sorted(caller.name for caller in pm.get_hookcallers(plugin) or []))
        origin, dist, version = origins.get(name, ("registered", None, None))
        module = plugin.__name__ if inspect.ismodule(plugin) else type(plugin).__module__
        result.append(PluginInfo(name=name, origin=origin, module=module, hooks=hooks,
                                 distribution=dist, version=version))
    return sorted(result, key=lambda p: p.name)
