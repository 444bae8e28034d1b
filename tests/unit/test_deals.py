"""DealUpserter against an in-memory account: keys read first, ambiguous creates read back, values by rule."""

from __future__ import annotations

import itertools
import tempfile
from typing import Any

import pytest

from airflow_provider_activecampaign.deals.sync import DealCreateUnresolvedError, DealUpserter
from airflow_provider_activecampaign.exceptions import ActiveCampaignAmbiguousWriteError
from airflow_provider_activecampaign.records.failures import RecordRejected
from airflow_provider_activecampaign.records.journal import WriteJournal, WriteUnknown


class FakeDealsHook:
    """Just enough of the documented deal endpoints; ``faults`` makes POST /deals fail ambiguously."""

    def __init__(self) -> None:
        self.ids = itertools.count(100)
        self.data: dict[str, list[dict[str, Any]]] = {
            "dealCustomFieldMeta": [
                {"id": "1", "fieldLabel": "External ID", "fieldType": "text"},
                {"id": "2", "fieldLabel": "Plan", "fieldType": "dropdown", "fieldOptions": ["Pro", "Team"]},
                {"id": "3", "fieldLabel": "Renewal", "fieldType": "date"},
            ],
            "dealGroups": [{"id": "1", "title": "Sales", "currency": "eur"}],
            "dealStages": [
                {"id": "10", "title": "Qualified", "group": "1"},
                {"id": "11", "title": "Won", "group": "1"},
            ],
            "users": [{"id": "7", "username": "ann", "email": "ann@example.com"}],
            "deals": [],
            "dealCustomFieldData": [],
            "accounts": [{"id": "5", "name": "ACME"}],
        }
        self.contacts = {"c1@example.com": "41"}
        self.calls: list[tuple[str, str]] = []
        #: Queue of "after" (applied, then fails) or "before" (fails, not applied) for POST /deals.
        self.faults: list[str] = []

    def paginate(self, endpoint: str, *, key: str, params: Any = None) -> Any:
        self.calls.append(("GET", endpoint))
        items = list(self.data[endpoint])
        if endpoint == "deals" and params and "filters[title]" in params:
            items = [d for d in items if params["filters[title]"].lower() in d["title"].lower()]
        return iter(items)

    def get(self, endpoint: str, params: Any = None) -> Any:
        self.calls.append(("GET", endpoint))
        assert endpoint == "dealCustomFieldData"
        wanted = str(params["filters[dealId]"])
        return {"dealCustomFieldData": [d for d in self.data[endpoint] if str(d["dealId"]) == wanted]}

    def get_contact_by_email(self, email: str) -> dict[str, Any] | None:
        self.calls.append(("GET", "contacts"))
        found = self.contacts.get(email.lower())
        return {"id": found, "email": email} if found else None

    def post(self, endpoint: str, json: Any = None, **_: Any) -> Any:
        self.calls.append(("POST", endpoint))
        fault = self.faults.pop(0) if self.faults else None
        if fault == "before":
            raise ActiveCampaignAmbiguousWriteError("ActiveCampaign failed on POST /deals (HTTP 500)")
        deal = {k: v for k, v in json["deal"].items() if k != "fields"}
        deal = {**{k: str(v) for k, v in deal.items()}, "id": str(next(self.ids))}
        self.data["deals"].append(deal)
        for item in json["deal"].get("fields", []):
            self._store(deal["id"], item)
        if fault == "after":
            raise ActiveCampaignAmbiguousWriteError("The connection failed after POST /deals was sent")
        return {"deal": deal}

    def put(self, endpoint: str, json: Any = None) -> Any:
        self.calls.append(("PUT", endpoint))
        deal_id = endpoint.split("/")[1]
        deal = next(d for d in self.data["deals"] if d["id"] == deal_id)
        deal.update({k: str(v) for k, v in json["deal"].items() if k != "fields"})
        for item in json["deal"].get("fields", []):
            self._store(deal_id, item)
        return {"deal": deal}

    def _store(self, deal_id: str, item: dict[str, Any]) -> None:
        rows = self.data["dealCustomFieldData"]
        for row in rows:
            if row["dealId"] == int(deal_id) and row["customFieldId"] == item["customFieldId"]:
                row["fieldValue"] = item["fieldValue"]
                return
        rows.append(
            {
                "id": str(next(self.ids)),
                "dealId": int(deal_id),
                "customFieldId": item["customFieldId"],
                "fieldValue": item["fieldValue"],
            }
        )

    def writes(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[0] != "GET"]


RECORD = {
    "external_id": "inv-1",
    "title": "ACME renewal",
    "value": 45678,
    "pipeline": "Sales",
    "stage": "Qualified",
    "contact": "c1@example.com",
    "Plan": "pro",
}


def _upserter(hook: FakeDealsHook, record: dict[str, Any] = RECORD, **kwargs: Any) -> DealUpserter:
    # settle 0: a read-back right after an ambiguous create may count "not found" as "not applied"
    # (the in-memory account applies at once; the settle rule is tested in test_journal.py and on
    # the emulator's late-apply fault in tests/integration/test_deals_sync.py).
    kwargs.setdefault("journal", WriteJournal(tempfile.mkdtemp(prefix="deals-journal-"), "t", settle=0))
    upserter = DealUpserter(hook, key_field="External ID", sleep=lambda _: None, **kwargs)  # type: ignore[arg-type]
    upserter.prepare(list(record))
    return upserter


def test_a_new_key_creates_one_deal_with_its_key_in_the_same_call() -> None:
    hook = FakeDealsHook()
    action, deal_id = _upserter(hook).upsert(RECORD)
    assert action == "created"
    assert hook.writes() == [("POST", "deals")]
    (deal,) = hook.data["deals"]
    assert (deal["value"], deal["currency"], deal["group"], deal["stage"], deal["contact"]) == (
        "45678",
        "eur",  # the pipeline's currency
        "1",
        "10",
        "41",
    )
    stored = {(d["customFieldId"], d["fieldValue"]) for d in hook.data["dealCustomFieldData"]}
    assert stored == {(1, "inv-1"), (2, "Pro")}
    assert deal_id == deal["id"]


def test_a_rerun_finds_the_deal_by_key_and_writes_nothing_when_nothing_changed() -> None:
    hook = FakeDealsHook()
    _upserter(hook).upsert(RECORD)
    second = _upserter(hook)
    before = len(hook.writes())
    assert second.upsert(RECORD)[0] == "unchanged"
    assert len(hook.writes()) == before
    assert second.upsert({**RECORD, "value": 50000, "Plan": "Team"})[0] == "updated"
    assert hook.writes()[-1] == ("PUT", f"deals/{hook.data['deals'][0]['id']}")
    assert len(hook.data["deals"]) == 1
    assert hook.data["deals"][0]["value"] == "50000"


def test_an_ambiguous_create_that_applied_is_read_back_not_resent() -> None:
    hook = FakeDealsHook()
    hook.faults = ["after"]
    upserter = _upserter(hook)
    action, deal_id = upserter.upsert(RECORD)
    assert action == "created"
    assert len(hook.data["deals"]) == 1
    assert hook.writes() == [("POST", "deals")]
    assert upserter.tally.recovered == 1
    assert deal_id == hook.data["deals"][0]["id"]


def test_an_ambiguous_create_that_did_not_apply_is_sent_again_after_the_read_back() -> None:
    hook = FakeDealsHook()
    hook.faults = ["before"]
    upserter = _upserter(hook)
    assert upserter.upsert(RECORD)[0] == "created"
    assert len(hook.data["deals"]) == 1
    assert hook.writes() == [("POST", "deals"), ("POST", "deals")]
    assert upserter.tally.recovered == 0


def test_an_unresolved_create_gives_up_without_a_third_post() -> None:
    hook = FakeDealsHook()
    hook.faults = ["before", "before", "before"]
    with pytest.raises(DealCreateUnresolvedError, match=r"cannot\s+create a second deal"):
        _upserter(hook).upsert(RECORD)
    assert hook.writes() == [("POST", "deals"), ("POST", "deals")]
    assert hook.data["deals"] == []


def test_the_read_back_ignores_a_deal_with_the_same_title_and_another_key() -> None:
    hook = FakeDealsHook()
    _upserter(hook).upsert({**RECORD, "external_id": "other"})
    hook.faults = ["before"]
    upserter = _upserter(hook)
    upserter.upsert(RECORD)
    assert sorted(d["fieldValue"] for d in hook.data["dealCustomFieldData"] if d["customFieldId"] == 1) == [
        "inv-1",
        "other",
    ]


def test_an_ambiguous_create_not_found_before_it_settles_is_unknown_and_not_resent() -> None:
    hook = FakeDealsHook()
    hook.faults = ["before"]
    journal = WriteJournal(tempfile.mkdtemp(prefix="deals-journal-"), "t", settle=600)
    with pytest.raises(WriteUnknown, match="was sent once") as caught:
        _upserter(hook, journal=journal).upsert(RECORD)
    assert caught.value.sent == 1
    assert hook.writes() == [("POST", "deals")]
    # The next try in the same scope does not send it either while it may still apply.
    with pytest.raises(WriteUnknown):
        _upserter(hook, journal=WriteJournal(journal.root, "t", settle=600)).upsert(RECORD)
    assert hook.writes() == [("POST", "deals")]


def test_two_records_with_one_key_make_one_deal() -> None:
    hook = FakeDealsHook()
    upserter = _upserter(hook)
    upserter.upsert(RECORD)
    assert upserter.upsert({**RECORD, "stage": "Won"})[0] == "updated"
    assert len(hook.data["deals"]) == 1
    assert hook.data["deals"][0]["stage"] == "11"


def test_a_key_held_by_two_deals_is_refused_not_guessed() -> None:
    hook = FakeDealsHook()
    for deal_id in ("1", "2"):
        hook.data["deals"].append({"id": deal_id, "title": "x"})
        hook.data["dealCustomFieldData"].append(
            {"id": f"9{deal_id}", "dealId": int(deal_id), "customFieldId": 1, "fieldValue": "inv-1"}
        )
    with pytest.raises(RecordRejected, match="deals 1, 2 all hold the key 'inv-1'"):
        _upserter(hook).upsert(RECORD)
    assert hook.writes() == []


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (45678, "minor", "45678"),
        ("45678", "minor", "45678"),
        ("456.78", "major", "45678"),
        (12, "major", "1200"),
    ],
)
def test_value_rules(value: Any, unit: str, expected: str) -> None:
    hook = FakeDealsHook()
    _upserter(hook, value_unit=unit).upsert({**RECORD, "value": value})
    assert hook.data["deals"][0]["value"] == expected


@pytest.mark.parametrize(
    ("value", "unit", "reason"),
    [
        (456.78, "minor", "not a whole number of minor units"),
        (-5, "minor", "negative"),
        ("4.567", "major", "fraction of a cent"),
        ("lots", "minor", "not an amount"),
    ],
)
def test_bad_values_reject_the_record(value: Any, unit: str, reason: str) -> None:
    hook = FakeDealsHook()
    with pytest.raises(RecordRejected, match=reason) as caught:
        _upserter(hook, value_unit=unit).upsert({**RECORD, "value": value})
    assert caught.value.field == "value"
    assert hook.writes() == []


def test_unknown_names_reject_the_record_naming_what_exists() -> None:
    hook = FakeDealsHook()
    upserter = _upserter(hook)
    with pytest.raises(
        RecordRejected, match="no stage 'Lost' in pipeline 'Sales'; existing: 'Qualified', 'Won'"
    ):
        upserter.upsert({**RECORD, "stage": "Lost"})
    with pytest.raises(RecordRejected, match=r"no contact with the email 'nobody@example\.com'"):
        upserter.upsert({**RECORD, "contact": "nobody@example.com"})
    with pytest.raises(RecordRejected, match="not one of its options"):
        upserter.upsert({**RECORD, "Plan": "Gold"})
    assert hook.writes() == []


def test_a_new_deal_without_contact_or_account_is_rejected_before_sending() -> None:
    hook = FakeDealsHook()
    record = {k: v for k, v in RECORD.items() if k != "contact"}
    with pytest.raises(RecordRejected, match="contact or account"):
        _upserter(hook, record).upsert(record)
    assert (
        _upserter(hook, {**record, "account": "ACME"}).upsert({**record, "account": "ACME"})[0] == "created"
    )
    assert hook.data["deals"][0]["account"] == "5"


def test_unknown_columns_and_a_missing_key_field_fail_before_any_write() -> None:
    hook = FakeDealsHook()
    with pytest.raises(ValueError, match="Unknown deal custom field 'Colour'"):
        _upserter(hook, {**RECORD, "Colour": "red"})
    with pytest.raises(ValueError, match="No deal custom field 'Order number'"):
        DealUpserter(hook, key_field="Order number").prepare(list(RECORD))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no key column 'external_id'"):
        DealUpserter(hook, key_field="External ID").prepare(["title"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no pipeline 'Support'"):
        _upserter(hook, pipeline="Support")
    assert hook.writes() == []
