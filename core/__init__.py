"""venclient — a pluggy-based framework for OpenADR 3.0.1 VENs.  This module is the front door for plugin authors.

Everything a plugin needs is importable from here::

    from venclient import hookimpl, MeterSource, LoadBatch, SourceReading, InputError, QUALITY_OK

The names are looked up lazily (PEP 562): ``import venclient`` costs nothing, and a name pulls in its
module (numpy for the batch types, pydantic for the OpenADR models) only when it is first used.  Names
outside ``__all__`` live in submodules that may change between releases; the ones listed here do not
change without a deprecation.

Where things come from: hook markers and the hook specifications in :mod:`venclient.hookspecs`, the
contracts in :mod:`venclient.protocols`, the domain objects in :mod:`venclient.model`, ticks and clocks in
:mod:`venclient.clock`, the user-facing errors in :mod:`venclient.errors`, the OpenADR 3.0.1 objects in
:mod:`venclient.openadr`.  The core never imports a plugin; plugins import the core.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    # hooks
    "hookimpl": "venclient.hookspecs",
    "hookspec": "venclient.hookspecs",
    "PROJECT_NAME": "venclient.hookspecs",
    # contracts
    "ResourceStore": "venclient.protocols",
    "StoreLifecycle": "venclient.protocols",
    "ResourceRecords": "venclient.protocols",
    "LoadRecords": "venclient.protocols",
    "ConnectionRecords": "venclient.protocols",
    "RegistrationRecords": "venclient.protocols",
    "ReportOutbox": "venclient.protocols",
    "RuntimeState": "venclient.protocols",
    "BacklogRecords": "venclient.protocols",
    "LeaseRecords": "venclient.protocols",
    "CountsLoads": "venclient.protocols",
    "ListsConnections": "venclient.protocols",
    "ReadsCapacities": "venclient.protocols",
    "EventStateRecords": "venclient.protocols",
    "ResourceGroups": "venclient.protocols",
    "MeterSource": "venclient.protocols",
    "HasTimeline": "venclient.protocols",
    "WaitsReady": "venclient.protocols",
    "ValidatesConnections": "venclient.protocols",
    "ReadsOnDemand": "venclient.protocols",
    "Writer": "venclient.protocols",
    "VtnTransport": "venclient.protocols",
    "PostsReportText": "venclient.protocols",
    "FindsReports": "venclient.protocols",
    "ListsReports": "venclient.protocols",
    "SettlesUnknownOutcomes": "venclient.protocols",
    "CreatesResourceIds": "venclient.protocols",
    "RawRequests": "venclient.protocols",
    "ListsSubscriptions": "venclient.protocols",
    "LoadBatch": "venclient.protocols",
    "SourceReading": "venclient.protocols",
    "parsed_connections": "venclient.protocols",
    # connection options a plugin adds to `ven resources connect`
    "ConnectionOption": "venclient.connection_options",
    "ConnectionOptions": "venclient.connection_options",
    "ConnectionDraft": "venclient.connection_options",
    # domain
    "Connection": "venclient.model",
    "Resource": "venclient.model",
    "Load": "venclient.model",
    "Readings": "venclient.model",
    "LOAD_COMPONENTS": "venclient.model",
    "COMPONENT_INDEX": "venclient.model",
    "KNOWN_KINDS": "venclient.model",
    "READER": "venclient.model",
    "WRITER": "venclient.model",
    "PENDING": "venclient.model",
    "APPROVED": "venclient.model",
    "SUSPENDED": "venclient.model",
    "STATUSES": "venclient.model",
    "QUALITY_OK": "venclient.model",
    "QUALITY_MISSING": "venclient.model",
    "QUALITY_STALE": "venclient.model",
    "QUALITY_INVALID": "venclient.model",
    "QUALITY_NAMES": "venclient.model",
    "external_resource_name": "venclient.model",
    "LoadRow": "venclient.model",
    "CollectionRow": "venclient.model",
    "RegistrationRow": "venclient.model",
    "OutboxItem": "venclient.model",
    "OutboxRow": "venclient.model",
    "BacklogTick": "venclient.model",
    "BacklogRow": "venclient.model",
    "LeaseHolder": "venclient.model",
    "LeaseRow": "venclient.model",
    "H5SIM_KIND": "venclient.model",
    # time
    "Tick": "venclient.clock",
    "Clock": "venclient.clock",
    # errors
    "VenError": "venclient.errors",
    "InputError": "venclient.errors",
    "SettingsError": "venclient.errors",
    "PluginError": "venclient.errors",
    "StoreUnavailable": "venclient.errors",
    "LeaseHeld": "venclient.errors",
    # settings and OpenADR objects
    "Settings": "venclient.settings",
    "Event": "venclient.openadr",
    "Program": "venclient.openadr",
    "Report": "venclient.openadr",
}

# a literal list, so linters and IDEs read it; a test keeps it equal to _EXPORTS
__all__ = ["__version__", "hookimpl", "hookspec", "PROJECT_NAME", "ResourceStore", "StoreLifecycle",
           "ResourceRecords", "LoadRecords", "ConnectionRecords", "RegistrationRecords", "ReportOutbox",
           "RuntimeState", "BacklogRecords", "LeaseRecords", "CountsLoads", "ListsConnections",
           "ReadsCapacities", "MeterSource",
           "EventStateRecords", "ResourceGroups", "HasTimeline", "WaitsReady", "ValidatesConnections",
           "ReadsOnDemand", "Writer", "VtnTransport",
           "PostsReportText", "FindsReports", "ListsReports", "SettlesUnknownOutcomes", "CreatesResourceIds",
           "RawRequests", "ListsSubscriptions", "LoadBatch", "SourceReading", "parsed_connections",
           "ConnectionOption", "ConnectionOptions", "ConnectionDraft", "Connection", "Resource", "Load",
           "Readings", "LOAD_COMPONENTS", "COMPONENT_INDEX", "KNOWN_KINDS", "READER", "WRITER", "PENDING",
           "APPROVED", "SUSPENDED", "STATUSES", "QUALITY_OK", "QUALITY_MISSING", "QUALITY_STALE", "QUALITY_INVALID",
           "QUALITY_NAMES",
           "external_resource_name", "LoadRow", "CollectionRow", "RegistrationRow", "OutboxItem", "OutboxRow",
           "BacklogTick", "BacklogRow", "LeaseHolder", "LeaseRow", "H5SIM_KIND", "Tick", "Clock", "VenError",
           "InputError", "SettingsError", "PluginError", "StoreUnavailable", "LeaseHeld", "Settings", "Event",
           "Program", "Report"]


def __getattr__(name: str) -> Any:
    """Resolve a public name on first use and cache it in the module namespace."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'venclient' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover - static names for type checkers and IDEs
    from venclient.clock import Clock, Tick
    from venclient.connection_options import ConnectionDraft, ConnectionOption, ConnectionOptions
    from venclient.errors import InputError, LeaseHeld, PluginError, SettingsError, StoreUnavailable, VenError
    from venclient.hookspecs import PROJECT_NAME, hookimpl, hookspec
    from venclient.model import (APPROVED, BacklogRow, BacklogTick, COMPONENT_INDEX, CollectionRow, Connection,
                                 H5SIM_KIND, KNOWN_KINDS, LOAD_COMPONENTS, LeaseHolder, LeaseRow, Load, LoadRow,
                                 OutboxItem, OutboxRow, PENDING, QUALITY_INVALID, QUALITY_MISSING, QUALITY_NAMES,
                                 QUALITY_OK, QUALITY_STALE, READER, Readings, RegistrationRow, Resource, STATUSES,
                                 SUSPENDED, WRITER, external_resource_name)
    from venclient.openadr import Event, Program, Report
    from venclient.protocols import (BacklogRecords, ConnectionRecords, CountsLoads, CreatesResourceIds,
                                     EventStateRecords, FindsReports, HasTimeline, LeaseRecords, ListsConnections,
                                     ListsReports, ListsSubscriptions, LoadBatch, LoadRecords, MeterSource,
                                     PostsReportText, RawRequests, ReadsCapacities, ReadsOnDemand,
                                     RegistrationRecords, ReportOutbox, ResourceGroups, ResourceRecords, ResourceStore,
                                     RuntimeState, SettlesUnknownOutcomes, SourceReading, StoreLifecycle, ValidatesConnections,
                                     VtnTransport, WaitsReady, Writer, parsed_connections)
    from venclient.settings import Settings
