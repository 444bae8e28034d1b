"""What the automation operators accept as ``contacts`` and ``contact_automation_ids``."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_activecampaign.automations.enrolments import parse_contact_automation_ids
from airflow_provider_activecampaign.contacts.refs import ContactRef, parse_contacts


def refs(value: Any) -> list[tuple[str, str | None, str | None]]:
    return [(r.key, r.email, r.contact_id) for r in parse_contacts(value).refs]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            ["Ann@Example.com", "12", 13],
            [("Ann@Example.com", "ann@example.com", None), ("12", None, "12"), ("13", None, "13")],
        ),
        (
            "ann@example.com, 12;\n13",
            [("ann@example.com", "ann@example.com", None), ("12", None, "12"), ("13", None, "13")],
        ),
        ('["ann@example.com", 12]', [("ann@example.com", "ann@example.com", None), ("12", None, "12")]),
        ("['ann@example.com', '12']", [("ann@example.com", "ann@example.com", None), ("12", None, "12")]),
        (
            {"emails": ["ann@example.com"], "contact_ids": [7]},
            [("ann@example.com", "ann@example.com", None), ("7", None, "7")],
        ),
        (
            {"contacts": [{"email": "ann@example.com", "id": 999}, {"contact_id": "8"}]},
            [("ann@example.com", "ann@example.com", None), ("8", None, "8")],
        ),
        ({"email": "ann@example.com"}, [("ann@example.com", "ann@example.com", None)]),
        (
            {
                "enrolled": {"ann@example.com": "5"},
                "skipped_already_active": ["9"],
                "skipped_previously_enrolled": ["10"],
                "not_found": ["x@y.com"],
                "failed": [],
            },
            [("ann@example.com", "ann@example.com", None), ("9", None, "9")],
        ),
        (
            (c for c in ["12", "12", "ann@example.com", "ANN@example.com"]),
            [("12", None, "12"), ("ann@example.com", "ann@example.com", None)],
        ),
        (12, [("12", None, "12")]),
        ("", []),
        ([], []),
    ],
)
def test_accepted_shapes(value: Any, expected: list[tuple[str, str | None, str | None]]) -> None:
    assert refs(value) == expected


def test_a_record_with_an_email_is_never_trusted_by_its_id() -> None:
    """A warehouse row's ``id`` is the warehouse's key, not an ActiveCampaign contact id."""
    assert parse_contacts([{"email": "ann@example.com", "id": 1}]).refs == [
        ContactRef(key="ann@example.com", email="ann@example.com")
    ]


def test_bad_items_are_reported_with_a_reason_and_the_rest_kept() -> None:
    parsed = parse_contacts(
        ["ann@example.com", "broken@", "bob", 0, -3, 2.5, True, None, {"name": "x"}, "ann@example.com"]
    )

    assert [r.key for r in parsed.refs] == ["ann@example.com"]
    assert parsed.invalid == [
        {
            "contact": "broken@",
            "reason": "'broken@' is not a valid email address: there must be something after the @-sign",
        },
        {
            "contact": "bob",
            "reason": "neither an email address nor a contact id (ids are positive whole numbers)",
        },
        {
            "contact": "0",
            "reason": "neither an email address nor a contact id (ids are positive whole numbers)",
        },
        {
            "contact": "-3",
            "reason": "neither an email address nor a contact id (ids are positive whole numbers)",
        },
        {"contact": "2.5", "reason": "a contact id must be a whole number"},
        {"contact": "True", "reason": "neither an email address nor a contact id"},
        {"contact": "None", "reason": "neither an email address nor a contact id"},
        {"contact": '{"name": "x"}', "reason": "the record has no 'email' and no 'contact_id'"},
    ]
    assert parsed.total == 9


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "contacts is required"),
        ({"submitted": 10, "succeeded": 9}, "dict with keys 'submitted', 'succeeded'"),
        (object(), "must be a list of emails or contact ids, got object"),
    ],
)
def test_a_wrong_shape_is_refused_with_what_to_pass(value: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        parse_contacts(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["3", 4, "3"], ["3", "4"]),
        ("3, 4 5", ["3", "4", "5"]),
        ("[3, 4]", ["3", "4"]),
        ({"enrolled": {"a@b.co": "7", "12": "8"}, "skipped_already_active": []}, ["7", "8"]),
        ({"contact_automation_ids": ["9"]}, ["9"]),
        (10, ["10"]),
    ],
)
def test_contact_automation_ids(value: Any, expected: list[str]) -> None:
    assert parse_contact_automation_ids(value) == expected


@pytest.mark.parametrize(
    ("value", "message"), [(None, "required"), (["x"], "'x'"), ({"a": 1}, "keys 'a'"), ([True], "'True'")]
)
def test_bad_contact_automation_ids(value: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        parse_contact_automation_ids(value)
