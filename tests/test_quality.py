"""The quality gate is part of the tests: ruff (lint and format) and mypy, failing with their output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "airflow_provider_activecampaign"
#: Everything ruff checks: the package plus the code around it that users read or run.
LINTED = [PACKAGE, "emulator", "tests", "dags_examples", "benchmarks"]


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _existing(paths: list[str]) -> list[str]:
    return [path for path in paths if (ROOT / path).exists()]


def _assert_clean(result: subprocess.CompletedProcess[str], what: str) -> None:
    if result.returncode != 0:
        pytest.fail(
            f"{what} failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}", pytrace=False
        )


def test_ruff_check() -> None:
    _assert_clean(_run("ruff", "check", *_existing(LINTED)), "ruff check")


def test_ruff_format() -> None:
    _assert_clean(_run("ruff", "format", "--check", "--diff", *_existing(LINTED)), "ruff format --check")


def test_mypy() -> None:
    # The packages to check and the strictness come from [tool.mypy] in pyproject.toml.
    result = _run("mypy")
    _assert_clean(result, "mypy")
    assert "Success" in result.stdout
