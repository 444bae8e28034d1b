"""ActiveCampaignSyncContactsOperator against the emulator, over a real loopback socket."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_activecampaign.hooks import transport
from tests.helpers.pacing import assert_paced_to_the_limit
from tests.integration.contacts_support import (
    api_counts,
    contacts,
    fast_seed,
    read_jsonl,
    run_sync,
    use_emulator,
    writes,
)

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CDT = timezone(timedelta(hours=-5))


@pytest.fixture(autouse=True)
def _fresh_limiters(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with empty client-side rate windows, as the emulator's are after reset."""
    monkeypatch.setattr(transport, "_LIMITERS", {})


sync = run_sync


# --------------------------------------------------------------------------------------------------
# Mapping: fields, formats, lists, tags - on both paths
# --------------------------------------------------------------------------------------------------

PATHS = pytest.mark.parametrize(
    "sync_below", [pytest.param(0, id="bulk-import"), pytest.param(100, id="contact-sync")]
)


@PATHS
def test_custom_fields_by_title_perstag_and_id_with_dates_and_multi_values(
    emulator: EmulatorFixture, tmp_path: Path, sync_below: int
) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    emulator.seed({"contacts": [{"email": "ann@example.com", "fields": {"NOTES": "keep me"}}]})
    records = [
        {
            "email": "Ann@Example.com",
            "first_name": "Ann",
            "last_name": "Lee",
            "phone": "+1 555 0100",
            "company": "ACME",  # title, other case
            "%PLAN%": "pro",  # perstag with %, option in other case
            "lifetime_value": 12.5,  # perstag without %
            "5": ["Python", "data"],  # id; multi-value
            "Birthday": date(1990, 1, 2),
            "Last purchase at": datetime(2024, 5, 19, 2, 45, tzinfo=CDT),
            "Notes": None,  # untouched
        },
        {
            "email": "bob@example.com",
            "Birthday": "1985-12-31T23:00:00",
            "Last purchase at": "2024-05-19 07:45",
        },
    ]
    result = sync(tmp_path, contacts=records, sync_below=sync_below)

    assert result["succeeded"] == 2
    assert result["failed"] == result["rejected"] == 0
    ann = emulator.contact("ann@example.com")
    assert ann is not None
    assert (ann["firstName"], ann["lastName"], ann["phone"]) == ("Ann", "Lee", "+1 555 0100")
    assert ann["fields_by_perstag"] == {
        "COMPANY": "ACME",
        "PLAN": "Pro",
        "LIFETIME_VALUE": "12.5",
        "INTERESTS": "||Python||Data||",
        "BIRTHDAY": "1990-01-02",
        "LAST_PURCHASE_AT": "2024-05-19T02:45:00-05:00",
        "NOTES": "keep me",
    }
    bob = emulator.contact("bob@example.com")
    assert bob is not None
    assert bob["fields_by_perstag"] == {
        "BIRTHDAY": "1985-12-31",
        "LAST_PURCHASE_AT": "2024-05-19T07:45:00+00:00",
    }
    used = api_counts(emulator)
    if sync_below:
        assert "POST /api/3/import/bulk_import 200" not in used
    else:
        assert used["POST /api/3/import/bulk_import 200"] == 1
        assert not any(key.startswith("POST /api/3/contact/sync") for key in used)


@PATHS
def test_lists_and_tags_by_name(emulator: EmulatorFixture, tmp_path: Path, sync_below: int) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    emulator.seed({"contacts": [{"email": "old@example.com", "lists": {"3": 1}, "tags": ["VIP"]}]})
    records = [
        {"email": "old@example.com", "segments": "vip; Spring-2024 "},
        {"email": "new@example.com", "segments": ["spring-2024"]},
    ]
    result = sync(
        tmp_path,
        contacts=records,
        sync_below=sync_below,
        subscribe_lists=["newsletter", "2"],  # a name in another case, and an id
        unsubscribe_lists="Product updates",
        tags=["Imported"],
        tags_column="segments",
        tag_separator=";",
    )

    assert result["succeeded"] == 2
    state = emulator.state()
    by_email = {c["email"]: c for c in state["contacts"]}
    old, new = by_email["old@example.com"], by_email["new@example.com"]
    assert {k: v["status"] for k, v in old["lists"].items()} == {"1": 1, "2": 1, "3": 2}
    assert {k: v["status"] for k, v in new["lists"].items()}["1"] == 1
    assert old["tags"] == ["Imported", "Spring-2024", "vip"]
    assert new["tags"] == ["Imported", "Spring-2024"]
    # Existing tags were reused (names compare case-insensitively), new ones created once each.
    assert sorted(t["tag"].lower() for t in state["tags"]) == [
        "customer",
        "imported",
        "newsletter-2024",
        "spring-2024",
        "vip",
    ]


def test_unknown_field_fails_before_anything_is_written(emulator: EmulatorFixture, tmp_path: Path) -> None:
    use_emulator(emulator, speed=20)
    records = [*contacts(300, Company="ACME"), {"email": "z@example.com", "Shoe size": 44, "Hat": "L"}]
    with pytest.raises(AirflowFailException) as error:
        sync(tmp_path, contacts=records)
    message = str(error.value)
    assert "'Shoe size'" in message
    assert "'Hat'" in message
    assert "'Company' (%COMPANY%, id 1, text)" in message
    assert "'Notes' (%NOTES%" in message
    assert writes(emulator) == 0
    assert emulator.state()["contacts"] == []


def test_unknown_list_fails_before_anything_is_written(emulator: EmulatorFixture, tmp_path: Path) -> None:
    use_emulator(emulator, speed=20)
    with pytest.raises(AirflowFailException) as error:
        sync(tmp_path, contacts=contacts(5), subscribe_lists=["Newsletter", "Newsleter"])
    assert "Unknown list 'Newsleter'" in str(error.value)
    assert "'Newsletter'" in str(error.value)
    assert "'Customers'" in str(error.value)
    assert writes(emulator) == 0


# --------------------------------------------------------------------------------------------------
# Batching: paths, sizes, volume
# --------------------------------------------------------------------------------------------------


def test_251_contacts_make_one_bulk_import_and_one_contact_sync(
    emulator: EmulatorFixture, tmp_path: Path
) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    result = sync(tmp_path, contacts=contacts(251, Plan="Free"), subscribe_lists=["Customers"])

    assert (result["submitted"], result["succeeded"], len(result["batch_ids"])) == (251, 251, 1)
    used = api_counts(emulator)
    assert used["POST /api/3/import/bulk_import 200"] == 1
    assert used["POST /api/3/contact/sync 201"] == 1  # the 251st contact
    state = emulator.state()
    assert len(state["contacts"]) == 251
    assert all(
        c["fields_by_perstag"] == {"PLAN": "Free"} and c["lists"]["2"]["status"] == 1
        for c in state["contacts"]
    )
    assert state["imports"][0]["queued_contacts"] == 250


def test_exclude_automations_keeps_small_batches_on_the_importer(
    emulator: EmulatorFixture, tmp_path: Path
) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    result = sync(tmp_path, contacts=contacts(3), subscribe_lists=["Newsletter"], exclude_automations=True)

    assert result["succeeded"] == 3
    assert len(result["batch_ids"]) == 1
    state = emulator.state()
    assert state["enrolments"] == []  # Newsletter starts "Welcome series" unless automations are excluded
    assert all(c["lists"]["1"]["status"] == 1 for c in state["contacts"])


@pytest.mark.long
def test_10000_contacts_within_the_limits(emulator: EmulatorFixture, tmp_path: Path) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed(contacts_per_second=20_000))
    result = sync(tmp_path, contacts=contacts(10_000, Company="ACME"), tags=["bulk"], progress_every=10)

    assert (result["submitted"], result["succeeded"], result["failed"]) == (10_000, 10_000, 0)
    assert len(result["batch_ids"]) == 40
    state = emulator.state()
    assert len(state["contacts"]) == 10_000
    assert all(
        c["fields_by_perstag"] == {"COMPANY": "ACME"} and c["tags"] == ["bulk"] for c in state["contacts"]
    )
    assert [i["status"] for i in state["imports"]] == ["completed"] * 40
    log = emulator.requests()
    assert_paced_to_the_limit(log)
    # Polls are scheduled from how long imports take: about one per batch, never a flood.
    assert log["counts"]["GET /api/3/import/info 200"] <= 2 * 40


def test_batches_stay_under_the_byte_limit_and_an_oversized_record_is_rejected(
    emulator: EmulatorFixture, tmp_path: Path
) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    records = contacts(8, Notes="n" * 100_000)
    records.insert(4, {"email": "huge@example.com", "Notes": "h" * 400_000})
    result = sync(tmp_path, contacts=records, sync_below=0, max_failure_ratio=0.2)

    assert (result["submitted"], result["succeeded"], result["rejected"]) == (8, 8, 1)
    assert result["failures"][0]["row"] == 5
    assert result["failures"][0]["email"] == "huge@example.com"
    assert "bytes; one bulk-import request must stay under 400,000 bytes" in result["failures"][0]["reason"]
    imports = emulator.state()["imports"]
    assert [i["queued_contacts"] for i in imports] == [3, 3, 2]
    assert all(300_000 < i["byte_size"] <= 399_999 for i in imports[:2])
    assert emulator.contact("huge@example.com") is None


def test_invalid_emails_are_rejected_and_the_rest_go_through(
    emulator: EmulatorFixture, tmp_path: Path
) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    records = contacts(300)
    for index in range(0, 300, 30):
        records[index] = {"email": f"broken{index}.example.com", "first_name": "x"}
    records.append({"first_name": "No email at all"})
    failures_path = tmp_path / "failures.jsonl"

    with pytest.raises(AirflowFailException) as error:
        sync(tmp_path, contacts=records, failures_path=str(failures_path))

    message = str(error.value)
    assert "11 of 301 records (3.7%) failed or were rejected (0 failed, 11 rejected)" in message
    assert (
        "row 1 (broken0.example.com) [email]: 'broken0.example.com' is not a valid email address: "
        "it must have an @-sign" in message
    )
    assert str(failures_path) in message
    failures = read_jsonl(failures_path)
    assert [f["row"] for f in failures] == [*range(1, 301, 30), 301]
    assert failures[-1] == {
        "row": 301,
        "email": None,
        "field": "email",
        "reason": "no email address",
        "stage": "rejected",
    }
    assert len(emulator.state()["contacts"]) == 290  # everything valid was still synced


def test_max_failure_ratio_lets_a_partly_bad_run_succeed(emulator: EmulatorFixture, tmp_path: Path) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    records = [*contacts(20), {"email": "nope"}]
    result = sync(tmp_path, contacts=records, max_failure_ratio=0.05)
    assert (result["succeeded"], result["rejected"]) == (20, 1)
    assert result["failures"] == [
        {
            "row": 21,
            "email": "nope",
            "field": "email",
            "reason": "'nope' is not a valid email address: it must have an @-sign",
            "stage": "rejected",
        }
    ]


@PATHS
def test_the_email_rule_takes_apostrophes_and_international_addresses_and_refuses_double_dots(
    emulator: EmulatorFixture, tmp_path: Path, sync_below: int
) -> None:
    """The sync's email check is the provider's one rule (emails.py), the automations' too.

    ActiveCampaign decides what it imports; the sync must only refuse what can never be an
    address. The emulator's own rule is not asserted here (it is stricter: see emails.py).
    """
    use_emulator(emulator, speed=20, seed=fast_seed())
    records = [
        {"email": "o'brien@example.com", "first_name": "Conor"},
        {"email": "jörg@example.de", "first_name": "Jörg"},
        {"email": "a..b@example.com", "first_name": "Ab"},
        {"email": "ann@example.com", "first_name": "Ann"},
    ]
    result = sync(tmp_path, contacts=records, sync_below=sync_below, max_failure_ratio=1.0)

    assert (result["submitted"], result["rejected"]) == (3, 1)
    [rejected] = [f for f in result["failures"] if f["stage"] == "rejected"]
    assert rejected == {
        "row": 3,
        "email": "a..b@example.com",
        "field": "email",
        "reason": "'a..b@example.com' is not a valid email address: it cannot have two periods in a row",
        "stage": "rejected",
    }
    # Sent: each one is now in the account, or ActiveCampaign (here the emulator) refused it.
    refused_by_the_api = {f["email"] for f in result["failures"] if f["stage"] == "failed"}
    for email in ("o'brien@example.com", "jörg@example.de", "ann@example.com"):
        assert emulator.contact(email) is not None or email in refused_by_the_api, email
    assert emulator.contact("ann@example.com") is not None


@PATHS
def test_an_import_that_partly_fails_reports_each_failed_row(
    emulator: EmulatorFixture, tmp_path: Path, sync_below: int
) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    emulator.seed(
        {"contacts": [{"email": "left@example.com", "lists": {"1": 2}, "fields": {"COMPANY": "Old"}}]}
    )
    records = contacts(6, Company="New")
    records[2] = {"email": "left@example.com", "Company": "New"}  # unsubscribed from Newsletter
    if not sync_below:
        records[4] = {"email": "excluded@example.com", "Company": "New"}  # on the exclusion list
    result = sync(
        tmp_path,
        contacts=records,
        subscribe_lists=["Newsletter"],
        sync_below=sync_below,
        max_failure_ratio=0.5,
    )

    expected_failed = 1 if sync_below else 2
    assert (result["failed"], result["succeeded"]) == (expected_failed, 6 - expected_failed)
    failed = {f["row"]: f for f in result["failures"]}
    assert failed[3]["email"] == "left@example.com"
    assert failed[3]["stage"] == "failed"
    left = emulator.contact("left@example.com")
    assert left is not None
    assert left["lists"]["1"]["status"] == 2
    assert left["lists"]["1"]["subscribes"] == 0
    assert left["fields_by_perstag"]["COMPANY"] == "Old"  # nothing of the contact was written
    if sync_below:
        assert "unsubscribed from 'Newsletter' (id 1); it is not re-subscribed" in failed[3]["reason"]
    else:
        assert failed[5]["email"] == "excluded@example.com"
        assert "exclusion" in failed[5]["reason"]
        assert failed[5]["batch_id"] == result["batch_ids"][0]
    assert read_jsonl(result["failures_path"]) == result["failures"]


# --------------------------------------------------------------------------------------------------
# Rate limits and failures: nothing lost, nothing twice
# --------------------------------------------------------------------------------------------------


def test_the_importers_400_rate_limit_answer_loses_nothing(emulator: EmulatorFixture, tmp_path: Path) -> None:
    # The importer allows 2 requests a minute here; the client believes 100: it meets the 400 answer.
    use_emulator(emulator, speed=60, seed=fast_seed(multi_contact_requests_per_minute=2))
    result = sync(tmp_path, contacts=contacts(1_200), sync_below=0)

    assert (result["submitted"], result["succeeded"]) == (1_200, 1_200)
    state = emulator.state()
    assert state["counters"]["imports_rate_limited"] >= 1
    assert state["counters"]["imports_submitted"] == len(result["batch_ids"]) == 5
    assert len(state["contacts"]) == 1_200
    assert (
        api_counts(emulator)["POST /api/3/import/bulk_import 400"]
        == state["counters"]["imports_rate_limited"]
    )


def test_429s_mid_run_lose_nothing(emulator: EmulatorFixture, tmp_path: Path) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    emulator.add_fault("POST", "/api/3/import/bulk_import", "http_429", times=2, retry_after=1)
    emulator.add_fault("GET", "/api/3/import/info", "http_429", times=2, retry_after=1)
    result = sync(tmp_path, contacts=contacts(1_000), subscribe_lists=["Customers"])

    assert (result["submitted"], result["succeeded"]) == (1_000, 1_000)
    used = api_counts(emulator)
    assert used["POST /api/3/import/bulk_import 429"] == 2
    assert used["GET /api/3/import/info 429"] == 2
    state = emulator.state()
    assert state["counters"]["imports_submitted"] == 4
    assert len(state["contacts"]) == 1_000
    assert state["lists"][1]["subscribed"] == 1_000


@pytest.mark.parametrize("kind", ["http_502", "drop"])
def test_an_ambiguous_bulk_import_is_resent_and_applies_once(
    emulator: EmulatorFixture, tmp_path: Path, kind: str
) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    # The first import is applied, then the client sees a failure: it cannot know, so it resends.
    emulator.add_fault("POST", "/api/3/import/bulk_import", kind, when="after")
    result = sync(tmp_path, contacts=contacts(500), subscribe_lists=["Newsletter"], tags=["t"])

    assert (result["submitted"], result["succeeded"]) == (500, 500)
    state = emulator.state()
    assert state["counters"]["imports_submitted"] == 3  # 2 batches, the first sent twice
    assert [i["same_payload_submissions"] for i in state["imports"]] == [2, 2, 1]
    assert len(state["contacts"]) == 500
    for contact in state["contacts"]:
        assert contact["lists"]["1"]["subscribes"] == 1
        assert contact["tag_add_requests"] == {"t": contact["counters"]["import_rows"]}
        assert contact["counters"]["enrolments"] == 1  # "Welcome series" started once
    assert set(state["enrolment_counts"].values()) == {1}


def test_a_killed_run_then_a_rerun_duplicates_nothing(emulator: EmulatorFixture, tmp_path: Path) -> None:
    use_emulator(emulator, speed=1, seed=fast_seed())
    source = tmp_path / "contacts.jsonl"
    source.write_text(
        "".join(json.dumps(r) + "\n" for r in contacts(1_000, Company="ACME")), encoding="utf-8"
    )
    script = (
        "import sys\n"
        "from airflow_provider_activecampaign.operators.contacts import ActiveCampaignSyncContactsOperator\n"
        "from tests.integration.contacts_support import run_operator\n"
        "run_operator(ActiveCampaignSyncContactsOperator(task_id='sync', source_path=sys.argv[1],\n"
        "    subscribe_lists=['Newsletter'], tags=['imported'], poll_interval=0.2,\n"
        "    failures_path=sys.argv[2]))\n"
    )
    env = dict(os.environ)
    # Two imports a minute: the first run submits two batches, then waits, and is killed waiting.
    env["AIRFLOW_CONN_ACTIVECAMPAIGN_DEFAULT"] = emulator.connection_json(imports_per_minute=2)
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(source), str(tmp_path / "first.jsonl")], cwd=ROOT, env=env
    )
    try:
        # A deadline, not a measurement: a fresh interpreter importing Airflow takes long on a busy host.
        deadline = time.monotonic() + 240
        while emulator.state()["counters"].get("imports_submitted", 0) < 2:
            assert process.poll() is None, "the first run ended before it was killed"
            assert time.monotonic() < deadline, "the first run never submitted two imports"
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    emulator.advance(60)  # let the two imports finish
    assert len(emulator.state()["contacts"]) == 500

    result = sync(tmp_path, source_path=str(source), subscribe_lists=["Newsletter"], tags=["imported"])

    assert (result["submitted"], result["succeeded"]) == (1_000, 1_000)
    state = emulator.state()
    assert len(state["contacts"]) == 1_000
    assert state["counters"]["contacts_created"] == 1_000
    assert [i["same_payload_submissions"] for i in state["imports"]] == [2, 2, 2, 2, 1, 1]
    for contact in state["contacts"]:
        assert contact["lists"]["1"]["subscribes"] == 1
        assert contact["tags"] == ["imported"]
        assert contact["counters"]["changes"] == 1
    assert set(state["enrolment_counts"].values()) == {1}
    assert len(state["enrolment_counts"]) == 1_000


def test_running_the_same_sync_again_changes_nothing(emulator: EmulatorFixture, tmp_path: Path) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    records = contacts(260, Company="ACME", Birthday="1990-01-02")
    options = {"contacts": records, "subscribe_lists": ["Newsletter"], "tags": ["imported"]}
    sync(tmp_path, **options)
    before = emulator.state()
    sync(tmp_path, **options)
    after = emulator.state()

    def essentials(state: dict[str, Any]) -> list[Any]:
        return [
            (
                c["email"],
                c["fields"],
                c["lists"]["1"]["status"],
                c["lists"]["1"]["subscribes"],
                c["tags"],
                c["udate"],
            )
            for c in state["contacts"]
        ]

    assert essentials(after) == essentials(before)
    assert after["counters"]["contacts_created"] == 260
    assert all(c["counters"]["changes"] == 1 for c in after["contacts"])
    assert after["enrolment_counts"] == before["enrolment_counts"]


# --------------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------------


def test_csv_and_gzipped_json_lines_files(emulator: EmulatorFixture, tmp_path: Path) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    csv_path = tmp_path / "contacts.csv"
    csv_path.write_text(
        "Email Address,Plan,first_name\na@example.com,Pro,\nb@example.com,,Bob\n", encoding="utf-8"
    )
    jsonl_path = tmp_path / "more.jsonl.gz"
    with gzip.open(jsonl_path, "wt", encoding="utf-8") as handle:
        handle.write(json.dumps({"email": "c@example.com", "Interests": ["Data"]}) + "\n")

    first = sync(tmp_path, source_path=str(csv_path), field_map={"Email Address": "email"})
    second = sync(tmp_path, source_path=f"file://{jsonl_path}")

    assert first["succeeded"] == 2
    assert second["succeeded"] == 1
    a, b, c = (emulator.contact(f"{x}@example.com") for x in "abc")
    assert a is not None
    assert a["fields_by_perstag"] == {"PLAN": "Pro"}
    assert b is not None
    assert b["firstName"] == "Bob"
    assert b["fields_by_perstag"] == {}
    assert c is not None
    assert c["fields_by_perstag"] == {"INTERESTS": "||Data||"}


def test_submitting_without_waiting(emulator: EmulatorFixture, tmp_path: Path) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    result = sync(tmp_path, contacts=contacts(500), wait_for_completion=False, failures_path=None)

    # The default report: the worker's temp directory, named after DAG, task and run.
    expected = Path(tempfile.gettempdir(), "airflow-activecampaign", "tests", "sync")
    assert Path(result["failures_path"]).parent.parent == expected
    assert Path(result["failures_path"]).read_text(encoding="utf-8") == ""
    assert result["submitted"] == 500
    assert result["succeeded"] is None
    assert len(result["batch_ids"]) == 2
    assert "GET /api/3/import/info 200" not in api_counts(emulator)
    assert [i["batchId"] for i in emulator.state()["imports"]] == result["batch_ids"]


# --------------------------------------------------------------------------------------------------
# Tag creates on the write journal (contact/sync path)
# --------------------------------------------------------------------------------------------------


def test_a_tag_create_whose_answer_was_lost_is_read_back_not_created_twice(
    emulator: EmulatorFixture, tmp_path: Path
) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    emulator.add_fault("POST", "/api/3/tags", "drop", when="after", times=1)

    result = sync(tmp_path, contacts=contacts(2), sync_below=100, tags=["Journaled"])

    assert result["succeeded"] == 2
    state = emulator.state()
    assert [t["tag"] for t in state["tags"]].count("Journaled") == 1
    assert all(c["tags"] == ["Journaled"] for c in state["contacts"])
    posts = sum(n for line, n in api_counts(emulator).items() if line.startswith("POST /api/3/tags "))
    assert posts == 1  # its answer was dropped; the read-back by name found it


def test_a_tag_create_not_found_before_it_settles_is_unknown_and_not_resent(
    emulator: EmulatorFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-back right after a lost answer proves nothing (ActiveCampaign may apply it late)."""
    monkeypatch.setenv("AIRFLOW__ACTIVECAMPAIGN__WRITE_SETTLE_SECONDS", "60")
    use_emulator(emulator, speed=20, seed=fast_seed())
    emulator.add_fault("POST", "/api/3/tags", "http_503", when="before", times=1)

    with pytest.raises(AirflowFailException):
        sync(tmp_path, contacts=contacts(1), sync_below=100, tags=["Journaled"])

    (failure,) = read_jsonl(tmp_path / "failures.jsonl")
    assert failure["reason"].startswith("unknown: tag 'Journaled' could not be created for sure")
    assert "was sent once" in failure["reason"]
    posts = sum(n for line, n in api_counts(emulator).items() if line.startswith("POST /api/3/tags "))
    assert posts == 1
