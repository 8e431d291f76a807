"""Hook implementations of the VTN transport plugin: the transport, its ``[vtn]`` settings, ``ven vtn ping``,
``ven programs`` and ``ven events``."""

from __future__ import annotations

from typing import Any

import typer

from venclient.hookspecs import hookimpl
from venclient.plugins.openadr_http.cli import add_commands
from venclient.plugins.openadr_http.config import VtnConfig, settings_validators
from venclient.plugins.openadr_http.transport import HttpVtnTransport


@hookimpl
def ven_settings_validators() -> list[Any]:
    """Retry, backoff and pool settings under ``[vtn]`` (with defaults)."""
    return settings_validators()


@hookimpl
def ven_vtn_transport(settings: Any) -> HttpVtnTransport:
    """The HTTP transport for ``settings.vtn``; a missing ``vtn.url`` is a settings error (exit 2)."""
    return HttpVtnTransport(VtnConfig.from_settings(settings))


@hookimpl
def ven_cli(app: typer.Typer) -> None:
    """Add ``ven vtn ping``, ``ven programs`` and ``ven events``."""
    add_commands(app)
