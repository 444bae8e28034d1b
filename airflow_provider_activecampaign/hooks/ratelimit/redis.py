"""The Redis backend: one window per account and scope, shared by every host that reaches the Redis.

Each operation of :mod:`.window` is one call of a Lua script, so it is atomic across every worker,
triggerer and process, and costs one round trip. Times come from the Redis server's own clock
(``TIME``), so hosts whose clocks disagree still agree on the window; the caller only ever learns
*how long* to wait, which it measures on its own clock.

Why our own script and not a library: ``limits`` and ``pyrate-limiter`` both stamp requests with
the client's clock and only answer "allowed or not", so waiters poll and can starve each other;
this backend needs server time, first-come-first-served booking, and bookings that move later
when their request is answered (see docs/deployment.md for the comparison).

When Redis cannot be reached, the limiter warns and paces with the host's ``local`` window until
Redis answers again (it tries again every few seconds, and no call waits more than a socket
timeout for it). The local window is treated as full once at that moment, since the bookings of
other hosts are unknown.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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

log = logging.getLogger(__name__)

#: The rules of ``window.py``, on a window stored as JSON in one key. Times are kept relative to
#: the window's ``b`` (base) so that cjson's 14 significant digits keep microseconds.
#: ARGV: op, now ('' = the server's TIME), max_events, period, key, hold, floor, at.
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
    return {string.format('%.6f', b.at - now), string.format('%.6f', b.at)}
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
  return {string.format('%.6f', next_slot() - now), string.format('%.6f', now)}
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
return {string.format('%.6f', result), string.format('%.6f', at)}
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
    ) -> None:
        self._client = client
        self._script = client.register_script(WINDOW_SCRIPT)
        self.url = redacted_url(url)
        self._key = KEY_PREFIX + account_key
        self.fallback = fallback
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._last_warning = -float("inf")
        self._down = False
        self.configure(max_events, period, margin)

    def configure(self, max_events: int, period: float, margin: float = WINDOW_MARGIN) -> None:
        self.max_events = max(1, int(max_events))
        self.period = float(period) * (1.0 + margin)
        self.fallback.configure(max_events, period, margin)

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
        ]
        try:
            result, when = self._script(keys=[self._key], args=args)
        except Exception as error:  # redis.RedisError, OSError, timeouts: never fail a call over it
            self._went_down(error)
            return None
        self._came_back()
        return float(result), float(when)

    def _went_down(self, error: BaseException) -> None:
        with self._lock:
            now = time.monotonic()
            self._down_until = now + RETRY_REDIS_AFTER
            first = not self._down
            self._down = True
            if first:
                # Other hosts' recent bookings are unknown: start the local window full.
                self.fallback.saturate()
            if first or now - self._last_warning >= WARN_EVERY:
                self._last_warning = now
                log.warning(
                    "The ActiveCampaign rate-limit backend %s is unreachable (%s: %s). Pacing with "
                    "this host's local window until it answers again (retried every %.0f s): while it "
                    "is down each host paces alone, so several hosts together may exceed the "
                    "account's budget; ActiveCampaign's 429s are then waited out.",
                    self.url,
                    type(error).__name__,
                    str(error)[:200],
                    RETRY_REDIS_AFTER,
                )

    def _came_back(self) -> None:
        if self._down:
            with self._lock:
                if self._down:
                    self._down = False
                    log.warning("The ActiveCampaign rate-limit backend %s answers again.", self.url)

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
        return booking, max(0.0, wait)

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
