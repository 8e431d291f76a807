"""``ven baseline``: a resource's history baselines at one hour (:mod:`venclient.engine.baseline`)."""

from __future__ import annotations

from typing import Optional

import typer

# The engine and rich load when the command runs, not when `ven --help` lists it.


def add_commands(app: typer.Typer) -> None:
    """Add ``ven baseline`` to the root app."""

    @app.command("baseline")
    def baseline_cmd(
        ctx: typer.Context,
        resource: str = typer.Option(..., "--resource", help="The resource id whose loads to show."),
        at: Optional[str] = typer.Option(None, "--at", metavar="ISO-TIME",
                                         help="The time whose hour to compute (UTC without an offset); default: "
                                              "the hour after the resource's newest stored history, else now."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts instead of a table."),
    ) -> None:
        """Per load of a resource: the history baseline in W for one hour, the days it used and the method.

        The history is what `ven run` keeps for loads whose meter has no baseline of its own (Modbus, MQTT,
        files); simulated (h5sim) loads report the unresponded H5 value instead. A load with fewer event-free
        days than baseline.min_days has no baseline (shown as —).
        """
        from venclient.cli.output import console, print_json, table
        from venclient.engine.baseline import BaselineMethod, parse_moment, resource_baselines

        runtime = ctx.obj
        data = resource_baselines(runtime.store(), BaselineMethod.from_settings(runtime.settings), resource,
                                  parse_moment(at))
        if as_json:
            print_json(data)
            return
        rows = [(load["load_id"], load["load_component"],
                 "—" if load["baseline_w"] is None else f"{load['baseline_w']:,.1f}", load["days_used"],
                 ", ".join(load["dates"])) for load in data["loads"]]
        console().print(table(f"Baseline of {data['resource_id']} ({data['source']}) for the hour from "
                              f"{data['hour_start']}", ["load", "component", "baseline W", "days", "dates used"],
                              rows))
        if data["source"] == "h5sim":
            console().print("This resource is simulated: its reports carry the simulator's own baseline, not "
                            "this one.")
        console().print(f"Method: {data['method']}.")
