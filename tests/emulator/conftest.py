"""Fixtures for the emulator's own tests: real loopback HTTP against one in-process server."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture

# The ``emulator`` fixture comes from the emulator distribution's pytest11 entry point.

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "ac_examples"


@pytest.fixture
def api(emulator: EmulatorFixture) -> Iterator[httpx.Client]:
    """An authenticated client for ``/api/3``; the account rate limit is off unless a test turns it on."""
    emulator.configure(rate_limit=False)
    with httpx.Client(
        base_url=f"{emulator.url}/api/3", headers={"Api-Token": emulator.api_key}, timeout=10
    ) as client:
        yield client


def load_example(name: str) -> dict[str, Any]:
    """``{"status": int, "body": ...}`` of one official example in tests/fixtures/ac_examples."""
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text("utf-8"))
    return data


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shape_problems(actual: Any, example: Any, where: str = "$") -> list[str]:
    """Where ``actual`` lacks a key of ``example`` or has a different JSON type.

    Extra keys are allowed: SPEC shows the same object with different key sets on different
    pages, so the emulator sends their union.  String and null are compatible, because the
    examples themselves disagree on them (``"bounced_date": "0000-00-00"`` vs ``null``).
    Numbers and strings are NOT: ``"status": 1`` and ``"status": "1"`` must stay apart.
    """
    expected, got = _kind(example), _kind(actual)
    if (
        expected == "null"
        or (got == "null" and expected == "string")
        or (expected, got) == ("string", "null")
    ):
        return []
    if expected != got:
        return [f"{where}: expected {expected} like {example!r}, got {got} {actual!r}"]
    problems: list[str] = []
    if expected == "object":
        for key, value in example.items():
            if key not in actual:
                problems.append(f"{where}.{key}: missing")
            else:
                problems.extend(shape_problems(actual[key], value, f"{where}.{key}"))
    elif expected == "array" and example and actual:
        for index, item in enumerate(actual):
            problems.extend(shape_problems(item, example[0], f"{where}[{index}]"))
    return problems


@pytest.fixture
def check_example() -> Callable[[httpx.Response, str], dict[str, Any]]:
    """Assert a response has the documented status and the example's shape; returns the JSON."""

    def check(response: httpx.Response, name: str) -> dict[str, Any]:
        example = load_example(name)
        assert response.status_code == example["status"], (name, response.status_code, response.text)
        body: dict[str, Any] = response.json()
        problems = shape_problems(body, example["body"])
        assert not problems, f"{name} ({example['_source']}):\n" + "\n".join(problems)
        return body

    return check


@pytest.fixture
def ac_example() -> Callable[[str], dict[str, Any]]:
    """Load an official example by file name (``{"status", "body", "_source"}``)."""
    return load_example


@pytest.fixture
def shape() -> Callable[[Any, Any], list[str]]:
    """:func:`shape_problems` for tests that compare a nested object with an example."""
    return shape_problems
