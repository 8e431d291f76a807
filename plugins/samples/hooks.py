"""Hook implementations of the samples plugin."""

from __future__ import annotations

import typer

from venclient.hookspecs import hookimpl
from venclient.plugins.samples.cli import build_loads_app, build_samples_app


@hookimpl
def ven_cli(app: typer.Typer) -> None:
    """Add ``ven samples …`` and ``ven loads …``."""
    app.add_typer(build_samples_app(), name="samples")
    app.add_typer(build_loads_app(), name="loads")
