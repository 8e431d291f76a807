"""The example third-party plugin: the ``sine`` meter source and writer, their connect options, ``ven example-hello``.

Registered by the entry point ``[project.entry-points.venclient] example = "venclient_example.plugin"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import typer

from venclient import ConnectionDraft, ConnectionOption, ConnectionOptions, hookimpl
from venclient_example.wave import KIND, describe

if TYPE_CHECKING:  # pragma: no cover
    from venclient_example.recorder import RecordingWriter
    from venclient_example.sine import SineMeterSource

# The source and the writer (numpy) load when a runtime asks for them, so `ven --help` stays fast.


def apply_options(draft: ConnectionDraft, values: Mapping[str, Any]) -> None:
    """``--amplitude/--period/--phase`` → ``params``; the source's ``validate_connection`` checks them."""
    for key in ("amplitude", "period", "phase"):
        if values.get(key) is not None:
            draft.params[key] = values[key]


CONNECTION_OPTIONS = ConnectionOptions(
    kinds=(KIND,),
    options=(ConnectionOption("--amplitude", "sine: peak watts (default 1000).", float),
             ConnectionOption("--period", "sine: seconds per wave (default 3600).", float),
             ConnectionOption("--phase", "sine: phase in degrees (default 0).", float)),
    apply=apply_options, describe=describe)


@hookimpl
def ven_meter_sources(settings: Any) -> list[SineMeterSource]:
    """One source serving ``sine``."""
    from venclient_example.sine import SineMeterSource

    return [SineMeterSource()]


@hookimpl
def ven_writers(settings: Any) -> list[RecordingWriter]:
    """One writer serving ``sine`` writer connections."""
    from venclient_example.recorder import RecordingWriter

    return [RecordingWriter()]


@hookimpl
def ven_connection_options() -> ConnectionOptions:
    """``--amplitude``, ``--period`` and ``--phase`` for ``ven resources connect --type sine``."""
    return CONNECTION_OPTIONS


@hookimpl
def ven_cli(app: typer.Typer) -> None:
    """``ven example-hello``."""
    @app.command("example-hello")
    def example_hello() -> None:
        """Say hello from the example third-party plugin."""
        typer.echo("hello from venclient-example")
