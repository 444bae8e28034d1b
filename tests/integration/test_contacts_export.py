"""ActiveCampaignExportContactsOperator against the emulator: windows, paging, fields by title."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_activecampaign.hooks import transport
from airflow_provider_activecampaign.operators.contacts import ActiveCampaignExportContactsOperator
from tests.integration.contacts_support import api_counts, read_jsonl, use_emulator

pytestmark = pytest.mark.integration

WINDOW_START = datetime(2024, 3, 2, tzinfo=UTC)
WINDOW_END = datetime(2024, 3, 3, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_limiters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "_LIMITERS", {})


def iso(moment: datetime) -> str:
    return moment.isoformat()


def seed_window(emulator: EmulatorFixture) -> set[str]:
    """1,050 contacts updated inside the window, plus some just outside; returns the expected emails."""
    inside = [WINDOW_START + timedelta(seconds=80 * i + 30) for i in range(1_048)]
    inside += [WINDOW_START - timedelta(minutes=3), WINDOW_END - timedelta(seconds=1)]  # overlap; last second
    outside = [WINDOW_START - timedelta(minutes=10), WINDOW_END, WINDOW_END + timedelta(hours=2)]
    outside += [WINDOW_START - timedelta(days=1, seconds=i) for i in range(100)]
    records: list[dict[str, Any]] = []
    expected: set[str] = set()
    for number, moment in enumerate(inside + outside):
        email = f"c{number}@example.com"
        record: dict[str, Any] = {"email": email, "firstName": f"C{number}", "cdate": iso(moment)}
        if number % 2 == 0:
            record["fields"] = {"COMPANY": "ACME", "INTERESTS": "||Python||Data||", "BIRTHDAY": "1990-01-02"}
            record["lists"] = {"1": 1, "2": 2}
            record["tags"] = ["vip"]
        records.append(record)
        if number < len(inside):
            expected.add(email)
    emulator.seed({"contacts": records})
    return expected


def export(tmp_path: Path, **options: Any) -> dict[str, Any]:
    operator = ActiveCampaignExportContactsOperator(
        task_id="export", output_path=str(tmp_path / "out" / "contacts.jsonl"), **options
    )
    context: Any = {"data_interval_start": WINDOW_START, "data_interval_end": WINDOW_END}
    result: dict[str, Any] = operator.execute(context)
    return result


def test_export_of_a_window_pages_over_1000_contacts_with_fields_by_title(
    emulator: EmulatorFixture, tmp_path: Path
) -> None:
    use_emulator(emulator, speed=10)
    expected = seed_window(emulator)
    result = export(tmp_path, include_lists=True, include_tags=True)

    rows = read_jsonl(result["path"])
    assert result["count"] == len(rows) == len(expected) == 1_050
    assert {row["email"] for row in rows} == expected
    ids = [int(row["id"]) for row in rows]
    assert ids == sorted(set(ids))  # every contact once, in id order
    assert result["updated_after"] == "2024-03-01T23:55:00+00:00"  # 5 minutes of overlap
    assert result["updated_before"] == "2024-03-03T00:00:00+00:00"
    first = rows[0]
    assert first["fields"] == {"Company": "ACME", "Interests": ["Python", "Data"], "Birthday": "1990-01-02"}
    assert first["lists"] == [
        {"id": "1", "name": "Newsletter", "status": "active"},
        {"id": "2", "name": "Customers", "status": "unsubscribed"},
    ]
    assert first["tags"] == ["vip"]
    assert rows[1]["fields"] == {}
    assert rows[1]["lists"] == []
    assert rows[1]["tags"] == []
    # About one request per 100 contacts (11 pages, plus the newest id and one partial page per
    # parallel reader's slice), no per-contact reads.
    counts = api_counts(emulator)
    assert 11 <= counts["GET /api/3/contacts 200"] <= 11 + 1 + 4
    assert not any("/contacts/{id}" in key for key in counts)


def test_export_filters_by_list_tag_and_email(emulator: EmulatorFixture, tmp_path: Path) -> None:
    use_emulator(emulator, speed=10)
    seed_window(emulator)
    by_list = export(tmp_path, list_id="customers", use_data_interval=False)
    by_tag = export(tmp_path, tag="VIP", use_data_interval=False)
    by_email = export(tmp_path, email="c7@example.com", use_data_interval=False)

    assert by_list["count"] == by_tag["count"] == 577  # every second contact, in or out of the window
    assert by_email["count"] == 1
    assert read_jsonl(by_email["path"])[0]["email"] == "c7@example.com"
    assert by_list["updated_after"] is None
    assert by_list["updated_before"] is None


def test_export_without_a_window_refuses_to_guess(emulator: EmulatorFixture, tmp_path: Path) -> None:
    use_emulator(emulator, speed=10)
    operator = ActiveCampaignExportContactsOperator(task_id="export", output_path=str(tmp_path / "x.jsonl"))
    with pytest.raises(AirflowFailException, match="no data interval"):
        operator.execute({})


def test_export_with_an_unknown_tag_fails(emulator: EmulatorFixture, tmp_path: Path) -> None:
    use_emulator(emulator, speed=10)
    with pytest.raises(AirflowFailException, match="Unknown tag 'no-such-tag'"):
        export(tmp_path, tag="no-such-tag")
