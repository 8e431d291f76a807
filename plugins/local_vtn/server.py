"""Run the local VTN on uvicorn: in the foreground (``ven vtn serve``) or in a background thread (tests, demo).

uvicorn picks uvloop and httptools when they are installed.  The listening socket is bound before uvicorn
starts, so a port in use is one clear sentence and ``port=0`` gives a free port whose number is known at once.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import uvicorn

from venclient.background_server import BackgroundServer, bind_socket
from venclient.plugins.local_vtn.api import BASE_PATH
from venclient.plugins.local_vtn.app import create_app
from venclient.plugins.local_vtn.quirks import Quirks
from venclient.plugins.local_vtn.seed import DEMO_PROGRAM, seed_demo
from venclient.plugins.local_vtn.state import VtnState


BACKLOG = 2048


def _url(host: str, port: int, tls: bool = False) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}{BASE_PATH}"


def _config(app: Any, log_level: str, certfile: Path | None = None, keyfile: Path | None = None) -> uvicorn.Config:
    return uvicorn.Config(app, log_level=log_level, log_config=None, access_log=False, lifespan="on", ws="none",
                          proxy_headers=False, timeout_keep_alive=30, backlog=BACKLOG,
                          ssl_certfile=str(certfile) if certfile else None, ssl_keyfile=str(keyfile) if keyfile else None)


def serve_forever(state: VtnState, host: str = "127.0.0.1", port: int = 8080, *,
                  state_file: Path | None = None, save_interval: float = 5.0, log_level: str = "warning",
                  on_ready: Any = None, quirks: Quirks | None = None) -> None:
    """Serve in the foreground until SIGINT/SIGTERM; the state is saved on the way out when ``state_file``.

    The process is the VTN's own, so stored objects are frozen out of the cyclic GC's scans (see
    :func:`venclient.plugins.local_vtn.gc_tuning.freeze_stored_objects`).  ``quirks``: see :mod:`venclient.plugins.local_vtn.quirks`.
    """
    sock = bind_socket(host, port, "The local VTN")
    sock.listen(BACKLOG)  # connections made as soon as "ready" is announced wait in the backlog for uvicorn
    app = create_app(state, state_file=state_file, save_interval=save_interval, freeze_gc=True, quirks=quirks)
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

    ``quirks`` (a :class:`Quirks` or names such as ``"all"``) make it misbehave like VTNs in the field;
    ``restart()`` stops and starts it on the same port, as a VTN process restart would (see there).
    """

    def __init__(self, state: VtnState | None = None, host: str = "127.0.0.1", port: int = 0, *,
                 state_file: Path | str | None = None, save_interval: float = 5.0, log_level: str = "warning",
                 app_wrapper: Any = None, tls_cert: Path | str | None = None, tls_key: Path | str | None = None,
                 quirks: Quirks | str | list[str] | None = None):
        self.state = state if state is not None else VtnState()
        self.state_file = Path(state_file) if state_file else None
        self.tls_cert = Path(tls_cert) if tls_cert else None
        self.tls_key = Path(tls_key) if tls_key else None
        self.quirks = Quirks.parse(quirks, "quirks")
        self.restarts = 0
        self.app = create_app(self.state, state_file=self.state_file, save_interval=save_interval,
                              quirks=self.quirks)
        asgi = app_wrapper(self.app) if app_wrapper is not None else self.app
        super().__init__(_config(asgi, log_level, self.tls_cert, self.tls_key), host, port, what="The local VTN")

    @property
    def stalled(self) -> Counter[str]:
        """How many create answers the ``stall`` quirk delayed, per kind (reports, vens, resources, subscriptions).

        Empty without the quirk; counted since the server was created (restarts included).
        """
        staller = self.app.state.staller
        return Counter(staller.stalled) if staller is not None else Counter()

    def restart(self, grace: float = 2.0, timeout: float = 15.0) -> "LocalVtnServer":
        """Stop and start again on the same port, like a restarted VTN process; returns ``self``.

        Requests in flight get ``grace`` seconds to finish (a stalled answer longer than that is cut off).
        Every issued token is forgotten (static tokens stay).  Without ``amnesia`` the objects are kept (a
        ``state_file`` is saved on the way down, as by ``stop()``); with ``amnesia`` the VTN starts from an
        empty state — the same :attr:`state` object, emptied — re-seeded with the demo program and event
        (new ids) when it held the demo program.
        """
        if self.port is None:
            raise RuntimeError("The local VTN is not started.")
        port = self.port
        previous_grace = self.config.timeout_graceful_shutdown
        self.config.timeout_graceful_shutdown = grace
        try:
            self.stop(timeout)
        finally:
            self.config.timeout_graceful_shutdown = previous_grace
        if self.quirks.amnesia:
            had_demo = self.state.programs.id_for_name(DEMO_PROGRAM) is not None
            self.state.forget_objects()
            if had_demo:
                seed_demo(self.state)
        else:
            self.state.revoke_tokens()
        self.requested_port = port
        self.restarts += 1
        self.start(timeout)
        return self

    @property
    def url(self) -> str:
        """The OpenADR base URL, including ``/openadr3/3.0.1``."""
        if self.port is None:
            raise RuntimeError("The local VTN is not started.")
        return _url(self.host, self.port, tls=self.tls_cert is not None)
