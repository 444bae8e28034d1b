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
from airflow_provider_activecampaign.operators.export import ActiveCampaignExportOperator
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
    """How often each record was written, by ``slug:externalId`` (the seeded ``old-*`` left out)."""
    counted = emulator.state()["custom_object_writes"]
    return {key: n for key, n in counted.items() if not key.startswith("subscription:old-")}


@pytest.fixture
def account(emulator: EmulatorFixture) -> EmulatorFixture:
    emulator.seed({"custom_objects": [SCHEMA]})
    emulator.configure(speed=50)
    return emulator


#: The assumed behaviours the writer meets (docs/emulator.md, "Assumed behaviours"): on (the
#: emulator's default), and off (what the reference alone promises: an update answers 201 like the
#: create, and ``filters[externalId][eq]`` is ignored, so the list answers every record).
MODES = {
    "assumed-on": {"custom_object_record_update_200": True, "custom_object_records_external_id_filter": True},
    "reference-only": {
        "custom_object_record_update_200": False,
        "custom_object_records_external_id_filter": False,
    },
}
#: Records the schema holds before a test writes: more than one page (100), so a read-back that
#: trusted the first page of an unfiltered list would miss what the test writes.
EARLIER = 150


def earlier_records(count: int = EARLIER) -> list[dict[str, Any]]:
    return [{"externalId": f"old-{n}", "fields": [{"id": "plan", "value": "old"}]} for n in range(count)]


@pytest.fixture(params=list(MODES))
def mode(request: pytest.FixtureRequest, account: EmulatorFixture) -> str:
    account.set_assumed(**MODES[request.param])
    return str(request.param)


@pytest.fixture
def crowded(emulator: EmulatorFixture, request: pytest.FixtureRequest) -> EmulatorFixture:
    """The schema holding ``EARLIER`` records, in each mode (``request.param``)."""
    emulator.seed({"custom_objects": [{**SCHEMA, "records": earlier_records()}]})
    emulator.configure(speed=50)
    emulator.set_assumed(**MODES[request.param])
    return emulator


def position(emulator: EmulatorFixture, external_id: str) -> int:
    """Where a record is in the schema's list (creation order, as the API pages it)."""
    [stored] = emulator.state()["custom_objects"].values()
    return [record["externalId"] for record in stored].index(external_id)


def upsert(tmp_path: Path, name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return run_operator(  # type: ignore[no-any-return]
        ActiveCampaignUpsertCustomObjectRecordsOperator(
            task_id="records",
            schema="subscription",
            records=rows,
            relationship_columns={"contact_id": "primary-contact"},
            failures_path=str(tmp_path / f"{name}.jsonl"),
            max_failure_ratio=1,
        )
    )


def test_records_are_written_once_and_a_rerun_writes_nothing(
    account: EmulatorFixture, mode: str, run_dag: Any, tmp_path: Path
) -> None:
    """In both modes: the update answering 200 (assumed) or 201 (as the create) counts as an update."""
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
    # Refused by the writer before sending: no request met the emulator's (assumed) 422 wording.
    answered = account.requests()["counts"]  # "METHOD path status": n
    assert [key for key in answered if key.startswith("POST ") and key.endswith(" 201")] != []
    assert [key for key in answered if key.endswith(" 422")] == []


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
    account: EmulatorFixture, mode: str, tmp_path: Path
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


@pytest.mark.parametrize("crowded", list(MODES), indirect=True)
def test_a_lost_answer_applied_late_is_read_back_beyond_the_first_page_and_not_sent_again(
    crowded: EmulatorFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The POST times out (1 s) and is applied 3 s after it arrived; the try waits for it to settle
    (4 s) and reads it back. The record is the schema's 151st: with the externalId filter ignored,
    the read-back pages past the first 100 records to find it, instead of sending it again."""
    monkeypatch.setenv("AIRFLOW__ACTIVECAMPAIGN__WRITE_SETTLE_SECONDS", "4")
    crowded.export_connection(timeout=1)
    crowded.add_fault("POST", "/api/3/customObjects/records/{schemaId}", "late", delay=3, times=1)
    result = upsert(tmp_path, "try1", records(2))
    assert (result["created"], result["recovered"], result["unknown"]) == (2, 1, 0)
    assert writes(crowded) == {"subscription:sub-0": 1, "subscription:sub-1": 1}
    assert position(crowded, "sub-0") >= 100  # beyond the first page of the list


@pytest.mark.parametrize("crowded", list(MODES), indirect=True)
def test_a_lost_answer_never_applied_is_sent_again_once(
    crowded: EmulatorFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection drops before the POST is applied; the settled read-back finds nothing (not
    another record of the page: with the filter ignored every answer holds 150 others), so it is
    sent again, once."""
    monkeypatch.setenv("AIRFLOW__ACTIVECAMPAIGN__WRITE_SETTLE_SECONDS", "0.5")
    crowded.add_fault("POST", "/api/3/customObjects/records/{schemaId}", "drop", when="before", times=1)
    result = upsert(tmp_path, "try1", records(2))
    assert (result["created"], result["recovered"], result["unknown"]) == (2, 0, 0)
    assert writes(crowded) == {"subscription:sub-0": 1, "subscription:sub-1": 1}
    [stored] = crowded.state()["custom_objects"].values()
    assert len(stored) == EARLIER + 2


@pytest.mark.parametrize("crowded", list(MODES), indirect=True)
def test_the_export_reads_every_record_once_in_both_modes(crowded: EmulatorFixture, tmp_path: Path) -> None:
    """The export pages the list by ``offset`` without ``filters[externalId][eq]`` and writes
    nothing, so neither assumed behaviour can change what it reads: 150 records, two pages."""
    output = tmp_path / "records.jsonl"
    ActiveCampaignExportOperator(
        task_id="export", resource="custom_object_records", mode="full", output_path=str(output)
    ).execute({})
    rows = read_jsonl(output)
    assert sorted(row["externalId"] for row in rows) == sorted(f"old-{n}" for n in range(EARLIER))
    assert {row["fields"]["plan"] for row in rows} == {"old"}
