"""The ASGI application: one pipeline in front of every emulated API route.

For each request to ``/api/3/...``, ``/admin/api.php`` or ``/event`` (in this order; ``/event``
is the event-tracking endpoint, ActiveCampaign's ``trackcmp.net/event``: no ``Api-Token`` and
no account rate limit there, as on its own host):

1. read the body and resolve the route template (``/api/3/contacts/{id}``);
2. fault injection, ``before`` rules (the emulator does not act);
3. ``Api-Token`` check → 403 ``{"message":"Forbidden"}``;
4. account rate limit (sliding 1 emulated second) → 429 + ``Retry-After`` in real seconds;
5. the route handler (``emu.route``), which applies the request;
6. fault injection, ``after`` rules (the request was applied; the client sees a failure);
7. the request log entry.

``RateLimit-Limit``/``RateLimit-Remaining`` go on every authenticated API answer.  Control
routes (``/_emulator/...``) bypass all of it.  The pipeline is a plain ASGI callable rather than
Starlette middleware: ``BaseHTTPMiddleware`` would cost more than the handlers themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time
from collections.abc import Iterable
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs

from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Message, Receive, Scope, Send

from activecampaign_emulator import (
    accounts,
    automations,
    catalog,
    contacts,
    control,
    crm_control,
    crm_fields,
    crm_seed,
    custom_objects,
    deals,
    ecommerce,
    fields,
    imports,
    lists,
    notes,
    tags,
    tracking,
    users,
    webhooks,
)
from activecampaign_emulator.core import Emulator
from activecampaign_emulator.crm import CrmBook
from activecampaign_emulator.faults import FaultRule
from activecampaign_emulator.requestlog import LogEntry, ObservedRequest
from activecampaign_emulator.responses import (
    ApiError,
    forbidden,
    json_response,
    method_not_allowed,
    route_not_found,
)

log = logging.getLogger(__name__)

API_PREFIX = "/api/3/"
LEGACY_PATH = "/admin/api.php"
CONTROL_PREFIX = "/_emulator"
OPTIONAL_ROUTE_MODULES = ("activecampaign_emulator.campaigns",)
CORE_ROUTE_MODULES: tuple[ModuleType, ...] = (
    users,
    contacts,
    fields,
    lists,
    tags,
    imports,
    automations,
    webhooks,
    deals,
    crm_fields,
    accounts,
    notes,
    tracking,
    ecommerce,
    catalog,
    custom_objects,
)


def create_app(emu: Emulator | None = None) -> EmulatorApp:
    """Assemble the core route modules plus any optional ones that are installed."""
    emu = emu or Emulator()
    _install_crm(emu)
    api_routes: list[BaseRoute] = []
    for module in (*CORE_ROUTE_MODULES, *_optional_modules()):
        api_routes.extend(module.routes(emu))
    emu.validate_initial_seed()
    return EmulatorApp(
        emu, api_routes, [*control.routes(emu), *webhooks.control_routes(emu), *crm_control.routes(emu)]
    )


def _install_crm(emu: Emulator) -> None:
    """The CRM records every CRM route module shares, seeded by ``crm_seed`` (passed in: ``crm``
    imports neither ``crm_seed`` nor ``ecommerce``, which both build on it)."""
    if not any(isinstance(extension, CrmBook) for extension in emu.extensions):
        emu.add_extension(CrmBook(crm_seed))


def _optional_modules() -> Iterable[ModuleType]:
    """Import optional route modules; only "module does not exist" is tolerated."""
    for name in OPTIONAL_ROUTE_MODULES:
        try:
            yield importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


class _Dispatcher:
    """Route lookup indexed by the first path segment after ``/api/3/`` (O(1) candidate set)."""

    def __init__(self, routes: list[BaseRoute]) -> None:
        self._index: dict[str, list[Route]] = {}
        for route in routes:
            if not isinstance(route, Route):
                raise TypeError(f"API routes must be starlette Routes, got {route!r}")
            self._index.setdefault(_segment(route.path), []).append(route)

    def resolve(self, scope: Scope) -> tuple[Route | None, str, bool]:
        """(route for a full match, path template, path known with another method?)."""
        path_known = False
        template = scope["path"]
        for route in self._index.get(_segment(scope["path"]), ()):
            match, child = route.matches(scope)
            if match is Match.FULL:
                scope.update(child)
                return route, route.path, True
            if match is Match.PARTIAL:
                path_known, template = True, route.path
        return None, template, path_known


def _segment(path: str) -> str:
    if path.startswith(API_PREFIX):
        return path[len(API_PREFIX) :].split("/", 1)[0]
    return path


class _Capture:
    """A ``send`` that records the status and adds rate-limit headers to the response start."""

    __slots__ = ("extra_headers", "send", "status")

    def __init__(self, send: Send, extra_headers: list[tuple[bytes, bytes]]) -> None:
        self.send = send
        self.extra_headers = extra_headers
        self.status: int | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            if self.extra_headers:
                message = dict(message)
                message["headers"] = [*message.get("headers", []), *self.extra_headers]
        await self.send(message)


class _Buffer:
    """A ``send`` that keeps the response, for ``after`` faults (answer replaced or delayed)."""

    __slots__ = ("messages", "status")

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.status: int | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        self.messages.append(message)

    async def replay(self, send: Send) -> None:
        for message in self.messages:
            await send(message)


class EmulatorApp:
    """ASGI entry point; ``.emu`` is the emulator behind it."""

    def __init__(self, emu: Emulator, api_routes: list[BaseRoute], control_routes: list[BaseRoute]) -> None:
        self.emu = emu
        self._dispatcher = _Dispatcher(api_routes)
        self._control = Router(routes=control_routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path.startswith(CONTROL_PREFIX):
            await self._control(scope, receive, send)
        elif path == "/":
            await json_response(
                {"emulator": "ActiveCampaign", "api": "/api/3", "control": "/_emulator/state"}
            )(scope, receive, send)
        else:
            await self._api(scope, receive, send)

    @staticmethod
    async def _lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _api(self, scope: Scope, receive: Receive, send: Send) -> None:
        emu = self.emu
        method: str = scope["method"]
        path: str = scope["path"]
        real_start = time.time()
        body = await _read_body(receive)
        observer = emu.request_observer
        if observer is not None and body is not None:
            observer(_observed(scope, body))
        route, template, path_known = self._dispatcher.resolve(scope)
        generation = emu.generation
        with emu.lock:
            entry = emu.requests.start(
                real_start, emu.clock.now(), method, path, template, scope["query_string"].decode("latin-1")
            )
            fault = emu.faults.take(method, path, template)
        try:
            if body is None:
                entry.note = "client_disconnected"
                return
            replay = _replay(body, receive)
            if fault is not None:
                entry.fault = fault.kind
                await self._with_fault(fault, scope, replay, receive, send, route, path_known, entry)
            else:
                capture = _Capture(send, [])
                await self._process(scope, replay, capture, route, path_known)
                entry.status = capture.status
        finally:
            with emu.lock:
                if emu.generation == generation:  # a reset meanwhile: this request is the old world's
                    emu.requests.finish(entry)

    async def _with_fault(
        self,
        fault: FaultRule,
        scope: Scope,
        replay: Receive,
        receive: Receive,
        send: Send,
        route: Route | None,
        path_known: bool,
        entry: LogEntry,
    ) -> None:
        if fault.kind == "late":
            # Applied after the delay even if the client gave up meanwhile: a timed-out write that
            # ActiveCampaign applies seconds later. The answer reaches a client still waiting.
            generation = self.emu.generation
            await asyncio.sleep(fault.delay)
            if self.emu.generation != generation:
                entry.note = "dropped_by_reset"  # the emulator was reset meanwhile: not applied
                return
            late = _Buffer()
            await self._process(scope, replay, late, route, path_known)
            entry.status = late.status
            entry.note = "applied_late"
            with contextlib.suppress(Exception):  # the client is usually gone by now
                await late.replay(send)
            return
        if fault.when == "before":
            if fault.kind == "slow":
                if await _client_left_within(receive, fault.delay):
                    entry.note = "client_disconnected"
                    return  # the client gave up first: the request is never applied
                capture = _Capture(send, [])
                await self._process(scope, replay, capture, route, path_known)
                entry.status = capture.status
                return
            entry.status = await _answer_with_fault(fault, send)
            return
        buffered = _Buffer()
        await self._process(scope, replay, buffered, route, path_known)
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay)
            await buffered.replay(send)
            entry.status = buffered.status
        else:
            entry.status = await _answer_with_fault(fault, send)

    async def _process(
        self, scope: Scope, receive: Receive, send: Send, route: Route | None, path_known: bool
    ) -> None:
        """Auth, rate limit, then the handler (or 404/405)."""
        emu = self.emu
        path: str = scope["path"]
        guarded = path.startswith(API_PREFIX) or path == LEGACY_PATH
        headers: list[tuple[bytes, bytes]] = []
        if guarded:
            key = _api_key(scope)
            with emu.lock:
                known = key is not None and key in emu.state.api_keys
                decision = emu.limiter.acquire(emu.clock.now()) if known and emu.config.rate_limit else None
            if not known:
                await forbidden().response()(scope, receive, send)
                return
            scope["emulator.api_key"] = key
            if decision is not None:
                headers = [
                    (b"ratelimit-limit", str(decision.limit).encode()),
                    (b"ratelimit-remaining", str(decision.remaining).encode()),
                ]
                if not decision.allowed:
                    retry_after = emu.clock.real_seconds(decision.wait)
                    await ApiError(
                        429, {"message": "Too Many Requests"}, {"Retry-After": str(retry_after)}
                    ).response()(scope, receive, _Capture(send, headers))
                    return
        capture = _Capture(send, headers) if headers else send
        if route is not None:
            await route.handle(scope, receive, capture)
        elif path_known:
            await method_not_allowed().response()(scope, receive, capture)
        else:
            await route_not_found().response()(scope, receive, capture)


def _observed(scope: Scope, body: bytes) -> ObservedRequest:
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
    return ObservedRequest(
        scope["method"], scope["path"], scope["query_string"].decode("latin-1"), headers, body
    )


def _api_key(scope: Scope) -> str | None:
    """``Api-Token`` header; ``/admin/api.php`` also accepts the v1 ``api_key`` query field."""
    for name, value in scope["headers"]:
        if name == b"api-token":
            return str(value.decode("latin-1").strip())
    if scope["path"] == LEGACY_PATH:
        values = parse_qs(scope["query_string"].decode("latin-1")).get("api_key")
        if values:
            return values[0]
    return None


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or ``None`` if the client disconnected first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already-read body to the handler, then defers to the socket."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _client_left_within(receive: Receive, seconds: float) -> bool:
    """Wait ``seconds``; True if the client disconnected meanwhile (the body is already read)."""
    try:
        message = await asyncio.wait_for(receive(), timeout=seconds)
    except TimeoutError:
        return False
    if message["type"] == "http.disconnect":
        return True
    await asyncio.sleep(seconds)  # unexpected extra data: just honour the delay
    return False


async def _answer_with_fault(fault: FaultRule, send: Send) -> int | None:
    """Send the fault's HTTP answer, or drop the connection; returns the status sent."""
    if fault.kind == "drop":
        await drop_connection(send)
        return None
    status, body, media_type, headers = fault.response()
    raw_headers = [
        (b"content-type", media_type.encode()),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in headers.items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
    return status


async def drop_connection(send: Send) -> None:
    """Close the TCP connection with no HTTP response at all.

    Under uvicorn ``send`` is a bound method of the protocol's ``RequestResponseCycle``, whose
    ``transport`` is the asyncio transport of this connection.  Marking the cycle
    ``disconnected`` stops uvicorn from trying to send its own 500 afterwards.
    """
    cycle: Any = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("the 'drop' fault needs the emulator to run under uvicorn")
    transport.close()
    if hasattr(cycle, "disconnected"):
        cycle.disconnected = True
    await asyncio.sleep(0)
