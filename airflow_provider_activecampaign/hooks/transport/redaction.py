"""The one redaction rule: what an error message, a log line or an audit line may quote.

Two defences, both here and nowhere else:

- **By key**: a value under a sensitive key (``api_key``, ``token``, ``password``, …) in a body is
  replaced by ``***`` wherever it sits.
- **By value**: every secret the provider learns (the API key, the event tracking key, webhook
  tokens, the Redis password of ``rate_limit_backend``, any sensitive connection extra) is
  remembered here and registered with Airflow's secrets masker; :func:`redact` removes it from any
  text, raw or as it looks inside a URL (percent-encoded) or a JSON string (escaped), so a webhook
  token inside the URL inside a request body is caught like the key in a header.

And one rule for quoting values: :func:`bounded` cuts what a message echoes to a few hundred
characters and states the original length (a 10 MB value is never repeated whole).
"""

from __future__ import annotations

import json as jsonlib
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote

#: How much of a request or response body an error message quotes.
BODY_LIMIT = 2000
#: How much of one value a message quotes (see :func:`bounded`).
VALUE_LIMIT = 200
#: What a removed secret reads as.
REDACTED = "***"
#: Shorter strings are not treated as secrets (they would blank out ordinary words and numbers).
MIN_SECRET_LENGTH = 4

#: Keys whose values never appear in an error message, wherever they sit in a body.
SENSITIVE_KEYS = frozenset(
    {"api_key", "apikey", "api-token", "api_token", "token", "password", "secret", "authorization"}
)
#: Parts of a connection extra's name that make its value a secret (Airflow's own sensitive
#: field names, ``DEFAULT_SENSITIVE_FIELDS``, plus ``key`` and ``token`` anywhere in the name).
SENSITIVE_NAME_PARTS = (
    "access_key",
    "access_token",
    "api_key",
    "apikey",
    "auth",
    "bearer",
    "connection_string",
    "credential",
    "dsn",
    "key",
    "passphrase",
    "passwd",
    "password",
    "private",
    "secret",
    "token",
)


def is_sensitive_name(name: str) -> bool:
    """Whether a connection extra or body key named ``name`` holds a secret."""
    normalized = re.sub(r"\W+", "_", str(name).strip().lower())
    return any(part in normalized for part in SENSITIVE_NAME_PARTS)


class SecretRegistry:
    """Every secret this process knows, and one compiled pattern that finds any of them in any form."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._secrets)

    def remember(self, secret: str) -> bool:
        """Know ``secret`` from now on; ``False`` if it is too short to be one or already known."""
        secret = str(secret or "").strip()
        if len(secret) < MIN_SECRET_LENGTH or secret in self._secrets:
            return False
        with self._lock:
            self._secrets.add(secret)
            self._pattern = None
        return True

    def forms(self) -> set[str]:
        """Each secret as it can appear in text: raw, percent-encoded, form-encoded, JSON-escaped."""
        forms: set[str] = set()
        for secret in self._secrets:
            for form in (secret, unquote(secret)):
                forms.update(
                    {
                        form,
                        quote(form, safe=""),
                        quote(form, safe="/"),
                        quote_plus(form),
                        jsonlib.dumps(form)[1:-1],
                        jsonlib.dumps(form, ensure_ascii=False)[1:-1],
                    }
                )
        return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}

    def pattern(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._secrets:
                longest_first = sorted(self.forms(), key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(form) for form in longest_first))
            return self._pattern

    def redact(self, text: str, also: Iterable[str] = ()) -> str:
        extra = [s for s in also if s and len(s) >= MIN_SECRET_LENGTH and s not in self._secrets]
        for secret in extra:  # a secret not registered (yet): remembered, so every later text is safe too
            self.remember(secret)
        pattern = self.pattern()
        return pattern.sub(REDACTED, text) if pattern is not None else text


#: The process's registry: what :func:`redact` removes.
SECRETS = SecretRegistry()


def remember_secret(secret: str | None) -> None:
    """Know ``secret`` for :func:`redact` (no I/O; see :func:`register_secret` for the masker too)."""
    if secret:
        SECRETS.remember(secret)
        decoded = unquote(secret)
        if decoded != secret:
            SECRETS.remember(decoded)


def register_secret(secret: str | None) -> None:
    """Know ``secret`` for :func:`redact` and register it with Airflow's secrets masker (task logs)."""
    if not secret or len(secret.strip()) < MIN_SECRET_LENGTH:
        return
    remember_secret(secret)
    from airflow.sdk.log import mask_secret

    mask_secret(secret)
    if unquote(secret) != secret:
        mask_secret(unquote(secret))


async def aregister_secret(secret: str | None) -> None:
    """:func:`register_secret` for the event loop (Airflow's masker is told asynchronously)."""
    if not secret or len(secret.strip()) < MIN_SECRET_LENGTH:
        return
    remember_secret(secret)
    for value in {secret, unquote(secret)}:
        await _amask(value)


async def _amask(secret: str) -> None:
    """Airflow's async masker; Airflow 3.2's task SDK has none, and its ``mask_secret`` is safe here."""
    import airflow.sdk.log as sdk_log

    amask = getattr(sdk_log, "amask_secret", None)
    if amask is not None:
        await amask(secret)
    else:
        sdk_log.mask_secret(secret)


def redact(text: str, *also: str) -> str:
    """``text`` with every known secret (and ``also``) replaced by ``***``, in every encoding."""
    if not text:
        return text
    return SECRETS.redact(text, also)


def _redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: ("***" if str(k).lower() in SENSITIVE_KEYS else _redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def redact_body(body: Any, limit: int = BODY_LIMIT) -> str:
    """A request body as an error message quotes it: secrets replaced, long bodies cut."""
    text = jsonlib.dumps(_redact(body), default=str, ensure_ascii=False)
    return trim(redact(text), limit)


def trim(text: str, limit: int = BODY_LIMIT) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def bounded(value: object, limit: int = VALUE_LIMIT) -> str:
    """``value`` as a message quotes it: ``repr``-quoted, cut to ``limit`` characters, secrets removed.

    A longer value ends with how long it was, e.g. ``'aaaa…' (10485760 characters)``, so a 10 MB
    invalid email costs a message 200 characters, not 10 million.
    """
    original = value if isinstance(value, str) else repr(value)
    text = redact(original)
    if len(original) <= limit:
        return repr(text) if isinstance(value, str) else text
    cut = text[:limit] + "…"
    return f"{repr(cut) if isinstance(value, str) else cut} ({len(original)} characters)"
