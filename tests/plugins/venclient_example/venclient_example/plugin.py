"""Adds `ven example-hello` and a meter source for the connection kind ``example``."""

import typer

from venclient.hookspecs import hookimpl


@hookimpl
def ven_cli(app: typer.Typer) -> None:
    @app.command("example-hello")
    def example_hello() -> None:
        """Say hello from the example third-party plugin."""
        typer.echo("hello from venclient-example")
