"""The plugin manager: default plugins + the ``venclient`` entry-point group, filtered by settings.

``plugins`` (allow-list) and ``disabled_plugins`` (block-list) name plugins by their short name:
the folder name for a default plugin (``sqlite_store``) or the entry-point name for a third-party one.
Blocked names are set before entry points are imported, so a blocked plugin's code never runs.
"""

from __future__ import annotations

import importlib
import inspect
import logging
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

log = logging.getLogger(__name__)


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


class IsolatedHook:
    """Calls every implementation of one observer hook (``ven_readings``, ``ven_event``) so that a failing
    plugin cannot stop the others — the one way core calls hooks whose implementations must all run.

    The order is pluggy's (later-registered plugins first, ``tryfirst``/``trylast`` honoured; implementations
    registered after this object was made are called too).  A plugin that raises is skipped for that call: its
    first failure in this hook logs one warning naming the plugin and the hook, with the traceback; later ones
    are counted in :attr:`failures` and logged at debug level only (an observer failing on every tick must
    not flood the log).  Hook wrappers are not called.
    """

    def __init__(self, caller: pluggy.HookCaller):
        self.caller = caller
        self.failures: dict[str, int] = {}

    @property
    def name(self) -> str:
        """The hook's name."""
        return self.caller.name

    def __call__(self, **arguments: Any) -> list[Any]:
        """Call each implementation with the ``arguments`` it names; returns the results that are not ``None``,
        in call order."""
        results = []
        for impl in reversed(self.caller.get_hookimpls()):  # pluggy calls the last of the list first
            if impl.hookwrapper or impl.wrapper:
                continue
            try:
                result = impl.function(*[arguments[name] for name in impl.argnames])
            except Exception:  # noqa: BLE001 - a plugin can fail in any way; the others still run
                self._failed(impl.plugin_name)
                continue
            if result is not None:
                results.append(result)
        return results

    def _failed(self, plugin: str) -> None:
        count = self.failures.get(plugin, 0) + 1
        self.failures[plugin] = count
        if count == 1:
            log.warning("Plugin %s failed in %s; the other plugins still run (further failures are counted, "
                        "not logged).", plugin, self.name, exc_info=True)
        else:
            log.debug("Plugin %s failed in %s again (%d failures).", plugin, self.name, count, exc_info=True)
