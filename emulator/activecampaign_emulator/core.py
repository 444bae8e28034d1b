"""The ``emu`` object: one emulated ActiveCampaign account and the helpers route modules use.

Plugging in a route module (this is how ``emulator/campaigns.py`` is loaded)
-----------------------------------------------------------------------------
A route module exposes ``def routes(emu: Emulator) -> list[BaseRoute]``.  ``app.create_app``
collects them; paths under ``/api/3/`` and ``/admin/api.php`` get auth, rate limiting, fault
injection and request logging from the app, so a handler only implements behaviour::

    from activecampaign_emulator.core import ApiRequest, Emulator
    from activecampaign_emulator.responses import no_result, single

    def get_message(req: ApiRequest) -> Response:
        message = req.state.messages.get(req.path_id())
        if message is None:
            raise no_result("Message", req.path_params["id"])
        return req.json_response(single("message", message))

    def routes(emu: Emulator) -> list[BaseRoute]:
        return [emu.route("/api/3/messages/{id}", get_message, ["GET"])]

``emu.route`` wraps a *synchronous* handler ``(ApiRequest) -> Response``: it runs under
``emu.lock`` after ``emu.tick()``, so handlers see consistent state and never need locks or
awaits.  Raise :class:`~.responses.ApiError` (``no_result``, ``unprocessable``, ``bad_request``...)
for error answers.

The ``Emulator`` interface
--------------------------
``emu.state``      :class:`~.state.AccountState` — records and mutations.  Replaced on reset: always
                   read ``emu.state`` (or ``req.state``), never keep a reference.
                   Campaign-related seed data lives in ``state.messages`` / ``state.addresses``
                   (``dict[int, dict]``, API-shaped dicts); allocate ids with
                   ``state.next_id("message")``.  Useful reads: ``state.contacts``,
                   ``state.contact_by_email(email)``, ``state.members(list_id)`` (subscribed
                   contacts), ``state.lists``, ``state.settings.tz``; audit counters go in
                   ``state.counters[...]`` / ``contact.counters[...]``; ``contact.sentcnt``
                   is rendered as the contact's ``sentcnt``.
``emu.clock``      :class:`~.clock.EmulatedClock` — ``now()`` (emulated epoch seconds),
                   ``real_seconds(emulated)`` for Retry-After.
``emu.lock``       ``threading.RLock`` guarding all state.
``emu.config``     :class:`EmulatorConfig` — speed, rate_limit, requests_per_second.
``emu.tick()``     progress time-based work (imports, automations, extensions) up to now.
``emu.route(path, handler, methods)`` → a Starlette ``Route`` for an API handler.
``emu.add_extension(ext)``  register an :class:`EmulatorExtension` (state that must be reset,
                   seeded, advanced in time and shown in ``GET /_emulator/state``).

``ApiRequest`` (what handlers get): ``.emu``, ``.state``, ``.now`` (emulated), ``.ctx``
(:class:`~.render.Ctx`: ``link(path)`` → absolute URL on the request host, ``iso(ts)``),
``.request`` (Starlette), ``.raw_body``, ``.json()``, ``.form()`` (url-encoded bodies, for
``/admin/api.php``), ``.query``, ``.path_params``, ``.path_id(name)``, ``.user`` (the API key's
user), ``.json_response(body, status)``.
Envelope and error builders live in :mod:`.responses` (``single``, ``collection``,
``no_result``, ``unprocessable``, ``field_missing``, ``field_invalid``, ``bad_request``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from activecampaign_emulator import assumed, importer, seed
from activecampaign_emulator.clock import EmulatedClock
from activecampaign_emulator.faults import FaultBook
from activecampaign_emulator.ratelimit import SlidingWindowLimiter
from activecampaign_emulator.render import Ctx
from activecampaign_emulator.requestlog import ObservedRequest, Reliance, RequestLog
from activecampaign_emulator.responses import ApiError, bad_request, json_response
from activecampaign_emulator.state import AccountState, User

#: Documented account-wide limit (reference §2).
DEFAULT_REQUESTS_PER_SECOND = 5


@dataclass(slots=True)
class EmulatorConfig:
    """Runtime knobs, changed with ``POST /_emulator/config``."""

    speed: float = 1.0
    rate_limit: bool = True
    requests_per_second: int = DEFAULT_REQUESTS_PER_SECOND

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class EmulatorExtension(Protocol):
    """State owned by an optional route module (e.g. campaigns).  All methods run under the lock."""

    #: Top-level seed keys this extension consumes (so seed validation accepts them).
    seed_keys: frozenset[str]

    def reset(self, emu: Emulator, seed: Mapping[str, Any]) -> None:
        """Drop all state and load ``seed`` (called at start and on ``POST /_emulator/reset``)."""

    def merge_seed(self, emu: Emulator, seed: Mapping[str, Any]) -> None:
        """Add ``seed`` to the current state (``POST /_emulator/seed``)."""

    def tick(self, emu: Emulator, now: float) -> None:
        """Progress time-based work to emulated time ``now`` (before every API request)."""

    def snapshot(self, emu: Emulator) -> dict[str, Any]:
        """Top-level keys to merge into ``GET /_emulator/state`` (e.g. ``{"campaigns": [...]}``)."""


class BaseExtension:
    """No-op :class:`EmulatorExtension` to subclass; override only what you need."""

    seed_keys: frozenset[str] = frozenset()

    def reset(self, emu: Emulator, seed: Mapping[str, Any]) -> None:
        return None

    def merge_seed(self, emu: Emulator, seed: Mapping[str, Any]) -> None:
        return None

    def tick(self, emu: Emulator, now: float) -> None:
        return None

    def snapshot(self, emu: Emulator) -> dict[str, Any]:
        return {}


class ApiRequest:
    """What an API handler receives: the request plus the emulator, state and render context."""

    __slots__ = ("_json", "ctx", "emu", "raw_body", "request", "user")

    def __init__(self, emu: Emulator, request: Request, raw_body: bytes, ctx: Ctx, user: User | None) -> None:
        self.emu = emu
        self.request = request
        self.raw_body = raw_body
        self.ctx = ctx
        self.user = user
        self._json: Any = None

    @property
    def state(self) -> AccountState:
        return self.emu.state

    @property
    def now(self) -> float:
        return self.ctx.now

    @property
    def query(self) -> QueryParams:
        return self.request.query_params

    @property
    def path_params(self) -> dict[str, Any]:
        return self.request.path_params

    def path_id(self, name: str = "id") -> int:
        """The numeric path parameter, or 0 (matches nothing) when it is not a number."""
        raw = str(self.request.path_params.get(name, ""))
        return int(raw) if raw.isdigit() else 0

    def assumed(self, behaviour: str) -> bool:
        """Whether the assumed behaviour is on; the answer to this request depends on it.

        The dependence is reported to ``Emulator.reliance_observer``, so a test suite can prove its
        client never relies on a behaviour the reference does not document (``assumed.py``).
        """
        observer = self.emu.reliance_observer
        if observer is not None:
            observer(
                Reliance(
                    behaviour,
                    self.request.method,
                    self.request.url.path,
                    self.request.url.query,
                    self.request.headers.get("user-agent", ""),
                )
            )
        return self.emu.assumed[behaviour]

    def json(self) -> Any:
        """The parsed JSON body; ``{}`` when empty; 400 when malformed."""
        if self._json is None:
            if not self.raw_body.strip():
                self._json = {}
            else:
                try:
                    self._json = json.loads(self.raw_body)
                except (ValueError, UnicodeDecodeError) as exc:
                    raise bad_request(f"Request body is not valid JSON: {exc}") from exc
        return self._json

    def json_object(self, key: str) -> dict[str, Any]:
        """``body[key]`` as a dict (AC wraps request objects: ``{"contact": {...}}``)."""
        body = self.json()
        inner = body.get(key) if isinstance(body, dict) else None
        if not isinstance(inner, dict):
            raise bad_request(f"Request body must be a JSON object with a '{key}' object")
        return inner

    def form(self) -> dict[str, str]:
        """URL-encoded body fields merged over query fields (v1 ``/admin/api.php`` style)."""
        fields = dict(self.request.query_params)
        fields.update(parse_qsl(self.raw_body.decode("utf-8", "replace"), keep_blank_values=True))
        return fields

    def json_response(self, body: Any, status: int = 200) -> Response:
        return json_response(body, status)


Handler = Callable[[ApiRequest], Response]


class Emulator:
    """One emulated account plus the machinery around it (clock, limits, faults, log)."""

    def __init__(
        self,
        seed_data: Mapping[str, Any] | None = None,
        *,
        speed: float = 1.0,
        rate_limit: bool = True,
        requests_per_second: int = DEFAULT_REQUESTS_PER_SECOND,
    ) -> None:
        self.lock = threading.RLock()
        self.extensions: list[EmulatorExtension] = []
        self.initial_seed: dict[str, Any] = dict(seed_data) if seed_data is not None else seed.default_seed()
        self.initial_config = EmulatorConfig(speed, rate_limit, requests_per_second)
        self.config = EmulatorConfig(speed, rate_limit, requests_per_second)
        self.faults = FaultBook()
        self.requests = RequestLog()
        #: Bumped by every reset: work that started before a reset is dropped after it.
        self.generation = getattr(self, "generation", 0)
        #: Called with each API request as received (before auth, faults, routing), when set:
        #: the pytest plugin checks them against the official reference (see ``reference.py``).
        self.request_observer: Callable[[ObservedRequest], None] | None = None
        #: Behaviours the reference does not document, each switchable (see ``assumed.py``).
        self.assumed: dict[str, bool] = assumed.defaults()
        #: Called whenever an answer depends on one of them (``ApiRequest.assumed``), when set.
        self.reliance_observer: Callable[[Reliance], None] | None = None
        self.limiter = SlidingWindowLimiter(requests_per_second, 1.0)
        # Extensions register later (in app.create_app), so their seed keys are checked then.
        seed.validate(self.initial_seed, None)
        self.clock = EmulatedClock(speed, seed.start_time(self.initial_seed))
        self.state: AccountState = seed.build_state(self.initial_seed, self.clock.now())

    # -- wiring ---------------------------------------------------------------------------

    def route(self, path: str, handler: Handler, methods: Sequence[str]) -> Route:
        """A Starlette route running ``handler`` under the lock with a fresh :class:`ApiRequest`."""
        return Route(path, self._endpoint(handler), methods=list(methods))

    def _endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            key = request.scope.get("emulator.api_key")
            with self.lock:
                now = self.clock.now()
                self.tick(now)
                ctx = Ctx(_api_base(request), self.state.settings.tz, now)
                user = self.state.user_for_key(key) if isinstance(key, str) else None
                try:
                    return handler(ApiRequest(self, request, raw, ctx, user))
                except ApiError as err:
                    return err.response()

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    def add_extension(self, extension: EmulatorExtension) -> None:
        """Register extension state; it is reset with the current seed straight away."""
        with self.lock:
            self.extensions.append(extension)
            extension.reset(self, self.initial_seed)

    def validate_initial_seed(self) -> None:
        """Re-check the start seed once every extension has declared its seed keys."""
        seed.validate(self.initial_seed, self.extension_seed_keys())

    def extension_seed_keys(self) -> frozenset[str]:
        keys: set[str] = set()
        for extension in self.extensions:
            keys |= extension.seed_keys
        return frozenset(keys)

    # -- time -----------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now()

    def tick(self, now: float | None = None) -> None:
        """Bring imports, automations and extensions up to emulated time ``now``."""
        with self.lock:
            moment = self.clock.now() if now is None else now
            self.state.complete_due_enrolments(moment)
            importer.advance(self.state, moment)
            self.state.complete_due_enrolments(moment)  # enrolments started by the import
            for extension in self.extensions:
                extension.tick(self, moment)

    # -- control operations (used by control.py and in-process tests) ---------------------

    def reset(self, seed_data: Mapping[str, Any] | None = None) -> None:
        """A fresh emulator: seed state, clock, config, faults, request log and rate windows.

        Requests still in flight from before (a ``late`` fault holding a write) belong to the old
        world: they are neither applied to the new state nor logged in the new log.
        """
        with self.lock:
            self.generation += 1
            chosen = dict(seed_data) if seed_data is not None else self.initial_seed
            seed.validate(chosen, self.extension_seed_keys())
            self.config = EmulatorConfig(**self.initial_config.to_json())
            self.assumed = assumed.defaults()
            self.clock = EmulatedClock(self.config.speed, seed.start_time(chosen))
            self.state = seed.build_state(chosen, self.clock.now())
            self.limiter = SlidingWindowLimiter(self.config.requests_per_second, 1.0)
            self.faults.clear()
            self.requests.clear()
            for extension in self.extensions:
                extension.reset(self, chosen)

    def merge_seed(self, seed_data: Mapping[str, Any]) -> dict[str, list[str]]:
        """Add seed records to the running account; returns the ids created per section."""
        with self.lock:
            seed.validate(seed_data, self.extension_seed_keys(), partial=True)
            created = seed.merge(self.state, seed_data, self.clock.now())
            for extension in self.extensions:
                extension.merge_seed(self, seed_data)
            return created

    def configure(
        self,
        *,
        speed: float | None = None,
        rate_limit: bool | None = None,
        requests_per_second: int | None = None,
    ) -> EmulatorConfig:
        with self.lock:
            if speed is not None:
                self.clock.set_speed(speed)
                self.config.speed = float(speed)
            if rate_limit is not None:
                self.config.rate_limit = bool(rate_limit)
            if requests_per_second is not None:
                if requests_per_second < 1:
                    raise ValueError("requests_per_second must be >= 1")
                self.config.requests_per_second = int(requests_per_second)
                self.limiter = SlidingWindowLimiter(self.config.requests_per_second, 1.0)
            return self.config

    def advance(self, seconds: float) -> float:
        with self.lock:
            now = self.clock.advance(seconds)
            self.tick(now)
            return now

    @property
    def api_key(self) -> str:
        """The first API key of the account (what the CLI prints)."""
        return next(iter(self.state.api_keys))


def _api_base(request: Request) -> str:
    """``<scheme>://<host as the client addressed us>/api/3`` for absolute ``links``."""
    scope = request.scope
    host = None
    for name, value in scope["headers"]:
        if name == b"host":
            host = value.decode("latin-1")
            break
    if host is None:
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}/api/3"
