"""The contacts' assumed behaviours (``assumed.ASSUMED_BEHAVIOURS``), each on (default) and off.

Off, the emulator does only what the reference promises, so a provider test run that way shows
whether the provider depends on the assumption (docs/emulator.md, "Assumed behaviours").
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture


def _contacts(api: httpx.Client, **params: Any) -> httpx.Response:
    return api.get("contacts", params={"limit": 100, **params})


def _seed_three(api: httpx.Client, emulator: EmulatorFixture) -> list[str]:
    """Three contacts created a minute apart, with a field value each; their ids, oldest first."""
    ids = []
    for n in range(3):
        body = {"email": f"c{n}@example.com", "fieldValues": [{"field": 1, "value": f"V{n}"}]}
        ids.append(api.post("contact/sync", json={"contact": body}).json()["contact"]["id"])
        emulator.advance(60)
    return ids


def test_every_assumed_behaviour_is_on_after_a_reset(emulator: EmulatorFixture) -> None:
    emulator.set_assumed(contacts_list_include=False, contact_email_lowercased=False)
    emulator.reset()
    assert set(emulator.set_assumed().values()) == {True}


@pytest.mark.parametrize("include", [True, False], ids=["assumed-on", "reference-only"])
def test_include_on_the_contacts_list(api: httpx.Client, emulator: EmulatorFixture, include: bool) -> None:
    _seed_three(api, emulator)
    emulator.set_assumed(contacts_list_include=include)
    body = _contacts(api, include="fieldValues,contactLists,contactTags").json()
    assert len(body["contacts"]) == 3
    sideloads = {"fieldValues", "contactLists", "contactTags"} & set(body)
    assert sideloads == ({"fieldValues", "contactLists", "contactTags"} if include else set())
    if include:
        assert sorted(v["value"] for v in body["fieldValues"]) == ["V0", "V1", "V2"]


@pytest.mark.parametrize("newest_first", [True, False], ids=["assumed-on", "reference-only"])
def test_default_order_of_the_contacts_list(
    api: httpx.Client, emulator: EmulatorFixture, newest_first: bool
) -> None:
    ids = _seed_three(api, emulator)
    emulator.set_assumed(contacts_default_order_newest_first=newest_first)
    listed = [c["id"] for c in _contacts(api).json()["contacts"]]
    assert listed == (ids[::-1] if newest_first else ids)
    # An explicit order is honoured either way.
    assert [c["id"] for c in _contacts(api, **{"orders[id]": "DESC"}).json()["contacts"]] == ids[::-1]


@pytest.mark.parametrize("refused", [True, False], ids=["assumed-on", "reference-only"])
def test_an_unsupported_order_of_the_contacts_list(
    api: httpx.Client, emulator: EmulatorFixture, refused: bool
) -> None:
    ids = _seed_three(api, emulator)
    emulator.set_assumed(contacts_unsupported_order_refused=refused)
    answer = _contacts(api, **{"orders[shoe_size]": "ASC", "orders[id]": "ASC"})
    if refused:
        assert answer.status_code == 400
    else:
        assert answer.status_code == 200
        assert [c["id"] for c in answer.json()["contacts"]] == ids  # the key it knows still sorts


@pytest.mark.parametrize("lowercased", [True, False], ids=["assumed-on", "reference-only"])
def test_email_case_of_contacts(api: httpx.Client, emulator: EmulatorFixture, lowercased: bool) -> None:
    emulator.set_assumed(contact_email_lowercased=lowercased)
    created = api.post("contact/sync", json={"contact": {"email": "Ann.Lee@Example.COM"}})
    stored = "ann.lee@example.com" if lowercased else "Ann.Lee@Example.COM"
    assert created.json()["contact"]["email"] == stored
    # Lookups are case-blind either way: one contact, found by any spelling.
    assert [c["email"] for c in _contacts(api, email="ANN.LEE@example.com").json()["contacts"]] == [stored]
    assert _contacts(api, email_like="ann.lee").json()["contacts"][0]["email"] == stored
    # A sync with another spelling updates the same contact (and stores the spelling it sent).
    again = api.post("contact/sync", json={"contact": {"email": "ann.lee@example.com", "firstName": "Ann"}})
    assert (again.status_code, again.json()["contact"]["id"]) == (200, created.json()["contact"]["id"])
    assert again.json()["contact"]["email"] == "ann.lee@example.com"
    duplicate = api.post("contacts", json={"contact": {"email": "ANN.LEE@EXAMPLE.COM"}})
    assert duplicate.status_code == 422
    # A change of case only is an update of the same contact, not a duplicate.
    contact_id = created.json()["contact"]["id"]
    renamed = api.put(f"contacts/{contact_id}", json={"contact": {"email": "ann.LEE@example.com"}})
    assert renamed.status_code == 200
    assert renamed.json()["contact"]["email"] == (
        "ann.lee@example.com" if lowercased else "ann.LEE@example.com"
    )
    assert api.delete(f"contacts/{contact_id}").status_code == 200
    assert _contacts(api, email="ann.lee@example.com").json()["contacts"] == []


#: The default account's offset is -05:00: 2024-03-02 starts at 05:00 UTC.
LOCAL_MIDNIGHT = "2024-03-02T00:00:00-05:00"


def _emails(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return sorted(c["email"] for c in answer.json()["contacts"])


@pytest.mark.parametrize("strict", [True, False], ids=["assumed-on", "reference-only"])
def test_contact_date_filters_on_the_days_start(
    api: httpx.Client, emulator: EmulatorFixture, strict: bool
) -> None:
    """SPEC says "after"/"prior to" the date: a contact stamped at the day's start is the assumed case."""
    emulator.seed(
        {
            "contacts": [
                {"email": "before@example.com", "cdate": "2024-03-01T23:59:59-05:00"},
                {"email": "midnight@example.com", "cdate": LOCAL_MIDNIGHT},
                {"email": "after@example.com", "cdate": "2024-03-02T00:00:01-05:00"},
            ]
        }
    )
    emulator.set_assumed(date_filters_strict=strict)
    on_edge = [] if strict else ["midnight@example.com"]
    for name in ("updated", "created"):
        # A time part is dropped either way: the bound is the account-local day's start.
        for day in ("2024-03-02", "2024-03-02T18:30:00"):
            later = _emails(_contacts(api, **{f"filters[{name}_after]": day}))
            assert later == sorted(["after@example.com", *on_edge]), (name, day)
            earlier = _emails(_contacts(api, **{f"filters[{name}_before]": day}))
            assert earlier == sorted(["before@example.com", *on_edge]), (name, day)


@pytest.mark.parametrize("strict", [True, False], ids=["assumed-on", "reference-only"])
def test_deal_task_due_filters_on_the_moment(
    api: httpx.Client, emulator: EmulatorFixture, strict: bool
) -> None:
    """SPEC: tasks "due after"/"due before" a date; a task due at that very moment is the assumed case."""
    due = "2031-05-04T09:00:00-05:00"
    created = api.post(
        "dealTasks",
        json={"dealTask": {"ownerType": "deal", "relid": "1", "duedate": due, "dealTasktype": "1"}},
    )
    assert created.status_code == 201, created.text
    task_id = created.json()["dealTask"]["id"]
    emulator.set_assumed(date_filters_strict=strict)
    both = {"filters[due_after]": due, "filters[due_before]": due}
    listed = [t["id"] for t in api.get("dealTasks", params=both).json()["dealTasks"]]
    assert listed == ([] if strict else [task_id])
    # A second away, the task is on the same side whatever the switch.
    earlier = {"filters[due_after]": "2031-05-04T08:59:59-05:00", "filters[due_before]": due}
    later = {"filters[due_after]": due, "filters[due_before]": "2031-05-04T09:00:01-05:00"}
    for params in (earlier, later):
        assert [t["id"] for t in api.get("dealTasks", params=params).json()["dealTasks"]] == (
            [] if strict else [task_id]
        )
    around = {
        "filters[due_after]": "2031-05-04T08:59:59-05:00",
        "filters[due_before]": "2031-05-04T09:00:01-05:00",
    }
    assert [t["id"] for t in api.get("dealTasks", params=around).json()["dealTasks"]] == [task_id]


@pytest.mark.parametrize("strict", [True, False], ids=["assumed-on", "reference-only"])
def test_deal_date_filters_follow_the_reference_whatever_the_switch(
    api: httpx.Client, emulator: EmulatorFixture, strict: bool
) -> None:
    """SPEC ``GET /deals``: ``*_after`` "greater than or equal to", ``*_before`` "less than": not assumed."""
    emulator.seed(
        {
            "deals": [
                {"title": f"edge-{n}", "pipeline": 1, "cdate": moment, "mdate": moment}
                for n, moment in enumerate(
                    ("2024-03-01T23:59:59-05:00", LOCAL_MIDNIGHT, "2024-03-02T00:00:01-05:00")
                )
            ]
        }
    )
    emulator.set_assumed(date_filters_strict=strict)

    def titles(**params: str) -> list[str]:
        deals = api.get("deals", params={"limit": 100, "filters[search]": "edge-", **params}).json()["deals"]
        return sorted(d["title"] for d in deals)

    for name in ("updated", "created"):
        assert titles(**{f"filters[{name}_after]": "2024-03-02"}) == ["edge-1", "edge-2"]
        assert titles(**{f"filters[{name}_before]": "2024-03-02"}) == ["edge-0"]
