"""RemovalFinder / RemovalApplier with a stand-in hook: the cheaper read, the join id, never status 1."""

from __future__ import annotations

from typing import Any

from airflow_provider_activecampaign.contacts.removal import RemovalApplier, RemovalFinder
from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignAmbiguousWriteError,
    ActiveCampaignNotFoundError,
)


class FakeHook:
    def __init__(self, members: int) -> None:
        self.members = members
        self.calls: list[tuple[str, str, Any]] = []
        self.fail_post_once = False
        self.fail_posts = 0

    def get(self, endpoint: str, params: Any = None) -> Any:
        self.calls.append(("GET", endpoint, params))
        if endpoint.endswith("/contactLists"):
            return {"contactLists": [{"list": "2", "status": "1"}]}  # not applied: still subscribed
        if params and "email" in params:
            return {
                "contacts": [{"id": "7", "email": params["email"]}],
                "contactTags": [
                    {"id": "70", "contact": "7", "tag": "3"},
                    {"id": "71", "contact": "7", "tag": "4"},
                ],
                "contactLists": [
                    {"contact": "7", "list": "1", "status": "2"},
                    {"contact": "7", "list": "2", "status": "1"},
                ],
            }
        return {"contacts": [], "meta": {"total": str(self.members)}}

    def delete(self, endpoint: str) -> Any:
        self.calls.append(("DELETE", endpoint, None))
        if endpoint.endswith("/99"):
            raise ActiveCampaignNotFoundError("gone")
        return {}

    def request(self, method: str, endpoint: str, json: Any = None, **kwargs: Any) -> Any:
        self.calls.append((method, endpoint, json))
        if self.fail_post_once:
            self.fail_post_once = False
            raise ActiveCampaignAmbiguousWriteError("dropped")
        if self.fail_posts:
            self.fail_posts -= 1
            raise ActiveCampaignAmbiguousWriteError(
                "ActiveCampaign failed on POST /contactLists (HTTP 503). The write may have been applied, "
                "so it was not sent again.",
                status=503,
            )
        return {}


def test_per_contact_reads_when_members_are_many_and_takes_the_join_id() -> None:
    hook = FakeHook(members=1_000_000)
    finder = RemovalFinder(hook, tags={"3": "vip"}, lists={"1": "Newsletter", "2": "Customers"})
    removals = list(finder.find(["a@example.com"]))
    assert finder.strategy == "per-contact"
    # The join id 70 (not the tag id 3); list 1 is already unsubscribed: only list 2.
    assert [(r.op, r.target_id, r.contact_tag_id) for r in removals] == [
        ("untag", "3", "70"),
        ("unsubscribe", "2", None),
    ]


def test_applier_never_sends_status_1_and_reads_back_after_an_ambiguous_post() -> None:
    hook = FakeHook(members=0)
    finder = RemovalFinder(hook, tags={"3": "vip"}, lists={"2": "Customers"})
    removals = list(finder.find(["a@example.com"]))
    hook.fail_post_once = True
    counts = RemovalApplier(hook).apply(removals)  # type: ignore[arg-type]
    posts = [json for method, _, json in hook.calls if method == "POST"]
    assert all(p["contactList"]["status"] == 2 for p in posts)
    assert len(posts) == 2  # the ambiguous one, then (read back: still subscribed) once more
    assert (counts.untagged, counts.unsubscribed, counts.failed) == (1, 1, 0)


def test_an_unsubscribe_sent_twice_says_so_and_what_came_back() -> None:
    hook = FakeHook(members=0)
    removals = list(RemovalFinder(hook, tags={}, lists={"2": "Customers"}).find(["a@example.com"]))
    hook.fail_posts = 2
    applier = RemovalApplier(hook)  # type: ignore[arg-type]
    counts = applier.apply(removals)
    assert sum(1 for method, _, _ in hook.calls if method == "POST") == 2
    assert counts.failed == 1
    (failure,) = counts.failures
    assert failure["reason"].startswith("POST /contactLists was sent twice; ActiveCampaign answered HTTP 503")
    assert "not sent again" not in failure["reason"]
