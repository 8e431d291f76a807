"""``ven db status`` and ``ven db migrate``."""

from __future__ import annotations

import typer

from venclient.cli.output import console, print_json, table

db_app = typer.Typer(help="Inspect and migrate the resource store.", no_args_is_help=True)


@db_app.command("status")
def status(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Statistics of resources and loads: counts by VEN, type, sub-type, status and component."""
    stats = ctx.obj.store().statistics()
    if as_json:
        print_json(stats)
        return
    out = console()
    out.print(table(f"Store {stats['database']}", ["what", "count"], [
        ("resources", stats["resources"]), ("VENs", stats["vens"]), ("loads", stats["loads"]),
        ("loads registered with the VTN", stats["loads_registered"]),
        ("unique H5 meters", stats["unique_h5_meters"]),
        ("resources with an H5 meter", stats["resources_with_h5_meter"])]))
    out.print(table("Loads by component", ["component", "loads"], stats["loads_by_component"].items()))
    out.print(table("Resources by status", ["status", "resources"], stats["by_status"].items()))
    out.print(table("Resources by type / sub-type", ["type", "resources"],
                    list(stats["by_type"].items()) + [(f"  {k}", v) for k, v in stats["by_sub_type"].items()]))
    out.print(table("Resources by connection", ["kind", "resources"], stats["by_connection"].items()))
    top = sorted(stats["by_ven"].items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    out.print(table(f"Top {len(top)} of {stats['vens']} VENs", ["VEN", "resources"], top))


@db_app.command("migrate")
def migrate(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Bring the database schema up to date in place (also done automatically when the store opens)."""
    store = ctx.obj.store()
    changes = store.migrations + store.migrate()
    if as_json:
        print_json({"database": store.url.split("@")[-1], "changes": changes})
    elif changes:
        for change in changes:
            console().print(f"  {change}")
    else:
        console().print("The schema is up to date.")
