"""The one ending every records writer shares: its summary line, the failure-ratio rule, its result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_activecampaign.operators.base import ActiveCampaignRecordsOperator
from airflow_provider_activecampaign.records.failures import FailureReport
from airflow_provider_activecampaign.records.upsert import UpsertTally


class _Writer(ActiveCampaignRecordsOperator):
    def execute(self, context: Any) -> None:  # pragma: no cover - never run here
        raise NotImplementedError


def _report(tmp_path: Path) -> tuple[FailureReport, ObjectStoragePath]:
    path = ObjectStoragePath(f"file://{tmp_path / 'failures.jsonl'}")
    report = FailureReport(path)
    with report:
        report.add(
            {"row": 4, "key": "D-4", "field": "value", "reason": "'x' is not a number", "stage": "rejected"}
        )
    return report, path


def _tally() -> UpsertTally:
    return UpsertTally(records=10, created=7, recovered=1, updated=1, unchanged=1, rejected=1)


def test_below_the_ratio_it_logs_one_summary_and_returns_the_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report, path = _report(tmp_path)
    operator = _Writer(task_id="deals")
    result = operator.finish_records(
        _tally(), 0.2, report, path, label="Deals", what="deal records", after="Re-run.", also="; x: 1"
    )
    assert result == {**_tally().to_json(), "failures": report.first, "failures_path": str(path)}
    assert result["failures"][0]["key"] == "D-4"
    # The task logger writes to the task's log (stdout here).
    lines = [line for line in capsys.readouterr().out.splitlines() if "Deals:" in line]
    assert len(lines) == 1
    assert (
        "Deals: 10 records, 7 created (1 found by a read-back after a lost answer, not resent), 1 updated, "
        "1 unchanged, 1 rejected, 0 failed, 0 unknown (sent once, may still apply; not resent); x: 1. "
        f"Report: {path}"
    ) in lines[0]


def test_above_the_ratio_it_fails_naming_the_records_the_first_failure_and_the_report(tmp_path: Path) -> None:
    report, path = _report(tmp_path)
    tally = UpsertTally(records=10, created=8, rejected=1, unknown=1)
    with pytest.raises(AirflowFailException) as info:
        _Writer(task_id="deals").finish_records(
            tally, 0.1, report, path, label="Deals", what="deal records", after="Re-running is safe."
        )
    message = str(info.value)
    assert "deal records" in message
    assert "1 rejected, 1 unknown" in message  # unknown counts as lost: sent, not known to have applied
    assert "row 4 (D-4) [value]: 'x' is not a number" in message
    assert str(path) in message
    assert message.endswith("Re-running is safe.")
