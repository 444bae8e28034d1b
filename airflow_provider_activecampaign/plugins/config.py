"""Where the webhook receiver finds its accounts, tokens and Airflow API credentials.

* ``[activecampaign] webhook_conn_ids`` (default ``activecampaign_default``): comma-separated
  ActiveCampaign connections that receive webhooks.  Each one's extra ``webhook_token`` is the
  secret in the receiver URL; its ``host`` (the API URL) names the account in the asset URI;
  ``account_timezone`` (default UTC) reads a ``date_time`` sent without an offset.
* ``[activecampaign] webhook_api_conn_id`` (default empty): a connection to Airflow's own REST API
  (``host`` = the api-server's URL, ``login``/``password`` = a user allowed to create asset
  events), through which events are recorded.  Empty: ``[api] base_url`` and the simple auth
  manager's no-credential token (``simple_auth_manager_all_admins``), for local set-ups and tests.

Read through ``BaseHook.get_connection`` (secrets backends, environment, metadata database) and kept
for :data:`SETTINGS_TTL` seconds, so a rotated token takes effect within a minute, without a restart.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airflow_provider_activecampaign.hooks.transport.redaction import remember_secret
from airflow_provider_activecampaign.webhooks.events import account_host

SETTINGS_TTL = 30.0
DEFAULT_CONN_IDS = "activecampaign_default"
TOKEN_EXTRA = "webhook_token"
MIN_TOKEN_LENGTH = 16


@dataclass(frozen=True)
class Account:
    conn_id: str
    host: str
    token: str = field(repr=False)
    tz: tzinfo = UTC


@dataclass(frozen=True)
class ApiCredentials:
    base_url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ReceiverSettings:
    accounts: tuple[Account, ...]
    api: ApiCredentials
    problems: tuple[str, ...] = ()

    def account_for(self, token: str) -> Account | None:
        """The account whose token equals ``token``, compared in constant time against every one."""
        found: Account | None = None
        candidate = token.encode("utf-8", "surrogatepass")
        for account in self.accounts:
            if secrets.compare_digest(candidate, account.token.encode("utf-8")) and found is None:
                found = account
        return found


def _conf(key: str, fallback: str) -> str:
    from airflow.sdk import conf

    return str(conf.get("activecampaign", key, fallback=fallback) or fallback).strip()


def load_settings() -> ReceiverSettings:
    """Read the configuration now (blocking: connections may come from the database)."""
    from airflow.sdk import BaseHook, conf

    accounts: list[Account] = []
    problems: list[str] = []
    for conn_id in [c.strip() for c in _conf("webhook_conn_ids", DEFAULT_CONN_IDS).split(",") if c.strip()]:
        try:
            conn = BaseHook.get_connection(conn_id)
        except Exception as exc:  # a missing connection must not stop the other accounts
            problems.append(f"connection {conn_id!r}: {type(exc).__name__}")
            continue
        extra = conn.extra_dejson
        token = str(extra.get(TOKEN_EXTRA) or "").strip()
        if len(token) < MIN_TOKEN_LENGTH:
            problems.append(
                f"connection {conn_id!r}: extra {TOKEN_EXTRA!r} is missing or shorter than "
                f"{MIN_TOKEN_LENGTH} characters; its webhooks are refused"
            )
            continue
        try:
            host = account_host(str(conn.host or ""))
        except ValueError as exc:
            problems.append(f"connection {conn_id!r}: {exc}")
            continue
        remember_secret(token)  # the URL path holds it: redacted from any error or log line
        accounts.append(Account(conn_id, host, token, _tz(extra.get("account_timezone"))))
    api_conn_id = _conf("webhook_api_conn_id", "")
    if api_conn_id:
        api_conn = BaseHook.get_connection(api_conn_id)
        host = str(api_conn.host or "").rstrip("/")
        if "://" not in host:
            host = f"{api_conn.schema or 'http'}://{host}" + (f":{api_conn.port}" if api_conn.port else "")
        api = ApiCredentials(host, api_conn.login or None, api_conn.password or None)
    else:
        base = str(conf.get("api", "base_url", fallback="") or "").rstrip("/")
        if not base:
            host = conf.get("api", "host", fallback="127.0.0.1")
            host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
            base = f"http://{host}:{conf.get('api', 'port', fallback='8080')}"
        api = ApiCredentials(base)
    return ReceiverSettings(tuple(accounts), api, tuple(problems))


def max_concurrent_writes() -> int:
    """``[activecampaign] webhook_max_concurrent_writes`` (default 1: safe with SQLite)."""
    try:
        return max(1, int(_conf("webhook_max_concurrent_writes", "1")))
    except ValueError:
        return 1


def _tz(name: object) -> tzinfo:
    if not name:
        return UTC
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


class SettingsCache:
    """:func:`load_settings`, re-read at most every ``ttl`` seconds (thread-safe)."""

    def __init__(self, ttl: float = SETTINGS_TTL) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._value: ReceiverSettings | None = None
        self._loaded_at = 0.0

    def get(self) -> ReceiverSettings:
        with self._lock:
            if self._value is None or time.monotonic() - self._loaded_at > self.ttl:
                self._value = load_settings()
                self._loaded_at = time.monotonic()
            return self._value

    def clear(self) -> None:
        with self._lock:
            self._value = None
