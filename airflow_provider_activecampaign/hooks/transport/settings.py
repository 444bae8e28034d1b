"""Connection settings: the API URL rules, the extras and deployment defaults, the request headers.

Everything here is validated once, when a hook first needs its connection; nothing is sent.
"""

from __future__ import annotations

import ipaddress
import json as jsonlib
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_activecampaign import __version__
from airflow_provider_activecampaign.exceptions import ActiveCampaignConfigError
from airflow_provider_activecampaign.hooks.ratelimit import backend_kind
from airflow_provider_activecampaign.hooks.transport.redaction import (
    bounded,
    is_sensitive_name,
    remember_secret,
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

#: The shortest value of a sensitive-named extra that is treated as a secret.
MIN_EXTRA_SECRET = 8
#: Where event tracking posts go (``POST https://trackcmp.net/event``, form-encoded).
DEFAULT_EVENT_TRACKING_URL = "https://trackcmp.net/event"


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
    return bounded(raw)


def _number(extra: Mapping[str, Any], key: str, default: float, minimum: float) -> float:
    value = extra.get(key)
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ActiveCampaignConfigError(
            f"The connection extra {key!r} must be a number, got {bounded(str(value), 50)}."
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
    #: Values of the connection's sensitive extras (``webhook_token``, any ``*password*``, …).
    extra_secrets: tuple[str, ...] = field(default=(), repr=False)

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
        extra_secrets = tuple(  # short values ("true", "1") are flags, not secrets: never blanked out
            str(value).strip()
            for key, value in extra.items()
            if is_sensitive_name(key) and isinstance(value, str) and len(value.strip()) >= MIN_EXTRA_SECRET
        )
        for secret in (api_key, *extra_secrets):
            remember_secret(secret)  # redacted from every error text from now on, even before a hook
        settings = cls(
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
            extra_secrets=extra_secrets,
        )
        remember_secret(settings.rate_limit_backend_password)
        return settings

    @property
    def rate_limit_backend_password(self) -> str | None:
        """The password in the rate-limit backend's Redis URL, if it has one."""
        if "://" not in self.rate_limit_backend:
            return None
        try:
            return urlsplit(self.rate_limit_backend).password
        except ValueError:
            return None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret of this connection: redacted everywhere and registered with the masker."""
        found = (
            self.api_key,
            self.event_tracking_secret,
            self.rate_limit_backend_password,
            *self.extra_secrets,
        )
        return tuple(dict.fromkeys(secret for secret in found if secret))

    @property
    def missing_tracking_extras(self) -> list[str]:
        """The event tracking extras this connection lacks (both are needed to track an event)."""
        return [
            name
            for name, value in (
                ("event_tracking_actid", self.event_tracking_actid),
                ("event_tracking_secret", self.event_tracking_secret),
            )
            if not value
        ]

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
