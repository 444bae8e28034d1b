"""What the real API does that the emulator does by default not (issue 11, items 1-4 and 7).

Each deviation is switched on in the emulator (opt-in, documented in docs/emulator.md) and met
through the operators' real paths over loopback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_activecampaign.exceptions import ActiveCampaignAuthError, ActiveCampaignConfigError
from airflow_provider_activecampaign.hooks import transport
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.operators.contacts import ActiveCampaignExportContactsOperator
from airflow_provider_activecampaign.sensors.contacts import ActiveCampaignBulkImportSensor
from tests.helpers.automations import WELCOME_SERIES, enrolment_counts, seed_contacts
from tests.integration.contacts_support import (
    api_counts,
    contacts,
    fast_seed,
    read_jsonl,
    run_operator,
    run_sync,
    use_emulator,
)

pytestmark = pytest.mark.integration
ENROLMENTS_READ = "/api/3/contacts/{id}/contactAutomations"


# -- 1. Intermittent 403 on reads -----------------------------------------------------------------


def test_a_passing_403_on_a_read_is_retried_and_the_enrolment_completes(
    emulator: EmulatorFixture, run_dag: Any
) -> None:
    emulator.configure(speed=20)
    ids = seed_contacts(emulator, [f"c{i}@example.com" for i in range(6)])
    # Two of the enrolment reads are answered 403 Forbidden, after the key has already worked.
    emulator.add_intermittent_403(ENROLMENTS_READ, times=2)
    dagrun = run_dag("automations_add", conf={"automation": "Welcome series", "contacts": list(ids.values())})
    assert run_dag.task_states(dagrun)["add"] == "success"
    assert api_counts(emulator)[f"GET {ENROLMENTS_READ} 403"] == 2
    assert enrolment_counts(emulator, WELCOME_SERIES) == {cid: 1 for cid in ids.values()}


def test_a_403_that_persists_still_fails_with_the_auth_message(emulator: EmulatorFixture) -> None:
    emulator.configure(speed=20)
    emulator.export_connection()
    hook = ActiveCampaignHook()
    hook.get("users/me")  # the key works
    emulator.add_intermittent_403("/api/3/lists", probability=1.0)
    with pytest.raises(ActiveCampaignAuthError) as raised:
        hook.get("lists")
    message = str(raised.value)
    assert "ActiveCampaign refused GET" in message
    assert f"answered 403 to {transport.TRANSIENT_FORBIDDEN_RETRIES + 1} attempts" in message
    assert "Airflow connection 'activecampaign_default'" in message
    assert api_counts(emulator)["GET /api/3/lists 403"] == transport.TRANSIENT_FORBIDDEN_RETRIES + 1


def test_a_first_call_answered_403_fails_fast(emulator: EmulatorFixture) -> None:
    emulator.configure(speed=20)
    emulator.export_connection()
    emulator.add_intermittent_403("/api/3/users/me", times=1)
    with pytest.raises(ActiveCampaignAuthError) as raised:
        ActiveCampaignHook().get("users/me")
    assert api_counts(emulator)["GET /api/3/users/me 403"] == 1  # never worked: not retried
    assert "Check the connection's API Key" in str(raised.value)
    assert "Airflow connection 'activecampaign_default'" in str(raised.value)


# -- 2. Import results that do not add up ---------------------------------------------------------


def test_a_completed_batch_that_confirms_fewer_contacts_reports_the_rest(
    emulator: EmulatorFixture, tmp_path: Path
) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    emulator.set_import_reporting(unaccounted_contacts=12)
    result = run_sync(tmp_path, contacts=contacts(12), sync_below=0, max_failure_ratio=1.0)
    assert (result["submitted"], result["succeeded"], result["failed"]) == (12, 0, 12)
    report = read_jsonl(result["failures_path"])
    assert [row["row"] for row in report] == list(range(1, 13))
    assert all("confirmed only 0 of its 12 contacts" in row["reason"] for row in report)
    with pytest.raises(AirflowFailException):  # they count against max_failure_ratio
        run_sync(tmp_path / "again", contacts=contacts(12), sync_below=0)


# -- 3. /import/info does not know a batch yet ----------------------------------------------------


def test_an_import_unknown_right_after_submission_is_not_ready_yet(
    emulator: EmulatorFixture, tmp_path: Path
) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    emulator.set_import_reporting(info_unknown_seconds=40)  # 2 real seconds at 20x
    result = run_sync(tmp_path, contacts=contacts(300), sync_below=0)
    assert (result["submitted"], result["succeeded"]) == (300, 300)
    assert api_counts(emulator)["GET /api/3/import/info 404"] >= 1

    submitted = run_sync(
        tmp_path / "2", contacts=contacts(300, start=300), sync_below=0, wait_for_completion=False
    )
    report = run_operator(
        ActiveCampaignBulkImportSensor(task_id="wait", batch_ids=submitted["batch_ids"], poke_interval=0.2)
    )
    assert report["succeeded"] == 300


# -- 4. Overlapping pages --------------------------------------------------------------------------


@pytest.mark.parametrize("within_limit", [False, True], ids=["repeat-on-top", "repeat-within-limit"])
def test_an_export_holds_each_contact_once_when_pages_overlap(
    emulator: EmulatorFixture, tmp_path: Path, within_limit: bool
) -> None:
    """Where the repeat goes is the emulator's choice (on top of ``limit``); a repeat that takes one
    of the page's places, the other reading, must lose nothing either."""
    use_emulator(emulator, speed=20, seed=fast_seed())
    emulator.seed({"contacts": [{"email": f"p{i}@example.com"} for i in range(1_050)]})
    emulator.set_overlapping_pages(True, within_limit=within_limit)
    result = run_operator(
        ActiveCampaignExportContactsOperator(
            task_id="export", output_path=str(tmp_path / "contacts.jsonl"), use_data_interval=False
        )
    )
    ids = [row["id"] for row in read_jsonl(result["path"])]
    assert len(ids) == len(set(ids)) == 1_050
    assert result["count"] == 1_050


# -- 7. Connection extras --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "says"),
    [("[1, 2]", "are a JSON list, not an object"), ('{"budget_share": 0.5', "not valid JSON")],
)
def test_extras_that_are_not_a_json_object_fail_naming_the_connection(
    emulator: EmulatorFixture, monkeypatch: pytest.MonkeyPatch, extra: str, says: str
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_AC_BROKEN",
        json.dumps({"conn_type": "activecampaign", "host": emulator.url, "password": "k", "extra": extra}),
    )
    with pytest.raises(ActiveCampaignConfigError) as raised:
        ActiveCampaignHook(activecampaign_conn_id="ac_broken").get("users/me")
    assert says in str(raised.value)
    assert "'ac_broken'" in str(raised.value)
    assert api_counts(emulator) == {}  # nothing was sent with settings that were not the user's
