"""An ASGI app served by uvicorn on a pre-bound socket, in the foreground or in a background thread.

Binding the socket before uvicorn starts turns a port in use into one clear sentence, and ``port=0`` gives a
free port whose number is known at once.  Used by the local VTN and by ``ven run``'s event callback server.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import uvicorn

from venclient.errors import VenError


def bind_socket(host: str, port: int, what: str) -> socket.socket:
    """A TCP socket bound to ``host:port`` (``port`` 0 = any free port); VenError naming ``what`` if it cannot."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        reason = err.strerror.lower() if err.strerror else str(err)
        raise VenError(f"{what} cannot listen on {host}:{port}: {reason}.", exit_code=2) from None
    except OverflowError:
        sock.close()
        raise VenError(f"{what} cannot listen on {host}:{port}: the port must be from 0 to 65535.",
                       exit_code=2) from None
    sock.set_inheritable(True)
    return sock


class BackgroundServer:
    """``config`` (a ``uvicorn.Config``) served on ``host:port`` by a daemon thread with its own event loop.

    ``start()`` returns once the server accepts connections (or raises VenError naming ``what``);
    ``stop()`` asks uvicorn to exit (running the app's lifespan shutdown), joins the thread and closes the socket.
    """

    def __init__(self, config: uvicorn.Config, host: str = "127.0.0.1", port: int = 0, *, what: str = "The server"):
        self.config = config
        self.host = host
        self.requested_port = port
        self.what = what
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._error: BaseException | None = None

    def start(self, timeout: float = 15.0) -> "BackgroundServer":
        """Bind, serve in a thread and wait (bounded) until it accepts connections."""
        if self._thread is not None:
            return self
        self._socket = bind_socket(self.host, self.requested_port, self.what)
        self.port = self._socket.getsockname()[1]
        import uvicorn  # imported when a server starts, not by every importer of this module

        self._server = uvicorn.Server(self.config)
        self._thread = threading.Thread(target=self._run, name=f"asgi-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise VenError(f"{self.what} on {self.host}:{self.port} did not start"
                               + (f": {self._error}." if self._error else "."))
            time.sleep(0.01)
        return self

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._socket])  # type: ignore[union-attr, list-item]
        except BaseException as err:  # noqa: BLE001 - reported by start()
            self._error = err

    def stop(self, timeout: float = 15.0) -> None:
        """Stop serving (bounded), join the thread, close the socket."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> "BackgroundServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
