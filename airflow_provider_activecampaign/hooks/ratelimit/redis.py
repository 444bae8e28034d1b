"""The Redis backend: one window per account and scope, shared by every host that reaches the Redis.

Each operation of :mod:`.window` is one call of a Lua script, so it is atomic across every worker,
triggerer and process, and costs one round trip. Times come from the Redis server's own clock
(``TIME``), so hosts whose clocks disagree still agree on the window; the caller only ever learns
*how long* to wait, which it measures on its own clock.

Why our own script and not a library: ``limits`` and ``pyrate-limiter`` both stamp requests with
the client's clock and only answer "allowed or not", so waiters poll and can starve each other;
this backend needs server time, first-come-first-served booking, and bookings that move later
when their request is answered (see docs/deployment.md for the comparison).

When Redis cannot be reached (stopped, or frozen: no call waits more than a socket timeout for
it), the limiter warns and paces with the host's ``local`` window until Redis answers again (it
tries again every few seconds), at **this host's share** of the budget: every script call also
stamps the host in a sorted set of the account's clients, and the number of hosts seen in the last
:data:`CLIENT_TTL` seconds (remembered in the host's rate-limit folder, so a task started during
the outage knows it too) divides the budget. With ``n`` hosts each paces at ``max_events // n``
per period, so all of them together stay within the budget (3 hosts at 5/s: 1/s each). The local
window is treated as full once when the outage starts, since the bookings of other hosts are
unknown. When Redis answers again, the host books in Redis *and* keeps its share for
:data:`RETRY_REDIS_AFTER` plus two periods, until every other host has found Redis back too.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_activecampaign.hooks.ratelimit.local import SharedSlidingWindowLimiter, ratelimit_dir
from airflow_provider_activecampaign.hooks.ratelimit.window import (
    DEFAULT_HOLD,
    WINDOW_MARGIN,
    Booking,
    SlidingWindowLimiter,
)

#: Every key this provider writes starts with this.
KEY_PREFIX = "airflow-provider-activecampaign:ratelimit:"
#: How long one Redis operation may take before the limiter stops waiting for it.
SOCKET_TIMEOUT = 0.5
#: After a failure, how long the limiter uses the local window before it tries Redis again.
RETRY_REDIS_AFTER = 5.0
#: How often the "Redis unreachable" warning repeats while it lasts.
WARN_EVERY = 60.0
#: A host counts as one of the account's clients for this long after its last call (seconds).
CLIENT_TTL = 600.0

log = logging.getLogger(__name__)

#: The rules of ``window.py``, on a window stored as JSON in one key. Times are kept relative to
#: the window's ``b`` (base) so that cjson's 14 significant digits keep microseconds.
#: KEYS: the window, the account's clients. ARGV: op, now ('' = the server's TIME), max_events,
#: period, key, hold, floor, at, this host's client id, CLIENT_TTL.
WINDOW_SCRIPT = """
local name = KEYS[1]
local op = ARGV[1]
local now
if ARGV[2] ~= '' then
  now = tonumber(ARGV[2])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local max_events = tonumber(ARGV[3])
local period = tonumber(ARGV[4])
-- The account's clients (hosts): stamped on every call, counted for outages (see the docstring).
local clients = 0
if KEYS[2] and ARGV[9] and ARGV[9] ~= '' then
  local ttl = tonumber(ARGV[10])
  redis.call('ZADD', KEYS[2], now, ARGV[9])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl)
  redis.call('PEXPIRE', KEYS[2], math.ceil(ttl * 1000))
  clients = redis.call('ZCARD', KEYS[2])
end
local base = nil
local slots = {}
local raw = redis.call('GET', name)
if raw then
  local ok, state = pcall(cjson.decode, raw)
  if ok and type(state) == 'table' and tonumber(state.b) then
    base = tonumber(state.b)
    for _, item in ipairs(state.s or {}) do
      local open = tonumber(item[3])
      if open ~= 0 then open = base + open end
      slots[#slots + 1] = {at = base + tonumber(item[1]), key = tostring(item[2]), open = open,
                           floor = tonumber(item[4])}
    end
  end
end
if base == nil then base = math.floor(now) end

local function effective(b)
  if b.open == 0 then return b.at end
  return math.max(b.at, math.min(now, b.open) - b.floor)
end
local kept = {}
for _, b in ipairs(slots) do
  if effective(b) > now - period then kept[#kept + 1] = b end
end
slots = kept

local function next_slot()
  local slot = now
  local counted = {}
  for _, b in ipairs(slots) do
    if b.at > slot then slot = b.at end
    counted[#counted + 1] = effective(b)
  end
  if #counted >= max_events then
    table.sort(counted)
    local free = counted[#counted - max_events + 1] + period
    if free > slot then slot = free end
  end
  return slot
end
local function find(key)
  for i, b in ipairs(slots) do
    if b.key == key then return i, b end
  end
  return nil, nil
end
local function add(at, open, floor)
  slots[#slots + 1] = {at = at, key = ARGV[5], open = open, floor = floor}
end

local result = 0
local at = now
if op == 'book' then
  at = next_slot()
  add(at, at + tonumber(ARGV[6]), tonumber(ARGV[7]))
  result = at - now
elseif op == 'confirm' then
  local i, b = find(ARGV[5])
  if b and now < b.at then
    return {string.format('%.6f', b.at - now), string.format('%.6f', b.at), clients}
  end
  if b then
    local counted = {}
    for _, o in ipairs(slots) do
      if o.key ~= b.key then
        local e = effective(o)
        if e <= now then counted[#counted + 1] = e end
      end
    end
    at = now
    if #counted >= max_events then
      table.sort(counted)
      at = math.max(now, counted[#counted - max_events + 1] + period)
    end
    b.at = at
    b.open = at + tonumber(ARGV[6])
    result = at - now
  else
    at = next_slot()
    add(at, at + tonumber(ARGV[6]), tonumber(ARGV[7]))
    result = at - now
  end
elseif op == 'settle' then
  local i, b = find(ARGV[5])
  at = tonumber(ARGV[8])
  if b then
    at = b.at
    table.remove(slots, i)
  end
  at = math.max(at, now - tonumber(ARGV[7]))
  add(at, 0, tonumber(ARGV[7]))
elseif op == 'cancel' then
  local i = find(ARGV[5])
  if i then table.remove(slots, i) end
elseif op == 'delay' then
  return {string.format('%.6f', next_slot() - now), string.format('%.6f', now), clients}
elseif op == 'saturate' then
  local latest = now
  for _, b in ipairs(slots) do
    if b.at > latest then latest = b.at end
  end
  for n = 1, max_events do
    slots[#slots + 1] = {at = latest, key = ARGV[5] .. '-' .. n, open = 0, floor = 0}
  end
else
  return redis.error_reply('unknown operation ' .. tostring(op))
end

table.sort(slots, function(x, y) return x.at < y.at end)
local items = {}
local until_ = now + period
for _, b in ipairs(slots) do
  local open = 0
  if b.open ~= 0 then open = b.open - base end
  items[#items + 1] = {b.at - base, b.key, open, b.floor}
  until_ = math.max(until_, b.at + period, b.open + period)
end
if #items == 0 then
  redis.call('DEL', name)
else
  redis.call('SET', name, cjson.encode({b = base, s = items}), 'PX', math.ceil((until_ - now) * 1000) + 1000)
end
return {string.format('%.6f', result), string.format('%.6f', at), clients}
"""


def redacted_url(url: str) -> str:
    """``url`` without its password, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, parts.fragment))


class RedisUnavailableError(RuntimeError):
    """Redis did not answer in time, or answered with an error."""


class RedisSlidingWindowLimiter:
    """The :mod:`.window` rules on a window stored in Redis; the host's window while Redis is down.

    Same interface as :class:`~.window.SlidingWindowLimiter`. Times of its bookings are in the Redis
    server's clock; passing ``now`` (tests) replaces the server's ``TIME``.
    """

    backend = "redis"

    def __init__(
        self,
        client: Any,
        *,
        url: str,
        account_key: str,
        max_events: int,
        period: float,
        fallback: SlidingWindowLimiter,
        margin: float = WINDOW_MARGIN,
        client_id: str | None = None,
        hosts_file: Path | None = None,
    ) -> None:
        self._client = client
        self._script = client.register_script(WINDOW_SCRIPT)
        self.url = redacted_url(url)
        self._key = KEY_PREFIX + account_key
        self._clients_key = self._key + ":clients"
        self.fallback = fallback
        self.client_id = client_id or default_client_id(fallback)
        #: Where the host keeps the last count of clients (``None``: this process only).
        self.hosts_file = hosts_file if hosts_file is not None else default_hosts_file(fallback, account_key)
        #: The most hosts seen using this account in Redis within CLIENT_TTL (0 until it answers):
        #: a restarted Redis forgets its clients, this host does not.
        self.hosts_seen = 0
        self._hosts_seen_at = 0.0
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._last_warning = -float("inf")
        self._down = False
        #: Until when (monotonic) a host back from an outage still keeps to its share as well.
        self._share_until = 0.0
        self.configure(max_events, period, margin)

    def configure(self, max_events: int, period: float, margin: float = WINDOW_MARGIN) -> None:
        self._full = (max(1, int(max_events)), float(period), margin)
        self.max_events = max(1, int(max_events))
        self.period = float(period) * (1.0 + margin)
        if self._down or time.monotonic() < self._share_until:
            self.fallback.configure(*self.share())
        else:
            self.fallback.configure(max_events, period, margin)

    def share(self) -> tuple[int, float, float]:
        """This host's part of the budget while Redis is away: ``(max_events, period, margin)``.

        ``n`` hosts (the most seen by this process or recorded by the host) get ``max_events // n``
        each per period, so that together they never exceed it; beyond ``max_events`` hosts each
        gets one request per ``period * n / max_events``.
        """
        max_events, period, margin = self._full
        hosts = max(1, self.hosts_seen, self._recorded_hosts())
        if hosts <= max_events:
            return max_events // hosts, period, margin
        return 1, period * hosts / max_events, margin

    def _recorded_hosts(self) -> int:
        if self.hosts_file is None:
            return 0
        try:
            return int(self.hosts_file.read_text(encoding="ascii").strip() or 0)
        except (OSError, ValueError):
            return 0

    def _saw_hosts(self, count: int) -> None:
        now = time.monotonic()
        if count >= self.hosts_seen:
            self._hosts_seen_at = now
        elif now - self._hosts_seen_at <= CLIENT_TTL:
            return  # fewer than a moment ago: Redis restarted, or hosts idle; keep the larger count
        if count <= 0 or count == self.hosts_seen:
            return
        self.hosts_seen = count
        if self.hosts_file is not None and count != self._recorded_hosts():
            with contextlib.suppress(OSError):  # a missed update only keeps the older count
                self.hosts_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                scratch = self.hosts_file.with_name(f"{self.hosts_file.name}.{os.getpid()}")
                scratch.write_text(str(count), encoding="ascii")
                os.replace(scratch, self.hosts_file)

    # -- Redis, or the fallback ---------------------------------------------------------------

    def _run(
        self,
        op: str,
        now: float | None,
        key: str = "",
        hold: float = 0.0,
        floor: float = 0.0,
        at: float = 0.0,
    ) -> tuple[float, float] | None:
        """One script call: ``(result, at)``; ``None`` when Redis is down (the caller falls back)."""
        if time.monotonic() < self._down_until:
            return None
        args = [
            op,
            "" if now is None else repr(float(now)),
            self.max_events,
            repr(self.period),
            key,
            repr(float(hold)),
            repr(float(floor)),
            repr(float(at)),
            self.client_id,
            repr(CLIENT_TTL),
        ]
        try:
            answer = self._script(keys=[self._key, self._clients_key], args=args)
        except Exception as error:  # redis.RedisError, OSError, timeouts: never fail a call over it
            self._went_down(error)
            return None
        self._came_back()
        if len(answer) > 2:
            self._saw_hosts(int(answer[2]))
        return float(answer[0]), float(answer[1])

    def _went_down(self, error: BaseException) -> None:
        with self._lock:
            now = time.monotonic()
            self._down_until = now + RETRY_REDIS_AFTER
            first = not self._down
            self._down = True
            if first:
                # This host's share only, and other hosts' recent bookings are unknown: start full.
                events, period, margin = self.share()
                self.fallback.configure(events, period, margin)
                self.fallback.saturate()
            if first or now - self._last_warning >= WARN_EVERY:
                self._last_warning = now
                events, period, _ = self.share()
                log.warning(
                    "The ActiveCampaign rate-limit backend %s is unreachable (%s: %s). Pacing with "
                    "this host's local window at its share of the budget until it answers again "
                    "(retried every %.0f s): %d request(s) per %.2f s, as %d host(s) used the account "
                    "when Redis last answered.",
                    self.url,
                    type(error).__name__,
                    str(error)[:200],
                    RETRY_REDIS_AFTER,
                    events,
                    period,
                    max(1, self.hosts_seen, self._recorded_hosts()),
                )

    def _came_back(self) -> None:
        if self._down:
            with self._lock:
                if self._down:
                    self._down = False
                    # Other hosts may still pace alone for up to RETRY_REDIS_AFTER, unknown to
                    # Redis: keep to this host's share too until they have all come back.
                    self._share_until = time.monotonic() + RETRY_REDIS_AFTER + 2 * self.period
                    log.warning("The ActiveCampaign rate-limit backend %s answers again.", self.url)

    def _sharing(self) -> bool:
        """Whether a host back from an outage still keeps to its share (then restores the full window)."""
        if self._share_until == 0.0:
            return False
        if time.monotonic() < self._share_until:
            return True
        with self._lock:
            if self._share_until and time.monotonic() >= self._share_until:
                self._share_until = 0.0
                self.fallback.configure(*self._full)
        return False

    # -- the limiter interface ----------------------------------------------------------------

    def book(
        self, now: float | None = None, *, hold: float = DEFAULT_HOLD, floor: float = 0.0
    ) -> tuple[Booking, float]:
        booking = Booking(0.0, floor=max(0.0, floor), owner=self)
        answer = self._run("book", now, booking.key, hold, booking.floor)
        if answer is None:
            return self.fallback.book(now, hold=hold, floor=floor)
        wait, booking.at = answer
        booking.open_until = booking.at + hold
        wait = max(0.0, wait)
        if now is None and self._sharing():
            # Also this host's share, counted from when Redis lets the request go.
            start = time.monotonic()
            wait += self.fallback.reserve(start + wait)
        return booking, wait

    def reserve(self, now: float | None = None) -> float:
        return self.book(now, hold=0.0)[1]

    def confirm(self, booking: Booking, now: float | None = None) -> float:
        if booking.owner is self.fallback:
            return self.fallback.confirm(booking, now)
        hold = booking.open_until - booking.at if booking.open_until else DEFAULT_HOLD
        answer = self._run("confirm", now, booking.key, hold, booking.floor)
        if answer is None:  # Redis went down while this caller waited: book on the local window
            fresh, wait = self.fallback.book(now, hold=hold, floor=booking.floor)
            booking.at, booking.key, booking.open_until, booking.owner = (
                fresh.at,
                fresh.key,
                fresh.open_until,
                self.fallback,
            )
            return wait
        wait, booking.at = answer
        booking.open_until = booking.at + hold
        return max(0.0, wait)

    def settle(self, booking: Booking, at: float | None = None) -> None:
        if booking.owner is self.fallback:
            self.fallback.settle(booking, at)
            return
        answer = self._run("settle", at, booking.key, floor=booking.floor, at=booking.at)
        if answer is not None:  # else the booking expires in Redis by itself (open_until)
            booking.at, booking.open_until = answer[1], 0.0

    def cancel(self, booking: Booking, now: float | None = None) -> None:
        if booking.owner is self.fallback:
            self.fallback.cancel(booking, now)
        else:
            self._run("cancel", now, booking.key)

    def delay(self, now: float | None = None) -> float:
        answer = self._run("delay", now)
        if answer is None:
            return self.fallback.delay(now)
        return max(0.0, answer[0])

    def saturate(self, now: float | None = None) -> None:
        if self._run("saturate", now, Booking(0.0).key) is None:
            self.fallback.saturate(now)


def new_redis_client(url: str) -> Any:
    """A client of ``url`` that never waits long: every operation is bounded by a short socket timeout."""
    try:
        import redis
    except ImportError:
        from airflow_provider_activecampaign.exceptions import ActiveCampaignConfigError

        raise ActiveCampaignConfigError(
            f"The ActiveCampaign rate-limit backend is Redis ({redacted_url(url)}), but the redis "
            "package is not installed.",
            hint="pip install 'airflow-provider-activecampaign[redis]' on every worker and triggerer "
            "(Celery deployments usually have it already).",
        ) from None
    return redis.Redis.from_url(
        url,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
        health_check_interval=30,
    )


def default_client_id(fallback: SlidingWindowLimiter) -> str:
    """This host's name among the account's clients: its machine and rate-limit folder (or process)."""

    where = str(ratelimit_dir()) if isinstance(fallback, SharedSlidingWindowLimiter) else f"pid{os.getpid()}"
    return hashlib.sha256(f"{socket.gethostname()}\n{where}".encode()).hexdigest()[:16]


def default_hosts_file(fallback: SlidingWindowLimiter, account_key: str) -> Path | None:
    """Where the host's processes share the last count of hosts (``None`` for a per-process window)."""

    if not isinstance(fallback, SharedSlidingWindowLimiter):
        return None
    return ratelimit_dir() / f"{account_key}.hosts"
