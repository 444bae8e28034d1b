"""The suite-wide secret scan: every provider exception and every log record, in every test.

``tests/conftest.py`` runs :func:`guard` around each test (autouse). It wraps the provider's base
exception class (construction and :meth:`~ActiveCampaignError.amend`) and listens to every log record
that reaches the root logger; if a test secret appears in any of them, raw or URL-encoded, the test
fails naming the exception class or logger, and the line that built it. A fixture, not a list of
places: a new error or log line is covered the day it is written.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import structlog

from airflow_provider_activecampaign.exceptions import ActiveCampaignError
from tests.helpers.fakes import API_KEY as FAKE_API_KEY


def _emulator_api_key() -> str:
    seed = json.loads(files("activecampaign_emulator").joinpath("default_seed.json").read_text())
    first = seed["api_keys"][0]
    return str(first["key"] if isinstance(first, dict) else first)


#: The emulator's default API key (its seed), and the unit tests' fake key.
EMULATOR_API_KEY = _emulator_api_key()
#: The webhook token the redaction tests register through a connection's ``webhook_token`` extra.
TEST_WEBHOOK_TOKEN = "test-webhook-token-7d1f0c9e2b4a68355a1e"
#: The emulator's default event-tracking key (``DEFAULT_EVENT_KEY`` in its crm module).
TRACKING_KEY = "c0ffee5eed0e1ec7ab1e7a3c4d5e6f708192a3b4"
#: The password of the Redis the rate-limit tests start (tests/integration/test_ratelimit_redis.py).
REDIS_PASSWORD = "s3cret-redis-pw"

TEST_SECRETS = {
    "the emulator's API key": EMULATOR_API_KEY,
    "the unit tests' API key": FAKE_API_KEY,
    "the test webhook token": TEST_WEBHOOK_TOKEN,
    "the event tracking key": TRACKING_KEY,
    "the Redis password": REDIS_PASSWORD,
}


def _forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote_plus(secret)}


_NEEDLES = [(name, form) for name, secret in TEST_SECRETS.items() for form in _forms(secret)]


def secrets_in(text: str) -> list[str]:
    """The names of the test secrets that appear in ``text``."""
    return sorted({name for name, form in _NEEDLES if form in text})


def _texts_of(error: ActiveCampaignError) -> str:
    values = [str(arg) for arg in error.args]
    values += [str(value) for value in vars(error).values() if value is not None]
    return "\n".join(values)


_SKIPPED = (__file__, "airflow_provider_activecampaign/exceptions.py", "/structlog/", "/logging/__init__.py")


def _built_at() -> str:
    """The first stack frame outside this module, exceptions.py and logging: where it happened."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if not any(part in frame.filename for part in _SKIPPED):
            return f"{frame.filename}:{frame.lineno} ({frame.name})"
    return "?"


def _structlog_scan(findings: list[str]) -> Any:
    """A structlog processor (Airflow's task and hook loggers use structlog) that scans each event."""

    def scan(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        text = " ".join(str(value) for value in event.values())
        found = secrets_in(text)
        if found:
            name = event.get("logger") or event.get("logger_name") or getattr(logger, "name", "?")
            findings.append(f"log event of {name!r} at {_built_at()} holds {', '.join(found)}")
        return event

    return scan


class _LogScan(logging.Handler):
    def __init__(self, findings: list[str]) -> None:
        super().__init__(level=1)
        self.findings = findings

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is not this check's business
            text = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + str(record.exc_info[1])
        found = secrets_in(text)
        if found:
            self.findings.append(
                f"log record of {record.name!r} at {record.pathname}:{record.lineno} holds {', '.join(found)}"
            )


@contextmanager
def guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Collect every place a test secret appeared while the block runs."""
    findings: list[str] = []
    original_init = ActiveCampaignError.__init__
    original_amend = ActiveCampaignError.amend

    def scan(error: ActiveCampaignError, how: str) -> None:
        found = secrets_in(_texts_of(error))
        if found:
            findings.append(f"{type(error).__name__} {how} at {_built_at()} holds {', '.join(found)}")

    def checked_init(self: ActiveCampaignError, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        scan(self, "built")

    def checked_amend(self: ActiveCampaignError, note: str) -> None:
        original_amend(self, note)
        scan(self, "amended")

    monkeypatch.setattr(ActiveCampaignError, "__init__", checked_init)
    monkeypatch.setattr(ActiveCampaignError, "amend", checked_amend)
    handler = _LogScan(findings)
    root = logging.getLogger()
    root.addHandler(handler)
    # The processors list every structlog logger shares (cached ones too): scan first, then restore.
    processors = structlog.get_config()["processors"]
    scanner = _structlog_scan(findings)
    processors.insert(0, scanner)
    try:
        yield findings
    finally:
        root.removeHandler(handler)
        if scanner in processors:
            processors.remove(scanner)
