"""Unit tests of the send operator's decisions, with a fake hook (no HTTP)."""

from __future__ import annotations

from typing import Any
from unittest.mock import MagicMock

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_activecampaign.campaigns import sender
from airflow_provider_activecampaign.campaigns.api import ActiveCampaignCampaignError
from airflow_provider_activecampaign.exceptions import ActiveCampaignAmbiguousWriteError, ActiveCampaignError
from airflow_provider_activecampaign.operators.campaigns import ActiveCampaignSendCampaignOperator

PARTS: dict[str, Any] = {
    "subject": "Hi",
    "from_name": "Us",
    "from_email": "us@example.com",
    "html": "<p>hi</p>",
}
MESSAGE = {"id": "8", "subject": "Hi", "html": "<p>hi</p>", "cdate": "2025-01-15T10:00:00-05:00"}


class FakeConnection:
    def __init__(self, extra: dict[str, Any]) -> None:
        self.extra_dejson = extra


class FakeHook:
    """The hook surface the operator uses; records every write."""

    base_url = "https://acme.api-us1.com"

    def __init__(
        self, campaigns: list[list[dict[str, Any]]] | None = None, extra: dict[str, Any] | None = None
    ):
        self.scans = list(campaigns or [[]])
        self.extra = {"account_timezone": "America/New_York"} if extra is None else extra
        self.writes: list[tuple[str, Any]] = []
        self.create_error: Exception | None = None
        self.members = 3

    def get_connection(self, conn_id: str) -> FakeConnection:
        return FakeConnection(self.extra)

    def paginate(self, endpoint: str, *, key: str, params: Any = None) -> Any:
        if endpoint == "lists":
            return iter([{"id": "1", "name": "News"}])
        return iter(self.scans.pop(0) if len(self.scans) > 1 else self.scans[0])

    def get(self, endpoint: str, params: Any = None) -> Any:
        if endpoint == "contacts":
            return {"contacts": [], "meta": {"total": str(self.members)}}
        if endpoint.startswith("messages/"):
            return {"message": MESSAGE}
        if endpoint.startswith("campaigns/"):
            return {"campaign": {"id": endpoint.split("/")[1], "name": "x", "status": "1", "sdate": None}}
        raise AssertionError(endpoint)

    def post(self, endpoint: str, json: Any = None) -> Any:
        self.writes.append((endpoint, json))
        return {"message": {"id": "8"}}

    def legacy_request(
        self, action: str, *, params: Any = None, data: Any = None, method: str = "GET"
    ) -> Any:
        self.writes.append((action, data or params))
        if action == "campaign_create" and self.create_error is not None:
            raise self.create_error
        return {"id": "31", "result_code": 1}


def run(operator: ActiveCampaignSendCampaignOperator, hook: FakeHook) -> dict[str, Any]:
    operator.__dict__["hook"] = hook  # the cached_property's slot
    ti = MagicMock(dag_id="weekly", task_id=operator.task_id, map_index=-1)
    context: Any = {"ti": ti, "run_id": "scheduled__2025-01-06"}
    return operator.execute(context)


def campaign_creates(hook: FakeHook) -> list[Any]:
    return [w for w in hook.writes if w[0] == "campaign_create"]


def test_constructor_rejects_unclear_requests() -> None:
    with pytest.raises(ValueError, match="not both"):
        ActiveCampaignSendCampaignOperator(task_id="t", campaign_id=5, subject="Hi")
    with pytest.raises(ValueError, match="nothing to send"):
        ActiveCampaignSendCampaignOperator(task_id="t", lists=["A"])
    with pytest.raises(ValueError, match="lists is required"):
        ActiveCampaignSendCampaignOperator(task_id="t", **PARTS)
    ActiveCampaignSendCampaignOperator(task_id="t", campaign_id=5)  # a draft brings its own lists


def test_templating_contract() -> None:
    fields = set(ActiveCampaignSendCampaignOperator.template_fields)
    assert {"name", "html", "text", "subject", "lists", "send_at", "campaign_id", "test_emails"} <= fields
    assert ActiveCampaignSendCampaignOperator.template_ext == (".html",)


def test_default_name_and_a_fresh_send() -> None:
    hook = FakeHook()
    result = run(ActiveCampaignSendCampaignOperator(task_id="send", lists="News", **PARTS), hook)
    assert result["name"] == "weekly.send scheduled__2025-01-06"
    assert result["created"] is True
    assert result["recipients"] == 3
    [(_, form)] = campaign_creates(hook)
    assert form["name"] == "weekly.send scheduled__2025-01-06"
    assert form["status"] == 1


@pytest.mark.parametrize("status", ["1", "2", "3", "4", "5", "6"])
def test_an_existing_campaign_is_never_sent_again(status: str) -> None:
    hook = FakeHook([[{"id": "30", "name": "weekly.send scheduled__2025-01-06", "status": status}]])
    result = run(ActiveCampaignSendCampaignOperator(task_id="send", lists="News", **PARTS), hook)
    assert result["campaign_id"] == "30"
    assert result["created"] is False
    assert hook.writes == []  # no message, no campaign


def test_a_draft_with_the_name_is_refused_without_retry() -> None:
    hook = FakeHook([[{"id": "30", "name": "N", "status": "0"}]])
    with pytest.raises(ActiveCampaignCampaignError, match="draft campaign named 'N'") as caught:
        run(ActiveCampaignSendCampaignOperator(task_id="send", name="N", lists="News", **PARTS), hook)
    assert isinstance(caught.value, AirflowFailException)
    assert hook.writes == []


def test_ambiguous_create_is_read_back_not_repeated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sender, "READ_BACK_DELAYS", (0.0, 0.0))
    hook = FakeHook([[], [], [{"id": "31", "name": "N", "status": "1"}]])
    hook.create_error = ActiveCampaignAmbiguousWriteError("maybe", method="POST", url="u")
    result = run(ActiveCampaignSendCampaignOperator(task_id="send", name="N", lists="News", **PARTS), hook)
    assert result["campaign_id"] == "31"
    assert result["created"] is True
    assert len(campaign_creates(hook)) == 1


def test_ambiguous_create_not_found_fails_retryably(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sender, "READ_BACK_DELAYS", (0.0, 0.0))
    hook = FakeHook([[]])
    hook.create_error = ActiveCampaignAmbiguousWriteError("maybe", method="POST", url="u")
    # (It used to say "nothing was sent": untrue if the create lands late and its send goes out.)
    with pytest.raises(ActiveCampaignError, match="was sent once; no answer came back") as caught:
        run(ActiveCampaignSendCampaignOperator(task_id="send", name="N", lists="News", **PARTS), hook)
    assert not isinstance(caught.value, AirflowFailException)  # the retry reads back first
    assert len(campaign_creates(hook)) == 1


def test_a_retry_does_not_create_again_before_the_lost_create_settles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sender, "READ_BACK_DELAYS", (0.0, 0.0))
    hook = FakeHook([[], [], [], []])
    hook.create_error = ActiveCampaignAmbiguousWriteError("maybe", method="POST", url="u")
    operator = ActiveCampaignSendCampaignOperator(task_id="send", name="N", lists="News", **PARTS)
    operator.__dict__["hook"] = hook
    ti = MagicMock(dag_id="weekly", task_id="send", map_index=-1, run_id="scheduled__2025-01-06")
    with pytest.raises(ActiveCampaignError):
        operator.execute({"ti": ti})  # type: ignore[arg-type]
    hook.create_error = None
    with pytest.raises(ActiveCampaignError, match="was sent once by an earlier try") as caught:
        operator.execute({"ti": ti})  # type: ignore[arg-type]  # try 2: same task instance
    assert not isinstance(caught.value, AirflowFailException)
    assert len(campaign_creates(hook)) == 1


def test_max_recipients_refuses_before_any_write() -> None:
    hook = FakeHook()
    hook.members = 250_000
    operator = ActiveCampaignSendCampaignOperator(
        task_id="send", lists="News", max_recipients=200_000, **PARTS
    )
    with pytest.raises(ActiveCampaignCampaignError, match="250000 active members"):
        run(operator, hook)
    assert hook.writes == []


def test_unconfigured_timezone_is_refused_before_scheduling() -> None:
    hook = FakeHook(extra={})  # UTC assumed, but ActiveCampaign shows -05:00
    with pytest.raises(ActiveCampaignCampaignError, match="No account_timezone is configured"):
        run(ActiveCampaignSendCampaignOperator(task_id="send", lists="News", message_id=8), hook)
    assert campaign_creates(hook) == []


def test_configured_timezone_that_disagrees_is_refused_unless_told_otherwise() -> None:
    hook = FakeHook(extra={"account_timezone": "Europe/Berlin"})
    with pytest.raises(
        ActiveCampaignCampaignError, match=r"offset -05:00 .* Europe/Berlin had offset \+01:00"
    ):
        run(ActiveCampaignSendCampaignOperator(task_id="send", lists="News", message_id=8), hook)
    assert campaign_creates(hook) == []
    trusting = ActiveCampaignSendCampaignOperator(
        task_id="send", lists="News", message_id=8, verify_account_timezone=False
    )
    assert run(trusting, hook)["created"] is True


def test_send_at_is_converted_to_the_account_zone() -> None:
    hook = FakeHook()
    operator = ActiveCampaignSendCampaignOperator(
        task_id="send", lists="News", message_id=8, send_at="2025-03-09T12:00:00Z"
    )
    run(operator, hook)
    [(_, form)] = campaign_creates(hook)
    assert form["sdate"] == "2025-03-09 08:00:00"  # New York, after the clocks went forward


def test_dry_run_creates_a_draft_and_sends_tests_only() -> None:
    hook = FakeHook()
    operator = ActiveCampaignSendCampaignOperator(
        task_id="send", lists="News", test_emails="qa@example.com", **PARTS
    )
    result = run(operator, hook)
    assert result["status"] == "test_sent"
    [(_, form)] = campaign_creates(hook)
    assert form["status"] == 0
    assert form["name"].endswith(" [test]")
    assert [w[1]["action"] for w in hook.writes if w[0] == "campaign_send"] == ["test"]


def test_execute_complete() -> None:
    operator = ActiveCampaignSendCampaignOperator(task_id="send", lists="News", **PARTS)
    ti = MagicMock()
    ti.xcom_pull.return_value = {"campaign_id": "31", "name": "N", "scheduled_for": "t", "created": True}
    context: Any = {"ti": ti}
    report = {"campaign_id": "31", "name": "N", "status": "completed", "sends": 3, "recipients": 3}
    done = operator.execute_complete(context, {"status": "success", "outcome": "completed", "report": report})
    assert done == {**ti.xcom_pull.return_value, "status": "completed", "recipients": 3, "report": report}
    with pytest.raises(AirflowFailException):
        operator.execute_complete(context, {"status": "success", "outcome": "stopped", "report": report})
    with pytest.raises(ActiveCampaignError, match="boom"):
        operator.execute_complete(context, {"status": "error", "message": "boom"})


def test_send_at_without_account_timezone_warns_that_it_assumes_utc(mocker: Any) -> None:
    operator = ActiveCampaignSendCampaignOperator(
        task_id="send",
        lists="News",
        message_id=8,
        send_at="2025-03-09T12:00:00Z",
        verify_account_timezone=False,
    )
    log = mocker.patch.object(type(operator), "log", new_callable=mocker.PropertyMock)
    run(operator, FakeHook(extra={}))
    warnings = [str(call.args[0]) for call in log.return_value.warning.call_args_list]
    assert any("assuming the API user's time zone is UTC" in text for text in warnings), warnings
