"""Call preparation: an endpoint resolved into one call with its URL, retry rule and limiters."""

from __future__ import annotations

import enum
import functools
import hashlib
import posixpath
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode

from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignConfigError,
    ActiveCampaignUnsafeEndpointError,
)
from airflow_provider_activecampaign.hooks import metrics
from airflow_provider_activecampaign.hooks.ratelimit import Booking, RateLimiter
from airflow_provider_activecampaign.hooks.transport.limiters import RoundTrips, limiters_for, round_trips
from airflow_provider_activecampaign.hooks.transport.redaction import (
    SENSITIVE_KEYS,
    VALUE_LIMIT,
    bounded,
    redact,
    redact_body,
)
from airflow_provider_activecampaign.hooks.transport.settings import (
    API_PATH,
    DEFAULT_TIMEOUT,
    LEGACY_PATH,
    TransportSettings,
)

#: The endpoint name of a tracking call (no /api/3 path: it goes to the tracking host).
TRACKING_ENDPOINT = "tracking:event"

#: POST endpoints that are upserts: sending them twice leaves the same state as sending them once.
IDEMPOTENT_POSTS = frozenset({"contact/sync"})

#: Words that mark a v1 ``api_action`` as a read (``contact_view``, ``campaign_list``,
#: ``campaign_report_totals``, ``user_me``). v1 also uses GET for actions that write or send
#: (``campaign_send``), so the HTTP method alone says nothing about whether a retry is safe.
LEGACY_READ_WORDS = frozenset({"view", "list", "report", "totals", "paginator", "me"})


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
    _reserved_at: float | None = field(default=None, init=False, repr=False)

    @property
    def display_url(self) -> str:
        """The full URL with its query, safe to print (no key can be in it)."""
        if not self.params:
            return self.scrub(self.url)
        parts = []
        for name, value in self.params.items():
            for item in value if isinstance(value, list | tuple) else [value]:
                text = "***" if name.lower() in SENSITIVE_KEYS else str(item)
                shown = urlencode({name: text[:VALUE_LIMIT]})
                # A long value is cut, its length stated (a 10 MB email never fills an error).
                parts.append(shown if len(text) <= VALUE_LIMIT else f"{shown}…({len(text)} characters)")
        return self.scrub(f"{self.url}?{'&'.join(parts)}")

    @property
    def display_body(self) -> str | None:
        if self.json is not None:
            return self.scrub(redact_body(self.json))
        if self.form is not None:
            return self.scrub(redact_body(self.form))
        return None

    def scrub(self, text: str) -> str:
        """``text`` without this call's key or any other known secret (the one rule: redaction.redact)."""
        return redact(text, self.secret) if self.secret else redact(text)

    def reserve(self) -> float:
        """Book a slot in every limiter for one attempt; return the longest wait.

        After waiting, call :meth:`confirm` (and wait again while it says so) before sending.
        """
        floor = self.round_trips.floor() if self.round_trips is not None else 0.0
        booked = [(limiter, *limiter.book(hold=self.hold, floor=floor)) for limiter in self.limiters]
        self._bookings = [(limiter, booking) for limiter, booking, _ in booked]
        self._sent_at = None
        wait = max((wait for _, _, wait in booked), default=0.0)
        self._reserved_at = time.monotonic() if wait > 0 else None
        return wait

    def confirm(self) -> float:
        """About to send after waiting: 0.0 if every booking still fits, else how long to wait more."""
        return max((limiter.confirm(booking) for limiter, booking in self._bookings), default=0.0)

    def cancel(self) -> None:
        """The attempt will not be sent after all (interrupted while waiting)."""
        for limiter, booking in self._bookings:
            limiter.cancel(booking)
        self._bookings = []

    def sent(self) -> None:
        """The request goes on the wire now (times the round trip; reports the limiter's wait)."""
        self._sent_at = time.monotonic()
        if self._reserved_at is not None:
            metrics.record_limiter_wait(self._sent_at - self._reserved_at)
            self._reserved_at = None

    def settle(self, answered: bool = True) -> None:
        """The attempt is over: count it in every limiter from when it can have reached the server.

        :param answered: Whether an HTTP answer came back (its round trip then teaches the floor).
        """
        if answered and self._sent_at is not None and self.round_trips is not None:
            self.round_trips.add(time.monotonic() - self._sent_at)
        for limiter, booking in self._bookings:
            limiter.settle(booking)
        self._bookings = []


def is_idempotent(method: str, endpoint: str) -> bool:
    """Whether sending the call twice leaves the account as sending it once would."""
    return method in {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"} or (
        method == "POST" and endpoint.strip("/") in IDEMPOTENT_POSTS
    )


#: Characters an endpoint may not contain at all: a backslash (read as "/" by some servers and
#: proxies), and whitespace or control characters (header or request-line injection).
_FORBIDDEN_IN_ENDPOINT = re.compile(r"[\\\x00-\x20\x7f]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe_endpoint(endpoint: str) -> str:
    """``endpoint`` relative to ``/api/3``; refused (nothing sent) when it could lead elsewhere.

    Accepted: ``contacts/12``, ``/contacts/12``, ``api/3/contacts/12``, a query after ``?``.
    Refused: absolute URLs, ``//host``, dot segments (``..``, ``.``, ``%2e%2e``, however often
    encoded), encoded slashes or backslashes (``%2f``, ``%5c``), backslashes and control characters:
    anything a server or a proxy could normalise to a path outside ``/api/3/``.
    """
    raw = str(endpoint)
    text = raw.strip()
    path = text.split("?", 1)[0].split("#", 1)[0]
    problem = None
    if "://" in path or path.startswith("//"):
        problem = "it is an absolute URL or names another host"
    elif _FORBIDDEN_IN_ENDPOINT.search(path) or _CONTROL.search(text):
        problem = "it contains a backslash, whitespace or a control character"
    else:
        decoded = path
        for _ in range(5):  # %252e%252e -> %2e%2e -> ..: decode until nothing changes
            once = unquote(decoded)
            if once == decoded:
                break
            decoded = once
        if re.search(r"%(2f|5c)", path, re.IGNORECASE) or decoded.count("/") != path.count("/"):
            problem = "it contains an encoded slash (%2f) or backslash (%5c)"
        elif "\\" in decoded or any(segment in {".", ".."} for segment in decoded.split("/")):
            problem = "it contains a dot segment (. or ..), which leaves the path it names"
    if problem is None:
        relative = text.lstrip("/")
        if relative.startswith("api/3/"):
            relative = relative[len("api/3/") :]
        resolved = posixpath.normpath(f"{API_PATH}/{unquote(relative.split('?', 1)[0])}")
        if resolved == API_PATH or resolved.startswith(f"{API_PATH}/"):
            return relative
        problem = f"it resolves to {bounded(resolved)}"
    raise ActiveCampaignUnsafeEndpointError(
        f"The endpoint {bounded(raw)} was refused before anything was sent: {problem}. "
        f"An endpoint must be relative to {API_PATH} (e.g. 'contacts/12').",
        hint="Give the path under /api/3 only, e.g. endpoint='dealStages' or 'contacts/12'; put query "
        "parameters in query=/params=, never in the path. For a v1 action use api_action=.",
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
    endpoint = safe_endpoint(endpoint)
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
    missing = settings.missing_tracking_extras
    if missing:
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
