"""The suite-wide secret scan (tests/secrets_guard.py) sees what it must: it can fail a test.

Each test leaks a test secret on purpose through one path, asserts that the autouse fixture
``secret_leaks`` recorded it with the place it happened, then empties the findings so that this
test passes (every other test fails on such a finding).
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import pytest

from airflow_provider_activecampaign.exceptions import ActiveCampaignError, ActiveCampaignValidationError
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from tests.secrets_guard import EMULATOR_API_KEY, REDIS_PASSWORD, TEST_WEBHOOK_TOKEN, TRACKING_KEY


def taken(findings: list[str]) -> list[str]:
    found = list(findings)
    findings.clear()
    return found


def test_an_exception_holding_a_secret_is_found(secret_leaks: list[str]) -> None:
    ActiveCampaignValidationError("refused", request_body=f'{{"url": "https://a/b/{TEST_WEBHOOK_TOKEN}"}}')
    [finding] = taken(secret_leaks)
    assert "ActiveCampaignValidationError built at" in finding
    assert "test_secrets_guard.py" in finding
    assert "the test webhook token" in finding


def test_an_amended_exception_and_an_encoded_secret_are_found(secret_leaks: list[str]) -> None:
    error = ActiveCampaignError("fine so far")
    assert secret_leaks == []
    error.amend(f"password={quote(REDIS_PASSWORD + '/x', safe='')}")
    [finding] = taken(secret_leaks)
    assert "amended" in finding
    assert "the Redis password" in finding


@pytest.mark.parametrize("logger", ["airflow_provider_activecampaign.anything", "airflow.task"])
def test_a_log_record_holding_a_secret_is_found(secret_leaks: list[str], logger: str) -> None:
    logging.getLogger(logger).warning("tracking with %s", TRACKING_KEY)
    [finding] = taken(secret_leaks)
    assert f"log record of {logger!r}" in finding
    assert "the event tracking key" in finding


def test_a_hook_log_line_holding_the_key_is_found(secret_leaks: list[str]) -> None:
    ActiveCampaignHook().log.warning("key %s", EMULATOR_API_KEY)
    found = taken(secret_leaks)
    assert found
    assert all("the emulator's API key" in finding for finding in found)
