"""The runtime handed to every command: settings, the plugin manager, and lazily opened services.

No globals: the CLI builds one ``Runtime`` and passes it as ``ctx.obj``; tests build their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

from venclient.errors import PluginError
from venclient.plugin_manager import build_plugin_manager
from venclient.settings import Settings, load_settings, validate

if TYPE_CHECKING:  # pragma: no cover - the protocols import numpy; the runtime is built for bare `ven --help` too
    from venclient.protocols import ResourceStore, VtnTransport


class Runtime:
    """Settings + plugin manager; ``store()`` and other services are created on first use.

    ``may_create_store`` is the default answer to "may the store make a database that does not exist yet?":
    ``True`` for library use and tests, ``False`` in the ``ven`` command line, where only the commands that
    fill a new store on purpose ask for it with ``store(create=True)``.
    """

    def __init__(self, settings: Settings, pm: pluggy.PluginManager, *, may_create_store: bool = True):
        self.settings = settings
        self.pm = pm
        self.may_create_store = may_create_store
        self._store: ResourceStore | None = None
        self._validated = False

    @classmethod
    def create(cls, settings: Settings | None = None, *, load_entry_points: bool = True,
               may_create_store: bool = True, validate_settings: bool = True) -> "Runtime":
        """Load settings (if not given), build the plugin manager and validate plugin settings.

        With ``validate_settings=False`` the plugins' validators run only when :meth:`validate_settings` is
        called (``ven`` does so before any command runs, so printing help does not pay for them)."""
        settings = settings if settings is not None else load_settings()
        pm = build_plugin_manager(settings, load_entry_points=load_entry_points)
        runtime = cls(settings, pm, may_create_store=may_create_store)
        if validate_settings:
            runtime.validate_settings()
        return runtime

    def validate_settings(self) -> None:
        """Apply every plugin's ``ven_settings_validators`` (defaults filled in); a bad value raises
        :class:`venclient.errors.SettingsError`.  Runs once: later calls do nothing."""
        if self._validated:
            return
        validators = [v for group in self.pm.hook.ven_settings_validators() for v in (group or [])]
        if validators:
            validate(self.settings, validators)
        self._validated = True

    def store(self, *, create: bool = False) -> ResourceStore:
        """The :class:`venclient.protocols.ResourceStore` from the ``ven_resource_store`` hook (opened once).

        The store may make a database that does not exist when ``create`` is true or the runtime was built
        with ``may_create_store`` (see :func:`venclient.hookspecs.ven_resource_store`); only the first call opens it.
        """
        if self._store is None:
            store = self.pm.hook.ven_resource_store(settings=self.settings,
                                                    create=create or self.may_create_store)
            if store is None:
                raise PluginError("No plugin provides a resource store (is sqlite_store disabled?).")
            self._store = store
        return self._store

    def transport(self) -> VtnTransport:
        """A new :class:`venclient.protocols.VtnTransport` from the ``ven_vtn_transport`` hook."""
        transport = self.pm.hook.ven_vtn_transport(settings=self.settings)
        if transport is None:
            raise PluginError("No plugin provides a VTN transport (is openadr_http disabled?).")
        return transport

    def meter_sources(self) -> dict[str, Any]:
        """``{kind: MeterSource}`` from every ``ven_meter_sources`` implementation; a kind served twice is an error."""
        by_kind: dict[str, Any] = {}
        for sources in self.pm.hook.ven_meter_sources(settings=self.settings):
            for source in sources or []:
                for kind in source.kinds:
                    if kind in by_kind and by_kind[kind] is not source:
                        raise PluginError(
                            f"Connection kind {kind!r} is served by both {type(by_kind[kind]).__name__} "
                            f"and {type(source).__name__}; disable one of the plugins.")
                    by_kind[kind] = source
        return by_kind

    def writers(self) -> dict[str, Any]:
        """``{kind: Writer}`` from every ``ven_writers`` implementation."""
        by_kind: dict[str, Any] = {}
        for writers in self.pm.hook.ven_writers(settings=self.settings):
            for writer in writers or []:
                for kind in writer.kinds:
                    by_kind.setdefault(kind, writer)
        return by_kind

    def close(self) -> None:
        """Close what was opened."""
        if self._store is not None:
            self._store.close()
            self._store = None
