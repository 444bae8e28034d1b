"""Deals never twice, in real DAG runs on the emulator: ambiguous creates, retries, re-runs, volume."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture

from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from tests.helpers.pacing import throttled
from tests.integration.contacts_support import run_operator
from tests.integration.writes_support import fresh_crm

pytestmark = pytest.mark.integration

KEY_FIELD_ID = "1"  # "External key" in the emulator's default seed


def deals(count: int, start: int = 0, **values: Any) -> list[dict[str, Any]]:
    return [
        {
            "external_id": f"inv-{i}",
            "title": f"Invoice {i}",
            "value": 1000 + i,
            "account": "Acme Inc 1",
            "stage": "Qualified",
            **values,
        }
        for i in range(start, start + count)
    ]


def deals_by_key() -> Counter[str]:
    """How many deals hold each external key, read through the documented API."""
    hook = ActiveCampaignHook()
    return Counter(
        str(d["fieldValue"])
        for d in hook.paginate("dealCustomFieldData", key="dealCustomFieldData")
        if str(d.get("customFieldId")) == KEY_FIELD_ID and str(d["fieldValue"]).startswith("inv-")
    )


def tries(dagrun: Any, task_id: str) -> int:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = (
            session.query(TaskInstance)
            .filter_by(dag_id=dagrun.dag_id, run_id=dagrun.run_id, task_id=task_id)
            .one()
        )
        return int(ti.try_number)


def posts(emulator: EmulatorFixture) -> int:
    counts: dict[str, int] = emulator.requests()["counts"]
    return sum(n for line, n in counts.items() if line.startswith("POST /api/3/deals "))


@pytest.fixture
def account(emulator: EmulatorFixture) -> EmulatorFixture:
    fresh_crm(emulator)
    emulator.configure(speed=50)
    return emulator


def test_ambiguous_creates_and_a_task_retry_make_one_deal_per_key(
    account: EmulatorFixture, run_dag: Any, tmp_path: Path
) -> None:
    # First try: inv-0 is created but the connection drops before the answer (read back: found, not
    # resent); inv-1 is created but answered 500 (read back: found); inv-2's POST is refused with a
    # 403, which fails the try. The retry finds inv-0 and inv-1 by key and creates inv-2 once.
    account.add_fault("POST", "/api/3/deals", "drop", when="after", times=1)
    account.add_fault("POST", "/api/3/deals", "http_500", when="after", times=1)
    account.add_fault("POST", "/api/3/deals", "http_403", when="before", times=1)
    conf = {"deals": deals(4), "failures_path": str(tmp_path / "failures.jsonl")}

    dagrun = run_dag("writes_deals", conf=conf)

    assert run_dag.task_states(dagrun) == {"deals": "success"}
    assert tries(dagrun, "deals") == 2
    result = run_dag.xcom(dagrun, "deals")  # the second try's
    assert (result["created"], result["unchanged"], result["rejected"], result["failed"]) == (2, 2, 0, 0)
    assert deals_by_key() == {"inv-0": 1, "inv-1": 1, "inv-2": 1, "inv-3": 1}
    # 2 ambiguous (read back, not resent) + 1 refused in the first try, 2 creates in the second.
    assert posts(account) == 5


def test_a_rerun_of_the_same_dag_run_creates_no_new_deal(
    account: EmulatorFixture, run_dag: Any, tmp_path: Path
) -> None:
    when = datetime(2025, 3, 3, tzinfo=UTC)
    conf = {"deals": deals(5), "failures_path": str(tmp_path / "failures.jsonl")}
    first = run_dag("writes_deals", conf=conf, logical_date=when, run_after=when)
    before = posts(account)
    again = run_dag("writes_deals", conf=conf, logical_date=when, run_after=when)

    assert again.run_id == first.run_id
    assert run_dag.xcom(again, "deals")["unchanged"] == 5
    assert posts(account) == before == 5
    assert deals_by_key() == dict.fromkeys((f"inv-{i}" for i in range(5)), 1)


@pytest.mark.long
def test_a_thousand_deals_with_no_429(account: EmulatorFixture, run_dag: Any, tmp_path: Path) -> None:
    account.configure(speed=100, rate_limit=True)
    conf = {"deals": deals(1000), "failures_path": str(tmp_path / "failures.jsonl")}

    dagrun = run_dag("writes_deals", conf=conf)

    assert run_dag.task_states(dagrun) == {"deals": "success"}
    assert run_dag.xcom(dagrun, "deals")["created"] == 1000
    counts: dict[str, int] = account.requests()["counts"]
    assert throttled(counts) == 0
    assert posts(account) == 1000
    by_key = deals_by_key()
    assert len(by_key) == 1000
    assert set(by_key.values()) == {1}


def test_bad_records_are_reported_and_the_rest_still_go(account: EmulatorFixture, tmp_path: Path) -> None:
    from airflow_provider_activecampaign.operators.deals import ActiveCampaignSyncDealsOperator

    records = [
        *deals(2),
        {**deals(1, start=2)[0], "value": "12.50"},
        {**deals(1, start=3)[0], "stage": "Nope"},
    ]
    operator = ActiveCampaignSyncDealsOperator(
        task_id="deals",
        deals=records,
        key_field="External key",
        pipeline="Sales",
        failures_path=str(tmp_path / "failures.jsonl"),
        max_failure_ratio=0.5,
    )

    result = run_operator(operator)

    assert (result["created"], result["rejected"]) == (2, 2)
    lines = [json.loads(line) for line in (tmp_path / "failures.jsonl").read_text().splitlines()]
    assert [(f["row"], f["key"], f["stage"], f["field"]) for f in lines] == [
        (3, "inv-2", "rejected", "value"),
        (4, "inv-3", "rejected", "stage"),
    ]
    assert "no stage 'Nope' in pipeline 'Sales'" in lines[1]["reason"]
    assert deals_by_key() == {"inv-0": 1, "inv-1": 1}


def test_a_deal_in_a_pipeline_without_auto_assign_needs_an_owner(
    account: EmulatorFixture, tmp_path: Path
) -> None:
    """SPEC POST /deals: owner is "Required if pipeline's auto-assign option is disabled".

    The default seed's "Partnerships" pipeline has auto-assign off: a record there without an
    owner is refused before any request, naming the field; the one with an owner is created.
    """
    from airflow_provider_activecampaign.operators.deals import ActiveCampaignSyncDealsOperator

    records = [*deals(1, stage=""), *deals(1, start=1, stage="", owner="sales1")]
    operator = ActiveCampaignSyncDealsOperator(
        task_id="deals",
        deals=records,
        key_field="External key",
        pipeline="Partnerships",
        failures_path=str(tmp_path / "failures.jsonl"),
        max_failure_ratio=0.5,
    )

    result = run_operator(operator)

    assert (result["created"], result["rejected"]) == (1, 1)
    (line,) = [json.loads(text) for text in (tmp_path / "failures.jsonl").read_text().splitlines()]
    assert (line["key"], line["stage"], line["field"]) == ("inv-0", "rejected", "owner")
    assert "'Partnerships' does not auto-assign" in line["reason"]
    assert deals_by_key() == {"inv-1": 1}
    assert posts(account) == 1


def test_a_create_applied_seconds_after_it_timed_out_is_never_created_twice(
    account: EmulatorFixture, tmp_path: Path
) -> None:
    """The request times out (1 s); ActiveCampaign applies it 3 s after arrival; then a retry."""
    import time

    from airflow_provider_activecampaign.operators.deals import ActiveCampaignSyncDealsOperator
    from tests.integration.contacts_support import read_jsonl

    account.export_connection(timeout=1)
    account.add_fault("POST", "/api/3/deals", "late", delay=3, times=1)

    def attempt(name: str) -> dict[str, Any]:
        return run_operator(  # type: ignore[no-any-return]
            ActiveCampaignSyncDealsOperator(
                task_id="deals",
                deals=deals(2),
                key_field="External key",
                pipeline="Sales",
                failures_path=str(tmp_path / f"{name}.jsonl"),
                max_failure_ratio=1,
            )
        )

    first = attempt("try1")

    assert (first["created"], first["unknown"]) == (1, 1)
    (line,) = read_jsonl(tmp_path / "try1.jsonl")
    assert (line["key"], line["stage"], line["sent"]) == ("inv-0", "unknown", 1)
    assert "not sent again" in line["reason"]
    deadline = time.monotonic() + 30
    while deals_by_key().get("inv-0") is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert deals_by_key() == {"inv-0": 1, "inv-1": 1}  # the late create landed

    again = attempt("try2")  # the retry: the journal's open intent is resolved by the key read

    assert (again["created"], again["unchanged"], again["unknown"]) == (0, 2, 0)
    assert deals_by_key() == {"inv-0": 1, "inv-1": 1}
    assert posts(account) == 2
