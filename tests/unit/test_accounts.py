"""AccountUpserter on an in-memory account: by name or key, one account per contact, moves when asked."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_activecampaign.accounts.sync import AccountUpserter
from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignAmbiguousWriteError,
    ActiveCampaignValidationError,
)
from airflow_provider_activecampaign.records.failures import RecordRejected
from airflow_provider_activecampaign.records.journal import WriteJournal


class FakeAccountsHook:
    def __init__(self) -> None:
        self.ids = itertools.count(50)
        self.data: dict[str, list[dict[str, Any]]] = {
            "accountCustomFieldMeta": [
                {
                    "id": "1",
                    "fieldLabel": "Industry",
                    "fieldType": "dropdown",
                    "fieldOptions": ["Retail", "Software"],
                },
                {"id": "3", "fieldLabel": "Warehouse id", "fieldType": "text"},
            ],
            "accountCustomFieldData": [],
            "accounts": [{"id": "1", "name": "Old Co", "accountUrl": None}],
            "accountContacts": [{"id": "9", "contact": "71", "account": "1"}],
            "users": [{"id": "1", "username": "admin", "email": "admin@example.com"}],
        }
        self.contacts = {"a@example.com": "71", "b@example.com": "72"}
        self.calls: list[tuple[str, str]] = []
        self.faults: list[str] = []

    def paginate(self, endpoint: str, *, key: str, params: Any = None) -> Any:
        self.calls.append(("GET", endpoint))
        items = self.data[endpoint]
        if params and "search" in params:
            items = [a for a in items if params["search"].lower() in a["name"].lower()]
        return iter([dict(i) for i in items])

    def get(self, endpoint: str, params: Any = None) -> Any:
        self.calls.append(("GET", endpoint))
        wanted = params["filters[contact]"]
        return {"accountContacts": [a for a in self.data["accountContacts"] if a["contact"] == wanted]}

    def get_contact_by_email(self, email: str) -> Any:
        found = self.contacts.get(email.lower())
        return {"id": found} if found else None

    def post(self, endpoint: str, json: Any = None, **_: Any) -> Any:
        self.calls.append(("POST", endpoint))
        fault = self.faults.pop(0) if self.faults else None
        if endpoint == "accounts":
            body = json["account"]
            if any(a["name"].lower() == body["name"].lower() for a in self.data["accounts"]):
                raise ActiveCampaignValidationError("duplicate", field_errors=[{"code": "duplicate"}])
            account = {"id": str(next(self.ids)), "name": body["name"], "accountUrl": body.get("accountUrl")}
            self.data["accounts"].append(account)
            for item in body.get("fields", []):
                self.data["accountCustomFieldData"].append(
                    {"id": str(next(self.ids)), "accountId": int(account["id"]), **item}
                )
            if fault == "after":
                raise ActiveCampaignAmbiguousWriteError("lost")
            return {"account": account}
        link = json["accountContact"]
        if fault == "before":  # lost before ActiveCampaign applied it (or it applies later)
            raise ActiveCampaignAmbiguousWriteError("lost")
        if any(a["contact"] == str(link["contact"]) for a in self.data["accountContacts"]):
            raise ActiveCampaignValidationError("This contact is already associated with an account.")
        row = {"id": str(next(self.ids)), "contact": str(link["contact"]), "account": str(link["account"])}
        self.data["accountContacts"].append(row)
        if fault == "after":
            raise ActiveCampaignAmbiguousWriteError("lost")
        return {"accountContact": row}

    def put(self, endpoint: str, json: Any = None) -> Any:
        self.calls.append(("PUT", endpoint))
        account = next(a for a in self.data["accounts"] if a["id"] == endpoint.split("/")[1])
        account.update({k: v for k, v in json["account"].items() if k != "fields"})
        return {"account": account}

    def delete(self, endpoint: str) -> Any:
        self.calls.append(("DELETE", endpoint))
        self.data["accountContacts"] = [
            a for a in self.data["accountContacts"] if a["id"] != endpoint.split("/")[1]
        ]
        return {}

    def writes(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[0] != "GET"]


def _upserter(hook: FakeAccountsHook, columns: list[str], **kwargs: Any) -> tuple[AccountUpserter, list[Any]]:
    report: list[Any] = []
    upserter = AccountUpserter(hook, report=report.append, sleep=lambda _: None, **kwargs)  # type: ignore[arg-type]
    upserter.prepare(columns)
    return upserter, report


RECORD = {"name": "New Co", "url": "https://new.example", "Industry": "retail", "contacts": "b@example.com"}


def test_upserting_twice_writes_once() -> None:
    hook = FakeAccountsHook()
    first, _ = _upserter(hook, list(RECORD))
    assert first.upsert(RECORD)[0] == "created"
    writes = list(hook.writes())
    second, _ = _upserter(hook, list(RECORD))
    assert second.upsert(RECORD)[0] == "unchanged"
    assert second.links.already_linked == 1
    assert hook.writes() == writes == [("POST", "accounts"), ("POST", "accountContacts")]
    stored = [(d["customFieldId"], d["fieldValue"]) for d in hook.data["accountCustomFieldData"]]
    assert stored == [(1, "Retail")]


def test_a_contact_in_another_account_stays_unless_moving_is_asked() -> None:
    hook = FakeAccountsHook()
    upserter, report = _upserter(hook, ["name", "contacts"])
    upserter.upsert({"name": "New Co", "contacts": ["a@example.com", "nobody@example.com"]})
    assert [(r["email"], r["stage"]) for r in report] == [
        ("a@example.com", "left_in_other_account"),
        ("nobody@example.com", "not_found"),
    ]
    assert "'Old Co'" in report[0]["reason"]
    assert ("POST", "accountContacts") not in hook.writes()  # no request, so no 422 either

    mover, _ = _upserter(hook, ["name", "contacts"], move_contacts=True)
    mover.upsert({"name": "New Co", "contacts": ["a@example.com"]})
    assert mover.links.moved == 1
    assert hook.writes()[-2:] == [("DELETE", "accountContacts/9"), ("POST", "accountContacts")]
    (link,) = [a for a in hook.data["accountContacts"] if a["contact"] == "71"]
    assert link["account"] == next(a["id"] for a in hook.data["accounts"] if a["name"] == "New Co")


def test_an_ambiguous_create_is_read_back_by_name_not_resent() -> None:
    hook = FakeAccountsHook()
    hook.faults = ["after"]
    upserter, _ = _upserter(hook, ["name"])
    assert upserter.upsert({"name": "Lost Answer Co"})[0] == "created"
    assert [a["name"] for a in hook.data["accounts"]].count("Lost Answer Co") == 1
    assert hook.writes() == [("POST", "accounts")]
    assert upserter.tally.recovered == 1


def test_an_ambiguous_link_that_applied_is_read_back_not_resent(tmp_path: Path) -> None:
    hook = FakeAccountsHook()
    upserter, report = _upserter(hook, ["name", "contacts"], journal=WriteJournal(tmp_path, "t", settle=60))
    hook.faults = [None, "after"]  # the account's POST answers, the link's answer is lost
    upserter.upsert({"name": "New Co", "contacts": ["b@example.com"]})
    assert hook.writes() == [("POST", "accounts"), ("POST", "accountContacts")]
    assert [a["contact"] for a in hook.data["accountContacts"]].count("72") == 1
    assert (upserter.links.linked, upserter.links.unknown, report) == (1, 0, [])


def test_an_ambiguous_link_not_found_before_it_settles_is_unknown_and_not_resent(tmp_path: Path) -> None:
    """A read-back right after a lost answer proves nothing: ActiveCampaign may apply it seconds later."""
    hook = FakeAccountsHook()
    upserter, report = _upserter(hook, ["name", "contacts"], journal=WriteJournal(tmp_path, "t", settle=60))
    hook.faults = [None, "before"]
    upserter.upsert({"name": "New Co", "contacts": ["b@example.com"]})
    assert hook.writes() == [("POST", "accounts"), ("POST", "accountContacts")]
    assert upserter.links.unknown == 1
    (line,) = report
    assert (line["email"], line["stage"], line["sent"]) == ("b@example.com", "unknown", 1)
    assert "not sent again" in line["reason"]


def test_a_link_an_earlier_try_sent_is_read_back_by_the_retry_not_resent(tmp_path: Path) -> None:
    """Try 1 was killed after its link POST applied (intent on the journal, no outcome)."""
    hook = FakeAccountsHook()
    first, _ = _upserter(hook, ["name", "contacts"], journal=WriteJournal(tmp_path, "t", settle=60))
    first.upsert({"name": "New Co"})
    account_id = next(a["id"] for a in hook.data["accounts"] if a["name"] == "New Co")
    first.journal.intent("account_contacts", f"72:{account_id}", {}, deadline_seconds=65)
    hook.data["accountContacts"].append({"id": "80", "contact": "72", "account": account_id})
    retry = AccountUpserter(hook, report=[].append, journal=WriteJournal(tmp_path, "t", settle=60))  # type: ignore[arg-type]
    retry.prepare(["name", "contacts"])
    retry._associations = {}  # read before the late apply: the link is not in it
    retry.upsert({"name": "New Co", "contacts": ["b@example.com"]})
    assert ("POST", "accountContacts") not in hook.writes()
    assert retry.links.linked == 1


def test_a_custom_field_key_follows_a_rename_and_refuses_a_taken_name() -> None:
    hook = FakeAccountsHook()
    columns = ["name", "external_id"]
    first, _ = _upserter(hook, columns, key_field="Warehouse id")
    first.upsert({"name": "Acme", "external_id": "w-1"})
    renamed, _ = _upserter(hook, columns, key_field="Warehouse id")
    assert renamed.upsert({"name": "Acme Holdings", "external_id": "w-1"})[0] == "updated"
    assert [a["name"] for a in hook.data["accounts"]] == ["Old Co", "Acme Holdings"]
    with pytest.raises(RecordRejected, match="an account named 'Old Co' already exists"):
        renamed.upsert({"name": "Old Co", "external_id": "w-2"})


def test_bad_input_is_refused_clearly() -> None:
    hook = FakeAccountsHook()
    with pytest.raises(ValueError, match="no 'name' column"):
        _upserter(hook, ["title"])
    with pytest.raises(ValueError, match="Unknown account custom field 'Size'"):
        _upserter(hook, ["name", "Size"])
    upserter, _ = _upserter(hook, list(RECORD))
    with pytest.raises(RecordRejected, match="not one of its options"):
        upserter.upsert({**RECORD, "Industry": "Mining"})
    with pytest.raises(RecordRejected, match="name is empty"):
        upserter.upsert({**RECORD, "name": " "})
    assert hook.writes() == []
