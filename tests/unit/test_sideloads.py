"""ContactSideloads: a page's sideload grouped by contact, or read per contact (with one warning)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from airflow_provider_activecampaign.exceptions import ActiveCampaignNotFoundError
from airflow_provider_activecampaign.records.sideloads import ContactSideloads


class FakeReads:
    """``GET /contacts/{id}/<key>`` answers by path; an unknown path is a deleted contact (404)."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.paths: list[str] = []

    def get(self, endpoint: str) -> Any:
        self.paths.append(endpoint)
        if endpoint not in self.answers:
            raise ActiveCampaignNotFoundError(f"Not found: GET {endpoint}")
        return self.answers[endpoint]


def test_a_sideloaded_page_is_grouped_by_contact_without_a_read() -> None:
    reads = FakeReads({})
    page = {
        "fieldValues": [
            {"contact": "1", "value": "a"},
            {"contact": "2", "value": "b"},
            {"contact": "1", "value": "c"},
        ]
    }
    rows = ContactSideloads().rows(reads.get, page, "fieldValues", ["1", "2"])
    assert {cid: [r["value"] for r in found] for cid, found in rows.items()} == {"1": ["a", "c"], "2": ["b"]}
    assert reads.paths == []


def test_an_empty_sideload_is_no_rows_not_a_reason_to_read() -> None:
    reads = FakeReads({})
    assert ContactSideloads().rows(reads.get, {"contactTags": []}, "contactTags", ["1"]) == {}
    assert reads.paths == []


def test_a_missing_sideload_is_read_per_contact_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    reads = FakeReads(
        {
            "contacts/1/contactTags": {"contactTags": [{"contact": "1", "tag": "7"}]},
            "contacts/2/contactTags": {"contactTags": []},
        }
    )
    sideloads = ContactSideloads(logging.getLogger("test.sideloads"))
    with caplog.at_level(logging.WARNING, logger="test.sideloads"):
        first = sideloads.rows(reads.get, {"contacts": []}, "contactTags", ["1", "2"])
        second = sideloads.rows(reads.get, {"contacts": []}, "contactTags", [3])  # deleted meanwhile
    assert first == {"1": [{"contact": "1", "tag": "7"}], "2": []}
    assert second == {"3": []}
    assert reads.paths == ["contacts/1/contactTags", "contacts/2/contactTags", "contacts/3/contactTags"]
    assert sideloads.read_per_contact == {"contactTags": 3}
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "without the contactTags" in warnings[0]
    assert "slower" in warnings[0]
