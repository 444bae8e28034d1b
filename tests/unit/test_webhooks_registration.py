"""Registration rules (desired vs existing webhooks) and reconcile's dedup, against an in-memory API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_provider_activecampaign.exceptions import ActiveCampaignAmbiguousWriteError
from airflow_provider_activecampaign.webhooks import reconcile, registration
from airflow_provider_activecampaign.webhooks.registration import WebhookSpec

URL = "https://airflow.example.com/activecampaign/webhooks/" + "t" * 32


class FakeWebhooksApi:
    """``/webhooks`` as a dict; ``fail_next_post`` applies the POST and then raises (ambiguous)."""

    def __init__(self) -> None:
        self.rows: dict[int, dict[str, Any]] = {}
        self.next_id = 1
        self.calls: list[str] = []
        self.fail_next_post = False

    def get(self, endpoint: str, params: Any = None) -> Any:
        self.calls.append(f"GET {endpoint}")
        rows = [self.rows[k] for k in sorted(self.rows)]
        name = (params or {}).get("filters[name]")
        if name is not None:
            rows = [r for r in rows if r["name"] == name]
        offset = int((params or {}).get("offset", 0))
        return {"webhooks": rows[offset : offset + 100], "meta": {"total": str(len(rows))}}

    def post(self, endpoint: str, json: Any = None, *, idempotent: bool | None = None) -> Any:
        self.calls.append(f"POST {endpoint}")
        row = {**json["webhook"], "id": str(self.next_id), "listid": str(json["webhook"].get("listid", 0))}
        self.rows[self.next_id] = row
        self.next_id += 1
        if self.fail_next_post:
            self.fail_next_post = False
            raise ActiveCampaignAmbiguousWriteError("timed out after sending")
        return {"webhook": row}

    def put(self, endpoint: str, json: Any = None) -> Any:
        self.calls.append(f"PUT {endpoint}")
        ident = int(endpoint.rsplit("/", 1)[1])
        self.rows[ident].update(json["webhook"])
        return {"webhook": self.rows[ident]}

    def delete(self, endpoint: str) -> Any:
        self.calls.append(f"DELETE {endpoint}")
        self.rows.pop(int(endpoint.rsplit("/", 1)[1]))
        return {}


def _spec(**overrides: Any) -> WebhookSpec:
    values: dict[str, Any] = {"name": "airflow", "url": URL, "events": ("unsubscribe", "contact_tag_added")}
    values.update(overrides)
    return WebhookSpec(**values)


def test_registering_twice_leaves_the_same_webhooks() -> None:
    api = FakeWebhooksApi()
    first, ids = registration.apply(api, [_spec()])
    assert [a.kind for a in first.actions] == ["create"]
    snapshot = dict(api.rows)
    second, ids_again = registration.apply(api, [_spec()])
    assert [a.kind for a in second.actions] == ["keep"]
    assert api.rows == snapshot
    assert ids == ids_again
    assert second.changes == 0


def test_a_changed_url_or_event_list_is_updated_in_place() -> None:
    api = FakeWebhooksApi()
    _, ids = registration.apply(api, [_spec()])
    plan, ids2 = registration.apply(
        api, [_spec(url=URL.replace("t" * 32, "u" * 32), events=("unsubscribe",))]
    )
    assert [a.kind for a in plan.actions] == ["update"]
    assert ids2 == ids
    assert api.rows[1]["events"] == ["unsubscribe"]


def test_a_deactivated_webhook_is_recreated_whether_gone_or_listed_inactive() -> None:
    api = FakeWebhooksApi()
    _, ids = registration.apply(api, [_spec()])
    api.rows.clear()  # deactivated: gone from GET /webhooks
    plan, new_ids = registration.apply(api, [_spec()], known_ids=ids.values())
    assert [a.kind for a in plan.actions] == ["recreate"]
    assert new_ids["airflow"] != ids["airflow"]
    api.rows[int(new_ids["airflow"])]["state"] = "0"  # or listed with an inactive flag
    plan, last = registration.apply(api, [_spec()])
    assert [a.kind for a in plan.actions] == ["delete_inactive", "recreate"]
    assert len(api.rows) == 1
    assert last["airflow"] in {r["id"] for r in api.rows.values()}


def test_duplicates_collapse_and_other_peoples_webhooks_stay() -> None:
    api = FakeWebhooksApi()
    api.post("webhooks", json=_spec().body())
    api.post("webhooks", json=_spec().body())
    api.post(
        "webhooks", json={"webhook": {"name": "crm", "url": "https://x", "events": ["sent"], "sources": []}}
    )
    plan, ids = registration.apply(api, [_spec()])
    assert sorted(a.kind for a in plan.actions) == ["delete_duplicate", "keep"]
    assert ids == {"airflow": "1"}
    assert sorted(r["name"] for r in api.rows.values()) == ["airflow", "crm"]


def test_an_ambiguous_create_is_read_back_and_not_sent_again() -> None:
    api = FakeWebhooksApi()
    api.fail_next_post = True
    _, ids = registration.apply(api, [_spec()])
    assert api.calls.count("POST webhooks") == 1
    assert len(api.rows) == 1
    assert ids == {"airflow": "1"}


def test_specs_refuse_unknown_events_sources_and_short_tokens() -> None:
    with pytest.raises(ValueError, match="unknown events"):
        _spec(events=("unsubscribed",))
    with pytest.raises(ValueError, match="unknown sources"):
        _spec(sources=("web",))
    with pytest.raises(ValueError, match="16 characters"):
        registration.receiver_url("https://airflow.example.com", "short")
    assert registration.receiver_url("https://a.example/", "x" * 16).endswith(
        "/activecampaign/webhooks/" + "x" * 16
    )


class FakePages:
    def __init__(self, pages: dict[str, list[dict[str, Any]]]) -> None:
        self.pages = pages

    def iter_pages(self, endpoint: str, *, key: str, params: Any = None) -> Iterator[dict[str, Any]]:
        selector = f"list={params.get('listid')}" if "listid" in params else f"tag={params.get('tagid')}"
        yield from self.pages.get(selector, [])

    def get(self, endpoint: str, params: Any = None) -> Any:
        raise AssertionError(f"the pages carry their sideloads; nothing is read per contact ({endpoint})")


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def test_reconcile_emits_each_missed_change_once_and_skips_received_ones() -> None:
    t0 = datetime(2026, 12, 1, 12, tzinfo=UTC)
    contacts = [{"id": str(i), "email": f"c{i}@example.com"} for i in (1, 2, 3)]
    pages = FakePages(
        {
            "list=5": [
                {
                    "contacts": contacts,
                    "contactLists": [
                        {
                            "contact": "1",
                            "list": "5",
                            "status": "2",
                            "udate": _iso(t0 + timedelta(minutes=1)),
                        },
                        {
                            "contact": "2",
                            "list": "5",
                            "status": "2",
                            "udate": _iso(t0 + timedelta(minutes=2)),
                        },
                        {"contact": "3", "list": "5", "status": "2", "udate": _iso(t0 - timedelta(days=1))},
                        {
                            "contact": "3",
                            "list": "6",
                            "status": "2",
                            "udate": _iso(t0 + timedelta(minutes=3)),
                        },
                    ],
                }
            ],
            "tag=8": [
                {
                    "contacts": contacts,
                    "contactTags": [{"contact": "3", "tag": "8", "cdate": _iso(t0 + timedelta(minutes=4))}],
                }
            ],
        }
    )
    received = reconcile.Received(
        [
            {
                "change_key": "unsubscribe:contact=1:list=5",
                "date_time": _iso(t0 + timedelta(minutes=1, seconds=2)),
            }
        ]
    )
    window: dict[str, Any] = {
        "since": t0,
        "until": t0 + timedelta(hours=1),
        "list_ids": ["5"],
        "tags": {"8": "VIP"},
    }
    missed = reconcile.missed_events(pages, "acme.api-us1.com", received=received, **window)
    assert [e.change_key for e in missed] == [
        "unsubscribe:contact=2:list=5",
        "contact_tag_added:contact=3:tag=vip",
    ]
    assert all(e.extra()["source"] == "reconcile" for e in missed)
    # the next run sees its own events as received: nothing twice
    again = reconcile.Received(
        [e.extra() for e in missed]
        + [{"change_key": "unsubscribe:contact=1:list=5", "date_time": _iso(t0 + timedelta(minutes=1))}]
    )
    assert reconcile.missed_events(pages, "acme.api-us1.com", received=again, **window) == []


def test_a_lost_create_not_found_before_it_settles_is_not_sent_again_and_the_journal_holds_no_token(
    tmp_path: Any,
) -> None:
    from airflow_provider_activecampaign.records.journal import WriteJournal, WriteUnknown

    api = FakeWebhooksApi()
    api.fail_next_post = True

    def late_post(endpoint: str, json: Any = None, *, idempotent: bool | None = None) -> Any:
        api.calls.append(f"POST {endpoint}")  # not applied yet: ActiveCampaign may apply it later
        raise ActiveCampaignAmbiguousWriteError("timed out after sending", status=None)

    api.post = late_post  # type: ignore[method-assign]
    journal = WriteJournal(tmp_path, "dag/run/register", settle=600)
    with pytest.raises(WriteUnknown, match="was sent once") as caught:
        registration.apply(api, [_spec()], journal=journal)
    assert caught.value.sent == 1
    assert api.calls.count("POST webhooks") == 1
    # A retry of the task (same scope) does not send it either before it settles.
    with pytest.raises(WriteUnknown):
        registration.apply(api, [_spec()], journal=WriteJournal(tmp_path, "dag/run/register", settle=600))
    assert api.calls.count("POST webhooks") == 1
    stored = "".join(path.read_text() for path in tmp_path.rglob("*.jsonl"))
    assert "t" * 32 not in stored  # the receiver URL's token: only a fingerprint of the body is kept


def test_one_delivery_covers_one_change_never_two() -> None:
    """A delivery without its list (or two changes of one kind) must not hide a second change.

    Contact 1 left lists 5 and 6 a minute apart; one delivery was recorded, without ``list``
    (outside the reference's four keys). Contact 2 left list 5, came back and left again within
    the tolerance; one delivery was recorded. Each recorded delivery stands for one change: the
    other change of each contact is emitted, and the overlapping page that lists a change twice
    emits it once.
    """
    t0 = datetime(2026, 12, 1, 12, tzinfo=UTC)
    contacts = [{"id": str(i), "email": f"c{i}@example.com"} for i in (1, 2)]

    def left(contact: str, list_id: str, minutes: int) -> dict[str, Any]:
        return {
            "contact": contact,
            "list": list_id,
            "status": "2",
            "udate": _iso(t0 + timedelta(minutes=minutes)),
        }

    page_5 = {"contacts": contacts, "contactLists": [left("1", "5", 1), left("2", "5", 2)]}
    again_5 = {"contacts": contacts, "contactLists": [left("2", "5", 7)]}
    page_6 = {"contacts": contacts, "contactLists": [left("1", "6", 2)]}
    pages = FakePages({"list=5": [page_5, again_5, again_5], "list=6": [page_6]})
    received = reconcile.Received(
        [
            {"change_key": "unsubscribe:contact=1", "date_time": _iso(t0 + timedelta(minutes=1))},
            {"change_key": "unsubscribe:contact=2:list=5", "date_time": _iso(t0 + timedelta(minutes=2))},
        ]
    )
    window: dict[str, Any] = {"since": t0, "until": t0 + timedelta(hours=1), "list_ids": ["5", "6"]}
    missed = reconcile.missed_events(pages, "acme.api-us1.com", received=received, **window)
    assert [(e.change_key, e.date_time - t0) for e in missed] == [
        ("unsubscribe:contact=1:list=6", timedelta(minutes=2)),
        ("unsubscribe:contact=2:list=5", timedelta(minutes=7)),
    ]
