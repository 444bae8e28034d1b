"""One custom-field value rule for contacts and deals (issue 20): each test shows an old disagreement gone.

Before the records floor, contacts (``contacts/mapping.py``) and deals/accounts
(``common/customfields.py``) formatted values by two models: a boolean was ``"1"`` for a contact and
refused (number) or ``"True"`` (text) for a deal; a naive datetime was UTC for a contact and had no
offset for a deal; a deal took any string whose first 10 characters were a date. Each test writes
the same value through the contact builder and through the deal upserter (the real code paths, on
an in-memory account) and expects the same stored text, or the same refusal.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from airflow_provider_activecampaign.contacts import mapping as contacts_mapping
from airflow_provider_activecampaign.contacts.mapping import ColumnPlan, ContactBuilder, FieldCatalogue
from airflow_provider_activecampaign.exports import runner as exports_runner
from airflow_provider_activecampaign.records import fields, upsert
from airflow_provider_activecampaign.records.failures import RecordRejected
from airflow_provider_activecampaign.records.fields import CustomField
from tests.unit.test_deals import RECORD, FakeDealsHook, _upserter

#: The same four fields on a contact and on a deal (deal field ids 4..7; 1..3 are the fake's own).
KINDS = {"Note": "text", "Score": "number", "Renewal": "date", "Seen": "datetime"}
DEAL_IDS = {"Note": 4, "Score": 5, "Renewal": 3, "Seen": 7}


def _contact_value(column: str, value: Any) -> str:
    """The text the contact builder puts in the bulk-import body for ``column``."""
    catalogue = FieldCatalogue(
        [CustomField(str(n), title, kind, title.upper()) for n, (title, kind) in enumerate(KINDS.items(), 1)]
    )
    plan = ColumnPlan.build(["email", column], catalogue)
    contact = ContactBuilder(plan).build(1, {"email": "ann@example.com", column: value})
    (field,) = contact.body["fields"]
    return str(field["value"])


def _deal_value(column: str, value: Any) -> str:
    """The ``fieldValue`` the deal upserter stores for ``column`` on a new deal."""
    hook = FakeDealsHook()
    hook.data["dealCustomFieldMeta"] += [
        {"id": "4", "fieldLabel": "Note", "fieldType": "text"},
        {"id": "5", "fieldLabel": "Score", "fieldType": "number"},
        {"id": "7", "fieldLabel": "Seen", "fieldType": "datetime"},
    ]
    record = {**RECORD, column: value}
    _upserter(hook, record).upsert(record)
    stored = {d["customFieldId"]: d["fieldValue"] for d in hook.data["dealCustomFieldData"]}
    return str(stored[DEAL_IDS[column]])


def _refusals(column: str, value: Any) -> tuple[str, str]:
    """The reason each resource gives when it refuses ``value`` for ``column``."""
    reasons = []
    for write in (_contact_value, _deal_value):
        with pytest.raises(RecordRejected) as rejected:
            write(column, value)
        assert rejected.value.field in (column, column.upper())
        reasons.append(rejected.value.reason)
    return reasons[0], reasons[1]


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [("Note", True, "1"), ("Note", False, "0"), ("Score", True, "1"), ("Score", False, "0")],
)
def test_booleans_are_1_and_0_for_contacts_and_deals_alike(column: str, value: bool, expected: str) -> None:
    """Was: ``"1"``/``"0"`` for a contact; for a deal, ``"True"`` in a text field and refused in a number."""
    assert _contact_value(column, value) == expected
    assert _deal_value(column, value) == expected


def test_naive_datetimes_are_utc_for_contacts_and_deals_alike() -> None:
    """Was: UTC with an offset for a contact, no offset (the account's guess) for a deal."""
    naive = datetime(2024, 5, 1, 9, 30, 15, 123)
    assert _contact_value("Seen", naive) == "2024-05-01T09:30:15+00:00"
    assert _deal_value("Seen", naive) == "2024-05-01T09:30:15+00:00"
    assert _contact_value("Seen", "2024-05-01 09:30") == _deal_value("Seen", "2024-05-01 09:30")


@pytest.mark.parametrize("value", ["2024-05-01garbage", "2024-05-01/2024-06-01", "2024-02-30"])
def test_a_string_that_only_starts_like_a_date_is_refused_for_contacts_and_deals_alike(value: str) -> None:
    """Was: a deal took any string whose first 10 characters were a date; a contact refused it."""
    contact_reason, deal_reason = _refusals("Renewal", value)
    assert contact_reason == deal_reason
    assert repr(value) in deal_reason


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01", "2024-05-01"),
        ("2024-05-01T23:30:00+02:00", "2024-05-01"),
        ("2024-05-01 10:00", "2024-05-01"),
    ],
)
def test_dates_are_written_the_same_for_contacts_and_deals(value: str, expected: str) -> None:
    assert _contact_value("Renewal", value) == expected
    assert _deal_value("Renewal", value) == expected


def test_multi_value_types_are_defined_once() -> None:
    """Was: defined three times (contacts: listbox/checkbox; deals: multiselect/checkbox; exports)."""
    assert contacts_mapping.MULTI_VALUE_TYPES is fields.MULTI_VALUE_TYPES
    assert exports_runner.MULTI_VALUE_TYPES is fields.MULTI_VALUE_TYPES
    assert {"listbox", "checkbox", "multiselect"} == fields.MULTI_VALUE_TYPES
    listbox = CustomField("1", "Interests", "listbox", "INTERESTS", ("Python", "Data"))
    multiselect = CustomField("2", "Interests", "multiselect", "", ("Python", "Data"))
    for value in (["python", "Data"], "||Python||Data||", "Python||data"):
        assert fields.format_field_value(listbox, value) == "||Python||Data||"
        deal_value = fields.format_value(multiselect, value)
        assert deal_value is not None
        assert deal_value.value == "||Python||Data||"


def test_there_is_one_record_rejected_and_one_field_model() -> None:
    assert contacts_mapping.RecordRejected is RecordRejected
    assert upsert.RecordRejected is RecordRejected
    assert contacts_mapping.CustomField is CustomField
    assert contacts_mapping.ValueFormatError is fields.FieldValueError
    rejected = RecordRejected("Renewal", "'x' is not a date", row=3, email="a@b.co")
    assert str(rejected) == "row 3: Renewal: 'x' is not a date"
    assert rejected.as_failure() == {
        "row": 3,
        "email": "a@b.co",
        "field": "Renewal",
        "reason": "'x' is not a date",
    }


def test_an_update_sends_only_what_differs_and_nothing_when_all_is_stored() -> None:
    """One update rule for deals and accounts: attributes that changed, field values that differ."""
    renewal = fields.format_value(CustomField("3", "Renewal", "date"), "2025-01-31")
    score = fields.format_value(CustomField("5", "Score", "number"), 7)
    assert renewal is not None
    assert score is not None
    stored = {"3": ("d1", "2025-01-31T00:00:00-05:00"), "5": ("d2", "7.00")}
    assert fields.update_body({}, [renewal, score], stored) is None
    update = fields.update_body({"title": "New"}, [renewal, score], {"3": ("d1", "2025-01-31")})
    assert update == ({"title": "New", "fields": [{"customFieldId": 5, "fieldValue": "7"}]}, [score])
