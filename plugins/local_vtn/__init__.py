"""A development VTN (``ven vtn serve``): OpenADR 3.0.1 on Starlette + uvicorn, objects in memory, optional JSON file.

In-process use (tests, ``ven demo``)::

    from plugins.local_vtn import LocalVtnServer
    with LocalVtnServer() as vtn:       # 127.0.0.1, a free port
        print(vtn.url)                  # http://127.0.0.1:<port>/openadr3/3.0.1
"""

from __future__ import annotations

from typing import Any

import typer

from core.hookspecs import hookimpl
from plugins.local_vtn.app import create_app
from plugins.local_vtn.cli import add_commands
from plugins.local_vtn.seed import DEMO_EVENT, DEMO_PROGRAM, seed_demo
from plugins.local_vtn.server import LocalVtnServer
from plugins.local_vtn.settings import settings_validators
from plugins.local_vtn.state import VtnClient, VtnState, development_clients, load_state

__all__ = ["DEMO_EVENT", "DEMO_PROGRAM", "LocalVtnServer", "VtnClient", "VtnState", "create_app",
           "development_clients", "load_state", "seed_demo"]


@hookimpl
def ven_settings_validators() -> list[Any]:
    """``[local_vtn]`` keys with defaults."""
    return settings_validators()


@hookimpl
def ven_cli(app: typer.Typer) -> None:
    """Add ``ven vtn serve``."""
    add_commands(app)
