"""Deals CRM in the emulator: pipelines, stages, deals, deal custom fields, users."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture

Check = Callable[[httpx.Response, str], dict[str, Any]]


def _contact(api: httpx.Client, email: str = "deal.owner@example.com") -> str:
    cid: str = api.post("contact/sync", json={"contact": {"email": email}}).json()["contact"]["id"]
    return cid


def _deal(api: httpx.Client, **attrs: Any) -> httpx.Response:
    body: dict[str, Any] = {"title": "Big deal", "value": 45600, "stage": "1", "account": "1", **attrs}
    return api.post("deals", json={"deal": body})


def test_default_seed_has_pipelines_stages_deals_and_fields(emulator: EmulatorFixture) -> None:
    counts = emulator.crm("counts")["counts"]
    assert counts["pipelines"] == 2
    assert counts["stages"] == 9
    assert counts["deals"] == 300
    assert counts["accounts"] == 100
    assert counts["deal_fields"] == 4
    assert counts["ecom_orders"] == 40
    deals = emulator.client.deals()
    assert [d["id"] for d in deals[:3]] == ["1", "2", "3"]  # stable ids after every reset
    assert deals[0]["fields"]["External key"] == "gen-1"


def test_shapes_match_the_official_examples(
    api: httpx.Client,
    check_example: Check,
    ac_example: Callable[[str], dict[str, Any]],
    shape: Callable[[Any, Any], list[str]],
) -> None:
    check_example(api.get("dealGroups"), "pipelines_list")
    check_example(api.get("dealGroups/1"), "pipeline_get")
    check_example(api.get("dealStages", params={"filters[d_groupid]": 1}), "stages_list")
    check_example(api.get("dealStages/1"), "stage_get")
    check_example(api.get("deals", params={"limit": 3}), "deals_list")
    check_example(api.get("deals/1"), "deal_get")
    listed = api.get("dealCustomFieldMeta").json()
    example = ac_example("deal_field_meta_list")["body"]
    for item in example["dealCustomFieldMeta"]:
        del item["fieldDefault"]  # the example shows 1 for a text field; see the fixtures README
    assert shape(listed, example) == []
    check_example(api.get("dealCustomFieldMeta/1"), "deal_field_meta_get")
    check_example(api.get("dealCustomFieldMeta/99"), "deal_field_meta_get_404")
    check_example(api.get("dealCustomFieldData", params={"filters[dealId]": 1}), "deal_field_data_list")
    check_example(api.get("users"), "users_list")
    check_example(api.get("users/2"), "user_get")
    created = check_example(
        api.post(
            "dealGroups",
            json={
                "dealGroup": {"title": "Qualifications", "currency": "eur", "autoassign": 1, "users": ["2"]}
            },
        ),
        "pipeline_create",
    )
    assert [s["title"] for s in created["dealStages"]] == ["To Contact", "In Contact", "Follow Up"]
    stage = check_example(
        api.post(
            "dealStages",
            json={"dealStage": {"title": "Initial Contact", "group": created["dealGroup"]["id"]}},
        ),
        "stage_create",
    )
    assert stage["dealStage"]["order"] == 4
    meta = check_example(
        api.post(
            "dealCustomFieldMeta",
            json={"dealCustomFieldMetum": {"fieldLabel": "Seats", "fieldType": "number"}},
        ),
        "deal_field_meta_create",
    )
    assert meta["dealCustomFieldMetum"]["fieldLabel"] == "Seats"


def test_create_update_and_delete_a_deal(
    api: httpx.Client, check_example: Check, emulator: EmulatorFixture
) -> None:
    cid = _contact(api)
    created = check_example(
        _deal(
            api,
            contact=cid,
            currency="usd",
            owner="2",
            fields=[{"customFieldId": 1, "fieldValue": "order-17"}],
        ),
        "deal_create",
    )
    deal = created["deal"]
    assert (deal["value"], deal["currency"], deal["status"], deal["stage"], deal["group"]) == (
        45600,
        "usd",
        0,
        "1",
        "1",
    )
    assert deal["fields"] == [{"customFieldId": 1, "fieldValue": "order-17", "dealId": deal["id"]}]
    money = api.put(
        f"deals/{deal['id']}",
        json={"deal": {"fields": [{"customFieldId": 4, "fieldValue": 5500, "fieldCurrency": "EUR"}]}},
    ).json()["deal"]["fields"]
    assert money == [{"customFieldId": 4, "fieldValue": 5500, "fieldCurrency": "EUR", "dealId": deal["id"]}]
    assert created["contacts"][0]["id"] == cid
    read = api.get(f"deals/{deal['id']}").json()["deal"]
    assert (read["value"], read["status"], read["contact"]) == ("45600", "0", cid)

    emulator.advance(60)
    updated = check_example(
        api.put(f"deals/{deal['id']}", json={"deal": {"stage": "3", "value": 99}}), "deal_update"
    )
    assert updated["deal"]["stage"] == "3"
    assert updated["deal"]["mdate"] > deal["mdate"]
    assert updated["deal"]["cdate"] == deal["cdate"]
    emulator.advance(60)
    same = api.put(f"deals/{deal['id']}", json={"deal": {"stage": "3"}}).json()["deal"]
    assert same["mdate"] == updated["deal"]["mdate"]  # nothing changed: mdate stays

    [record] = [d for d in emulator.client.deals() if d["id"] == deal["id"]]
    assert record["fields"] == {"External key": "order-17", "Contract value": 5500}
    assert api.delete(f"deals/{deal['id']}").json() == {}
    assert api.get(f"deals/{deal['id']}").json() == {
        "message": f"No Result found for Deal with id {deal['id']}"
    }
    values = api.get("dealCustomFieldData", params={"filters[dealId]": deal["id"]}).json()
    assert values["dealCustomFieldData"] == []


@pytest.mark.parametrize(
    ("attrs", "pointer"),
    [
        ({"title": ""}, "/data/attributes/title"),
        ({"value": -5}, "/data/attributes/value"),
        ({"stage": "6", "group": "1"}, "/data/attributes/stage"),  # stage 6 is in pipeline 2
        ({"account": None}, "/data/attributes/contact"),
        ({"contact": "999999"}, "/data/attributes/contact"),
        ({"status": 7}, "/data/attributes/status"),
        ({"stage": None, "group": "2"}, "/data/attributes/owner"),  # pipeline 2 does not auto-assign
    ],
)
def test_deal_create_refuses_bad_input(api: httpx.Client, attrs: dict[str, Any], pointer: str) -> None:
    response = _deal(api, **attrs)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["source"]["pointer"] == pointer


def test_group_only_takes_the_first_stage_and_pipeline_currency(api: httpx.Client) -> None:
    deal = _deal(api, stage=None, group="2", owner="3").json()["deal"]
    assert (deal["group"], deal["stage"], deal["currency"]) == ("2", "6", "eur")


def test_list_paging_filters_and_currency_meta(api: httpx.Client) -> None:
    first = api.get("deals", params={"limit": 100}).json()
    assert first["meta"]["total"] == 300
    ids = [int(d["id"]) for d in first["deals"]]
    assert ids == sorted(ids) == list(range(1, 101))
    second = api.get("deals", params={"limit": 100, "offset": 100}).json()
    assert second["deals"][0]["id"] == "101"
    currencies = first["meta"]["currencies"]
    assert sum(int(c["total"]) for c in currencies.values()) == 300
    stage = api.get("deals", params={"filters[stage]": 2, "limit": 100}).json()
    assert stage["deals"]
    assert {d["stage"] for d in stage["deals"]} == {"2"}
    group = api.get("deals", params={"filters[d_groupid]": 2, "limit": 100}).json()
    assert group["meta"]["total"] == api.get("deals", params={"filters[group]": 2}).json()["meta"]["total"]
    by_value = api.get("deals", params={"orders[value]": "DESC", "limit": 5}).json()["deals"]
    values = [int(d["value"]) for d in by_value]
    assert values == sorted(values, reverse=True)
    assert api.get("deals", params={"filters[minimum_value]": 10_000_000}).json()["meta"]["total"] == 0


def test_updated_after_is_a_date_and_keeps_only_the_day(api: httpx.Client, emulator: EmulatorFixture) -> None:
    """``filters[updated_after]`` compares with the day's start: a time part is not honoured."""
    emulator.reset(
        {
            **_base_seed(),
            "deals": [
                {"id": 1, "title": "a", "value": 1, "stage": 1, "account": 1, "mdate": "2026-03-01T23:59:59"},
                {"id": 2, "title": "b", "value": 1, "stage": 1, "account": 1, "mdate": "2026-03-02T00:00:00"},
                {"id": 3, "title": "c", "value": 1, "stage": 1, "account": 1, "mdate": "2026-03-02T18:00:00"},
            ],
        }
    )
    emulator.configure(rate_limit=False)

    def ids(**params: str) -> list[str]:
        return [d["id"] for d in api.get("deals", params=params).json()["deals"]]

    assert ids(**{"filters[updated_after]": "2026-03-02"}) == ["2", "3"]
    assert ids(**{"filters[updated_after]": "2026-03-02T12:00:00"}) == ["2", "3"]  # time ignored
    assert ids(**{"filters[updated_before]": "2026-03-02"}) == ["1"]
    assert ids(**{"filters[created_after]": "2030-01-01"}) == []
    assert api.get("deals", params={"filters[updated_after]": "yesterday"}).status_code == 400


def test_deal_custom_field_data_rules(api: httpx.Client, check_example: Check) -> None:
    deal_id = _deal(api).json()["deal"]["id"]
    body = {"dealId": deal_id, "customFieldId": 3, "fieldValue": "2026-12-31"}
    created = check_example(
        api.post("dealCustomFieldData", json={"dealCustomFieldDatum": body}), "deal_field_data_create"
    )
    datum_id = created["dealCustomFieldDatum"]["id"]
    again = api.post("dealCustomFieldData", json={"dealCustomFieldDatum": body})
    assert again.status_code == 422
    assert again.json()["errors"][0]["code"] == "duplicate"
    bad = api.post(
        "dealCustomFieldData",
        json={"dealCustomFieldDatum": {"dealId": deal_id, "customFieldId": 3, "fieldValue": "abc"}},
    )
    check_example(bad, "deal_field_data_create_422")
    assert bad.json() == {
        "errors": [
            {"detail": "The custom field value `abc` could not be saved to the custom field of type `date`."}
        ]
    }
    updated = check_example(
        api.put(
            f"dealCustomFieldData/{datum_id}", json={"dealCustomFieldDatum": {"fieldValue": "2027-01-01"}}
        ),
        "deal_field_data_update",
    )
    assert updated["dealCustomFieldDatum"]["fieldValue"] == "2027-01-01"
    bulk = api.post(
        "dealCustomFieldData/bulkCreate",
        json=[
            {"dealId": deal_id, "customFieldId": 1, "fieldValue": "k-9"},
            {"dealId": deal_id, "customFieldId": 2, "fieldValue": "Event"},
        ],
    )
    check_example(bulk, "deal_field_data_bulk_create")
    listed = api.get("dealCustomFieldData", params={"filters[dealId]": deal_id}).json()["dealCustomFieldData"]
    assert {(d["customFieldId"], d["fieldValue"]) for d in listed} == {
        (3, "2027-01-01"),
        (1, "k-9"),
        (2, "Event"),
    }
    check_example(api.delete(f"dealCustomFieldData/{datum_id}"), "deal_field_data_delete")
    check_example(api.delete("dealCustomFieldMeta/2"), "deal_field_meta_delete")
    assert api.get("dealCustomFieldData/999999").json() == {"errors": [{"status": 404, "title": "Not Found"}]}


def test_stage_moves_bulk_owner_and_contact_deals(api: httpx.Client, check_example: Check) -> None:
    cid = _contact(api)
    deal_id = _deal(api, contact=cid, stage="5").json()["deal"]["id"]
    check_example(api.put("dealStages/5/deals", json={"deal": {"stage": "7"}}), "stage_move_deals_422")
    moved = api.put("dealStages/5/deals", json={"deal": {"stage": "4"}}).json()["deals"]
    assert deal_id in {d["id"] for d in moved}
    assert {d["stage"] for d in moved} == {"4"}
    owners = api.patch(
        "deals/bulkUpdate", json={"deals": [{"id": deal_id, "ownerId": 1}, {"id": 99999999, "ownerId": 1}]}
    )
    check_example(owners, "deals_bulk_update")
    assert owners.json() == {"success": [deal_id], "nochange": [], "failed": ["99999999"]}
    check_example(api.get(f"contacts/{cid}/deals"), "contact_deals")
    assert [d["id"] for d in api.get(f"contacts/{cid}/deals").json()["deals"]] == [deal_id]


def test_volume_seed_serves_many_deals_and_contacts(emulator: EmulatorFixture, api: httpx.Client) -> None:
    emulator.client.seed_volume(contacts=2000, deals=3000)
    assert api.get("deals", params={"limit": 1}).json()["meta"]["total"] == 3300
    assert api.get("contacts", params={"limit": 1}).json()["meta"]["total"] == "2000"
    last = api.get("deals", params={"limit": 100, "offset": 3200}).json()["deals"]
    assert [d["id"] for d in last][-1] == "3300"


def _base_seed() -> dict[str, Any]:
    from activecampaign_emulator.seed import default_seed

    seed = default_seed()
    seed["account"]["start_time"] = "2026-03-05T09:00:00-05:00"
    return seed
