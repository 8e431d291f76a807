"""Hook implementations of the local VTN plugin: its ``[local_vtn]`` settings and ``ven vtn serve``."""

from __future__ import annotations

from typing import Any

import typer

from venclient.hookspecs import hookimpl
from venclient.plugins.local_vtn.cli import add_commands
from venclient.plugins.local_vtn.settings import settings_validators


@hookimpl
def ven_settings_validators() -> list[Any]:
    """``[local_vtn]`` keys with defaults."""
    return settings_validators()


@hookimpl
def ven_cli(app: typer.Typer) -> None:
    """Add ``ven vtn serve``."""
    add_commands(app)
