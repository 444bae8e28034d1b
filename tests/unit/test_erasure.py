"""ContactEraser: only the listed contacts; dry run, cap, delete limit, verification, one audit each."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import pytest

from airflow_provider_activecampaign.contacts.erasure import ContactEraser, subject_emails
from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignError,
    ActiveCampaignNotFoundError,
    ActiveCampaignValidationError,
)
from airflow_provider_activecampaign.hooks.transport import TransportSettings, handle_response, prepare_call
from tests.helpers.fakes import API_KEY

WHO = {"dag_id": "gdpr", "run_id": "r1", "task_id": "erase", "try_number": 1, "map_index": -1}
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


class FakeContactsHook:
    def __init__(self, emails: list[str]) -> None:
        self.contacts = {str(i): email for i, email in enumerate(emails, start=1)}
        self.deleted: list[str] = []
        self.limit: int | None = None
        #: What the DELETE over the limit raises (default: the emulator's 422, as the hook raises it).
        self.refusal: Exception | None = None
        self.keep_after_delete = False
        #: GET /contacts?email= answers like a fuzzy search: every address containing the text.
        self.calls: list[str] = []

    def get(self, endpoint: str, params: Any = None) -> Any:
        self.calls.append(f"GET {endpoint}")
        if endpoint == "contacts":
            text = params["email"].lower()
            return {
                "contacts": [{"id": i, "email": e} for i, e in self.contacts.items() if text in e.lower()]
            }
        contact_id = endpoint.split("/")[1]
        if contact_id not in self.contacts:
            raise ActiveCampaignNotFoundError(f"No Result found for Subscriber with id {contact_id}")
        return {"contact": {"id": contact_id, "email": self.contacts[contact_id]}}

    def delete(self, endpoint: str) -> Any:
        self.calls.append(f"DELETE {endpoint}")
        contact_id = endpoint.split("/")[1]
        if self.limit is not None and len(self.deleted) >= self.limit:
            if self.refusal is not None:
                raise self.refusal
            raise ActiveCampaignValidationError(
                "ActiveCampaign rejected DELETE: Monthly contact delete limit reached"
            )
        if contact_id not in self.contacts:
            raise ActiveCampaignNotFoundError("No result found for contact with id 1")
        self.deleted.append(contact_id)
        if not self.keep_after_delete:
            del self.contacts[contact_id]
        return {}


def _run(
    hook: FakeContactsHook, emails: list[str], **kwargs: Any
) -> tuple[ContactEraser, list[dict[str, Any]]]:
    audit: list[dict[str, Any]] = []
    eraser = ContactEraser(hook, audit=audit.append, who=WHO, clock=lambda: NOW, **kwargs)  # type: ignore[arg-type]
    before = len(hook.calls)
    eraser.erase_all(emails)
    intents = [line for line in audit if line["result"] == "deleting"]
    # Each DELETE sent has its intent line, written before it (the outcome line follows).
    assert len(intents) == sum(1 for call in hook.calls[before:] if call.startswith("DELETE "))
    return eraser, [line for line in audit if line["result"] != "deleting"]


def test_only_exact_matches_are_deleted_and_verified() -> None:
    hook = FakeContactsHook(["ann@example.com", "joann@example.com", "ann@example.com.au", "bob@example.com"])
    eraser, audit = _run(hook, ["ANN@example.com", "nobody@example.com"])
    assert hook.deleted == ["1"]  # not joann@, not ann@…com.au, though the lookup returned them
    assert sorted(hook.contacts.values()) == ["ann@example.com.au", "bob@example.com", "joann@example.com"]
    assert [(a["subject"], a["contact_id"], a["result"]) for a in audit] == [
        ("ANN@example.com", "1", "deleted"),
        ("nobody@example.com", None, "not_found"),
    ]
    assert audit[0]["at"] == "2026-12-01T12:00:00+00:00"
    assert {k: audit[0][k] for k in WHO} == WHO
    assert "GET contacts/1" in hook.calls  # verified by reading it back
    assert eraser.tally.incomplete == 0


def test_a_dry_run_deletes_nothing_and_says_what_it_would_do() -> None:
    hook = FakeContactsHook(["ann@example.com", "bob@example.com"])
    _, audit = _run(hook, ["ann@example.com", "bob@example.com"], dry_run=True)
    assert hook.deleted == []
    assert not any(call.startswith("DELETE") for call in hook.calls)
    assert [a["result"] for a in audit] == ["would_delete", "would_delete"]
    assert all(a["dry_run"] is True for a in audit)


def test_the_cap_stops_deleting_and_audits_the_rest() -> None:
    emails = [f"user{i}@example.com" for i in range(5)]
    hook = FakeContactsHook(emails)
    eraser, audit = _run(hook, emails, max_deletes=2)
    assert len(hook.deleted) == 2
    assert [a["result"] for a in audit] == ["deleted", "deleted", "skipped_cap", "skipped_cap", "skipped_cap"]
    assert eraser.tally.incomplete == 3


def test_the_delete_limit_stops_the_run_after_the_first_refusal() -> None:
    emails = [f"user{i}@example.com" for i in range(4)]
    hook = FakeContactsHook(emails)
    hook.limit = 1
    _, audit = _run(hook, emails)
    assert [a["result"] for a in audit] == ["deleted", "skipped_limit", "skipped_limit", "skipped_limit"]
    assert sum(call.startswith("DELETE") for call in hook.calls) == 2  # not one refusal per subject


def test_a_rerun_is_idempotent_and_a_lost_delete_answer_counts_once_verified() -> None:
    hook = FakeContactsHook(["ann@example.com"])
    _run(hook, ["ann@example.com"])
    _, audit = _run(hook, ["ann@example.com"])
    assert [a["result"] for a in audit] == ["not_found"]
    assert hook.deleted == ["1"]


def test_a_contact_still_there_after_delete_is_unverified() -> None:
    hook = FakeContactsHook(["ann@example.com"])
    hook.keep_after_delete = True
    eraser, audit = _run(hook, ["ann@example.com"])
    assert audit[0]["result"] == "unverified"
    assert eraser.tally.incomplete == 1


def test_invalid_duplicate_and_hashed_subjects() -> None:
    hook = FakeContactsHook(["ann@example.com"])
    _, audit = _run(hook, ["not-an-email", "ann@example.com", "Ann@Example.com"], identify_by="sha256")
    assert [a["result"] for a in audit] == ["invalid", "deleted"]  # the duplicate gets no second record
    assert audit[1]["subject"] == hashlib.sha256(b"ann@example.com").hexdigest()
    assert "ann@example.com" not in str(audit[1])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a@x.com\nb@x.com, c@x.com", ["a@x.com", "b@x.com", "c@x.com"]),
        ([{"email": "a@x.com"}, "b@x.com", {"email": ""}], ["a@x.com", "b@x.com"]),
        (None, []),
    ],
)
def test_subject_lists(value: Any, expected: list[str]) -> None:
    assert subject_emails(value) == expected


#: The delete limit's answer is undocumented (docs/emulator.md, "Monthly delete limit"): the
#: emulator's 422, and the other plausible answers, each as the hook's transport classifies it.
_LIMIT_BODY = {
    "errors": [
        {
            "title": "Monthly contact delete limit reached",
            "detail": "You cannot delete more contacts until your next billing period.",
            "code": "delete_limit_reached",
        }
    ]
}


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (422, _LIMIT_BODY),  # the emulator's choice
        (400, _LIMIT_BODY),
        (403, _LIMIT_BODY),  # a refusal, not a bad key
        (403, {"message": "Monthly contact delete limit reached"}),
        (429, _LIMIT_BODY),  # still 429 once the hook's retries are spent
    ],
    ids=["422", "400", "403-errors", "403-message", "429"],
)
def test_the_delete_limit_stops_the_run_however_it_is_answered(status: int, body: Any) -> None:
    settings = TransportSettings(base_url="https://acct.api-us1.com", api_key=API_KEY)
    call = prepare_call(settings, "DELETE", "contacts/2")
    with pytest.raises(ActiveCampaignError) as raised:
        handle_response(call, status, {}, json.dumps(body))
    emails = [f"user{i}@example.com" for i in range(4)]
    hook = FakeContactsHook(emails)
    hook.limit = 1
    hook.refusal = raised.value

    eraser, audit = _run(hook, emails)

    assert [a["result"] for a in audit] == ["deleted", "skipped_limit", "skipped_limit", "skipped_limit"]
    assert sum(call.startswith("DELETE") for call in hook.calls) == 2  # one refusal, not one per subject
    assert eraser.tally.skipped_limit == 3
    assert "limit" in audit[1]["reason"].lower()
