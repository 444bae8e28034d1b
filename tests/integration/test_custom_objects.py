"""Custom-object records upserted by external id, in real DAG runs on the emulator: never twice."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture

from airflow_provider_activecampaign.operators.customobjects import (
    ActiveCampaignUpsertCustomObjectRecordsOperator,
)
from tests.integration.contacts_support import read_jsonl, run_operator

pytestmark = pytest.mark.integration

SCHEMA = {
    "slug": "subscription",
    "labels": {"singular": "Subscription", "plural": "Subscriptions"},
    "fields": [
        {"id": "plan", "labels": {"singular": "Plan", "plural": "Plans"}, "type": "text"},
        {"id": "seats", "labels": {"singular": "Seats", "plural": "Seats"}, "type": "number"},
        {"id": "renews-on", "labels": {"singular": "Renews on", "plural": "Renews on"}, "type": "date"},
    ],
    "relationships": [
        {
            "id": "primary-contact",
            "labels": {"singular": "Contact", "plural": "Contacts"},
            "namespace": "contacts",
        }
    ],
}


def records(count: int, **values: Any) -> list[dict[str, Any]]:
    return [
        {
            "external_id": f"sub-{n}",
            "Plan": "pro",
            "Seats": str(n + 1),
            "Renews on": "2025-01-31",
            "contact_id": 14,
            **values,
        }
        for n in range(count)
    ]


def writes(emulator: EmulatorFixture) -> dict[str, int]:
    return dict(emulator.state()["custom_object_writes"])


@pytest.fixture
def account(emulator: EmulatorFixture) -> EmulatorFixture:
    emulator.seed({"custom_objects": [SCHEMA]})
    emulator.configure(speed=50)
    return emulator


def test_records_are_written_once_and_a_rerun_writes_nothing(
    account: EmulatorFixture, run_dag: Any, tmp_path: Path
) -> None:
    conf = {"records": records(3), "failures_path": str(tmp_path / "failures.jsonl")}
    first = run_dag("writes_custom_objects", conf=conf)
    assert run_dag.task_states(first) == {"records": "success"}
    assert run_dag.xcom(first, "records")["created"] == 3
    [stored] = account.state()["custom_objects"].values()
    by_key = {record["externalId"]: record for record in stored}
    assert by_key["sub-1"]["fields"] == [
        {"id": "plan", "value": "pro"},
        {"id": "seats", "value": 2},  # a number, not the CSV's text
        {"id": "renews-on", "value": "2025-01-31"},
    ]
    assert by_key["sub-1"]["relationships"] == {"primary-contact": ["14"]}

    again = run_dag("writes_custom_objects", conf=conf)  # a new DAG run with the same rows
    result = run_dag.xcom(again, "records")
    assert (result["created"], result["updated"], result["unchanged"]) == (0, 0, 3)
    assert writes(account) == {"subscription:sub-0": 1, "subscription:sub-1": 1, "subscription:sub-2": 1}

    changed = {**conf, "records": records(3, Plan="team")[:1]}
    third = run_dag("writes_custom_objects", conf=changed)
    assert run_dag.xcom(third, "records")["updated"] == 1
    assert writes(account)["subscription:sub-0"] == 2


def test_bad_values_are_rejected_by_row_and_field_and_the_rest_go(
    account: EmulatorFixture, tmp_path: Path
) -> None:
    rows = [
        *records(2),
        {"external_id": "sub-x", "Seats": "many"},
        {"external_id": "sub-y", "Renews on": "soon"},
    ]
    result = run_operator(
        ActiveCampaignUpsertCustomObjectRecordsOperator(
            task_id="records",
            schema="subscription",
            records=rows,
            relationship_columns={"contact_id": "primary-contact"},
            failures_path=str(tmp_path / "failures.jsonl"),
            max_failure_ratio=0.5,
        )
    )
    assert (result["created"], result["rejected"]) == (2, 2)
    lines = read_jsonl(tmp_path / "failures.jsonl")
    assert [(line["row"], line["field"]) for line in lines] == [(3, "Seats"), (4, "Renews on")]
    assert "'many' is not a number" in lines[0]["reason"]


def test_an_unknown_column_fails_before_anything_is_written(account: EmulatorFixture, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"Columns 'Colour' are not fields of custom object 'Subscription'"):
        run_operator(
            ActiveCampaignUpsertCustomObjectRecordsOperator(
                task_id="records",
                schema="Subscription",
                records=[{"external_id": "a", "Colour": "red"}],
                failures_path=str(tmp_path / "failures.jsonl"),
            )
        )
    assert writes(account) == {}


def test_a_write_applied_after_it_timed_out_is_never_sent_again(
    account: EmulatorFixture, tmp_path: Path
) -> None:
    """The request times out (1 s) and is applied 3 s after it arrived; the retry finds it."""
    account.export_connection(timeout=1)
    account.add_fault("POST", "/api/3/customObjects/records/{schemaId}", "late", delay=3, times=1)

    def attempt(name: str) -> dict[str, Any]:
        return run_operator(  # type: ignore[no-any-return]
            ActiveCampaignUpsertCustomObjectRecordsOperator(
                task_id="records",
                schema="subscription",
                records=records(2),
                relationship_columns={"contact_id": "primary-contact"},
                failures_path=str(tmp_path / f"{name}.jsonl"),
                max_failure_ratio=1,
            )
        )

    first = attempt("try1")
    assert (first["created"], first["unknown"]) == (1, 1)
    deadline = time.monotonic() + 30
    while "subscription:sub-0" not in writes(account) and time.monotonic() < deadline:
        time.sleep(0.2)
    again = attempt("try2")
    assert again["unknown"] == 0
    assert writes(account) == {"subscription:sub-0": 1, "subscription:sub-1": 1}
