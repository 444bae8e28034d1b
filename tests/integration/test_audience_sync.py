"""Only-changes, mirror, plan/apply and retries of the contact sync, against the emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture
from airflow.exceptions import AirflowProviderDeprecationWarning
from airflow.sdk import ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_activecampaign.contacts.audience import service as audience
from airflow_provider_activecampaign.contacts.audience.history import read_history
from airflow_provider_activecampaign.contacts.audience.state import REJECTED, load_state
from tests.integration.contacts_support import (
    api_counts,
    contacts,
    fast_seed,
    run_audience_sync,
    run_sync,
    use_emulator,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def fast(emulator: EmulatorFixture) -> EmulatorFixture:
    use_emulator(emulator, speed=50, seed=fast_seed())
    return emulator


@pytest.fixture
def sent(fast: EmulatorFixture) -> _Sent:
    return _Sent(fast)


def _writes(emulator: EmulatorFixture) -> dict[str, int]:
    return {k: n for k, n in api_counts(emulator).items() if not k.startswith("GET ")}


def _sends(emulator: EmulatorFixture) -> dict[str, int]:
    """``{email: rows imported + contact/sync calls}`` so far, from the emulator's audit counters."""
    return {
        c["email"]: c["counters"].get("import_rows", 0) + c["counters"].get("sync_requests", 0)
        for c in emulator.state()["contacts"]
    }


class _Sent:
    """The emails sent (imported or contact/sync'ed) since the last :meth:`mark`."""

    def __init__(self, emulator: EmulatorFixture) -> None:
        self.emulator = emulator
        self.before: dict[str, int] = {}

    def mark(self) -> None:
        self.before = _sends(self.emulator)
        self.emulator.client.clear_requests()

    def emails(self) -> list[str]:
        now = _sends(self.emulator)
        return sorted(email for email, n in now.items() if n > self.before.get(email, 0))


def _audience(tmp_path: Path, records: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    options.setdefault("state_path", str(tmp_path / "state" / "customers.state"))
    return run_audience_sync(tmp_path, contacts=records, **options)


def test_unchanged_rerun_writes_nothing_and_one_percent_changed_sends_only_those(
    fast: EmulatorFixture, sent: _Sent, tmp_path: Path
) -> None:
    records = contacts(400, Company="ACME")
    first = _audience(tmp_path, records, subscribe_lists=["Newsletter"], tags=["customer"])
    assert (first["counts"]["creates"], first["succeeded"], first["full"]) == (400, 400, True)

    sent.mark()
    second = _audience(tmp_path, records, subscribe_lists=["Newsletter"], tags=["customer"])
    assert second["counts"]["unchanged"] == 400
    assert second["submitted"] == 0
    assert _writes(fast) == {}

    changed = [dict(r) for r in records]
    for index in range(0, 400, 100):  # 1%: rows 0, 100, 200, 300
        changed[index]["Company"] = "Globex"
    sent.mark()
    third = _audience(tmp_path, changed, subscribe_lists=["Newsletter"], tags=["customer"])
    assert third["counts"]["updates"] == 4
    assert third["counts"]["unchanged"] == 396
    assert sent.emails() == sorted(f"user{i}@example.com" for i in (0, 100, 200, 300))
    assert fast.contact("user100@example.com")["fields"]  # the change arrived
    history = read_history(ObjectStoragePath(third["history_path"]))
    assert [h["sent"] for h in history] == [400, 0, 4]
    assert all("throttled_seconds" in h and h["plan_path"] for h in history)


def test_a_run_killed_after_the_import_before_the_state_resends_those_rows(
    fast: EmulatorFixture, sent: _Sent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = contacts(30)
    _audience(tmp_path, records)
    changed = [dict(r, last_name="Changed") if i < 3 else r for i, r in enumerate(records)]

    def killed(*args: Any, **kwargs: Any) -> None:
        raise SystemExit("killed before the state was written")

    sent.mark()
    with monkeypatch.context() as patch:
        patch.setattr(audience, "save_state", killed)
        with pytest.raises(SystemExit):
            _audience(tmp_path, changed, sync_below=0)
    assert sent.emails() == [f"user{i}@example.com" for i in range(3)]  # accepted and imported

    sent.mark()
    again = _audience(tmp_path, changed, sync_below=0)
    assert again["counts"]["updates"] == 3
    assert again["succeeded"] == 3
    assert sent.emails() == [f"user{i}@example.com" for i in range(3)]
    sent.mark()
    assert _audience(tmp_path, changed)["submitted"] == 0


def test_rows_activecampaign_did_not_confirm_stay_dirty_and_go_next_run(
    fast: EmulatorFixture, sent: _Sent, tmp_path: Path
) -> None:
    records = [*contacts(20), {"email": "excluded@example.com"}]
    first = _audience(tmp_path, records, sync_below=0, max_failure_ratio=0.5)
    assert first["failed"] == 1
    sent.mark()
    second = _audience(tmp_path, records, sync_below=0, max_failure_ratio=0.5)
    assert second["counts"]["retries"] == 1
    assert second["counts"]["unchanged"] == 20
    assert (second["submitted"], second["failed"]) == (1, 1)  # only the unconfirmed row went again


def test_a_rejected_row_is_not_resent_unchanged_and_is_sent_once_it_changes(
    fast: EmulatorFixture, sent: _Sent, tmp_path: Path
) -> None:
    records = [*contacts(10), {"email": "broken@@example", "first_name": "Broken"}]
    first = _audience(tmp_path, records, max_failure_ratio=0.5)
    assert first["rejected"] == 1
    state = load_state(ObjectStoragePath(first["state_path"])).state
    assert state.statuses.count(REJECTED) == 1

    sent.mark()
    second = _audience(tmp_path, records, max_failure_ratio=0.5)
    assert (second["rejected"], second["rejected_unchanged"], second["submitted"]) == (0, 1, 0)
    assert _writes(fast) == {}

    fixed = [*records[:10], {"email": "broken@@example", "first_name": "Broken", "phone": "1"}]
    third = _audience(tmp_path, fixed, max_failure_ratio=0.5)
    assert third["rejected"] == 1  # changed, so checked (and reported) again
    repaired = [*records[:10], {"email": "broken@example.com", "first_name": "Broken"}]
    sent.mark()
    fourth = _audience(tmp_path, repaired, max_failure_ratio=0.5)
    assert fourth["counts"]["creates"] == 1
    assert sent.emails() == ["broken@example.com"]


def test_mirror_removes_exactly_the_departed_contacts(
    fast: EmulatorFixture, sent: _Sent, tmp_path: Path
) -> None:
    records = contacts(40)
    options = {"subscribe_lists": ["Newsletter"], "tags": ["customer"], "mirror": True, "max_removals": 5}
    _audience(tmp_path, records, **options)
    departed = {"user3@example.com", "user17@example.com", "user29@example.com"}
    remaining = [r for r in records if r["email"] not in departed]

    sent.mark()
    result = _audience(tmp_path, remaining, **options)
    assert result["counts"]["departed"] == 3
    assert (result["removals"]["untagged"], result["removals"]["unsubscribed"]) == (3, 3)
    writes = _writes(fast)
    assert writes == {"DELETE /api/3/contactTags/{id} 200": 3, "POST /api/3/contactLists 200": 3}
    for contact in fast.state()["contacts"]:
        gone = contact["email"] in departed
        assert (contact["tags"] == []) is gone
        assert contact["lists"]["1"]["status"] == (2 if gone else 1)
    assert len(fast.state()["contacts"]) == 40  # never deleted

    sent.mark()
    assert _audience(tmp_path, remaining, **options)["counts"]["departed"] == 0
    assert _writes(fast) == {}


def test_max_removals_exceeded_fails_before_anything_is_removed_or_sent(
    fast: EmulatorFixture, sent: _Sent, tmp_path: Path
) -> None:
    records = contacts(40)
    options = {"subscribe_lists": ["Newsletter"], "tags": ["customer"], "mirror": True}
    _audience(tmp_path, records, max_removals={"count": 100, "ratio": 0.1}, **options)
    half = [dict(r, last_name="New") for r in records[:20]]
    sent.mark()
    with pytest.raises(AirflowFailException, match=r"20 contacts left the source.*ratio of 10%.*Nothing was"):
        _audience(tmp_path, half, max_removals={"count": 100, "ratio": 0.1}, **options)
    assert _writes(fast) == {}
    assert all(c["tags"] == ["customer"] for c in fast.state()["contacts"])


def test_a_plan_is_a_dry_run_and_apply_refuses_an_edited_plan(
    fast: EmulatorFixture, sent: _Sent, tmp_path: Path
) -> None:
    from airflow_provider_activecampaign.operators.contacts import ActiveCampaignApplyContactsPlanOperator
    from tests.integration.contacts_support import run_operator

    summary = _audience(tmp_path, contacts(12), mode="plan", tags=["vip"])
    assert summary["counts"]["creates"] == 12
    assert summary["plan_digest"]
    assert _writes(fast) == {}
    assert fast.state()["contacts"] == []

    edited = tmp_path / "edited.plan.jsonl.gz"
    edited.write_bytes(Path(summary["plan_path"]).read_bytes() + b"\0")
    apply = ActiveCampaignApplyContactsPlanOperator(
        task_id="apply",
        plan={**summary, "plan_path": str(edited)},
        failures_path=str(tmp_path / "f.jsonl"),
        poll_interval=0.2,
    )
    with pytest.raises(AirflowFailException, match="changed after it was planned"):
        run_operator(apply)
    assert _writes(fast) == {}

    apply.plan = summary
    result = run_operator(apply)
    assert result["succeeded"] == 12
    assert len(fast.state()["contacts"]) == 12
    with pytest.raises(AirflowFailException, match=r"state .* changed after this plan"):
        run_operator(apply)  # the state moved on: the same plan is not applied twice


def test_full_every_resends_everything_on_schedule(
    fast: EmulatorFixture, sent: _Sent, tmp_path: Path
) -> None:
    records = contacts(15)
    assert _audience(tmp_path, records, full_every=2)["full"] is True
    assert _audience(tmp_path, records, full_every=2)["submitted"] == 0
    third = _audience(tmp_path, records, full_every=2)
    assert third["full"] is True
    assert third["counts"]["resends"] == 15


def test_a_corrupt_state_means_one_full_sync(fast: EmulatorFixture, sent: _Sent, tmp_path: Path) -> None:
    records = contacts(15)
    first = _audience(tmp_path, records)
    Path(first["state_path"]).write_bytes(Path(first["state_path"]).read_bytes()[:-3])
    second = _audience(tmp_path, records)
    assert second["full"] is True
    assert "not a readable state file" in second["history"]["full_reason"]
    assert second["submitted"] == 15
    assert _audience(tmp_path, records)["submitted"] == 0


def test_the_sync_operators_old_audience_parameters_still_work_with_a_deprecation_warning(
    fast: EmulatorFixture, tmp_path: Path
) -> None:
    """DAGs written before ActiveCampaignAudienceSyncOperator keep running, on the same state."""
    records = contacts(30, Company="ACME")
    state = str(tmp_path / "state" / "customers.state")
    with pytest.warns(AirflowProviderDeprecationWarning, match=r"only_changed, state_path\) is deprecated"):
        first = run_sync(tmp_path, contacts=records, only_changed=True, state_path=state, tags=["customer"])
    assert (first["counts"]["creates"], first["succeeded"], first["full"]) == (30, 30, True)
    # The new operator takes over the state the old parameters wrote: nothing changed, nothing is sent.
    second = _audience(tmp_path, records, state_path=state, tags=["customer"])
    assert (second["counts"]["unchanged"], second["submitted"]) == (30, 0)
    with pytest.warns(AirflowProviderDeprecationWarning, match="ActiveCampaignAudienceSyncOperator"):
        plan = run_sync(
            tmp_path, contacts=records[:29], mode="plan", mirror=True, state_path=state, tags=["customer"]
        )
    assert (plan["counts"]["departed"], plan["counts"]["untags"]) == (1, 1)
    assert "plan_digest" in plan
