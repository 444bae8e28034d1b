"""ActiveCampaignApiOperator with a stub hook: arguments, the XCom cap, and how write failures end."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_activecampaign.exceptions import ActiveCampaignAmbiguousWriteError
from airflow_provider_activecampaign.operators.api import ActiveCampaignApiOperator, ResultTooLargeError


class StubHook:
    def __init__(self, answer: Any = None, error: Exception | None = None) -> None:
        self.answer, self.error = answer, error
        self.calls: list[tuple[Any, ...]] = []

    def request(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        self.calls.append((method, endpoint, kwargs))
        if self.error is not None:
            raise self.error
        return self.answer


def operator(hook: StubHook, **options: Any) -> ActiveCampaignApiOperator:
    op = ActiveCampaignApiOperator(task_id="call", **options)
    op.__dict__["hook"] = hook  # the cached hook property
    return op


def test_exactly_one_of_endpoint_and_api_action() -> None:
    with pytest.raises(ValueError, match="exactly one of endpoint"):
        ActiveCampaignApiOperator(task_id="x")
    with pytest.raises(ValueError, match="exactly one of endpoint"):
        ActiveCampaignApiOperator(task_id="x", endpoint="deals", api_action="campaign_list")
    with pytest.raises(ValueError, match="v3 list endpoints only"):
        ActiveCampaignApiOperator(task_id="x", api_action="campaign_list", paginate=True)


def test_an_ambiguous_write_fails_without_a_task_retry() -> None:
    hook = StubHook(error=ActiveCampaignAmbiguousWriteError("POST /deals timed out"))
    with pytest.raises(AirflowFailException, match="was not resent and the task will not retry"):
        operator(hook, endpoint="deals", method="post", body={"deal": {}}).execute({})
    assert [c[:2] for c in hook.calls] == [("POST", "deals")]


def test_a_big_read_fails_clearly_but_a_big_successful_write_returns_a_summary() -> None:
    big = {"deal": {"description": "x" * 500}}
    with pytest.raises(ResultTooLargeError, match=r"returned .* bytes, more than max_xcom_bytes=100"):
        operator(StubHook(big), endpoint="deals/1", max_xcom_bytes=100).execute({})
    summary = operator(StubHook(big), endpoint="deals", method="POST", max_xcom_bytes=100).execute({})
    assert summary["truncated"] is True
    assert summary["keys"] == ["deal"]
    assert operator(StubHook({"ok": 1}), endpoint="users/me").execute({}) == {"ok": 1}


def test_unknown_methods_and_bad_queries_fail_before_any_call() -> None:
    hook = StubHook({})
    with pytest.raises(AirflowFailException, match="Unknown HTTP method 'FETCH'"):
        operator(hook, endpoint="deals", method="FETCH").execute({})
    with pytest.raises(AirflowFailException, match="query must be a mapping"):
        operator(hook, endpoint="deals", query="limit=5").execute({})
    assert hook.calls == []
