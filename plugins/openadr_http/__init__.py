"""VTN transport plugin: OpenADR 3.0.1 over HTTP(S) with httpx, plus ``ven vtn ping``, ``ven programs``, ``ven events``."""

from __future__ import annotations

from typing import Any

import typer

from core.hookspecs import hookimpl
from plugins.openadr_http.cli import add_commands
from plugins.openadr_http.config import VtnConfig, settings_validators
from plugins.openadr_http.transport import HttpVtnTransport

__all__ = ["HttpVtnTransport", "VtnConfig"]


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
