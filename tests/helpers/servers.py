"""Tiny loopback HTTP servers for what the emulator does not do (redirects to another host).

Each server runs ``http.server`` in a daemon thread and records every request it receives, with
its headers, so a test can assert what reached it (for example: never the ``Api-Token``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class RecordingServer:
    """A server that answers every request with one canned response and records what it got."""

    status: int = 200
    body: Any = field(default_factory=lambda: {"user": {"id": "1", "username": "elsewhere"}})
    headers: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def tokens_received(self) -> list[str]:
        """Every ``Api-Token`` header value this server was sent."""
        return [r.headers["api-token"] for r in self.received if "api-token" in r.headers]


@contextmanager
def recording_server(host: str = "127.0.0.1", **answer: Any) -> Iterator[RecordingServer]:
    """Serve on ``host`` (any loopback address, e.g. ``127.0.0.2``) on a free port."""
    server = RecordingServer(**answer)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            server.received.append(
                Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
            )
            payload = json.dumps(server.body).encode()
            self.send_response(server.status)
            for name, value in server.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return None

    httpd = ThreadingHTTPServer((host, 0), Handler)
    httpd.daemon_threads = True
    server.url = f"http://{host}:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@contextmanager
def redirecting_server(
    location: str, status: int = 302, host: str = "127.0.0.1"
) -> Iterator[RecordingServer]:
    """A server that answers every request with a redirect (``status``) to ``location``."""
    with recording_server(host, status=status, body={}) as server:
        server.headers["Location"] = location
        yield server
