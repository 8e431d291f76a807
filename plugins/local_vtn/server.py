"""Run the local VTN on uvicorn: in the foreground (``ven vtn serve``) or in a background thread (tests, demo).

uvicorn picks uvloop and httptools when they are installed.  The listening socket is bound before uvicorn
starts, so a port in use is one clear sentence and ``port=0`` gives a free port whose number is known at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import uvicorn

from core.background_server import BackgroundServer, bind_socket
from plugins.local_vtn.app import BASE_PATH, create_app
from plugins.local_vtn.state import VtnState


def _url(host: str, port: int, tls: bool = False) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}{BASE_PATH}"


def _config(app: Any, log_level: str, certfile: Path | None = None, keyfile: Path | None = None) -> uvicorn.Config:
    return uvicorn.Config(app, log_level=log_level, log_config=None, access_log=False, lifespan="on", ws="none",
                          proxy_headers=False, timeout_keep_alive=30, backlog=2048,
                          ssl_certfile=str(certfile) if certfile else None, ssl_keyfile=str(keyfile) if keyfile else None)


def serve_forever(state: VtnState, host: str = "127.0.0.1", port: int = 8080, *,
                  state_file: Path | None = None, save_interval: float = 5.0, log_level: str = "warning",
                  on_ready: Any = None) -> None:
    """Serve in the foreground until SIGINT/SIGTERM; the state is saved on the way out when ``state_file``.

    The process is the VTN's own, so stored objects are frozen out of the cyclic GC's scans (see
    :func:`plugins.local_vtn.app.freeze_stored_objects`).
    """
    sock = bind_socket(host, port, "The local VTN")
    app = create_app(state, state_file=state_file, save_interval=save_interval, freeze_gc=True)
    server = uvicorn.Server(_config(app, log_level))
    if on_ready is not None:
        on_ready(_url(host, sock.getsockname()[1]))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn re-raises Ctrl-C after a clean shutdown (state saved); stopping is the normal end
    finally:
        sock.close()


class LocalVtnServer(BackgroundServer):
    """The local VTN in a background thread with its own event loop; ``start()``/``stop()`` or ``with``.

    ``url`` is the OpenADR base URL (``http://127.0.0.1:<port>/openadr3/3.0.1``, ``https`` with ``tls_cert``
    and ``tls_key``); ``state`` may be read (and, for tests, poked) from the caller's thread.  ``stop()`` runs
    the app's lifespan shutdown, which saves the state file.
    """

    def __init__(self, state: VtnState | None = None, host: str = "127.0.0.1", port: int = 0, *,
                 state_file: Path | str | None = None, save_interval: float = 5.0, log_level: str = "warning",
                 app_wrapper: Any = None, tls_cert: Path | str | None = None, tls_key: Path | str | None = None):
        self.state = state if state is not None else VtnState()
        self.state_file = Path(state_file) if state_file else None
        self.tls_cert = Path(tls_cert) if tls_cert else None
        self.tls_key = Path(tls_key) if tls_key else None
        self.app = create_app(self.state, state_file=self.state_file, save_interval=save_interval)
        asgi = app_wrapper(self.app) if app_wrapper is not None else self.app
        super().__init__(_config(asgi, log_level, self.tls_cert, self.tls_key), host, port, what="The local VTN")

    @property
    def url(self) -> str:
        """The OpenADR base URL, including ``/openadr3/3.0.1``."""
        if self.port is None:
            raise RuntimeError("The local VTN is not started.")
        return _url(self.host, self.port, tls=self.tls_cert is not None)
