"""Endpoint safety: an endpoint that could leave ``/api/3/`` is refused before anything is sent.

Against the emulator over a real socket, for the sync hook, the async hook and the API operator
(alone and in a DAG run); the emulator's request log proves that no request reached it.
"""

from __future__ import annotations

from typing import Any

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_activecampaign.exceptions import ActiveCampaignUnsafeEndpointError
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.hooks.activecampaign_async import ActiveCampaignAsyncHook
from airflow_provider_activecampaign.operators.api import ActiveCampaignApiOperator

pytestmark = pytest.mark.integration

ESCAPES = [
    "../../_emulator/reset",  # the reported breach: left /api/3 and reset the emulator
    "contacts/../../../_emulator/reset",
    "%2e%2e/%2e%2e/_emulator/reset",
    "%2E%2E/%2E%2E/_emulator/reset",
    "%252e%252e/%252e%252e/_emulator/reset",  # encoded twice
    "contacts%2f..%2f..%2f_emulator%2freset",
    "contacts%5c..%5c_emulator",
    "contacts\\..\\_emulator",
    "./contacts",
    "//127.0.0.1:1/api/3/contacts",
    "http://127.0.0.1:1/api/3/contacts",
    "https://evil.example.com/api/3/contacts",
    "contacts\r\nX-Injected: 1",
]


def api_requests(emulator: EmulatorFixture) -> list[dict[str, Any]]:
    """Every request the emulator logged on its API (its control routes are not in the log)."""
    return list(emulator.requests()["requests"])


@pytest.mark.parametrize("endpoint", ESCAPES)
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_the_sync_hook_refuses_an_escaping_endpoint_before_sending(
    emulator: EmulatorFixture, endpoint: str, method: str
) -> None:
    before = api_requests(emulator)
    with pytest.raises(ActiveCampaignUnsafeEndpointError, match="refused before anything was sent") as raised:
        ActiveCampaignHook().request(method, endpoint, json={} if method == "POST" else None)
    assert isinstance(raised.value, AirflowFailException)  # Airflow does not retry it
    assert "relative to /api/3" in str(raised.value)
    assert api_requests(emulator) == before


@pytest.mark.parametrize("endpoint", ESCAPES[:6])
async def test_the_async_hook_refuses_an_escaping_endpoint_before_sending(
    emulator: EmulatorFixture, endpoint: str
) -> None:
    before = api_requests(emulator)
    async with ActiveCampaignAsyncHook() as hook:
        with pytest.raises(ActiveCampaignUnsafeEndpointError):
            await hook.request("GET", endpoint)
    assert api_requests(emulator) == before


def test_safe_spellings_still_reach_api_3(emulator: EmulatorFixture) -> None:
    hook = ActiveCampaignHook()
    for endpoint in ("users/me", "/users/me", "api/3/users/me", " users/me "):
        assert hook.get(endpoint)["user"]["username"] == "admin"
    paths = [entry["path"] for entry in api_requests(emulator)]
    assert paths[-4:] == ["/api/3/users/me"] * 4


@pytest.mark.parametrize("endpoint", ["../../_emulator/reset", "%2e%2e/%2e%2e/_emulator/reset"])
def test_the_api_operator_refuses_the_reported_escape(emulator: EmulatorFixture, endpoint: str) -> None:
    tag = ActiveCampaignHook().post("tags", json={"tag": {"tag": "kept", "tagType": "contact"}})["tag"]
    before = api_requests(emulator)
    operator = ActiveCampaignApiOperator(task_id="call", endpoint=endpoint, method="POST", body={})
    with pytest.raises(ActiveCampaignUnsafeEndpointError, match="relative to /api/3"):
        operator.execute({})
    with pytest.raises(ActiveCampaignUnsafeEndpointError):
        ActiveCampaignApiOperator(task_id="read", endpoint=endpoint, paginate=True).execute({})
    assert api_requests(emulator) == before
    assert ActiveCampaignHook().get(f"tags/{tag['id']}")["tag"]["tag"] == "kept"  # no reset happened


def test_a_dag_run_fails_the_task_without_a_retry_and_sends_nothing(
    emulator: EmulatorFixture, run_dag: Any
) -> None:
    emulator.export_connection()
    before = api_requests(emulator)
    dagrun = run_dag("api_call", conf={"endpoint": "../../_emulator/reset", "method": "POST", "body": {}})
    assert run_dag.task_states(dagrun) == {"call": "failed"}
    assert api_requests(emulator) == before
