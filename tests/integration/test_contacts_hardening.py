"""Hardening from the field (issue 11): encodings, silent successes, precise percentages.

Every test runs ``ActiveCampaignSyncContactsOperator`` (or the bulk-import sensor) against the
emulator over a loopback socket.
"""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path
from typing import Any

import pytest
import structlog
from activecampaign_emulator.pytest_plugin import EmulatorFixture
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_activecampaign.operators.contacts import ActiveCampaignSyncContactsOperator
from airflow_provider_activecampaign.sensors.contacts import ActiveCampaignBulkImportSensor
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


def warnings(logs: list[dict[str, Any]]) -> list[str]:
    return [str(entry["event"]) for entry in logs if entry.get("log_level") == "warning"]


# --------------------------------------------------------------------------------------------------
# 5. Encodings
# --------------------------------------------------------------------------------------------------

LATIN1_ROWS = {
    "csv": (b"email,first_name\n", b"ann@example.com,Ann\n", b"jose@example.com,Jos\xe9\n"),
    "jsonl": (
        b"",
        b'{"email": "ann@example.com", "first_name": "Ann"}\n',
        b'{"email": "jose@example.com", "first_name": "Jos\xe9"}\n',
    ),
}


def latin1_file(tmp_path: Path, fmt: str, gz: bool) -> tuple[Path, bytes]:
    """Ann (ASCII), José (one Latin-1 byte), Bob (ASCII): the file and its (uncompressed) bytes."""
    header, ann, jose = LATIN1_ROWS[fmt]
    bob = ann.replace(b"ann", b"bob").replace(b"Ann", b"Bob")
    data = header + ann + jose + bob
    path = tmp_path / f"contacts.{fmt}{'.gz' if gz else ''}"
    path.write_bytes(gzip.compress(data) if gz else data)
    return path, data


FILES = pytest.mark.parametrize(
    ("fmt", "gz"),
    [
        pytest.param("csv", False, id="csv"),
        pytest.param("csv", True, id="csv.gz"),
        pytest.param("jsonl", False, id="jsonl"),
        pytest.param("jsonl", True, id="jsonl.gz"),
    ],
)


@FILES
def test_an_undecodable_row_is_rejected_naming_file_row_and_offset_and_the_rest_land(
    emulator: EmulatorFixture, tmp_path: Path, fmt: str, gz: bool
) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    path, data = latin1_file(tmp_path, fmt, gz)

    result = run_sync(tmp_path, source_path=str(path), max_failure_ratio=0.5)

    assert (result["records"], result["submitted"], result["succeeded"], result["rejected"]) == (3, 2, 2, 1)
    [failure] = result["failures"]
    assert failure["row"] == 2
    assert failure["stage"] == "rejected"
    reason = failure["reason"]
    assert str(path) in reason
    assert f"{'row' if fmt == 'csv' else 'line'} 2 of" in reason
    offset = data.index(b"\xe9")
    assert f"byte offset {offset:,}" in reason
    assert "0xe9" in reason
    assert 'encoding="latin-1"' in reason
    assert read_jsonl(tmp_path / "failures.jsonl") == [failure]
    assert emulator.contact("ann@example.com") is not None
    assert emulator.contact("bob@example.com") is not None
    assert emulator.contact("jose@example.com") is None


@FILES
def test_encoding_reads_a_latin1_file(emulator: EmulatorFixture, tmp_path: Path, fmt: str, gz: bool) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    path, _ = latin1_file(tmp_path, fmt, gz)

    result = run_sync(tmp_path, source_path=str(path), encoding="latin-1")

    assert (result["records"], result["succeeded"], result["rejected"]) == (3, 3, 0)
    jose = emulator.contact("jose@example.com")
    assert jose is not None
    assert jose["firstName"] == "José"


def test_encoding_is_templated_and_a_utf8_bom_is_dropped_by_default(
    emulator: EmulatorFixture, tmp_path: Path
) -> None:
    assert "encoding" in ActiveCampaignSyncContactsOperator.template_fields
    use_emulator(emulator, speed=20, seed=fast_seed())
    path = tmp_path / "contacts.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + '{"email": "zoe@example.com", "first_name": "Zoë"}\n'.encode())

    result = run_sync(tmp_path, source_path=str(path))

    assert (result["records"], result["succeeded"]) == (1, 1)
    zoe = emulator.contact("zoe@example.com")
    assert zoe is not None
    assert zoe["firstName"] == "Zoë"


def test_an_unknown_encoding_fails_before_anything_is_written(
    emulator: EmulatorFixture, tmp_path: Path
) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    path = tmp_path / "contacts.csv"
    path.write_text("email\nann@example.com\n", encoding="utf-8")
    with pytest.raises(ValueError, match="Unknown encoding 'latin-9x'"):  # when the DAG is parsed
        ActiveCampaignSyncContactsOperator(task_id="sync", source_path=str(path), encoding="latin-9x")
    operator = ActiveCampaignSyncContactsOperator(
        task_id="sync",
        source_path=str(path),
        encoding="{{ params.encoding }}",
        failures_path=str(tmp_path / "failures.jsonl"),
    )
    operator.encoding = "latin-9x"  # what the template rendered to

    with pytest.raises(AirflowFailException, match="Unknown encoding 'latin-9x'"):
        run_operator(operator)
    assert all(key.startswith("GET ") for key in api_counts(emulator))


# --------------------------------------------------------------------------------------------------
# 6. Silent successes: empty sources, duplicate emails
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "content", "said"),
    [
        pytest.param("list", None, "held no records", id="empty-list"),
        pytest.param("contacts.csv", "", "is empty", id="empty-csv"),
        pytest.param(
            "contacts.csv", "email,first_name\r\n", "has a header but no rows", id="header-only-csv"
        ),
        pytest.param("contacts.jsonl", "\n\n", "held no records", id="blank-jsonl"),
    ],
)
def test_an_empty_source_succeeds_with_a_warning_and_zero_records(
    emulator: EmulatorFixture, tmp_path: Path, kind: str, content: str | None, said: str
) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    options: dict[str, Any] = {"contacts": []}
    if content is not None:
        path = tmp_path / kind
        path.write_text(content, encoding="utf-8")
        options = {"source_path": str(path)}

    with structlog.testing.capture_logs() as logs:
        result = run_sync(tmp_path, **options)

    assert (result["records"], result["submitted"], result["duplicates"]) == (0, 0, 0)
    [warning] = result["warnings"]
    assert said in warning
    assert warning in warnings(logs)
    assert "nothing was synced" in warning.lower()


PATHS = pytest.mark.parametrize(
    "sync_below", [pytest.param(0, id="bulk-import"), pytest.param(100, id="contact-sync")]
)


@PATHS
def test_duplicate_emails_in_one_batch_the_last_row_wins_and_no_failure_is_counted(
    emulator: EmulatorFixture, tmp_path: Path, sync_below: int
) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    records = [
        {"email": "ann@example.com", "first_name": "First", "Company": "Old"},
        {"email": "bob@example.com", "first_name": "Bob"},
        {"email": " ANN@example.com", "first_name": "Second", "Company": None},
        {"email": "ann@example.com", "first_name": "Last", "last_name": "Lee"},
    ]

    with structlog.testing.capture_logs() as logs:
        result = run_sync(tmp_path, contacts=records, sync_below=sync_below)  # max_failure_ratio 0

    assert (result["records"], result["submitted"], result["succeeded"]) == (4, 2, 2)
    assert (result["failed"], result["rejected"], result["duplicates"]) == (0, 0, 2)
    assert result["failures"] == []
    report = read_jsonl(tmp_path / "failures.jsonl")
    assert [(f["row"], f["stage"], f["kept_row"]) for f in report] == [
        (1, "duplicate", 3),
        (3, "duplicate", 4),
    ]
    assert "row 4" in report[1]["reason"]
    ann = emulator.contact("ann@example.com")
    assert ann is not None
    # Applied in source order: the last row wins where it gives a value; what it leaves empty
    # keeps the earlier rows' values, exactly as separate upserts would.
    assert (ann["firstName"], ann["lastName"]) == ("Last", "Lee")
    assert ann["fields_by_perstag"] == {"COMPANY": "Old"}
    said = " ".join(warnings(logs))
    assert "ann@example.com" in said
    assert "row 4 wins" in said
    assert "2 rows" in said


def test_duplicate_emails_in_different_batches_the_later_batch_wins(
    emulator: EmulatorFixture, tmp_path: Path
) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    records = [
        {"email": "dup@example.com", "first_name": "Early", "Company": "Kept"},
        *contacts(3),
        {"email": "dup@example.com", "first_name": "Late"},
    ]

    result = run_sync(tmp_path, contacts=records, batch_size=2, sync_below=0)

    assert (result["records"], result["submitted"], result["duplicates"], result["failed"]) == (5, 5, 1, 0)
    [entry] = read_jsonl(tmp_path / "failures.jsonl")
    assert (entry["row"], entry["stage"], entry["kept_row"]) == (1, "duplicate", 5)
    assert "applies batches in order" in entry["reason"]
    dup = emulator.contact("dup@example.com")
    assert dup is not None
    assert dup["firstName"] == "Late"
    assert dup["fields_by_perstag"] == {"COMPANY": "Kept"}


def test_a_small_last_batch_repeating_an_email_of_a_queued_import_goes_through_the_importer(
    emulator: EmulatorFixture, tmp_path: Path
) -> None:
    # The first import waits 30 emulated seconds in the queue: a contact/sync call sent meanwhile
    # would be overwritten by it, and the earlier row would win.
    use_emulator(emulator, speed=20, seed=fast_seed(queue_delay_seconds=30))
    records = [{"email": "dup@example.com", "first_name": "Early"}, *contacts(10)]
    records.append({"email": "dup@example.com", "first_name": "Late"})

    result = run_sync(tmp_path, contacts=records, batch_size=10, sync_below=5)

    assert (result["records"], result["submitted"], result["duplicates"]) == (12, 12, 1)
    assert len(result["batch_ids"]) == 2
    assert not any(key.startswith("POST /api/3/contact/sync") for key in api_counts(emulator))
    dup = emulator.contact("dup@example.com")
    assert dup is not None
    assert dup["firstName"] == "Late"


# --------------------------------------------------------------------------------------------------
# 9. Failure ratios that say how many
# --------------------------------------------------------------------------------------------------


def test_a_tiny_failure_ratio_is_shown_with_its_counts_and_enough_digits(
    emulator: EmulatorFixture, tmp_path: Path
) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    records = [*contacts(2_000), {"email": "nope"}]

    with pytest.raises(AirflowFailException) as error:
        run_sync(tmp_path, contacts=records, max_failure_ratio=0.0004)

    message = str(error.value)
    assert "1 of 2,001 records (0.05%) failed or were rejected (0 failed, 1 rejected)" in message
    assert "above max_failure_ratio 0.0004 (0.04%)" in message
    assert len(emulator.state()["contacts"]) == 2_000


def test_the_default_ratio_reads_as_zero_not_zero_point_zero_percent(
    emulator: EmulatorFixture, tmp_path: Path
) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    with pytest.raises(AirflowFailException) as error:
        run_sync(tmp_path, contacts=[*contacts(3), {"email": "nope"}])
    expected = (
        "1 of 4 records (25%) failed or were rejected (0 failed, 1 rejected), above max_failure_ratio 0 (0%)"
    )
    assert expected in str(error.value)


def poke_until_done(sensor: ActiveCampaignBulkImportSensor) -> None:
    deadline = time.monotonic() + 60
    while not sensor.poke({}).is_done:
        assert time.monotonic() < deadline, "the imports never finished"
        time.sleep(0.1)


def test_the_bulk_import_sensor_shows_a_tiny_ratio_with_its_counts(
    emulator: EmulatorFixture, tmp_path: Path
) -> None:
    use_emulator(emulator, speed=20, seed=fast_seed())
    records = [*contacts(1_999), {"email": "excluded@example.com"}]  # on the account's exclusion list
    submitted = run_sync(tmp_path, contacts=records, wait_for_completion=False)
    sensor = ActiveCampaignBulkImportSensor(
        task_id="wait", batch_ids=submitted, max_failure_ratio=0.0004, poke_interval=0.1
    )

    with pytest.raises(AirflowFailException) as error:
        poke_until_done(sensor)

    message = str(error.value)
    assert "1 of 2,000 imported contacts (0.05%) failed, above max_failure_ratio 0.0004 (0.04%)" in message
    assert "excluded@example.com" in message


def test_the_result_with_its_new_keys_is_plain_json(emulator: EmulatorFixture, tmp_path: Path) -> None:
    """``records``, ``duplicates`` and ``warnings`` keep the return value XCom-serialisable."""
    use_emulator(emulator, speed=20, seed=fast_seed())
    result = run_sync(tmp_path, contacts=[*contacts(2), contacts(1)[0]])
    assert json.loads(json.dumps(result)) == result
    assert (result["records"], result["submitted"], result["duplicates"]) == (3, 2, 1)
    [warning] = result["warnings"]
    assert "1 row" in warning
