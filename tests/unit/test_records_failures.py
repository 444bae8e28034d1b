"""The failure report's public API (records/failures.py): what every writer and the contact sync use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_activecampaign.records.failures import INLINE_FAILURES, FailureReport, RecordRejected


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_rejected_failed_and_duplicates_are_counted_apart(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "failures.jsonl"
    with FailureReport(path) as report:
        report.add_rejected(RecordRejected("Birthday", "'x' is not a date", row=2, email="a@b.co"))
        report.add({"row": 3, "email": "c@d.co", "stage": "failed", "reason": "HTTP 422", "field": None})
        report.add_duplicate({"row": 4, "email": "a@b.co", "stage": "duplicate", "reason": "row 9 wins"})

    assert (report.rejected, report.failed, report.duplicates, report.count) == (1, 1, 1, 2)
    assert _lines(path) == [
        {
            "row": 2,
            "email": "a@b.co",
            "field": "Birthday",
            "reason": "'x' is not a date",
            "stage": "rejected",
        },
        {"row": 3, "email": "c@d.co", "stage": "failed", "reason": "HTTP 422"},
        {"row": 4, "email": "a@b.co", "stage": "duplicate", "reason": "row 9 wins"},
    ]
    assert [entry["row"] for entry in report.first] == [2, 3]  # duplicates are not failures
    assert report.describe_first() == "row 2 (a@b.co) [Birthday]: 'x' is not a date; row 3 (c@d.co): HTTP 422"


def test_only_the_first_entries_are_kept_in_memory_and_the_rest_are_counted(tmp_path: Path) -> None:
    with FailureReport(tmp_path / "f.jsonl") as report:
        for row in range(100):
            report.add({"row": row, "stage": "rejected", "reason": "bad"})
    assert len(report.first) == INLINE_FAILURES + 1
    assert report.describe_first(limit=2).endswith("and 98 more")
    assert len(_lines(tmp_path / "f.jsonl")) == 100


def test_append_keeps_an_earlier_tries_lines_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    with FailureReport(path) as first:
        first.add({"row": 1, "stage": "rejected", "reason": "bad"})
    with FailureReport(path, append=True, rejected=first.rejected) as second:
        second.add({"row": 2, "stage": "failed", "reason": "HTTP 500"})
    assert [entry["row"] for entry in _lines(path)] == [1, 2]
    assert (second.rejected, second.failed) == (1, 1)


def test_writing_to_a_report_that_is_not_open_says_how_to_use_it(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not open: use it as a context manager"):
        FailureReport(tmp_path / "f.jsonl").add({"row": 1, "stage": "rejected", "reason": "bad"})
