"""Tests against a real Airflow deployment (scheduler, dag-processor, triggerer, api-server processes)."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "deployment: starts real Airflow processes (scheduler, triggerer, api-server, ...)"
    )


def skip_or_fail(reason: str) -> NoReturn:
    """Skip, or fail when ``AC_REQUIRE_DEPLOYMENT`` is set (CI sets it)."""
    if os.environ.get("AC_REQUIRE_DEPLOYMENT", "") not in ("", "0"):
        pytest.fail(
            f"{reason} (AC_REQUIRE_DEPLOYMENT is set, so this is an error, not a skip)", pytrace=False
        )
    pytest.skip(reason)
