"""Duplicate emails in one source: merged within a batch, flagged across batches, remembered compactly."""

from __future__ import annotations

import tracemalloc

import pytest

from airflow_provider_activecampaign.contacts.mapping import (
    BatchBuilder,
    DuplicateRow,
    PreparedContact,
    SeenEmails,
    merge_contacts,
    serialized_size,
)
from airflow_provider_activecampaign.operators.base import failure_ratio_message, percent


def contact(row: int, email: str, **body: object) -> PreparedContact:
    full = {"email": email, **body}
    return PreparedContact(row, email, full, serialized_size(full))


def test_merging_applies_the_later_row_over_the_earlier() -> None:
    earlier = contact(
        1,
        "ann@example.com",
        first_name="Ann",
        phone="1",
        fields=[{"id": 1, "value": "ACME"}, {"id": 2, "value": "1990-01-02"}],
        tags=["vip"],
    )
    later = contact(
        7,
        "Ann@Example.com",
        first_name="Anna",
        fields=[{"id": 2, "value": "1991-01-02"}],
        tags=["VIP", "new"],
    )
    merged = merge_contacts(earlier, later)
    assert merged.row == 7
    assert merged.body == {
        "email": "Ann@Example.com",
        "first_name": "Anna",
        "phone": "1",
        "fields": [{"id": 1, "value": "ACME"}, {"id": 2, "value": "1991-01-02"}],
        "tags": ["vip", "new"],
    }
    assert merged.size == serialized_size(merged.body)


def test_a_batch_holds_one_contact_per_email_and_reports_each_superseded_row() -> None:
    seen: list[DuplicateRow] = []
    batches = BatchBuilder(on_duplicate=seen.append)
    rows = [
        contact(1, "a@x.co", first_name="A1"),
        contact(2, "b@x.co"),
        contact(3, " A@X.CO ", last_name="L"),
    ]
    closed = [batch for c in rows for batch in batches.add(c)]
    last = batches.flush()
    assert closed == []
    assert last is not None
    assert [c.row for c in last.contacts] == [2, 3]
    assert last.contacts[1].body == {"email": " A@X.CO ", "first_name": "A1", "last_name": "L"}
    assert last.size == serialized_size(last.body())
    assert not last.follows_earlier
    assert seen == [DuplicateRow(1, "a@x.co", 3, merged=True)]
    assert batches.duplicates == 1


def test_a_duplicate_of_an_earlier_batch_marks_its_batch_to_follow_it() -> None:
    seen: list[DuplicateRow] = []
    batches = BatchBuilder(max_contacts=2, on_duplicate=seen.append)
    rows = [contact(1, "a@x.co"), contact(2, "b@x.co"), contact(3, "c@x.co"), contact(4, "a@x.co")]
    closed = [batch for c in rows for batch in batches.add(c)]
    last = batches.flush()
    assert [[c.row for c in b.contacts] for b in closed] == [[1, 2]]
    assert last is not None
    assert [c.row for c in last.contacts] == [3, 4]
    assert last.follows_earlier
    assert not closed[0].follows_earlier
    assert seen == [DuplicateRow(1, "a@x.co", 4, merged=False)]
    assert "applies batches in order" in seen[0].reason()


def test_two_rows_too_big_to_merge_go_in_consecutive_batches() -> None:
    seen: list[DuplicateRow] = []
    batches = BatchBuilder(max_bytes=2_000, on_duplicate=seen.append)
    closed = [
        batch
        for c in (contact(1, "a@x.co", first_name="x" * 1_000), contact(2, "a@x.co", last_name="y" * 1_000))
        for batch in batches.add(c)
    ]
    last = batches.flush()
    assert [[c.row for c in b.contacts] for b in closed] == [[1]]
    assert last is not None
    assert [c.row for c in last.contacts] == [2]
    assert last.follows_earlier
    assert seen == [DuplicateRow(1, "a@x.co", 2, merged=False)]


def test_seen_emails_remembers_the_last_row_of_each_email() -> None:
    seen = SeenEmails(capacity=4)
    assert seen.add("a@x.co", 1) is None
    assert seen.add("b@x.co", 2) is None
    assert seen.add("A@X.co ", 3) == 1
    assert seen.add("a@x.co", 2**40) == 3  # rows past 2**32 - 1 are not remembered...
    assert seen.add("a@x.co", 5) == 0  # ...and come back as 0 ("an earlier row")
    for i in range(1_000):  # grows past its first size
        seen.add(f"u{i}@x.co", 10 + i)
    assert len(seen) == 1_002
    assert seen.add("u999@x.co", 5_000) == 1_009


def test_seen_emails_takes_about_25_bytes_per_email() -> None:
    """Measured with tracemalloc: 100,000 emails (1,000,000: 25.2 MB, 37.8 MB at the peak of a resize)."""
    emails = [f"user{i}@example.com" for i in range(100_000)]
    tracemalloc.start()
    seen = SeenEmails()
    for row, email in enumerate(emails, start=1):
        seen.add(email, row)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(seen) == 100_000
    # 262,144 slots of 12 bytes: 3.1 MB, 31 bytes an email at this size; the peak holds the old table too.
    assert current <= seen.nbytes + 10_000 <= 3_200_000
    assert peak <= 5_000_000


@pytest.mark.parametrize(
    ("ratio", "text"),
    [(0.0, "0%"), (5e-6, "0.0005%"), (0.0367, "3.7%"), (0.25, "25%"), (0.999999, "99.9999%"), (1.0, "100%")],
)
def test_percentages_never_round_a_failure_away(ratio: float, text: str) -> None:
    assert percent(ratio) == text


def test_failure_ratio_messages_give_counts_and_enough_digits() -> None:
    assert failure_ratio_message(5, 1_000_000, 0.0) == (
        "5 of 1,000,000 records (0.0005%) failed or were rejected, above max_failure_ratio 0 (0%)"
    )
    # Just above the limit: as many digits as it takes for the two to differ.
    assert failure_ratio_message(100_001, 10_000_000, 0.01) == (
        "100,001 of 10,000,000 records (1.00001%) failed or were rejected, above max_failure_ratio 0.01 (1%)"
    )
    assert failure_ratio_message(1, 10, 0.000001, what="contacts", happened="failed", detail=" (x)") == (
        "1 of 10 contacts (10%) failed (x), above max_failure_ratio 0.000001 (0.0001%)"
    )
