"""``ven samples import|generate`` and ``ven loads generate``.

Both ``samples`` commands create the store when ``database_url`` names a SQLite file (or folder) that does not
exist yet, and say so on stderr; every other command refuses a store that is not there.  They refuse to add
to a store that already holds resources unless ``--append`` is given: adding a second fleet by accident
doubles every VEN, and re-importing the same CSV would give the same businesses twice under new ids.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Optional

import typer

from venclient.errors import InputError
from venclient.cli.output import console, print_json, progress, table
from venclient.plugins.samples.store_fill import open_store_to_fill

# The builders (numpy, h5py) load when a command runs, not when `ven --help` lists it.

JSON_OPTION = typer.Option(False, "--json", help="Print JSON for scripts instead of tables.")
SEED_HELP = "Seed for reproducible ids and choices; a random one is used (and printed) when omitted."
DEFAULT_RESOURCES = 150
SKIPPED_SHOWN_PER_FILE = 20


def _refuse_if_populated(store: Any, append: bool) -> None:
    existing = store.count_resources()
    if existing and not append:
        raise InputError(f"The store already holds {existing} resources; pass --append to add more, "
                         f"or point database_url at a new database.")


def print_statistics(stats: dict[str, Any]) -> None:
    """A compact table of the store statistics (totals, loads by component, top VENs)."""
    out = console()
    out.print(table("Store", ["what", "count"], [
        ("resources", stats.get("resources", 0)), ("VENs", stats.get("vens", 0)),
        ("loads", stats.get("loads", 0)), ("unique H5 meters", stats.get("unique_h5_meters", 0)),
        ("resources with an H5 meter", stats.get("resources_with_h5_meter", 0))]))
    if stats.get("loads_by_component"):
        out.print(table("Loads by component", ["component", "loads"], stats["loads_by_component"].items()))
    by_ven = stats.get("by_ven") or {}
    top = sorted(by_ven.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    if top:
        out.print(table(f"Top {len(top)} of {len(by_ven)} VENs", ["VEN", "resources"], top))


def build_samples_app() -> typer.Typer:
    """The ``ven samples`` command group."""
    app = typer.Typer(help="Sample resources: import the seeds' asset CSVs or generate a synthetic fleet.",
                      no_args_is_help=True)

    @app.command("import")
    def import_cmd(
        ctx: typer.Context,
        files: list[Path] = typer.Argument(..., help="Asset files named <subtype>-in-denmark.csv "
                                                     "(columns title, address, longitude, latitude)."),
        seed: Optional[int] = typer.Option(None, "--seed", help=SEED_HELP),
        append: bool = typer.Option(False, "--append", help="Add to a store that already has resources."),
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Import businesses from asset CSVs: VEN = town of the address, bad rows reported and skipped."""
        from venclient.plugins.samples.build import build_resources
        from venclient.plugins.samples.csv_import import read_asset_files
        from venclient.plugins.samples.ids import make_rng, new_seed

        assets = read_asset_files(files)
        store = open_store_to_fill(ctx.obj)
        _refuse_if_populated(store, append)
        seed = new_seed() if seed is None else seed
        resources = build_resources([site for asset in assets for site in asset.sites], make_rng(seed))
        imported = store.insert_resources(resources) if resources else 0
        report = {"imported": imported, "skipped": sum(len(a.skipped) for a in assets),
                  "vens": len({r.ven for r in resources}), "seed": seed,
                  "files": [{"file": str(a.path), "sub_type": a.sub_type.name, "rows": a.rows,
                             "imported": len(a.sites),
                             "skipped": [{"line": s.line, "reason": s.reason} for s in a.skipped]}
                            for a in assets]}
        if as_json:
            print_json(report)
            return
        warn = console(stderr=True)
        for asset in assets:
            for row in asset.skipped[:SKIPPED_SHOWN_PER_FILE]:
                warn.print(f"[yellow]skipped[/] {asset.path} line {row.line}: {row.reason}", markup=True)
            if len(asset.skipped) > SKIPPED_SHOWN_PER_FILE:
                warn.print(f"[yellow]skipped[/] {asset.path}: {len(asset.skipped) - SKIPPED_SHOWN_PER_FILE} "
                           f"more rows (see --json)", markup=True)
        rows = [(str(a.path), a.sub_type.name, a.rows, len(a.sites), len(a.skipped)) for a in assets]
        rows.append(("total", "", sum(a.rows for a in assets), imported, report["skipped"]))
        out = console()
        out.print(f"Imported {imported} resources in {report['vens']} VENs (seed {seed}).")
        out.print(table("Asset files", ["file", "sub-type", "rows", "imported", "skipped"], rows))

    @app.command("generate")
    def generate_cmd(
        ctx: typer.Context,
        resources: int = typer.Option(DEFAULT_RESOURCES, "--resources", "-n", min=1, max=1_000_000,
                                      help="How many resources to create."),
        seed: Optional[int] = typer.Option(None, "--seed", help=SEED_HELP),
        append: bool = typer.Option(False, "--append", help="Add to a store that already has resources."),
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Generate a synthetic fleet across real Danish towns (one VEN per town); same seed, same fleet."""
        from venclient.plugins.samples.fleet import generate_fleet
        from venclient.plugins.samples.ids import new_seed

        store = open_store_to_fill(ctx.obj)
        _refuse_if_populated(store, append)
        seed = new_seed() if seed is None else seed
        with progress(transient=as_json) as bar:
            building = bar.add_task("Building resources", total=resources)
            fleet = generate_fleet(resources, seed, progress=lambda n: bar.advance(building, n))
            writing = bar.add_task("Writing to the store", total=resources)
            inserted = store.insert_resources(fleet)
            bar.advance(writing, inserted)
        vens = Counter(r.ven for r in fleet)
        sub_types = Counter(r.resource_sub_type for r in fleet)
        if as_json:
            print_json({"resources": inserted, "vens": len(vens), "seed": seed,
                        "by_sub_type": dict(sub_types.most_common()), "by_ven": dict(vens.most_common())})
            return
        out = console()
        out.print(f"Generated {inserted} resources in {len(vens)} VENs (seed {seed}).")
        out.print(table("By sub-type", ["sub-type", "resources"], sub_types.most_common()))
        out.print(table("Largest VENs", ["VEN", "resources"], vens.most_common(10)))

    return app


def build_loads_app() -> typer.Typer:
    """The ``ven loads`` command group."""
    app = typer.Typer(help="Load components: six per resource, each simulated from an H5 meter.",
                      no_args_is_help=True)

    @app.command("generate")
    def generate_cmd(
        ctx: typer.Context,
        seed: Optional[int] = typer.Option(None, "--seed", help=SEED_HELP),
        force: bool = typer.Option(False, "--force", help="Replace all existing loads (one transaction)."),
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Give every resource a random H5 meter and create its six loads (load_0 Base Load … load_5)."""
        from venclient.plugins.samples.loadgen import generate_loads

        runtime = ctx.obj
        store = runtime.store()
        with progress(transient=True) as bar:
            bar.add_task("Generating loads", total=None)
            result = generate_loads(store, runtime.settings.h5_simulator.h5_path, seed=seed, force=force)
        stats = store.statistics()
        if as_json:
            print_json({"generation": result.as_dict(), "statistics": stats})
            return
        replaced = f", replacing {result.replaced}" if result.replaced else ""
        console().print(f"Created {result.loads} loads for {result.resources} resources from "
                        f"{result.meters_used} of {result.meters_available} meters{replaced} "
                        f"in {result.seconds:.2f} s.")
        print_statistics(stats)

    return app
