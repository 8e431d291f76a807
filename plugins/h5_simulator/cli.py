"""``ven meterdata generate``: write a synthetic HDF5 meter-data file in the seeds' layout."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Optional

import typer

from venclient.cli.output import console, print_json, progress, table


def build_meterdata_app() -> typer.Typer:
    """The ``ven meterdata`` command group."""
    app = typer.Typer(help="Synthetic HDF5 meter data (meters/meter_<id>/load_0..load_5/power).",
                      no_args_is_help=True)

    @app.command("generate")
    def generate_cmd(
        ctx: typer.Context,
        meters: int = typer.Option(153, "--meters", min=1, max=100_000, help="How many meters."),
        hours: int = typer.Option(8741, "--hours", min=1, max=1_000_000,
                                  help="Hourly values per load, from 2025-01-15 13:00 UTC."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Seed for reproducible data; "
                                                                "random (and printed) when omitted."),
        out: Optional[Path] = typer.Option(None, "--out", help="Output file; default: setting h5_simulator.h5_path."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    ) -> None:
        """Generate meter data for --meters meters × six load profiles, written atomically."""
        from venclient.plugins.h5_simulator.generator import write_meterdata  # numpy, h5py: when it runs

        target = Path(out) if out is not None else Path(ctx.obj.settings.h5_simulator.h5_path)
        existed = target.is_file()
        with progress(transient=as_json) as bar:
            task = bar.add_task("Generating meter data", total=meters)
            summary = write_meterdata(target, meters=meters, hours=hours, seed=seed,
                                      progress=lambda n: bar.advance(task, n))
        if as_json:
            data = {k: v for k, v in asdict(summary).items() if k != "meter_ids"}
            print_json(data | {"replaced": existed})
            return
        console().print(table(f"Meter data {'replaced' if existed else 'written'}", ["what", "value"], [
            ("file", summary.path), ("meters", summary.meters), ("hours", summary.hours),
            ("first hour (UTC)", summary.start), ("last hour (UTC)", summary.end),
            ("size (MB)", f"{summary.bytes / 1e6:.1f}"), ("seed", str(summary.seed))]))

    return app
