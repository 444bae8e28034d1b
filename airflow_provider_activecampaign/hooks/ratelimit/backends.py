"""Which backend keeps an account's window: chosen per deployment, overridable per connection.

``[activecampaign] rate_limit_backend`` (``AIRFLOW__ACTIVECAMPAIGN__RATE_LIMIT_BACKEND``) or the
connection extra ``rate_limit_backend`` is one of:

* ``local`` (default): shared by the processes of one host, through a file (:mod:`.local`);
* ``memory``: one process only (tests, or a single-process deployment);
* ``redis://…``, ``rediss://…`` or ``unix://…``: shared by every host that reaches that Redis
  (:mod:`.redis`);
* anything else: the id of an Airflow Redis connection (host, port, login, password, extras
  ``db`` and ``ssl``), resolved to a URL by the hooks.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from airflow_provider_activecampaign.hooks.ratelimit.local import new_local_limiter
from airflow_provider_activecampaign.hooks.ratelimit.redis import (
    RedisSlidingWindowLimiter,
    new_redis_client,
    redacted_url,
)
from airflow_provider_activecampaign.hooks.ratelimit.window import SlidingWindowLimiter

LOCAL = "local"
MEMORY = "memory"
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")

_CLIENTS: dict[str, Any] = {}
_CLIENTS_LOCK = threading.Lock()


def backend_kind(spec: str) -> str:
    """``local``, ``memory``, ``redis`` (a URL) or ``connection`` (an Airflow connection id)."""
    spec = spec.strip()
    if spec.lower() in ("", LOCAL):
        return LOCAL
    if spec.lower() == MEMORY:
        return MEMORY
    if spec.lower().startswith(REDIS_SCHEMES):
        return "redis"
    return "connection"


def describe_backend(spec: str) -> str:
    """The backend as logs and messages may show it (no password)."""
    kind = backend_kind(spec)
    if kind == "redis":
        return f"Redis at {redacted_url(spec.strip())}"
    if kind == "connection":
        return f"Redis of the Airflow connection {spec.strip()!r}"
    return kind


def redis_url_from_connection(
    *, host: str | None, port: int | None, login: str | None, password: str | None, extra: Mapping[str, Any]
) -> str:
    """A Redis URL from the fields of an Airflow Redis connection (as the Redis provider reads them)."""
    if not host:
        raise ValueError("the Redis connection has no host")
    ssl = str(extra.get("ssl", "")).lower() in ("1", "true", "yes", "on")
    scheme = "rediss" if ssl else "redis"
    secret = "" if str(password or "").lower() in ("", "none", "false") else str(password)
    auth = ""
    if login or secret:
        auth = f"{quote(login or '', safe='')}:{quote(secret, safe='')}@"
    db = int(extra.get("db") or 0)
    netloc = f"[{host}]" if ":" in host else host
    url = f"{scheme}://{auth}{netloc}:{int(port or 6379)}/{db}"
    if ssl and extra.get("ssl_cert_reqs"):
        url += f"?ssl_cert_reqs={quote(str(extra['ssl_cert_reqs']))}"
    return url


def _client(url: str) -> Any:
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(url)
        if client is None:
            client = _CLIENTS[url] = new_redis_client(url)
        return client


def new_limiter(backend: str, account: str, scope: str, max_events: int, period: float) -> Any:
    """The window of ``account`` and ``scope`` on ``backend`` (a URL once connections are resolved)."""
    kind = backend_kind(backend)
    if kind == MEMORY:
        return SlidingWindowLimiter(max_events, period)
    local = new_local_limiter(account, scope, max_events, period)
    if kind == LOCAL:
        return local
    if kind == "connection":
        raise ValueError(f"resolve the Redis connection {backend!r} to a URL before creating limiters")
    account_key = hashlib.sha256(f"{account}\n{scope}".encode()).hexdigest()
    return RedisSlidingWindowLimiter(
        _client(backend.strip()),
        url=backend.strip(),
        account_key=account_key,
        max_events=max_events,
        period=period,
        fallback=local,
    )
