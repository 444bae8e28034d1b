"""Tag removal and list unsubscription by name (issue #13), through the operators, against the emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_activecampaign.operators.contacts import (
    ActiveCampaignRemoveTagsOperator,
    ActiveCampaignUnsubscribeFromListsOperator,
)
from tests.helpers.pacing import assert_paced_to_the_limit, without_throttled
from tests.integration.contacts_support import api_counts, fast_seed, run_operator, use_emulator

pytestmark = pytest.mark.integration

#: 10,000 in benchmarks/audience_sync.py; 1,000 here keeps the suite within its time budget.
COUNT = 1_000


def _seed(count: int) -> dict[str, Any]:
    seed = fast_seed()
    seed["contacts"] = [
        {
            "id": i + 1,
            "email": f"member{i}@example.com",
            "lists": {"1": 1, "2": 1},
            "tags": ["customer", "vip"],
        }
        for i in range(count)
    ]
    seed["contacts"][0]["lists"]["1"] = 2  # unsubscribed before: stays unsubscribed, never re-subscribed
    return seed


def _writes(emulator: EmulatorFixture) -> dict[str, int]:
    """Writes that were applied (a 429, waited out and sent again, is pacing's business)."""
    return {k: n for k, n in without_throttled(api_counts(emulator)).items() if not k.startswith("GET ")}


def test_tags_and_lists_removed_by_name_for_many_contacts_then_nothing_twice(
    emulator: EmulatorFixture, tmp_path: Path
) -> None:
    use_emulator(emulator, speed=400, seed=_seed(COUNT))
    leaving = [f"member{i}@example.com" for i in range(COUNT)]
    untag = ActiveCampaignRemoveTagsOperator(task_id="untag", contacts=leaving, tags=["Customer"])
    unsubscribe = ActiveCampaignUnsubscribeFromListsOperator(
        task_id="unsub", contacts=leaving, lists=["Newsletter"]
    )

    tagged = run_operator(untag)
    unsubscribed = run_operator(unsubscribe)

    assert (tagged["untagged"], tagged["failed"]) == (COUNT, 0)
    assert (unsubscribed["unsubscribed"], unsubscribed["failed"]) == (COUNT - 1, 0)
    # Walking members costs a page per 100 contacts instead of one read per contact.
    assert tagged["reads"] <= COUNT // 100 + 3
    assert _writes(emulator) == {
        "DELETE /api/3/contactTags/{id} 200": COUNT,
        "POST /api/3/contactLists 200": COUNT - 1,
    }
    assert_paced_to_the_limit(emulator.requests())
    state = emulator.state()
    assert len(state["contacts"]) == COUNT  # nobody deleted
    assert all(c["tags"] == ["vip"] for c in state["contacts"])
    assert all(c["lists"]["1"]["status"] == 2 and c["lists"]["2"]["status"] == 1 for c in state["contacts"])
    assert (
        state["contacts"][0]["lists"]["1"]["subscribes"] == 0
        or state["contacts"][0]["lists"]["1"]["status"] == 2
    )

    emulator.client.clear_requests()
    again = (run_operator(untag), run_operator(unsubscribe))
    assert [r["planned"] for r in again] == [0, 0]
    assert _writes(emulator) == {}


def test_few_contacts_are_read_one_request_each_and_unknown_names_fail_before_writing(
    emulator: EmulatorFixture,
) -> None:
    use_emulator(emulator, speed=50, seed=_seed(300))
    result = run_operator(
        ActiveCampaignRemoveTagsOperator(
            task_id="untag", contacts=["member7@example.com", "nobody@example.com"], tags=["vip"]
        )
    )
    assert (result["untagged"], result["reads"]) == (1, 3)  # 1 to count the tag's members, 1 per contact
    assert next(c for c in emulator.state()["contacts"] if c["email"] == "member7@example.com")["tags"] == [
        "customer"
    ]
    emulator.client.clear_requests()
    with pytest.raises(AirflowFailException, match="Unknown tag 'vipp'"):
        run_operator(
            ActiveCampaignRemoveTagsOperator(task_id="t", contacts=["member1@example.com"], tags=["vipp"])
        )
    assert _writes(emulator) == {}


def test_a_dry_run_writes_nothing(emulator: EmulatorFixture) -> None:
    use_emulator(emulator, speed=50, seed=_seed(20))
    result = run_operator(
        ActiveCampaignUnsubscribeFromListsOperator(
            task_id="u",
            contacts=[f"member{i}@example.com" for i in range(5)],
            lists=["Customers"],
            dry_run=True,
        )
    )
    assert result["planned"] == 5
    assert result["sample"][0]["op"] == "unsubscribe"
    assert _writes(emulator) == {}
