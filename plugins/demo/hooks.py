"""Hook implementation of the demo plugin: ``ven demo``."""

from __future__ import annotations

import typer

from venclient.hookspecs import hookimpl
from venclient.plugins.demo.cli import demo_command


@hookimpl
def ven_cli(app: typer.Typer) -> None:
    """Add ``ven demo``."""
    app.command("demo")(demo_command)
