"""A development VTN (``ven vtn serve``): OpenADR 3.0.1 on Starlette + uvicorn, objects in memory, optional JSON file.

In-process use (tests, ``ven demo``)::

    from venclient.plugins.local_vtn import LocalVtnServer
    with LocalVtnServer() as vtn:       # 127.0.0.1, a free port
        print(vtn.url)                  # http://127.0.0.1:<port>/openadr3/3.0.1

Starlette and uvicorn are imported only when the app is built or served, the OpenADR models only when the
state or the demo seed is used: every name below (and the ``app``/``server`` submodules) resolves on first
access through the module ``__getattr__``, so loading this plugin (every ``Runtime`` does) costs none of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from venclient.lazy import lazy_attributes

if TYPE_CHECKING:
    from venclient.plugins.local_vtn.app import create_app
    from venclient.plugins.local_vtn.seed import DEMO_EVENT, DEMO_PROGRAM, seed_demo
    from venclient.plugins.local_vtn.server import LocalVtnServer
    from venclient.plugins.local_vtn.state import VtnClient, VtnState, development_clients, load_state

__all__ = ["DEMO_EVENT", "DEMO_PROGRAM", "LocalVtnServer", "VtnClient", "VtnState", "create_app",
           "development_clients", "load_state", "seed_demo"]

# name -> the submodule defining it; imported (with Starlette / uvicorn, or the OpenADR models) on first access.
# No ``__dir__`` listing them: pluggy < 1.6 calls getattr on every name in dir(plugin) when registering this module.
__getattr__ = lazy_attributes(__name__, {
    "create_app": "app", "LocalVtnServer": "server", "DEMO_EVENT": "seed", "DEMO_PROGRAM": "seed",
    "seed_demo": "seed", "VtnClient": "state", "VtnState": "state", "development_clients": "state",
    "load_state": "state"}, submodules=("app", "server"))
