"""Running the emulator under uvicorn: in the foreground (CLI) or in a background thread.

We bind the listening socket ourselves so ``port=0`` yields a free port that is known before
uvicorn starts, and pass it to uvicorn, which then serves exactly that socket.
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from activecampaign_emulator.app import EmulatorApp


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket; ``port=0`` picks a free port (read it from ``getsockname()``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def make_server(app: EmulatorApp, *, log_level: str = "warning") -> uvicorn.Server:
    """uvicorn tuned for throughput: no access log, no lifespan, keep-alive on."""
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_keep_alive=30,
        server_header=False,
        date_header=False,
    )
    return uvicorn.Server(config)


class ServerThread:
    """uvicorn serving one socket in a daemon thread; ``stop()`` shuts it down cleanly."""

    def __init__(self, app: EmulatorApp, sock: socket.socket, *, log_level: str = "warning") -> None:
        self.server = make_server(app, log_level=log_level)
        self._sock = sock
        self._thread = threading.Thread(target=self._run, name="activecampaign-emulator", daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self._sock])
        except BaseException as exc:  # reported by start()/stop() in the caller's thread
            self._error = exc

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError("the emulator failed to start") from self._error
            if time.monotonic() > deadline:
                raise TimeoutError("the emulator did not start in time")
            time.sleep(0.005)

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self._thread.join(timeout)
        self._sock.close()
