"""The transport policy shared by the sync hook (requests) and the async hook (httpx).

Everything that decides *how* we talk to ActiveCampaign lives here, once, one concern per module:

- :mod:`.settings`: the API URL rules, connection extras, deployment defaults and headers;
- :mod:`.limiters`: the per-account rate limiters every hook and trigger of a process shares;
- :mod:`.calls`: an endpoint resolved into a call (URL, endpoint safety, retry rule, limiters);
- :mod:`.redaction`: the one redaction rule and the bounded echo of values in messages;
- :mod:`.answers`: what an HTTP answer (or its absence) means, as a result or a typed error;
- :mod:`.retry`: how long a call waits out throttling and transient failures.

The two hooks only move bytes; they ask these modules what to send, how long to wait, and what the
answer means. Every name is re-exported here, where callers have always imported it from.
"""

from __future__ import annotations

import sys
import time  # noqa: F401 - the clock every concern reads; tests patch transport.time.monotonic
import types
from typing import Any

from airflow_provider_activecampaign.hooks.ratelimit import WINDOW_MARGIN
from airflow_provider_activecampaign.hooks.transport import (
    answers,
    calls,
    limiters,
    redaction,
    retry,
    settings,
)
from airflow_provider_activecampaign.hooks.transport.answers import (
    _KEY_WORKED,
    MAX_RETRY_AFTER,
    SUMMARY_MESSAGE_LIMIT,
    TRANSIENT_FORBIDDEN_RETRIES,
    TRANSIENT_FORBIDDEN_WINDOW,
    api_message,
    handle_response,
    transport_error,
)
from airflow_provider_activecampaign.hooks.transport.calls import (
    IDEMPOTENT_POSTS,
    LEGACY_READ_WORDS,
    TRACKING_ENDPOINT,
    Call,
    FailureKind,
    is_idempotent,
    is_legacy_read,
    key_id,
    prepare_call,
    prepare_legacy_call,
    prepare_tracking_call,
)
from airflow_provider_activecampaign.hooks.transport.limiters import (
    _LIMITERS,
    _ROUND_TRIPS,
    ACCOUNT_BURST,
    IMPORT_BURST,
    RoundTrips,
    get_limiter,
    limiters_for,
    round_trips,
    window_size,
)
from airflow_provider_activecampaign.hooks.transport.redaction import (
    BODY_LIMIT,
    SENSITIVE_KEYS,
    redact_body,
    trim,
)
from airflow_provider_activecampaign.hooks.transport.retry import MAX_BACKOFF, RetryPolicy, retry_kwargs
from airflow_provider_activecampaign.hooks.transport.settings import (
    API_PATH,
    CONFIG_SECTION,
    DEFAULT_BUDGET_SHARE,
    DEFAULT_EVENT_TRACKING_URL,
    DEFAULT_IMPORTS_PER_MINUTE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_WAIT,
    DEFAULT_REQUESTS_PER_SECOND,
    DEFAULT_TIMEOUT,
    EXTRA_HINT,
    LEGACY_PATH,
    TransportSettings,
    build_headers,
    connection_extra,
    deployment_settings,
    name_connection,
    normalize_base_url,
    normalize_tracking_url,
    user_agent,
)

__all__ = [
    "ACCOUNT_BURST",
    "API_PATH",
    "BODY_LIMIT",
    "CONFIG_SECTION",
    "DEFAULT_BUDGET_SHARE",
    "DEFAULT_EVENT_TRACKING_URL",
    "DEFAULT_IMPORTS_PER_MINUTE",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MAX_WAIT",
    "DEFAULT_REQUESTS_PER_SECOND",
    "DEFAULT_TIMEOUT",
    "EXTRA_HINT",
    "IDEMPOTENT_POSTS",
    "IMPORT_BURST",
    "LEGACY_PATH",
    "LEGACY_READ_WORDS",
    "MAX_BACKOFF",
    "MAX_RETRY_AFTER",
    "SENSITIVE_KEYS",
    "SUMMARY_MESSAGE_LIMIT",
    "TRACKING_ENDPOINT",
    "TRANSIENT_FORBIDDEN_RETRIES",
    "TRANSIENT_FORBIDDEN_WINDOW",
    "WINDOW_MARGIN",
    "_KEY_WORKED",
    "_LIMITERS",
    "_ROUND_TRIPS",
    "Call",
    "FailureKind",
    "RetryPolicy",
    "RoundTrips",
    "TransportSettings",
    "api_message",
    "build_headers",
    "connection_extra",
    "deployment_settings",
    "get_limiter",
    "handle_response",
    "is_idempotent",
    "is_legacy_read",
    "key_id",
    "limiters_for",
    "name_connection",
    "normalize_base_url",
    "normalize_tracking_url",
    "prepare_call",
    "prepare_legacy_call",
    "prepare_tracking_call",
    "redact_body",
    "retry_kwargs",
    "round_trips",
    "transport_error",
    "trim",
    "user_agent",
    "window_size",
]

_CONCERNS = (settings, limiters, calls, redaction, answers, retry)


class _TransportPackage(types.ModuleType):
    """The package, where setting a name also sets it in the concern module that uses it.

    Before the split this was one module, so ``monkeypatch.setattr(transport, "_LIMITERS", {})`` or
    ``transport.MAX_RETRY_AFTER = 0.3`` changed what the code read; this keeps that true.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        for module in _CONCERNS:
            if name in vars(module):
                setattr(module, name, value)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _TransportPackage
