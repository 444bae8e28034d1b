"""Unit tests of the contact mapping: field resolution, value formats, records, batches (no HTTP)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_activecampaign.contacts.emails import is_valid_email
from airflow_provider_activecampaign.contacts.mapping import (
    MAX_IMPORT_BYTES,
    BatchBuilder,
    ColumnPlan,
    ContactBuilder,
    CustomField,
    FieldCatalogue,
    PreparedContact,
    RecordRejected,
    ValueFormatError,
    format_field_value,
    import_body_size,
    serialized_size,
)
from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignNotFoundError,
    ActiveCampaignValidationError,
)

COMPANY = CustomField("1", "Company", "text", "COMPANY")
BIRTHDAY = CustomField("2", "Birthday", "date", "BIRTHDAY")
LAST_PURCHASE = CustomField("3", "Last purchase at", "datetime", "LAST_PURCHASE_AT")
PLAN = CustomField("4", "Plan", "dropdown", "PLAN", ("Free", "Pro", "Enterprise"))
INTERESTS = CustomField("5", "Interests", "listbox", "INTERESTS", ("Python", "Airflow", "Data"))
LTV = CustomField("6", "Lifetime value", "number", "LIFETIME_VALUE")
CATALOGUE = FieldCatalogue([COMPANY, BIRTHDAY, LAST_PURCHASE, PLAN, INTERESTS, LTV])


# --------------------------------------------------------------------------------------------------
# Field resolution
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Company", COMPANY),
        ("company", COMPANY),
        ("COMPANY", COMPANY),
        ("%company%", COMPANY),
        ("LAST_PURCHASE_AT", LAST_PURCHASE),
        ("%LAST_PURCHASE_AT%", LAST_PURCHASE),
        ("last purchase at", LAST_PURCHASE),
        ("4", PLAN),
        (" Plan ", PLAN),
    ],
)
def test_fields_resolve_by_title_perstag_and_id(name: str, expected: CustomField) -> None:
    assert CATALOGUE.resolve(name) == expected


def test_unknown_field_resolves_to_none() -> None:
    assert CATALOGUE.resolve("Shoe size") is None
    assert CATALOGUE.resolve("99") is None


def test_a_name_matching_two_fields_is_an_error_naming_both() -> None:
    catalogue = FieldCatalogue(
        [CustomField("1", "Region", "text", "AREA"), CustomField("2", "Area", "text", "ZONE")]
    )
    with pytest.raises(ActiveCampaignValidationError) as error:
        catalogue.resolve("area")
    assert "'Region'" in str(error.value)
    assert "'Area'" in str(error.value)


def test_column_plan_lists_every_unknown_column_and_the_existing_fields() -> None:
    with pytest.raises(ActiveCampaignNotFoundError) as error:
        ColumnPlan.build(["email", "Shoe size", "Company", "hat"], CATALOGUE)
    message = str(error.value)
    assert "'Shoe size'" in message
    assert "'hat'" in message
    assert "'Company' (%COMPANY%, id 1, text)" in message
    assert "Nothing was written" in message


def test_column_plan_needs_an_email_column() -> None:
    with pytest.raises(ActiveCampaignValidationError, match="email"):
        ColumnPlan.build(["first_name", "Company"], CATALOGUE)


def test_a_tags_column_that_is_not_there_is_an_error() -> None:
    with pytest.raises(
        ActiveCampaignValidationError, match="tags_column 'segments' is not one of the columns"
    ):
        ColumnPlan.build(["email", "Segments"], CATALOGUE, tags_column="segments")


def test_field_map_renames_and_drops_columns() -> None:
    plan = ColumnPlan.build(
        ["E-mail", "Firma", "internal_id"],
        CATALOGUE,
        field_map={"E-mail": "email", "Firma": "%COMPANY%", "internal_id": None},
    )
    assert plan.targets["E-mail"].attribute == "email"
    assert plan.targets["Firma"].custom == COMPANY
    assert plan.targets["internal_id"].kind == "ignore"


# --------------------------------------------------------------------------------------------------
# Value formats
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(1990, 1, 2), "1990-01-02"),
        (datetime(1990, 1, 2, 23, 30), "1990-01-02"),
        ("1990-01-02", "1990-01-02"),
        ("1990-01-02T10:00:00+02:00", "1990-01-02"),
        ("1990-01-02 10:00", "1990-01-02"),
    ],
)
def test_dates_are_written_yyyy_mm_dd(value: Any, expected: str) -> None:
    assert format_field_value(BIRTHDAY, value) == expected


@pytest.mark.parametrize("value", ["02/01/1990", "1990-02-30", "10:00", 19900102, "yesterday"])
def test_values_that_are_not_dates_are_refused(value: Any) -> None:
    with pytest.raises(ValueFormatError):
        format_field_value(BIRTHDAY, value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2020, 5, 19, 2, 45, tzinfo=timezone(timedelta(hours=-5))), "2020-05-19T02:45:00-05:00"),
        (datetime(2020, 5, 19, 7, 45, 12, 999), "2020-05-19T07:45:12+00:00"),
        ("2020-05-19T02:45:00-05:00", "2020-05-19T02:45:00-05:00"),
        ("2020-05-19 07:45", "2020-05-19T07:45:00+00:00"),
        (date(2020, 5, 19), "2020-05-19T00:00:00+00:00"),
    ],
)
def test_datetimes_are_iso_with_an_offset(value: Any, expected: str) -> None:
    assert format_field_value(LAST_PURCHASE, value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["Python", "Airflow"], "||Python||Airflow||"),
        (("python",), "||Python||"),
        ("Data", "||Data||"),
        ("||Python||Data||", "||Python||Data||"),
        ([], ""),
    ],
)
def test_multi_value_fields_use_double_pipes_and_the_accounts_spelling(value: Any, expected: str) -> None:
    assert format_field_value(INTERESTS, value) == expected


def test_options_outside_the_fields_options_are_refused_with_the_allowed_ones() -> None:
    with pytest.raises(ValueFormatError, match=r"'Cobol' is not an option of field 'Interests'.*'Python'"):
        format_field_value(INTERESTS, ["Python", "Cobol"])


def test_single_option_fields_take_one_option() -> None:
    assert format_field_value(PLAN, "pro") == "Pro"
    assert format_field_value(PLAN, ["Free"]) == "Free"
    with pytest.raises(ValueFormatError, match="takes one option"):
        format_field_value(PLAN, ["Free", "Pro"])


@pytest.mark.parametrize(
    ("value", "expected"), [(12, "12"), (12.0, "12"), (12.5, "12.5"), (Decimal("3.10"), "3.10"), (" 7 ", "7")]
)
def test_numbers(value: Any, expected: str) -> None:
    assert format_field_value(LTV, value) == expected


@pytest.mark.parametrize("value", ["twelve", float("nan"), float("inf"), [1]])
def test_non_numbers_are_refused(value: Any) -> None:
    with pytest.raises(ValueFormatError):
        format_field_value(LTV, value)


def test_none_leaves_a_field_untouched_and_text_takes_scalars() -> None:
    assert format_field_value(COMPANY, None) is None
    assert format_field_value(COMPANY, "ACME") == "ACME"
    assert format_field_value(COMPANY, 42) == "42"
    assert format_field_value(COMPANY, True) == "1"
    with pytest.raises(ValueFormatError, match="dict"):
        format_field_value(COMPANY, {"a": 1})


@pytest.mark.parametrize(
    ("email", "valid"),
    [
        ("ann@example.com", True),
        ("ann.lee+tag@mail.example.co.uk", True),
        ("ann@example", False),
        ("ann example@example.com", False),
        ("o'brien@example.com", True),  # the rules are in emails.py (tests/unit/test_emails.py)
        ("jörg@example.de", True),
        ("a..b@example.com", False),
        ("@example.com", False),
        ("ann@@example.com", False),
        ("", False),
    ],
)
def test_email_check(email: str, valid: bool) -> None:
    assert is_valid_email(email) is valid


# --------------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------------


def builder(**kwargs: Any) -> ContactBuilder:
    columns = ["email", "first_name", "Company", "%BIRTHDAY%", "5", "tags"]
    plan = ColumnPlan.build(columns, CATALOGUE, tags_column="tags")
    return ContactBuilder(plan, **kwargs)


def test_a_record_becomes_a_bulk_import_contact() -> None:
    contact = builder(subscribe_list_ids=["1"], unsubscribe_list_ids=["3"], tags=["customer"]).build(
        7,
        {
            "email": " Ann@Example.com ",
            "first_name": "Ann",
            "Company": "ACME",
            "%BIRTHDAY%": date(1990, 1, 2),
            "5": ["python"],
            "tags": "vip, Customer ,",
        },
    )
    assert contact.row == 7
    assert contact.email == "Ann@Example.com"
    assert contact.body == {
        "email": "Ann@Example.com",
        "first_name": "Ann",
        "fields": [
            {"id": 1, "value": "ACME"},
            {"id": 2, "value": "1990-01-02"},
            {"id": 5, "value": "||Python||"},
        ],
        "tags": ["customer", "vip"],
        "subscribe": [{"listid": 1}],
        "unsubscribe": [{"listid": 3}],
    }
    assert contact.size == len(json.dumps(contact.body))
    assert contact.sync_payload() == {
        "contact": {
            "email": "Ann@Example.com",
            "firstName": "Ann",
            "fieldValues": [
                {"field": "1", "value": "ACME"},
                {"field": "2", "value": "1990-01-02"},
                {"field": "5", "value": "||Python||"},
            ],
        }
    }


def test_none_values_are_left_out_so_fields_stay_untouched() -> None:
    contact = builder().build(1, {"email": "a@example.com", "first_name": None, "Company": None})
    assert contact.body == {"email": "a@example.com"}


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [
        ({"first_name": "No email"}, "email", "no email address"),
        ({"email": "not-an-email"}, "email", "is not a valid email address"),
        ({"email": "a@example.com", "%BIRTHDAY%": "31/12/1990"}, "%BIRTHDAY%", "is not a date"),
        ({"email": "a@example.com", "5": ["Cobol"]}, "5", "is not an option"),
    ],
)
def test_invalid_records_are_rejected_with_row_field_and_reason(
    record: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(RecordRejected) as rejected:
        builder().build(12, record)
    assert rejected.value.row == 12
    assert rejected.value.field == field
    assert reason in rejected.value.reason
    if "email" in record:
        assert rejected.value.email == record["email"]


def test_a_column_first_seen_mid_run_is_rejected_not_guessed() -> None:
    with pytest.raises(RecordRejected, match="unknown field 'Shoe size'"):
        builder().build(3, {"email": "a@example.com", "Shoe size": 44})


def test_a_contact_bigger_than_one_request_is_rejected() -> None:
    plan = ColumnPlan.build(["email", "Company"], CATALOGUE)
    with pytest.raises(RecordRejected, match="bytes; one bulk-import request must stay under 400,000"):
        ContactBuilder(plan).build(1, {"email": "a@example.com", "Company": "x" * MAX_IMPORT_BYTES})


# --------------------------------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------------------------------


def prepared(row: int, padding: int = 0) -> PreparedContact:
    body = {"email": f"user{row}@example.com", "first_name": "é" * padding}
    return PreparedContact(row, body["email"], body, serialized_size(body))


def test_batches_hold_at_most_250_contacts() -> None:
    batches = BatchBuilder()
    closed = [batch for row in range(1, 552) for batch in batches.add(prepared(row))]
    last = batches.flush()
    assert [len(b) for b in closed] == [250, 250]
    assert last is not None
    assert len(last) == 51
    assert [c.row for c in closed[1].contacts][:2] == [251, 252]


def test_batch_size_is_measured_on_the_body_as_sent() -> None:
    # Non-ASCII text is sent escaped (\\u00e9: 6 bytes per character), as requests serialises it.
    batches = BatchBuilder()
    closed = [batch for row in range(1, 40) for batch in batches.add(prepared(row, padding=5_000))]
    last = batches.flush()
    assert last is not None
    for batch in [*closed, last]:
        sent = json.dumps(batch.body()).encode("utf-8")
        assert batch.size == len(sent) == import_body_size(c.size for c in batch.contacts)
        assert len(sent) <= MAX_IMPORT_BYTES
    # Each contact is ~30 kB, so a batch closes at 13 contacts, well before 250.
    assert [len(b) for b in closed] == [13, 13]


def test_batch_size_must_be_within_the_importers_limit() -> None:
    with pytest.raises(ValueError, match="between 1 and 250"):
        BatchBuilder(max_contacts=251)
