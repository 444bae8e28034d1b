"""The transport policy shared by the sync hook (requests) and the async hook (httpx).

Everything that decides *how* we talk to ActiveCampaign lives here, once: the API URL rules, the
headers, the per-account rate limiter, which failures may be retried for which calls, and how an
error message is built. The two hooks only move bytes; they ask this module what to send, how long
to wait, and what the answer means.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import ipaddress
import json as jsonlib
import logging
import math
import platform
import random
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

from tenacity import RetryCallState, retry_if_exception

from airflow_provider_activecampaign import __version__
from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignAmbiguousWriteError,
    ActiveCampaignAuthError,
    ActiveCampaignConfigError,
    ActiveCampaignConnectionError,
    ActiveCampaignError,
    ActiveCampaignNotFoundError,
    ActiveCampaignRateLimitError,
    ActiveCampaignServerError,
    ActiveCampaignValidationError,
)
from airflow_provider_activecampaign.hooks.ratelimit import (
    WINDOW_MARGIN,
    Booking,
    RateLimiter,
    backend_kind,
    new_limiter,
)

API_PATH = "/api/3"
LEGACY_PATH = "/admin/api.php"

DEFAULT_TIMEOUT = 30.0
DEFAULT_REQUESTS_PER_SECOND = 5.0
DEFAULT_IMPORTS_PER_MINUTE = 100.0
#: How many failed attempts (5xx, network) a call may make; ``None``: as many as ``max_wait`` allows.
DEFAULT_MAX_RETRIES: int | None = None
#: How long one call may spend waiting out throttling (429s) and transient failures, in seconds.
DEFAULT_MAX_WAIT = 900.0
#: The fraction of the account's budget this Airflow uses (the rest is left to other integrations).
DEFAULT_BUDGET_SHARE = 1.0
#: The Airflow configuration section of the deployment-wide settings.
CONFIG_SECTION = "activecampaign"
#: Longest wait we accept from a ``Retry-After`` header before trying again anyway.
MAX_RETRY_AFTER = 120.0
#: ActiveCampaign counts requests per second; we never burst more than this many at once.
ACCOUNT_BURST = 5
#: The bulk importer counts requests per minute.
IMPORT_BURST = 100
#: How much of a request or response body an error message quotes.
BODY_LIMIT = 2000
#: How much of the API's error message the one-line summary repeats (the full body follows it).
SUMMARY_MESSAGE_LIMIT = 300

#: Keys whose values never appear in an error message, wherever they sit in a body.
SENSITIVE_KEYS = frozenset(
    {"api_key", "apikey", "api-token", "api_token", "token", "password", "secret", "authorization"}
)

#: Where event tracking posts go (``POST https://trackcmp.net/event``, form-encoded).
DEFAULT_EVENT_TRACKING_URL = "https://trackcmp.net/event"
#: The endpoint name of a tracking call (no /api/3 path: it goes to the tracking host).
TRACKING_ENDPOINT = "tracking:event"

#: POST endpoints that are upserts: sending them twice leaves the same state as sending them once.
IDEMPOTENT_POSTS = frozenset({"contact/sync"})

#: Words that mark a v1 ``api_action`` as a read (``contact_view``, ``campaign_list``,
#: ``campaign_report_totals``, ``user_me``). v1 also uses GET for actions that write or send
#: (``campaign_send``), so the HTTP method alone says nothing about whether a retry is safe.
LEGACY_READ_WORDS = frozenset({"view", "list", "report", "totals", "paginator", "me"})

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------
# Connection settings
# --------------------------------------------------------------------------------------------------


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def normalize_base_url(host: str | None, port: int | None = None) -> str:
    """Turn what a user typed as the API URL into ``scheme://host[:port]`` (no path, no slash).

    Accepts ``https://acct.api-us1.com``, with or without ``/api/3`` and a trailing slash, or a
    bare host name. Plain ``http://`` is refused except on loopback, where the local emulator runs.
    """
    raw = (host or "").strip()
    if not raw:
        raise ActiveCampaignConfigError(
            "The ActiveCampaign connection has no API URL.",
            hint="Set the connection's API URL (host) to the URL shown in ActiveCampaign under "
            "Settings → Developer, e.g. https://youraccount.api-us1.com",
        )
    if "://" not in raw:
        # A bare host ("acct.api-us1.com", "127.0.0.1:8765", "[::1]:8765"): https unless loopback.
        bare = urlsplit("//" + raw).hostname or ""
        raw = ("http://" if _is_loopback(bare) else "https://") + raw
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    hostname = (parts.hostname or "").lower()
    try:
        url_port = parts.port
    except ValueError:
        raise ActiveCampaignConfigError(
            f"The API URL {_describe(raw)} has an invalid port.",
            hint="Use the API URL from ActiveCampaign Settings → Developer, e.g. https://youraccount.api-us1.com",
        ) from None
    if scheme not in {"http", "https"} or not hostname:
        raise ActiveCampaignConfigError(
            f"The API URL {_describe(raw)} is not an http(s) URL.",
            hint="Use the API URL from ActiveCampaign Settings → Developer, e.g. https://youraccount.api-us1.com",
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ActiveCampaignConfigError(
            "The API URL must not contain credentials, a query string or a fragment.",
            hint="Put the key in the connection's API Key field and only the address in API URL.",
        )
    if scheme == "http" and not _is_loopback(hostname):
        raise ActiveCampaignConfigError(
            f"The API URL http://{hostname} is not HTTPS: the API key would travel in clear text.",
            hint=f"Use https://{hostname}. Plain http:// is only accepted for a loopback address "
            "(the local emulator).",
        )
    path = parts.path.rstrip("/")
    if path not in {"", API_PATH}:
        raise ActiveCampaignConfigError(
            f"The API URL has an unexpected path {path!r}.",
            hint="Use the API URL from Settings → Developer, e.g. https://youraccount.api-us1.com "
            "(optionally ending in /api/3).",
        )
    if hostname.endswith(".activehosted.com"):
        raise ActiveCampaignConfigError(
            f"{hostname} is the address of the ActiveCampaign web app, not of its API.",
            hint="Copy the API URL from ActiveCampaign Settings → Developer "
            "(it looks like https://youraccount.api-us1.com).",
        )
    netloc = hostname if ":" not in hostname else f"[{hostname}]"
    effective_port = url_port or port or None  # 0 is "no port": the Airflow UI sends it for an empty field
    if effective_port is not None and not 0 < int(effective_port) < 65536:
        raise ActiveCampaignConfigError(
            f"The connection's port {effective_port} is not a valid TCP port.",
            hint="Leave the port empty: the API URL carries everything needed.",
        )
    if effective_port:
        netloc = f"{netloc}:{effective_port}"
    return urlunsplit((scheme, netloc, "", "", ""))


def normalize_tracking_url(url: Any) -> str:
    """The event tracking endpoint: https (plain http only on loopback: the emulator), no secrets in it."""
    raw = str(url or "").strip() or DEFAULT_EVENT_TRACKING_URL
    parts = urlsplit(raw)
    hostname = (parts.hostname or "").lower()
    hint = f"Leave event_tracking_url empty for {DEFAULT_EVENT_TRACKING_URL}, or give an https:// URL."
    if parts.scheme.lower() not in {"http", "https"} or not hostname:
        raise ActiveCampaignConfigError(
            f"The extra event_tracking_url {_describe(raw)} is not an http(s) URL.", hint=hint
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ActiveCampaignConfigError(
            "The extra event_tracking_url must not contain credentials, a query string or a fragment.",
            hint="The event key goes in the extra event_tracking_secret, never in a URL.",
        )
    if parts.scheme.lower() == "http" and not _is_loopback(hostname):
        raise ActiveCampaignConfigError(
            f"The extra event_tracking_url http://{hostname} is not HTTPS: the event key would travel in "
            "clear text.",
            hint=hint,
        )
    return raw


def _describe(raw: str) -> str:
    return repr(raw[:200])


def _number(extra: Mapping[str, Any], key: str, default: float, minimum: float) -> float:
    value = extra.get(key)
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ActiveCampaignConfigError(
            f"The connection extra {key!r} must be a number, got {str(value)[:50]!r}."
        ) from None
    if number < minimum:
        raise ActiveCampaignConfigError(f"The connection extra {key!r} must be at least {minimum}.")
    return number


def deployment_settings() -> dict[str, Any]:
    """The ``[activecampaign]`` options of the Airflow configuration (``AIRFLOW__ACTIVECAMPAIGN__*``).

    They are the defaults of every ActiveCampaign connection of the deployment; a connection's
    extras override them.
    """
    from airflow.sdk import conf

    options: dict[str, Any] = {}
    for key in ("rate_limit_backend", "budget_share", "max_wait"):
        value = conf.get(CONFIG_SECTION, key, fallback=None)
        if value not in (None, ""):
            options[key] = value
    return options


EXTRA_HINT = 'Fix the connection\'s Extra field: a JSON object such as {"timeout": 30, "budget_share": 0.5}.'


def connection_extra(raw: str | None, conn_id: str) -> dict[str, Any]:
    """A connection's extras as a dict; extras that are not a JSON object fail, naming the connection.

    Airflow's ``extra_dejson`` turns invalid JSON into ``{}`` with a log line, which would silently
    drop a ``budget_share`` or ``requests_per_second`` chosen to share the account.
    """
    if raw is None or not str(raw).strip():
        return {}
    try:
        extra = jsonlib.loads(raw)
    except ValueError as error:
        raise ActiveCampaignConfigError(
            f"The extras of the Airflow connection {conn_id!r} are not valid JSON ({error.args[0]}); "
            "none of them was used.",
            hint=EXTRA_HINT,
        ) from None
    if not isinstance(extra, dict):
        raise ActiveCampaignConfigError(
            f"The extras of the Airflow connection {conn_id!r} are a JSON {type(extra).__name__}, "
            "not an object.",
            hint=EXTRA_HINT,
        )
    return extra


def name_connection(error: BaseException, conn_id: str) -> None:
    """Say in a configuration or auth error which Airflow connection it is about."""
    from airflow_provider_activecampaign.exceptions import ActiveCampaignAuthError

    if (
        isinstance(error, ActiveCampaignConfigError | ActiveCampaignAuthError)
        and conn_id not in error.summary
    ):
        error.amend(f"(Airflow connection {conn_id!r}.)")


@dataclass(frozen=True)
class TransportSettings:
    """Everything the transport needs from an Airflow connection, validated once."""

    base_url: str
    api_key: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND
    imports_per_minute: float = DEFAULT_IMPORTS_PER_MINUTE
    max_retries: int | None = DEFAULT_MAX_RETRIES
    max_wait: float = DEFAULT_MAX_WAIT
    budget_share: float = DEFAULT_BUDGET_SHARE
    #: ``local``, ``memory``, a Redis URL, or an Airflow Redis connection id (see ratelimit.backends).
    rate_limit_backend: str = field(default="local", repr=False)
    #: Event tracking: the account's tracking id (``actid``), its event key (a secret, never the API
    #: key) and where events are posted. Empty unless the connection sets them.
    event_tracking_actid: str = ""
    event_tracking_secret: str = field(default="", repr=False)
    event_tracking_url: str = DEFAULT_EVENT_TRACKING_URL

    @classmethod
    def from_connection_fields(
        cls,
        *,
        host: str | None,
        port: int | None,
        password: str | None,
        extra: Mapping[str, Any],
        defaults: Mapping[str, Any] | None = None,
    ) -> TransportSettings:
        """Validate a connection; ``defaults`` are the deployment's (default: the Airflow config)."""
        base_url = normalize_base_url(host, port)
        api_key = (password or "").strip()
        if not api_key:
            raise ActiveCampaignConfigError(
                "The ActiveCampaign connection has no API key.",
                hint="Set the connection's API Key to the key from ActiveCampaign Settings → Developer.",
            )
        merged = {**(deployment_settings() if defaults is None else defaults)}
        merged.update({key: value for key, value in extra.items() if value not in (None, "")})
        share = _number(merged, "budget_share", DEFAULT_BUDGET_SHARE, 0.001)
        if share > 1:
            raise ActiveCampaignConfigError(
                f"budget_share must be a fraction of the account's budget between 0 and 1, got {share}."
            )
        retries = merged.get("max_retries")
        return cls(
            base_url=base_url,
            api_key=api_key,
            timeout=_number(merged, "timeout", DEFAULT_TIMEOUT, 0.1),
            requests_per_second=_number(merged, "requests_per_second", DEFAULT_REQUESTS_PER_SECOND, 0.01),
            imports_per_minute=_number(merged, "imports_per_minute", DEFAULT_IMPORTS_PER_MINUTE, 0.01),
            max_retries=None if retries in (None, "") else int(_number(merged, "max_retries", 0, 0)),
            max_wait=_number(merged, "max_wait", DEFAULT_MAX_WAIT, 0),
            budget_share=share,
            rate_limit_backend=str(merged.get("rate_limit_backend") or "local").strip(),
            event_tracking_actid=str(extra.get("event_tracking_actid") or "").strip(),
            event_tracking_secret=str(extra.get("event_tracking_secret") or "").strip(),
            event_tracking_url=normalize_tracking_url(extra.get("event_tracking_url")),
        )

    @property
    def rate_limit_backend_connection(self) -> str | None:
        """The Airflow connection id the Redis backend is named by, if it is one."""
        return self.rate_limit_backend if backend_kind(self.rate_limit_backend) == "connection" else None

    @property
    def api_url(self) -> str:
        return self.base_url + API_PATH


def user_agent() -> str:
    """Name us to ActiveCampaign, so their support can find our traffic."""
    try:
        from airflow import __version__ as airflow_version
    except ImportError:  # pragma: no cover - Airflow is a dependency
        airflow_version = "unknown"
    return (
        f"airflow-provider-activecampaign/{__version__} "
        f"(apache-airflow/{airflow_version}; python/{platform.python_version()})"
    )


def build_headers(api_key: str) -> dict[str, str]:
    return {
        "Api-Token": api_key,
        "User-Agent": user_agent(),
        "Accept": "application/json",
    }


# --------------------------------------------------------------------------------------------------
# Rate limiting
# --------------------------------------------------------------------------------------------------


_LIMITERS: dict[tuple[str, str, str], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def window_size(events_per_period: float, period: float, burst: int, share: float = 1.0) -> tuple[int, float]:
    """``(max_events, window seconds)`` for ``events_per_period`` per ``period``, of which we use ``share``.

    The server counts at most ``burst`` events in a sliding ``period`` (5 a second, 100 a minute).
    A higher rate shrinks the window (an emulator running faster than real time); a rate or a
    share below it lowers the count in the server's window, rounded *down* to whole events, so that
    shares add up within any one window: with a share of 1/3, three hosts send at most 3 in any
    second, never 6. Below one event per window, the window grows instead.
    """
    if events_per_period >= burst:
        server_events, server_window = float(burst), period * burst / events_per_period
    else:
        server_events, server_window = events_per_period, period
    target = server_events * share
    events = max(1, math.floor(target + 1e-9))
    return events, server_window * max(1.0, events / target)


def get_limiter(
    account: str,
    scope: str,
    events_per_period: float,
    period: float,
    burst: int,
    *,
    share: float = 1.0,
    backend: str = "local",
) -> RateLimiter:
    """The limiter of one account and scope on ``backend``, shared by every hook and trigger.

    One object per process; its window lives where the backend keeps it (a file every process of
    the host shares, or Redis for every host; see :mod:`airflow_provider_activecampaign.hooks.ratelimit`).
    """
    max_events, window = window_size(events_per_period, period, burst, share)
    key = (backend, account, scope)
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(key)
        if limiter is None:
            limiter = _LIMITERS[key] = new_limiter(backend, account, scope, max_events, window)
        elif limiter.max_events != max_events or abs(limiter.period - window * (1 + WINDOW_MARGIN)) > 1e-9:
            limiter.configure(max_events, window)
        return limiter


def limiters_for(settings: TransportSettings, method: str, endpoint: str) -> list[RateLimiter]:
    """Every limiter a call must pass: the account's, plus the importer's for bulk imports."""
    share, backend = settings.budget_share, settings.rate_limit_backend
    limiters = [
        get_limiter(
            settings.base_url,
            "requests",
            settings.requests_per_second,
            1.0,
            ACCOUNT_BURST,
            share=share,
            backend=backend,
        )
    ]
    if method == "POST" and endpoint == "import/bulk_import":
        limiters.append(
            get_limiter(
                settings.base_url,
                "bulk_import",
                settings.imports_per_minute,
                60.0,
                IMPORT_BURST,
                share=share,
                backend=backend,
            )
        )
    return limiters


class RoundTrips:
    """The fastest recent round trips to one account, as seen from this process.

    The limiter counts an answered request from ``answer - floor`` (see
    :mod:`airflow_provider_activecampaign.hooks.ratelimit.window`). The floor is a fraction of the
    fastest of the last few answers: a latency that drops shows at once, one that rises only once
    the fast answers have aged out, so the floor errs low (safe) rather than high.
    """

    #: How many recent answers the floor is taken from.
    SAMPLES = 50
    #: The share of the fastest recent round trip that counts as the floor (the rest is head-room).
    FRACTION = 1.0

    def __init__(self) -> None:
        self._samples: deque[float] = deque(maxlen=self.SAMPLES)
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        if seconds >= 0:
            with self._lock:
                self._samples.append(seconds)

    def floor(self) -> float:
        with self._lock:
            return self.FRACTION * min(self._samples) if self._samples else 0.0


_ROUND_TRIPS: dict[str, RoundTrips] = {}


def round_trips(account: str) -> RoundTrips:
    with _LIMITERS_LOCK:
        tracker = _ROUND_TRIPS.get(account)
        if tracker is None:
            tracker = _ROUND_TRIPS[account] = RoundTrips()
        return tracker


# --------------------------------------------------------------------------------------------------
# Calls, redaction and errors
# --------------------------------------------------------------------------------------------------


#: When each key (by a hash of API URL and key) last got a 2xx answer in this process.
_KEY_WORKED: dict[str, float] = {}
#: A read answered 403 this soon after the key worked counts as ActiveCampaign's transient 403.
TRANSIENT_FORBIDDEN_WINDOW = 3600.0
#: How often such a read is tried again before the 403 counts as an auth error.
TRANSIENT_FORBIDDEN_RETRIES = 3


@functools.lru_cache(maxsize=64)
def key_id(base_url: str, api_key: str) -> str:
    """Names a key in memory without holding it (a hash of the account's URL and the key)."""
    return hashlib.sha256(f"{base_url}\n{api_key}".encode()).hexdigest()[:16]


class FailureKind(enum.Enum):
    """What we know about a call that got no HTTP answer."""

    #: The request never left (DNS, refused, connect timeout): safe to send again.
    NOT_SENT = "not sent"
    #: The request may have reached the server (read timeout, dropped connection).
    MAYBE_APPLIED = "maybe applied"


@dataclass
class Call:
    """One logical API call, prepared once and attempted until it succeeds or gives up."""

    method: str
    endpoint: str
    url: str
    params: dict[str, Any] | None
    json: Any = None
    form: dict[str, Any] | None = None
    idempotent: bool = False
    expected: str = "HTTP 2xx with a JSON body"
    limiters: list[RateLimiter] = field(default_factory=list)
    #: The API key, only so that it can be scrubbed from anything an error quotes.
    secret: str = field(default="", repr=False)
    #: Which key this call uses (see :func:`key_id`), to tell a transient 403 from a refused key.
    key: str = ""
    #: The account's recent round trips (the limiter's floor); ``None``: count from the answer.
    round_trips: RoundTrips | None = field(default=None, repr=False)
    #: How long one attempt can stay unanswered (its timeouts, plus slack).
    hold: float = DEFAULT_TIMEOUT * 2 + 5.0
    #: Headers that differ from the session's; ``None`` removes one (the API key, for the tracking host).
    headers: dict[str, str | None] | None = None
    _bookings: list[tuple[RateLimiter, Booking]] = field(default_factory=list, init=False, repr=False)
    _sent_at: float | None = field(default=None, init=False, repr=False)

    @property
    def display_url(self) -> str:
        """The full URL with its query, safe to print (no key can be in it)."""
        if not self.params:
            return self.scrub(self.url)
        safe = {k: ("***" if k.lower() in SENSITIVE_KEYS else v) for k, v in self.params.items()}
        return self.scrub(f"{self.url}?{urlencode(safe, doseq=True)}")

    @property
    def display_body(self) -> str | None:
        if self.json is not None:
            return self.scrub(redact_body(self.json))
        if self.form is not None:
            return self.scrub(redact_body(self.form))
        return None

    def scrub(self, text: str) -> str:
        """``text`` with the API key replaced, for anything quoted from the wire (e.g. an echo)."""
        return text.replace(self.secret, "***") if self.secret else text

    def reserve(self) -> float:
        """Book a slot in every limiter for one attempt; return the longest wait.

        After waiting, call :meth:`confirm` (and wait again while it says so) before sending.
        """
        floor = self.round_trips.floor() if self.round_trips is not None else 0.0
        booked = [(limiter, *limiter.book(hold=self.hold, floor=floor)) for limiter in self.limiters]
        self._bookings = [(limiter, booking) for limiter, booking, _ in booked]
        self._sent_at = None
        return max((wait for _, _, wait in booked), default=0.0)

    def confirm(self) -> float:
        """About to send after waiting: 0.0 if every booking still fits, else how long to wait more."""
        return max((limiter.confirm(booking) for limiter, booking in self._bookings), default=0.0)

    def cancel(self) -> None:
        """The attempt will not be sent after all (interrupted while waiting)."""
        for limiter, booking in self._bookings:
            limiter.cancel(booking)
        self._bookings = []

    def sent(self) -> None:
        """The request goes on the wire now (times the round trip)."""
        self._sent_at = time.monotonic()

    def settle(self, answered: bool = True) -> None:
        """The attempt is over: count it in every limiter from when it can have reached the server.

        :param answered: Whether an HTTP answer came back (its round trip then teaches the floor).
        """
        if answered and self._sent_at is not None and self.round_trips is not None:
            self.round_trips.add(time.monotonic() - self._sent_at)
        for limiter, booking in self._bookings:
            limiter.settle(booking)
        self._bookings = []


def _redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: ("***" if str(k).lower() in SENSITIVE_KEYS else _redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def redact_body(body: Any, limit: int = BODY_LIMIT) -> str:
    """A request body as an error message quotes it: secrets replaced, long bodies cut."""
    text = jsonlib.dumps(_redact(body), default=str, ensure_ascii=False)
    return trim(text, limit)


def trim(text: str, limit: int = BODY_LIMIT) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def is_idempotent(method: str, endpoint: str) -> bool:
    """Whether sending the call twice leaves the account as sending it once would."""
    return method in {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"} or (
        method == "POST" and endpoint.strip("/") in IDEMPOTENT_POSTS
    )


def prepare_call(
    settings: TransportSettings,
    method: str,
    endpoint: str,
    *,
    params: Mapping[str, Any] | None = None,
    json: Any = None,
    idempotent: bool | None = None,
) -> Call:
    """Resolve a v3 endpoint (``contacts/12``) into a call with its URL, retry rule and limiters."""
    method = method.upper()
    endpoint = endpoint.strip().lstrip("/")
    if endpoint.startswith("api/3/"):
        endpoint = endpoint[len("api/3/") :]
    if "://" in endpoint or endpoint.startswith("/"):
        raise ValueError(f"endpoint must be relative to {API_PATH}, got {endpoint!r}")
    # Plain concatenation: urljoin would read "host:port/x" or "../" in an endpoint as a new target.
    url = f"{settings.api_url}/{endpoint}"
    return Call(
        method=method,
        endpoint=endpoint,
        url=url,
        params=dict(params) if params else None,
        json=json,
        idempotent=is_idempotent(method, endpoint) if idempotent is None else idempotent,
        limiters=limiters_for(settings, method, endpoint),
        secret=settings.api_key,
        key=key_id(settings.base_url, settings.api_key),
        round_trips=round_trips(settings.base_url),
        hold=2 * settings.timeout + 5.0,
    )


def is_legacy_read(method: str, api_action: str) -> bool:
    """Whether a v1 action only reads (safe to resend); ``campaign_send`` is a GET that sends mail."""
    words = api_action.strip().lower().split("_")[1:]
    return method.upper() == "GET" and any(word in LEGACY_READ_WORDS for word in words)


def prepare_legacy_call(
    settings: TransportSettings,
    api_action: str,
    *,
    method: str = "GET",
    params: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    idempotent: bool | None = None,
) -> Call:
    """A v1 ``/admin/api.php`` call: the key goes in the ``Api-Token`` header, never the URL."""
    method = method.upper()
    query = {"api_action": api_action, "api_output": "json", **(params or {})}
    return Call(
        method=method,
        endpoint=f"legacy:{api_action}",
        url=settings.base_url + LEGACY_PATH,
        params=query,
        form=dict(data) if data is not None else None,
        idempotent=is_legacy_read(method, api_action) if idempotent is None else idempotent,
        expected="HTTP 200 with JSON result_code 1",
        limiters=limiters_for(settings, method, f"legacy:{api_action}"),
        secret=settings.api_key,
        key=key_id(settings.base_url, settings.api_key),
        round_trips=round_trips(settings.base_url),
        hold=2 * settings.timeout + 5.0,
    )


def prepare_tracking_call(settings: TransportSettings, form: Mapping[str, Any]) -> Call:
    """An event tracking post: form-encoded to the tracking host, paced by the account's limiter.

    The API key is never sent there (``Api-Token`` is removed from the request); the event key rides
    in the form and is scrubbed from anything an error quotes. A tracking post has no idempotency
    key, so it is not idempotent: a 429 or a refused connection (nothing recorded) is retried, a 5xx
    or a dropped connection after sending is an ambiguous write and is never resent.
    """
    if not settings.event_tracking_actid or not settings.event_tracking_secret:
        missing = [
            name
            for name, value in (
                ("event_tracking_actid", settings.event_tracking_actid),
                ("event_tracking_secret", settings.event_tracking_secret),
            )
            if not value
        ]
        raise ActiveCampaignConfigError(
            f"The ActiveCampaign connection has no {' and no '.join(missing)} extra: "
            "events cannot be tracked.",
            hint="Copy the tracking account id (actid) and the Event Key from ActiveCampaign Settings → "
            "Tracking → Event Tracking into the connection's extras event_tracking_actid and "
            "event_tracking_secret.",
        )
    url = settings.event_tracking_url
    return Call(
        method="POST",
        endpoint=TRACKING_ENDPOINT,
        url=url,
        params=None,
        form={"actid": settings.event_tracking_actid, "key": settings.event_tracking_secret, **form},
        idempotent=False,
        expected='HTTP 200 with JSON {"success": 1}',
        limiters=limiters_for(settings, "POST", TRACKING_ENDPOINT),
        secret=settings.event_tracking_secret,
        key=key_id(url, settings.event_tracking_secret),
        round_trips=round_trips(url),
        hold=2 * settings.timeout + 5.0,
        headers={"Api-Token": None},
    )


def _parse_json(text: str) -> Any:
    try:
        return jsonlib.loads(text) if text.strip() else {}
    except ValueError:
        return None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After") or headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, min(float(value), MAX_RETRY_AFTER))
    except ValueError:
        return None


def _field_errors(body: Any) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    if not isinstance(body, Mapping):
        return errors
    for item in body.get("errors") or []:
        if isinstance(item, Mapping):
            pointer = (
                (item.get("source") or {}).get("pointer") if isinstance(item.get("source"), Mapping) else None
            )
            errors.append(
                {
                    "field": pointer.rsplit("/", 1)[-1] if pointer else None,
                    "title": item.get("title"),
                    "detail": item.get("detail"),
                    "code": item.get("code"),
                }
            )
        else:
            errors.append({"field": None, "title": str(item), "detail": None, "code": None})
    for reason in body.get("failureReasons") or []:
        if isinstance(reason, Mapping):
            errors.append(
                {
                    "field": None,
                    "title": reason.get("failureReason"),
                    "detail": None,
                    "code": None,
                    "contact_index": reason.get("contact"),
                }
            )
        else:
            errors.append({"field": None, "title": str(reason), "detail": None, "code": None})
    return errors


def api_message(body: Any) -> str | None:
    """The human message of any documented error body shape."""
    if not isinstance(body, Mapping):
        return None
    if isinstance(body.get("message"), str):
        return body["message"]
    parts = []
    for item in _field_errors(body):
        text = " ".join(str(p) for p in (item.get("title"), item.get("detail")) if p)
        if item.get("field"):
            text = f"{item['field']}: {text}"
        if text:
            parts.append(text)
    return "; ".join(parts) or None


def handle_response(call: Call, status: int, headers: Mapping[str, str], text: str) -> Any:
    """Return the decoded body of a successful answer, or raise the right typed error."""
    body = _parse_json(text)
    if 200 <= status < 300 and body is not None and not _legacy_refusal(call, body):
        _KEY_WORKED[call.key] = time.monotonic()
        return body  # the common case: none of an error's fields (redacted body, URL) is built
    common: dict[str, Any] = {
        "method": call.method,
        "url": call.display_url,
        "status": status,
        "request_body": call.display_body,
        "response_body": call.scrub(trim(text, BODY_LIMIT)) if text else "",
        "expected": call.expected,
    }
    if call.secret and call.secret in text and not 200 <= status < 300:
        body = _parse_json(call.scrub(text))  # an error that echoes the key quotes "***" instead
    where = f"{call.method} {call.display_url}"
    if 300 <= status < 400:
        location = headers.get("Location") or headers.get("location") or ""
        target = urlsplit(urljoin(call.url, location))
        raise ActiveCampaignConfigError(
            f"ActiveCampaign answered {where} with a redirect to {target.scheme}://{target.netloc}; "
            "it was not followed, so the API key was not sent there.",
            hint="Update the connection's API URL to the address shown in ActiveCampaign "
            "Settings → Developer.",
            **common,
        )
    if 200 <= status < 300:
        if body is None:
            raise ActiveCampaignServerError(
                f"ActiveCampaign answered {where} with a body that is not JSON.",
                hint="Check that the API URL points at the API (Settings → Developer), not a web page.",
                **common,
            )
        if _legacy_refusal(call, body):
            result_message = trim(str(body.get("result_message") or "result_code 0"), SUMMARY_MESSAGE_LIMIT)
            raise ActiveCampaignValidationError(
                f"ActiveCampaign refused {call.endpoint[len('legacy:') :]}: {call.scrub(result_message)}",
                **common,
            )
        return body
    message = api_message(body)
    message = trim(message, SUMMARY_MESSAGE_LIMIT) if message else message
    detail = f": {message}" if message else ""
    if status == 429:
        error: ActiveCampaignError = ActiveCampaignRateLimitError(
            f"ActiveCampaign rate limit hit on {where}{detail}",
            retry_after=_retry_after(headers),
            hint="Something else uses this account's 5 requests/s too: another integration, or Airflow "
            "hosts that do not share one rate-limit backend. Point [activecampaign] rate_limit_backend "
            "of every worker and triggerer at one Redis, and lower budget_share to leave room for "
            "other integrations (see the deployment guide). The call waits and retries until max_wait.",
            **common,
        )
        # Every caller on this host backs off for a full window, not only this one; without a
        # Retry-After header that window is also the wait before this call's next attempt. A 429 is
        # the account's per-second limit (limiters_for puts its limiter first), not the importer's
        # per-minute one: saturating that would stall every bulk import for a minute.
        if call.limiters:
            call.limiters[0].saturate()
        return _raise(error)
    if status == 400 and message and "rate limit" in message.lower():
        for limiter in call.limiters:
            limiter.saturate()
        return _raise(
            ActiveCampaignRateLimitError(
                f"ActiveCampaign's bulk importer is over its per-minute limit on {where}{detail}",
                hint="The provider waits for a free slot and retries; lower imports_per_minute in the "
                "connection if other tools import into this account too.",
                **common,
            )
        )
    not_found = (message or "").lower().startswith("no result found")
    if status == 404 or not_found:
        return _raise(ActiveCampaignNotFoundError(f"Not found: {where}{detail}", **common))
    permission = status == 403 and "could not create" not in (message or "").lower()
    if status in {401, 402} or permission:
        hint = (
            "The ActiveCampaign account has a payment issue (HTTP 402)."
            if status == 402
            else "Check the connection's API Key and API URL (both from Settings → Developer). A key "
            "stops working when it is reset or its user is deleted; a user without the permission "
            "gets 403 for that kind of object."
        )
        auth = ActiveCampaignAuthError(f"ActiveCampaign refused {where}{detail}", hint=hint, **common)
        worked = _KEY_WORKED.get(call.key)
        if status == 403 and _is_transient_forbidden(call, body, worked):
            # ActiveCampaign answers some reads with a passing 403 (integrators retry them): a key
            # that worked a moment ago gets a few more tries before this counts as refused.
            auth.retryable = True
            auth.transient = True
        return _raise(auth)
    if 400 <= status < 500:
        return _raise(
            ActiveCampaignValidationError(
                f"ActiveCampaign rejected {where}{detail}", field_errors=_field_errors(body), **common
            )
        )
    if status >= 500:
        return _raise(_server_or_ambiguous(call, f"ActiveCampaign failed on {where} (HTTP {status})", common))
    return _raise(ActiveCampaignError(f"Unexpected HTTP {status} from {where}{detail}", **common))


def _is_transient_forbidden(call: Call, body: Any, worked: float | None) -> bool:
    """A bare ``403 Forbidden`` on a read, with a key that got an answer within the last hour."""
    bare = not isinstance(body, Mapping) or not body.get("errors")  # "no permission" bodies are not
    recent = worked is not None and time.monotonic() - worked <= TRANSIENT_FORBIDDEN_WINDOW
    return bare and recent and call.idempotent and call.method == "GET"


def _legacy_refusal(call: Call, body: Any) -> bool:
    """A v1 answer with HTTP 200 that says ``result_code: 0`` (the action was refused)."""
    return (
        call.endpoint.startswith("legacy:")
        and isinstance(body, Mapping)
        and str(body.get("result_code", "1")) in {"0", "False", "false"}
    )


def _server_or_ambiguous(call: Call, summary: str, common: dict[str, Any]) -> ActiveCampaignError:
    if call.idempotent:
        error: ActiveCampaignError = ActiveCampaignServerError(summary, **common)
        error.retryable = True
        return error
    return ActiveCampaignAmbiguousWriteError(
        f"{summary}. The write may have been applied, so it was not sent again.",
        hint="Read back before retrying (the provider's operators do this themselves).",
        **common,
    )


def _raise(error: ActiveCampaignError) -> Any:
    raise error


def transport_error(call: Call, kind: FailureKind, reason: BaseException | str) -> ActiveCampaignError:
    """The error for a call that got no HTTP answer; retryable only when that cannot duplicate a write."""
    reason_text = reason if isinstance(reason, str) else f"{type(reason).__name__}: {reason}"
    common: dict[str, Any] = {
        "method": call.method,
        "url": call.display_url,
        "request_body": call.display_body,
        "expected": call.expected,
        "response_body": call.scrub(trim(reason_text, 500)),
    }
    where = f"{call.method} {call.display_url}"
    if kind is FailureKind.NOT_SENT or call.idempotent:
        error = ActiveCampaignConnectionError(
            f"No answer from ActiveCampaign for {where}",
            hint="Check the API URL, DNS and network access from the worker; raise the connection's "
            "timeout if the account is slow.",
            **common,
        )
        error.retryable = True
        return error
    return ActiveCampaignAmbiguousWriteError(
        f"The connection failed after {where} was sent; the write may have been applied, "
        "so it was not sent again.",
        hint="Read back before retrying (the provider's operators do this themselves).",
        **common,
    )


# --------------------------------------------------------------------------------------------------
# Retry policy (tenacity), shared by Retrying and AsyncRetrying
# --------------------------------------------------------------------------------------------------


def _is_retryable(error: BaseException) -> bool:
    return isinstance(error, ActiveCampaignError) and error.retryable


#: Longest pause between two attempts of one call.
MAX_BACKOFF = 30.0


class RetryPolicy:
    """How long one call waits out throttling and transient failures, and when it gives up.

    A 429 (or the importer's "Rate limit exceeded") means ActiveCampaign did not act: the call waits
    ``Retry-After`` (or backs off exponentially when there is none), with a little jitter so that
    throttled workers do not come back in step, for as long as ``max_wait`` allows. Server and
    network errors on calls that are safe to repeat back off with full jitter (0.5, 1, 2 … 30 s),
    also within ``max_wait``, and at most ``max_retries`` times when that is set. The same object
    serves ``tenacity.Retrying`` and ``AsyncRetrying``; one is made per call.
    """

    def __init__(self, settings: TransportSettings, logger: Any = None) -> None:
        self.settings = settings
        self.log = logger or log
        self.throttles = 0
        self.failures = 0
        #: 403s to reads with a key that worked (see :data:`TRANSIENT_FORBIDDEN_RETRIES`).
        self.forbidden = 0
        #: Seconds this call was told to wait so far (its sleeps; never less than the real time).
        self.waited = 0.0
        self.gave_up = False

    def _elapsed(self, state: RetryCallState) -> float:
        return max(self.waited, state.seconds_since_start or 0.0)

    def stop(self, state: RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, ActiveCampaignRateLimitError):
            self.throttles += 1
        elif isinstance(error, ActiveCampaignAuthError):
            self.forbidden += 1
            self.gave_up = self.forbidden > TRANSIENT_FORBIDDEN_RETRIES or (
                self._elapsed(state) >= self.settings.max_wait
            )
            return self.gave_up
        else:
            self.failures += 1
        limit = self.settings.max_retries
        self.gave_up = self._elapsed(state) >= self.settings.max_wait or (
            not isinstance(error, ActiveCampaignRateLimitError)
            and limit is not None
            and self.failures > limit
        )
        return self.gave_up

    def wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, ActiveCampaignRateLimitError):
            retry_after = error.retry_after
            base = (
                float(retry_after)
                if retry_after is not None
                else min(MAX_BACKOFF, 2.0 ** (self.throttles - 1))
            )
            pause = base + random.uniform(0, 0.1 * base + 0.1)
        elif isinstance(error, ActiveCampaignAuthError):
            pause = random.uniform(0.5, 1.0) * 2.0**self.forbidden  # 1-2, 2-4, 4-8 s
        else:
            pause = random.uniform(0, min(MAX_BACKOFF, 0.5 * 2 ** (self.failures - 1)))
        pause = max(0.0, min(pause, self.settings.max_wait - self._elapsed(state)))
        self.waited = self._elapsed(state) + pause
        return pause

    def before_sleep(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        summary = getattr(error, "summary", str(error))
        if isinstance(error, ActiveCampaignRateLimitError):
            self.log.warning(
                "Throttled by ActiveCampaign: waiting %.1f s (throttled for %.0f s so far, %d times; "
                "waiting up to max_wait=%.0f s): %s",
                state.upcoming_sleep,
                self._elapsed(state) - state.upcoming_sleep,
                self.throttles,
                self.settings.max_wait,
                summary,
            )
            return
        limit = self.settings.max_retries
        self.log.warning(
            "Retrying in %.1f s (attempt %d%s, within max_wait=%.0f s): %s",
            state.upcoming_sleep,
            state.attempt_number + 1,
            f" of {limit + 1}" if limit is not None else "",
            self.settings.max_wait,
            summary,
        )

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``tenacity.Retrying`` and ``tenacity.AsyncRetrying`` alike."""
        return {
            "stop": self.stop,
            "wait": self.wait,
            "retry": retry_if_exception(_is_retryable),
            "before_sleep": self.before_sleep,
            "reraise": True,
        }

    def explain(self, error: BaseException) -> None:
        """Say in the final error how long the call was retried, when it was."""
        if not isinstance(error, ActiveCampaignError) or not error.retryable or not self.gave_up:
            return
        attempts = self.throttles + self.failures + self.forbidden
        tries = f"{attempts} attempt{'' if attempts == 1 else 's'}"
        if isinstance(error, ActiveCampaignAuthError):
            note = (
                f"ActiveCampaign answered 403 to {tries} over {self.waited:.0f} s, although this key "
                "worked shortly before: not a passing 403, so the key or its user's permissions changed."
            )
        elif isinstance(error, ActiveCampaignRateLimitError):
            note = (
                f"Still throttled after {self.waited:.0f} s of waiting and {tries} "
                f"(max_wait={self.settings.max_wait:.0f} s); ActiveCampaign acted on none of them."
            )
        else:
            note = f"Gave up after {tries} over {self.waited:.0f} s."
        error.amend(note)


def retry_kwargs(settings: TransportSettings, logger: Any = None) -> dict[str, Any]:
    """Keyword arguments for ``tenacity.Retrying`` and ``AsyncRetrying`` (a fresh policy each call)."""
    return RetryPolicy(settings, logger).kwargs()
