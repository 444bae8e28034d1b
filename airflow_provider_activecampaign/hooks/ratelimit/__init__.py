"""Rate limiting: one sliding window per ActiveCampaign account and scope, on a chosen backend.

* :mod:`.window`: the booking rules (book, confirm, settle) and the in-memory window;
* :mod:`.local`: the window shared by every process of a host (a locked file), the default;
* :mod:`.redis`: the window shared by every host, in Redis (one Lua call per operation);
* :mod:`.backends`: which backend a connection uses.
"""

from airflow_provider_activecampaign.hooks.ratelimit.backends import (
    LOCAL,
    MEMORY,
    backend_kind,
    describe_backend,
    new_limiter,
    redis_url_from_connection,
)
from airflow_provider_activecampaign.hooks.ratelimit.local import (
    RATELIMIT_DIR_ENV,
    SharedSlidingWindowLimiter,
    ratelimit_dir,
    shared_limiter_available,
)
from airflow_provider_activecampaign.hooks.ratelimit.redis import RedisSlidingWindowLimiter, redacted_url
from airflow_provider_activecampaign.hooks.ratelimit.window import (
    DEFAULT_HOLD,
    WINDOW_MARGIN,
    Booking,
    SlidingWindowLimiter,
)

#: What every backend's limiter offers (book, confirm, settle, cancel, delay, saturate, configure).
RateLimiter = SlidingWindowLimiter | RedisSlidingWindowLimiter

__all__ = [
    "DEFAULT_HOLD",
    "LOCAL",
    "MEMORY",
    "RATELIMIT_DIR_ENV",
    "WINDOW_MARGIN",
    "Booking",
    "RateLimiter",
    "RedisSlidingWindowLimiter",
    "SharedSlidingWindowLimiter",
    "SlidingWindowLimiter",
    "backend_kind",
    "describe_backend",
    "new_limiter",
    "ratelimit_dir",
    "redacted_url",
    "redis_url_from_connection",
    "shared_limiter_available",
]
