"""``ven demo``."""

from __future__ import annotations

import typer



def demo_command(
    ctx: typer.Context,
    resources: int = typer.Option(150, "--resources", min=1, max=20000, help="Fleet size when the store is empty."),
    ticks: int = typer.Option(36, "--ticks", min=1, max=10000, help="Reporting ticks to run."),
    speed: float = typer.Option(150.0, "--speed", min=1.0, help="Simulated seconds per real second."),
    seed: int = typer.Option(7, "--seed", help="Seed for the generated fleet and meter data."),
) -> None:
    """Show everything on this machine: sample fleet, meter data, local VTN, registration, reporting.

    Uses what is already in config/ and generates what is missing; leaves config/ ready for `ven run`.
    """
    from venclient.plugins.demo.demo import DemoOptions, print_received, print_usage, run_demo  # when it runs

    result = run_demo(ctx.obj, DemoOptions(resources=resources, ticks=ticks, speed=speed, seed=seed))
    print_usage(result)
    print_received(result.rows)
    if not result.rows or sum(r[1] for r in result.rows) == 0:
        raise typer.Exit(1)
