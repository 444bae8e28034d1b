"""ActiveCampaignExportOperator against the emulator through ``dag.test()``: every resource, exact windows.

One run of ``export_everything`` exports every registered resource in full and is checked against a
plain serial read of each collection (every record once, custom fields by name); three consecutive
daily runs of ``export_windowed`` must add up to the full export of those days, nothing twice, with
records updated at 23:59:59 and 00:00:00 in the right file.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_activecampaign.exceptions import ActiveCampaignValidationError
from airflow_provider_activecampaign.exports.registry import RESOURCES, Resource
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.operators.export import ActiveCampaignExportOperator
from tests.integration.contacts_support import read_jsonl, use_emulator

pytestmark = pytest.mark.integration

D1 = datetime(2024, 3, 1, tzinfo=UTC)
DAYS = [D1, D1 + timedelta(days=1), D1 + timedelta(days=2)]
SECOND = timedelta(seconds=1)
#: (moment, the window index it belongs to, or None): both sides of every midnight, to the second.
BOUNDARY_MOMENTS = [
    (D1 - SECOND, None),
    (D1, 0),
    (D1 + timedelta(hours=12), 0),
    (DAYS[1] - SECOND, 0),  # 23:59:59
    (DAYS[1], 1),  # 00:00:00 of the next day
    (DAYS[2] - SECOND, 1),
    (DAYS[2], 2),
    (DAYS[2] + timedelta(days=1) - SECOND, 2),
    (DAYS[2] + timedelta(days=1), None),
]


def seed_everything(emulator: EmulatorFixture) -> None:
    """The default account (deals, accounts, e-commerce …) plus contacts, account links, two campaigns.

    The second campaign is sent to list 1's 25 members (a scheduled date in the past) and the clock
    moved on 7 hours, so its opens, clicks, bounces and unsubscribes are all listed (the rates make
    each kind happen; the draws are deterministic); the draft has none, so no report list is asked
    about it.
    """
    emulator.seed(
        {
            "contacts": [
                {
                    "email": f"c{n}@example.com",
                    "firstName": f"C{n}",
                    "fields": {"COMPANY": f"Co {n}"},
                    "lists": {"1": 1},
                    "tags": ["vip"],
                }
                for n in range(5)
            ]
            + [{"email": f"reader{n}@example.com", "lists": {"1": 1}} for n in range(20)],
            "campaigns": [
                {"name": "March newsletter", "type": "single", "status": 0, "lists": [1]},
                {
                    "name": "February newsletter",
                    "type": "single",
                    "status": 1,
                    "lists": [1],
                    "sdate": "2024-02-01T09:00:00+00:00",
                },
            ],
            "campaign_settings": {"rates": {"bounce": 0.15, "open": 0.7, "click": 0.6, "unsubscribe": 0.2}},
            "custom_objects": [
                {
                    "slug": "subscription",
                    "labels": {"singular": "Subscription", "plural": "Subscriptions"},
                    "fields": [
                        {"id": "plan", "labels": {"singular": "Plan", "plural": "Plans"}, "type": "text"}
                    ],
                    "records": [
                        {"externalId": f"sub-{n}", "fields": [{"id": "plan", "value": "pro"}]}
                        for n in range(3)
                    ],
                }
            ],
        }
    )
    emulator.seed({"account_contacts": [{"contact": "c0@example.com", "account": 1, "jobTitle": "CTO"}]})
    # No seed section holds webhooks: register one as a user would (SPEC POST /webhooks).
    answer = httpx.post(
        f"{emulator.url}/api/3/webhooks",
        headers={"Api-Token": emulator.api_key},
        json={
            "webhook": {
                "name": "Exported",
                "url": "https://hooks.example.com/activecampaign",
                "events": ["subscribe"],
                "sources": ["public"],
            }
        },
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    emulator.advance(60)  # the scheduled campaign is delivered to its 25 recipients
    emulator.advance(7 * 3600)  # and every open (at most 6 hours after delivery) has happened


def v1_page(hook: ActiveCampaignHook, action: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """One v1 list page; ``None`` for v1's empty answer, any other refusal raised."""
    try:
        answer: dict[str, Any] = hook.legacy_request(action, params=params)
    except ActiveCampaignValidationError as error:
        if "Nothing is returned" in error.summary:
            return None
        raise
    return answer


def serial_ids(hook: ActiveCampaignHook, resource: Resource) -> list[str]:
    """The ids a plain serial read finds: the collection's pages, or every campaign's v1 report list.

    The report lists are read for every campaign, page after page until v1 says nothing is
    returned, whatever the campaign's counts: the export's cheaper plan must find the same rows.
    """
    spec = resource.report_list
    if spec is None:
        endpoints = [resource.endpoint]
        if resource.parent is not None:
            parents = hook.paginate(resource.parent.endpoint, key=resource.parent.key)
            endpoints = [resource.endpoint.format(parent=parent["id"]) for parent in parents]
        return [str(item["id"]) for at in endpoints for item in hook.paginate(at, key=resource.key)]
    ids: list[str] = []
    for campaign in hook.paginate("campaigns", key="campaigns"):
        for page in range(1, 1000):
            answer = v1_page(hook, spec.action, {"campaignid": campaign["id"], "page": page})
            if answer is None:
                break
            rows = [row for key, row in answer.items() if key.isdigit()]
            for row in rows:
                if spec.nested:
                    ids += [f"{campaign['id']}-{row['id']}-{info['subscriberid']}" for info in row["info"]]
                elif spec.key_fields:
                    ids.append(f"{campaign['id']}-{row['subscriberid']}")
                else:
                    ids.append(str(row["id"]))
            if not spec.paged:
                break
    return ids


@pytest.mark.long
def test_every_resource_exports_every_record_once_with_custom_fields_by_name(
    emulator: EmulatorFixture, run_dag: Any, tmp_path: Path
) -> None:
    use_emulator(emulator, speed=20)
    seed_everything(emulator)

    dagrun = run_dag("export_everything", conf={"output_dir": str(tmp_path)})

    assert set(run_dag.task_states(dagrun).values()) == {"success"}
    hook = ActiveCampaignHook()
    mismatches: dict[str, Any] = {}
    for name, resource in RESOURCES.items():
        rows = read_jsonl(tmp_path / f"{name}.jsonl")
        manifest = json.loads((tmp_path / f"{name}.jsonl.manifest.json").read_text())
        expected = serial_ids(hook, resource)
        ids = [str(row["id"]) for row in rows]
        if sorted(ids) != sorted(expected) or len(set(ids)) != len(ids) or manifest["count"] != len(rows):
            mismatches[name] = {"exported": len(ids), "unique": len(set(ids)), "expected": len(expected)}
    assert mismatches == {}
    records = read_jsonl(tmp_path / "custom_object_records.jsonl")
    assert sorted(row["externalId"] for row in records) == ["sub-0", "sub-1", "sub-2"]
    assert {row["fields"]["plan"] for row in records} == {"pro"}  # fields by id, not a list
    assert {name for name in RESOURCES if not read_jsonl(tmp_path / f"{name}.jsonl")} <= {
        "contact_automations"
    }

    deals = read_jsonl(tmp_path / "deals.jsonl")
    assert len(deals) == 300
    assert set(deals[0]["fields"]) == {"External key", "Lead source", "Close date", "Contract value"}
    assert any(deal["fields"]["Lead source"] in {"Website", "Referral", "Event", "Partner"} for deal in deals)
    assert {deal["pipeline_title"] for deal in deals} == {"Sales", "Partnerships"}
    assert all(deal["stage_title"] for deal in deals)
    accounts = read_jsonl(tmp_path / "accounts.jsonl")
    assert set(accounts[0]["fields"]) == {"Company size", "Industry", "Warehouse id"}
    contacts = read_jsonl(tmp_path / "contacts.jsonl")
    assert [c["fields"] for c in contacts] == [{"Company": f"Co {n}"} for n in range(5)] + [{}] * 20
    campaign = read_jsonl(tmp_path / "campaigns.jsonl")[0]
    assert campaign["name"] == "March newsletter"
    assert "report" in campaign
    # Campaign analytics: the sent campaign's rows only, each naming its campaign and contact.
    opens = read_jsonl(tmp_path / "campaign_opens.jsonl")
    assert {row["campaignid"] for row in opens} == {"2"}
    assert all(row["email"] and int(row["times"]) >= 1 for row in opens)
    clicks = read_jsonl(tmp_path / "campaign_link_clicks.jsonl")
    assert {row["link"] for row in clicks} <= {"https://example.com/read-more", "https://example.com/shop"}
    assert {row["subscriberid"] for row in clicks} <= {row["subscriberid"] for row in opens}
    assert {row["type"] for row in read_jsonl(tmp_path / "campaign_bounces.jsonl")} <= {"hard", "soft"}
    manifest = json.loads((tmp_path / "deals.jsonl.manifest.json").read_text())
    assert "fields.Lead source" in manifest["columns"]
    assert manifest["mode"] == "full"


#: Each resource's natural key in the export (the emulator's seed does not return the new ids).
NATURAL_KEYS = {"deals": "title", "contacts": "email", "accounts": "name"}


def seed_windows(emulator: EmulatorFixture) -> dict[str, list[tuple[str, int | None]]]:
    """Deals, contacts and accounts at the boundary moments plus a busy middle day (several pages)."""
    moments = list(BOUNDARY_MOMENTS)
    moments += [(DAYS[1] + timedelta(minutes=9 * n + 1), 1) for n in range(150)]
    deals = [
        {
            "title": f"W{n}",
            "pipeline": 1,
            "cdate": (m - timedelta(days=30)).isoformat(),
            "mdate": m.isoformat(),
            "fields": {"External key": f"k{n}"},
        }
        for n, (m, _) in enumerate(moments)
    ]
    contacts = [{"email": f"w{n}@example.com", "cdate": m.isoformat()} for n, (m, _) in enumerate(moments)]
    accounts = [{"name": f"Window {n}", "cdate": (m - timedelta(days=30)).isoformat(), "udate": m.isoformat()}
                for n, (m, _) in enumerate(moments[:40])]  # fmt: skip
    emulator.seed({"deals": deals, "contacts": contacts, "accounts": accounts})
    return {
        "deals": [(f"W{n}", w) for n, (_, w) in enumerate(moments)],
        "contacts": [(f"w{n}@example.com", w) for n, (_, w) in enumerate(moments)],
        "accounts": [(f"Window {n}", w) for n, (_, w) in enumerate(moments[:40])],
    }


@pytest.mark.long
def test_three_daily_windows_hold_exactly_their_records_and_add_up_to_the_full_export(
    emulator: EmulatorFixture, run_dag: Any, tmp_path: Path
) -> None:
    use_emulator(emulator, speed=20)
    seeded = seed_windows(emulator)

    for day in DAYS:
        end = day + timedelta(days=1)
        dagrun = run_dag("export_windowed", conf={"output_dir": str(tmp_path)}, logical_date=end)
        assert set(run_dag.task_states(dagrun).values()) == {"success"}

    for resource, records in seeded.items():
        key = NATURAL_KEYS[resource]
        union: list[str] = []
        all_ids: list[str] = []
        for index, day in enumerate(DAYS):
            path = tmp_path / resource / f"{day:%Y-%m-%d}.jsonl"
            manifest = json.loads(Path(f"{path}.manifest.json").read_text())
            assert manifest["window"] == {
                "start": day.isoformat(),
                "end": (day + timedelta(days=1)).isoformat(),
            }
            rows = read_jsonl(path)
            names = [str(row[key]) for row in rows]
            expected = [name for name, window in records if window == index]
            assert sorted(names) == sorted(expected), (resource, day)
            assert manifest["count"] == len(rows)
            union += names
            all_ids += [str(row["id"]) for row in rows]
        assert len(all_ids) == len(set(all_ids)), f"{resource}: a record landed in two windows"
        assert sorted(union) == sorted(name for name, w in records if w is not None)
    # The deal updated at 23:59:59 is in the first day's file, the one at 00:00:00 in the second's.
    first = {row["title"]: row for row in read_jsonl(tmp_path / "deals" / f"{DAYS[0]:%Y-%m-%d}.jsonl")}
    assert set(first) == {"W1", "W2", "W3"}
    assert first["W3"]["fields"]["External key"] == "k3"
    deals_manifest = json.loads((tmp_path / "deals" / f"{DAYS[1]:%Y-%m-%d}.jsonl.manifest.json").read_text())
    assert deals_manifest["api_filter"] == {
        "filters[updated_after]": "2024-03-01",
        "filters[updated_before]": "2024-03-04",
    }
    assert deals_manifest["filter_ignored"] is False


def test_a_failure_mid_export_leaves_no_partial_file(emulator: EmulatorFixture, tmp_path: Path) -> None:
    use_emulator(emulator, speed=20, max_retries=0)
    output = tmp_path / "deals.jsonl"
    output.write_text("the previous complete export\n")
    # Every deal page reads fine; the stage titles (read after the pages) fail.
    emulator.add_fault("GET", "/api/3/dealStages", "http_500", times=5)
    operator = ActiveCampaignExportOperator(
        task_id="export", resource="deals", mode="full", output_path=str(output)
    )
    with pytest.raises(Exception, match="500"):
        operator.execute({})
    assert emulator.requests()["counts"]["GET /api/3/deals 200"] >= 3  # pages had been read
    assert output.read_text() == "the previous complete export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deals.jsonl"]  # no part file, no manifest


def test_an_incremental_export_outside_any_interval_refuses_to_guess(
    emulator: EmulatorFixture, tmp_path: Path
) -> None:
    use_emulator(emulator, speed=20)
    operator = ActiveCampaignExportOperator(
        task_id="export", resource="deals", output_path=str(tmp_path / "x")
    )
    with pytest.raises(AirflowFailException, match="no data interval"):
        operator.execute({})


def test_csv_output_has_custom_fields_as_named_columns(emulator: EmulatorFixture, tmp_path: Path) -> None:
    use_emulator(emulator, speed=20)
    output = tmp_path / "accounts.csv"
    operator = ActiveCampaignExportOperator(
        task_id="export", resource="accounts", format="csv", output_path=str(output)
    )
    result = operator.execute({})
    with output.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert result["count"] == len(rows) == 100
    assert {"fields.Company size", "fields.Industry", "fields.Warehouse id"} <= set(rows[0])
    assert {row["fields.Industry"] for row in rows} <= {"Software", "Retail", "Finance", "Health", ""}
    assert any(row["fields.Industry"] for row in rows)


def test_parquet_output_is_typed_and_holds_what_jsonl_holds(
    emulator: EmulatorFixture, tmp_path: Path
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")  # the [parquet] extra; scripts/bootstrap.sh installs it
    use_emulator(emulator, speed=20)
    seed_everything(emulator)
    results = {}
    for fmt in ("jsonl", "parquet"):
        operator = ActiveCampaignExportOperator(
            task_id=f"deals_{fmt}",
            resource="deals",
            mode="full",
            format=fmt,
            output_path=str(tmp_path / f"deals.{fmt}"),
        )
        results[fmt] = operator.execute({})
    table = pq.read_table(tmp_path / "deals.parquet")
    rows = read_jsonl(tmp_path / "deals.jsonl")
    assert table.num_rows == len(rows) == results["parquet"]["count"] > 0
    assert sorted(table.column("id").to_pylist()) == sorted(str(row["id"]) for row in rows)
    assert str(table.schema.field("mdate").type) == "timestamp[us, tz=UTC]"
    assert str(table.schema.field("id").type) == "string"  # ids are strings, as ActiveCampaign sends them
    assert any(name.startswith("fields.") for name in table.schema.names)  # custom fields by name
    manifest = json.loads((tmp_path / "deals.parquet.manifest.json").read_text())
    assert manifest["column_types"]["mdate"] == "timestamp"
    assert manifest["format"] == "parquet"
