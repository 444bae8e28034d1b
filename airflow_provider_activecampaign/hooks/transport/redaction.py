"""The one redaction rule: what an error message, a log line or an audit line may quote."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping
from typing import Any

#: How much of a request or response body an error message quotes.
BODY_LIMIT = 2000

#: Keys whose values never appear in an error message, wherever they sit in a body.
SENSITIVE_KEYS = frozenset(
    {"api_key", "apikey", "api-token", "api_token", "token", "password", "secret", "authorization"}
)


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
