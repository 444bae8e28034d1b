"""ActiveCampaignApiOperator against the emulator: paged GETs, writes never resent, v1 refusals."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.operators.api import ActiveCampaignApiOperator, ResultTooLargeError
from tests.integration.contacts_support import api_counts, read_jsonl, use_emulator

pytestmark = pytest.mark.integration


def test_a_paged_get_writes_every_record_once_through_a_dag_run(
    emulator: EmulatorFixture, run_dag: Any, tmp_path: Path
) -> None:
    use_emulator(emulator, speed=20)
    output = tmp_path / "deals.jsonl"

    dagrun = run_dag("api_get_paged", conf={"endpoint": "deals", "output_path": str(output)})

    assert run_dag.task_states(dagrun) == {"call": "success"}
    rows = read_jsonl(output)
    assert run_dag.xcom(dagrun, "call") == {"path": str(output), "count": 300}
    assert len({row["id"] for row in rows}) == len(rows) == 300  # the default account's deals
    assert api_counts(emulator)["GET /api/3/deals 200"] == 3  # 100 per request


def test_a_paged_get_to_xcom_is_capped_with_a_clear_error(emulator: EmulatorFixture) -> None:
    use_emulator(emulator, speed=20)
    stages = ActiveCampaignApiOperator(task_id="t", endpoint="dealStages", paginate=True).execute({})
    assert [s["title"] for s in stages][:2] == ["To Contact", "Qualified"]
    with pytest.raises(ResultTooLargeError, match=r"more than max_xcom_bytes=2000 bytes.*Set output_path"):
        ActiveCampaignApiOperator(task_id="t", endpoint="deals", paginate=True, max_xcom_bytes=2000).execute(
            {}
        )
    assert api_counts(emulator)["GET /api/3/deals 200"] == 1  # stopped at the first page over the cap


def posts_logged(emulator: EmulatorFixture) -> int:
    """POSTs to /tags in the log, once the slowed answer has been written (it is logged then)."""
    deadline = time.monotonic() + 15
    while True:
        count = sum(n for k, n in api_counts(emulator).items() if k.startswith("POST /api/3/tags"))
        if count or time.monotonic() > deadline:
            return count
        time.sleep(0.2)


def test_a_post_that_times_out_is_not_resent(emulator: EmulatorFixture) -> None:
    use_emulator(emulator, speed=20, timeout=1)
    # The tag is created, then the answer takes longer than the client waits.
    emulator.add_fault("POST", "/api/3/tags", "slow", when="after", delay=3, times=1)
    body = {"tag": {"tag": "timed-out-once", "tagType": "contact", "description": "created once"}}
    operator = ActiveCampaignApiOperator(task_id="create", endpoint="tags", method="POST", body=body)

    with pytest.raises(AirflowFailException, match="may have been applied by ActiveCampaign, so it was not"):
        operator.execute({})

    assert posts_logged(emulator) == 1, api_counts(emulator)  # sent once, never again
    names = [t["tag"] for t in ActiveCampaignHook().paginate("tags", key="tags")]
    assert names.count("timed-out-once") == 1


def test_a_v1_call_answering_result_code_0_fails_with_its_message(emulator: EmulatorFixture) -> None:
    use_emulator(emulator, speed=20)
    operator = ActiveCampaignApiOperator(
        task_id="report", api_action="campaign_report_totals", query={"campaignid": "999999"}
    )
    with pytest.raises(AirflowFailException, match="ActiveCampaign refused campaign_report_totals"):
        operator.execute({})


def test_a_v3_get_returns_its_answer_to_xcom(emulator: EmulatorFixture) -> None:
    use_emulator(emulator, speed=20)
    answer = ActiveCampaignApiOperator(task_id="me", endpoint="users/me").execute({})
    assert answer["user"]["username"] == "admin"
    assert emulator.api_key not in json.dumps(answer)


def test_a_rerun_after_a_lost_post_answer_does_not_send_it_again(emulator: EmulatorFixture) -> None:
    """Try 1's POST is applied, its connection dropped; the task is cleared and run again (same run)."""
    from tests.integration.contacts_support import FakeTI

    use_emulator(emulator, speed=20)
    emulator.add_fault("POST", "/api/3/tags", "drop", when="after", times=1)
    body = {"tag": {"tag": "dropped-once", "tagType": "contact", "description": "created once"}}

    def attempt() -> Any:
        operator = ActiveCampaignApiOperator(task_id="create", endpoint="tags", method="POST", body=body)
        return operator.execute({"ti": FakeTI()})  # type: ignore[arg-type]

    with pytest.raises(AirflowFailException, match="was sent once and may have been applied"):
        attempt()
    with pytest.raises(AirflowFailException, match="sent once by an earlier try of this task"):
        attempt()

    assert posts_logged(emulator) == 1, api_counts(emulator)
    names = [t["tag"] for t in ActiveCampaignHook().paginate("tags", key="tags")]
    assert names.count("dropped-once") == 1


def test_a_rerun_after_an_answered_post_does_not_send_it_again(emulator: EmulatorFixture) -> None:
    from tests.integration.contacts_support import FakeTI

    use_emulator(emulator, speed=20)
    body = {"tag": {"tag": "answered-once", "tagType": "contact", "description": "created once"}}

    def attempt() -> Any:
        operator = ActiveCampaignApiOperator(task_id="create", endpoint="tags", method="POST", body=body)
        return operator.execute({"ti": FakeTI()})  # type: ignore[arg-type]

    first = attempt()
    again = attempt()

    assert first["tag"]["tag"] == "answered-once"
    assert again == {"sent_by_earlier_try": True, "applied": True, "sent": 1}
    assert posts_logged(emulator) == 1, api_counts(emulator)
