"""The extension points of venclient — the one file a plugin author reads.

A plugin is any module or object with functions marked ``@hookimpl`` whose names match the
specifications below.  Ship it in a package that declares an entry point in the ``venclient`` group::

    # pyproject.toml of your package
    [project.entry-points.venclient]
    my_meter = "my_package.my_meter"

and it is loaded next to the default plugins (``ven plugins`` lists it).  Settings may narrow what
loads: ``plugins`` (allow-list of plugin names) and ``disabled_plugins`` (block-list, applied before
entry points are imported, so a broken plugin can be switched off).

Writing a hook implementation::

    from venclient import hookimpl

    @hookimpl
    def ven_meter_sources(settings):
        return [MyMeterSource(settings)]

Rules of the house:

* Hook arguments are passed by keyword; an implementation may accept any subset of them.
* ``firstresult`` hooks stop at the first implementation returning something other than ``None``.
  Later-registered plugins are called first, so a third-party plugin overrides a default one.
* Collecting hooks return one value (or a list, where stated) per implementation; ``None`` is skipped.
* A hook must not block the event loop: blocking I/O belongs in a thread (``asyncio.to_thread``).
* The objects returned implement the :mod:`venclient.protocols` contracts (``ResourceStore``,
  ``MeterSource``, ``VtnTransport``, ``Writer``); those files state what each method must do, and which
  optional capabilities (small runtime-checkable protocols such as ``ValidatesConnections``) the framework
  uses when an object has them.
* Observer hooks (``ven_readings``, ``ven_event``, ``ven_event_interval``) are called through one helper in the
  same order (later-registered first) and with the same isolation: an implementation that raises is logged once
  with its plugin's name, the other plugins still see the call, and its later failures are counted.
* Import what you need from ``venclient`` itself (``from venclient import hookimpl, MeterSource, LoadBatch,
  SourceReading, InputError, QUALITY_OK …``); other module paths may change between releases.
* Keep the module that holds your hook implementations cheap to import: ``ven --help`` imports every
  plugin's, so import hardware and data libraries (numpy, pymodbus, h5py …) inside the hook functions.
* ``tests/plugins/venclient_example`` is a complete plugin (a meter source, a writer, connect options and a
  command), and the ``venclient.testing`` pytest plugin gives your tests a runtime, a local VTN and
  ``collect_once`` (see the README's plugin guide).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import pluggy

if TYPE_CHECKING:  # pragma: no cover - imports for type checkers only
    import typer

    from venclient.connection_options import ConnectionOptions
    from venclient.protocols import MeterSource, ResourceStore, VtnTransport, Writer
    from venclient.settings import Settings

PROJECT_NAME = "venclient"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def ven_settings_validators() -> list[Any]:
    """Return ``dynaconf.Validator`` objects for the settings keys your plugin reads.

    Called once after plugins load; every validator of every plugin is checked before any command
    runs.  A failing validator stops the command with exit status 2 and one sentence naming the key,
    so give each validator a ``messages={"operations": "..."}`` that says what is expected.
    Keep your keys under a table named after your plugin (e.g. ``[default.modbus]``).
    """


@hookspec(firstresult=True)
def ven_resource_store(settings: "Settings", create: bool) -> "ResourceStore | None":
    """Return the :class:`venclient.protocols.ResourceStore` holding resources, loads, connections, outbox.

    ``firstresult``: the first non-``None`` answer wins.  The default plugin ``sqlite_store`` serves any
    SQLAlchemy URL in ``settings.database_url`` (SQLite by default, PostgreSQL with ``postgresql://``).
    Return ``None`` if your plugin does not handle the configured URL so the default can take it.
    The store is opened lazily by the framework and closed with ``store.close()`` at exit.

    ``create`` says whether a database that does not exist yet may be made.  It is ``True`` for the
    commands that fill a new store on purpose (``ven samples generate``, ``ven samples import``,
    ``ven demo``) and for library use (:meth:`venclient.runtime.Runtime.store`); every other ``ven`` command
    passes ``False``, and then a database that is not there must be a :class:`venclient.errors.SettingsError`
    naming it (exit status 2) — a mistyped path must not become a new, empty store.  A store that did
    create something may list it, human-readable, in an attribute ``created`` (a list of strings such as
    ``"the folder /srv/ven"``); the creating commands print it on stderr.
    """


@hookspec(firstresult=True)
def ven_vtn_transport(settings: "Settings") -> "VtnTransport | None":
    """Return the :class:`venclient.protocols.VtnTransport` that talks to the VTN.

    ``firstresult``.  The default plugin ``openadr_http`` speaks OpenADR 3.0.1 over HTTP(S) with httpx
    using the ``[vtn]`` settings table.  The transport is an async context manager.
    """


@hookspec
def ven_meter_sources(settings: "Settings") -> "list[MeterSource] | None":
    """Return a list of :class:`venclient.protocols.MeterSource` objects.

    Each source names the connection kinds it serves in ``source.kinds`` (``h5sim``, ``modbustcp``,
    ``modbusrtu``, ``mqtt``, ``filereader``, or a new kind of your own).  The collector groups the
    approved loads by their resource's connection type and asks the source serving that kind once per
    tick for the whole batch, every source concurrently under ``collect.source_timeout_seconds``.  Two
    sources claiming the same kind is an error naming both plugins.  Optional extras a source may have:
    ``validate_connection(connection)`` (checked by ``ven resources connect`` before anything is stored),
    ``test_read(connection)`` (``ven resources test``), ``wait_ready(timeout)`` (awaited after ``open``)
    and ``timeline()`` (a replayed time axis for the clock).  See :class:`venclient.protocols.MeterSource`.
    """


@hookspec
def ven_writers(settings: "Settings") -> "list[Writer] | None":
    """Return a list of :class:`venclient.protocols.Writer` objects that can act on loads.

    A writer serves connection kinds (``modbustcp``, ``modbusrtu``, ``mqtt`` …) for connections whose
    ``actortype`` is ``writer``; the event engine calls it when a demand-response event targets a load.
    """


@hookspec
def ven_cli(app: "typer.Typer") -> None:
    """Add sub-commands to the ``ven`` command line.

    ``app`` is the root ``typer.Typer``.  Add a group with ``app.add_typer(group, name="mything")`` or a
    command with ``@app.command()``.  Commands receive the runtime through ``ctx.obj``
    (:class:`venclient.runtime.Runtime`: ``settings``, ``pm``, ``store()``, ``transport()``) — declare a
    ``ctx: typer.Context`` parameter.  Raise :class:`venclient.errors.VenError` for a user-facing failure:
    the CLI prints its one sentence and exits with its status, no traceback.
    """


@hookspec
def ven_readings(tick: Any, readings: Any) -> None:
    """Observe every collected tick.

    ``tick`` is a :class:`venclient.clock.Tick` (index and UTC time); ``readings`` is a
    :class:`venclient.model.Readings` batch (numpy arrays: load ids, values in watts, quality codes).
    Called after each collection, before reporting.  Must be quick: an exporter that does I/O should
    queue the batch and write it from its own thread.
    Exceptions are logged (once per plugin, then counted) and do not stop the tick or the other plugins.
    """


@hookspec
def ven_event(change: str, event: Any, loads: Sequence[Any]) -> None:
    """A demand-response event was created, changed or removed on the VTN.

    ``change`` is ``"created"``, ``"changed"`` or ``"removed"``; ``event`` is a
    :class:`venclient.openadr.Event`; ``loads`` is a read-only sequence of the :class:`venclient.model.Load` objects
    the event targets — by ``RESOURCE_NAME`` (a load's VTN resourceName or a resource id), ``VEN_NAME``,
    ``GROUP`` (``ven resources set-group``) or ``POWER_SERVICE_LOCATION`` (the meter point) targets, any of them
    naming a load targets it, narrowed by the program's own targets; every load of the VENs this process runs
    when the event has no targets; none when all its targets are of types we cannot resolve (see
    :mod:`venclient.engine.targets`).  It reads the loads from the store as you iterate (one VEN at a time) and
    makes each Load when read, so a fleet-wide event costs nothing until you iterate; ``len(loads)`` is cheap,
    and iterating a large selection is blocking I/O (do it in a thread).
    Act on them (switch a relay, set a set-point) or just log.  Called on the event loop: do blocking I/O in
    a thread.  Exceptions are logged per plugin and do not stop other plugins from seeing the event.
    Connections with ``actortype = "writer"`` are acted on by the framework itself (see ``ven_writers``; in
    ``ven run`` at the intervals' boundaries, see ``ven_event_interval``).
    After a restart every active event is reported as ``created`` again.
    """


@hookspec
def ven_event_interval(phase: str, event: Any, interval: Any, loads: Sequence[Any], opted_out: Any) -> None:
    """An interval of a demand-response event started or ended, in the clock's time (``ven run`` only).

    ``phase`` is ``"start"`` or ``"end"``; ``event`` the :class:`venclient.openadr.Event`; ``interval`` its
    :class:`venclient.openadr.Interval` (``None`` if the event no longer holds it); ``loads`` the targeted loads,
    as for ``ven_event`` (a lazy read-only sequence).  ``opted_out`` tells which of them are opted out of this
    event (``ven events opt-out``): ``load in opted_out`` (or a resource id), ``opted_out.everything`` (the
    whole event), ``opted_out.resources`` (the resource ids), falsy when nothing is opted out
    (:class:`venclient.engine.scheduler.OptOuts`).

    Called at every boundary of the event's timeline (:mod:`venclient.engine.timeline`: ``randomizeStart``
    applied, sub-intervals of a multi-valued payload counted as their interval): with the wall clock when the
    moment comes, with the replay clock on the first tick at or after it.  An event removed or cancelled while an
    interval is active ends it.  After a restart the intervals active then start again (past ones are not
    replayed).  Ends come before starts at the same moment.  Writer connections are acted on by the framework
    (the values the connection's ``payload``/``levels``/``scale`` choose, its ``release_value`` when nothing
    applies any more); use this hook to act on schedules without polling.  Called on the event loop: do blocking
    I/O in a thread.  Exceptions are logged per plugin.
    """


@hookspec
def ven_connection_options() -> "ConnectionOptions | list[ConnectionOptions] | None":
    """Return the :class:`venclient.connection_options.ConnectionOptions` of the connection kinds you serve.

    They add options to ``ven resources connect`` (shown by its ``--help``) and keys to the ``[[resource]]``
    tables of ``--from FILE.toml``: each :class:`~venclient.connection_options.ConnectionOption` is a flag
    (``--unit``) and the TOML key of the same name (``unit``).  For a connection of one of your kinds the
    core calls ``apply(draft, values)`` with the options given; move them into the
    :class:`~venclient.connection_options.ConnectionDraft` (usually ``draft.params``) and raise
    ``draft.fail("one sentence")`` for a bad value.  An option of another plugin's kind is refused by the core.

    The options every connection has stay the core's and must not be redefined: ``--type``, ``--host``,
    ``--port`` (a TCP port unless your ``apply`` takes it, as ``modbusrtu`` does for its serial device),
    ``--file``, ``--topic``, ``--username``, ``--password-env``, ``--writer``, ``--param KEY=VALUE`` (→
    ``params``) and ``--channel LOAD=CHANNEL`` (→ ``params.channels``, keyed by load component).  Checking the
    whole connection is ``validate_connection``'s job; ``apply`` only translates options.  Called when the
    CLI is built: keep the module light (no hardware libraries imported).
    """
