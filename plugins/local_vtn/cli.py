"""``ven vtn serve``: run the local development VTN in the foreground."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

from venclient.cli.groups import command_group
from venclient.cli.output import console, plural
from venclient.plugins.local_vtn.quirks import QUIRK_HELP, Quirks

VTN_GROUP_HELP = "Talk to an OpenADR 3.0.1 VTN, or run the local development VTN."
QUIRKS_OPTION_HELP = ("Misbehave like VTNs in the field, comma-separated (default: local_vtn.quirks): "
                      + ", ".join(QUIRK_HELP) + ", or all (every quirk, stall:0.05 unless stall:N is given). "
                      "The README's VTN section says what each imitates.")


def serve(
    ctx: typer.Context,
    host: Optional[str] = typer.Option(None, "--host", help="Address to bind (default 127.0.0.1)."),
    port: Optional[int] = typer.Option(None, "--port", help="Port to listen on (default 8080; 0 = any free)."),
    state: Optional[Path] = typer.Option(None, "--state", help="Keep the VTN's objects in this JSON file.",
                                         dir_okay=False),
    seed: Optional[bool] = typer.Option(None, "--seed-demo/--no-seed-demo",
                                        help="Create demo-program and its metering event (default on)."),
    quirks: Optional[str] = typer.Option(None, "--quirks", metavar="NAME,...", help=QUIRKS_OPTION_HELP),
) -> None:
    """Run the local OpenADR 3.0.1 VTN until Ctrl-C (development and tests; not for production).

    With --quirks it deliberately deviates from the spec the way real VTNs do, to test a VEN against them.
    It keeps the last local_vtn.max_reports reports (default 5000), so its state file stays bounded.
    """
    from venclient.plugins.local_vtn.seed import seed_demo  # the OpenADR models: only when serving
    from venclient.plugins.local_vtn.server import serve_forever  # Starlette + uvicorn: only when serving
    from venclient.plugins.local_vtn.settings import DEFAULT_MAX_REPORTS
    from venclient.plugins.local_vtn.state import VtnState, clients_from_settings, development_clients, load_state

    settings = ctx.obj.settings
    chosen = (Quirks.parse(quirks, "--quirks") if quirks is not None
              else Quirks.parse(settings.get("local_vtn.quirks") or [], "local_vtn.quirks"))
    host = host or settings.get("local_vtn.host", "127.0.0.1")
    port = settings.get("local_vtn.port", 8080) if port is None else port
    state_path = state or (Path(settings.get("local_vtn.state_file")) if settings.get("local_vtn.state_file") else None)
    clients = clients_from_settings(settings.get("local_vtn.clients")) or development_clients()
    vtn = VtnState(clients=clients, token_ttl_seconds=float(settings.get("local_vtn.token_ttl_seconds", 3600)),
                   max_reports=int(settings.get("local_vtn.max_reports", DEFAULT_MAX_REPORTS)))
    # amnesia: a VTN that forgets on restart; its state file is written but never read back
    loaded = load_state(state_path, vtn) if state_path and not chosen.amnesia else False
    if (settings.get("local_vtn.seed_demo", True) if seed is None else seed):
        seed_demo(vtn)
    out = console(stderr=True)

    def ready(url: str) -> None:
        counts = vtn.counts()
        if not state_path:
            where = "state in memory only"
        elif chosen.amnesia:
            where = f"state {state_path} (not loaded: amnesia)"
        else:
            where = f"state {state_path} ({'loaded' if loaded else 'new'})"
        objects = ", ".join(plural(counts[key], word) for key, word in (
            ("programs", "program"), ("events", "event"), ("vens", "VEN"), ("resources", "resource")))
        misbehaving = f"; quirks {', '.join(chosen.names)}" if chosen else ""
        out.print(f"Local VTN listening on {url} — clients "
                  + ", ".join(f"{c.client_id} ({c.role})" for c in clients)
                  + f"; {where}; {objects}{misbehaving}. Ctrl-C stops it.",
                  highlight=False)

    level = logging.getLevelName(logging.getLogger().level).lower()
    serve_forever(vtn, host, port, state_file=state_path,
                  save_interval=float(settings.get("local_vtn.save_interval_seconds", 5.0)),
                  log_level=level if level in ("debug", "info", "warning", "error") else "warning", on_ready=ready,
                  quirks=chosen)
    if state_path:
        out.print(f"Local VTN stopped; state saved to {state_path}.", highlight=False)


def add_commands(app: typer.Typer) -> None:
    """Register ``ven vtn serve``."""
    command_group(app, "vtn", VTN_GROUP_HELP).command("serve")(serve)
