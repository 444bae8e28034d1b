"""A holding HTTP proxy (asyncio, loopback) between a task process and the emulator.

It forwards every request and counts writes (POST, PUT, PATCH, DELETE) and reads (GET). At the
armed request it can:

``kill_after``
    forward the write, let the server apply it, hold the answer and SIGKILL the task process;
``kill_before``
    SIGKILL the task process before forwarding (the server never sees the write);
``late``
    never answer (the client times out) and forward the request to the server ``delay`` seconds
    later: a write ActiveCampaign applies after the client gave up on it;
``kill_read``
    SIGKILL the task process at the armed read, after the server answered it.

Requests are forwarded one per upstream connection and answered with ``Connection: close``, so a
held answer never blocks another request.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Fault:
    """What the proxy does at the ``index``-th write (or read, for ``kill_read``); 1-based."""

    mode: str  # "kill_after", "kill_before", "late", "kill_read"
    index: int
    delay: float = 0.0


@dataclass
class ProxyLog:
    writes: list[str] = field(default_factory=list)
    reads: int = 0
    fired: str | None = None
    fired_at: float | None = None  # time.monotonic() when the fault fired
    late_applied: int = 0  # late requests forwarded (and answered by the server)
    late_pending: int = 0


class HoldingProxy:
    """Run with ``with HoldingProxy(upstream) as proxy:``; ``proxy.url`` is what the task talks to."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.fault: Fault | None = None
        self.pid: int | None = None
        self.log = ProxyLog()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="holding-proxy", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._client: httpx.AsyncClient | None = None
        self._lock = threading.Lock()
        self.port = 0

    # -- control (from the test's thread) ---------------------------------------------------
    def arm(self, fault: Fault | None, pid: int | None = None) -> None:
        """Count from zero again and act at ``fault`` on process ``pid``."""
        with self._lock:
            self.fault = fault
            self.pid = pid
            self.log = ProxyLog(late_pending=self.log.late_pending, late_applied=self.log.late_applied)

    def set_pid(self, pid: int | None) -> None:
        with self._lock:
            self.pid = pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_late_applied(self, timeout: float = 30.0) -> bool:
        """Block until every late request has reached the server."""
        future = asyncio.run_coroutine_threadsafe(self._wait_late(timeout), self._loop)
        return future.result(timeout + 5)

    async def _wait_late(self, timeout: float) -> bool:
        deadline = self._loop.time() + timeout
        while self.log.late_pending and self._loop.time() < deadline:
            await asyncio.sleep(0.05)
        return not self.log.late_pending

    def __enter__(self) -> HoldingProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _start(self) -> None:
        self._client = httpx.AsyncClient(base_url=self.upstream, timeout=60.0)
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._client is not None:
            await self._client.aclose()

    # -- the proxy ---------------------------------------------------------------------------
    def _kill(self) -> None:
        pid = self.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _decide(self, method: str, target: str) -> str | None:
        """Count the request; return the fault mode that applies to it, if any."""
        with self._lock:
            fault = self.fault
            if method in WRITE_METHODS:
                self.log.writes.append(f"{method} {target.split('?')[0]}")
                position, wanted = len(self.log.writes), fault is not None and fault.mode != "kill_read"
            else:
                self.log.reads += 1
                position, wanted = self.log.reads, fault is not None and fault.mode == "kill_read"
            if fault is not None and wanted and position == fault.index and self.log.fired is None:
                self.log.fired = f"{fault.mode}@{position} {method} {target.split('?')[0]}"
                self.log.fired_at = time.monotonic()
                return fault.mode
            return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                method, target, headers, body = request
                mode = self._decide(method, target)
                if mode == "kill_before":
                    self._kill()
                    return
                if mode == "late":
                    fault = self.fault
                    assert fault is not None
                    self.log.late_pending += 1
                    self._loop.create_task(self._late(fault.delay, method, target, headers, body))
                    # Never answer: hold the connection until the client gives up on it.
                    with contextlib.suppress(Exception):
                        await reader.read()
                    return
                status, reason, out_headers, content = await self._forward(method, target, headers, body)
                if mode in ("kill_after", "kill_read"):
                    self._kill()
                    return
                writer.write(_response(status, reason, out_headers, content))
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _late(
        self, delay: float, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> None:
        await asyncio.sleep(delay)
        try:
            await self._forward(method, target, headers, body)
            self.log.late_applied += 1
        finally:
            self.log.late_pending -= 1

    async def _forward(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        assert self._client is not None
        # The Host header is kept: links the server builds point back through the proxy.
        sent = {k: v for k, v in headers.items() if k not in ("connection", "content-length")}
        response = await self._client.request(method, target, headers=sent, content=body)
        out = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding")
        ]
        return response.status_code, response.reason_phrase, out, response.content


async def _read_request(
    reader: asyncio.StreamReader,
) -> tuple[str, str, dict[str, str], bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = b""
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_chunked(reader)
    return method, target, headers, body


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            await reader.readline()
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readline()


def _response(status: int, reason: str, headers: list[tuple[str, str]], content: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines += [f"Content-Length: {len(content)}", "Connection: keep-alive"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + content


def describe(log: ProxyLog) -> dict[str, Any]:
    return {"writes": len(log.writes), "reads": log.reads, "fired": log.fired}
