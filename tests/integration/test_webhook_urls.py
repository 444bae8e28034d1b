"""Webhook URLs checked against the reference before registering, with the emulator in both modes.

SPEC (POST /webhooks): "for https endpoints, we only can send webhooks on port 443". The
reference documents only a 201 for POST /webhooks: that the live API refuses another port is not
documented, so the emulator's 422 is *assumed* (``webhook_https_port_check``). Either way the
webhook would never fire, so the operator refuses such a URL before sending anything, naming the
parameter and never the token; a URL on 443 registers in both modes.
"""

from __future__ import annotations

from typing import Any

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_activecampaign.operators.webhooks import ActiveCampaignRegisterWebhooksOperator

pytestmark = pytest.mark.integration

TOKEN = "t0ken-" + "x" * 26


class FakeTI:
    """The task instance fields the operator reads (XCom, and the write journal's scope)."""

    dag_id = "webhook_urls"
    run_id = "manual__webhook_urls"
    task_id = "register"
    map_index = -1
    try_number = 1

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_pull(self, **_: Any) -> None:
        return None

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def register(public_base_url: str) -> dict[str, Any]:
    operator = ActiveCampaignRegisterWebhooksOperator(
        task_id="register", public_base_url=public_base_url, events=["unsubscribe"]
    )
    result: dict[str, Any] = operator.execute({"ti": FakeTI()})  # type: ignore[arg-type]
    return result


def webhook_writes(emulator: EmulatorFixture) -> int:
    counts = emulator.requests()["counts"]
    return sum(
        n for key, n in counts.items() if key.startswith(("POST /api/3/webhooks", "PUT /api/3/webhooks"))
    )


@pytest.mark.parametrize("port_check", [True, False], ids=["emulator-refuses-port", "reference-only"])
def test_an_https_url_off_port_443_is_refused_before_registering(
    emulator: EmulatorFixture, port_check: bool
) -> None:
    emulator.export_connection(webhook_token=TOKEN)
    emulator.set_assumed(webhook_https_port_check=port_check)
    with pytest.raises(AirflowFailException) as caught:
        register("https://airflow.example.com:8443")
    message = str(caught.value)
    assert "public_base_url" in message
    assert "port 443" in message
    assert ":8443" in message
    assert TOKEN not in message
    assert webhook_writes(emulator) == 0
    assert [w for w in emulator.client.webhooks()["webhooks"] if w["name"] == "airflow"] == []


@pytest.mark.parametrize("port_check", [True, False], ids=["emulator-refuses-port", "reference-only"])
@pytest.mark.parametrize("base", ["https://airflow.example.com", "https://airflow.example.com:443"])
def test_an_https_url_on_443_registers(emulator: EmulatorFixture, port_check: bool, base: str) -> None:
    emulator.export_connection(webhook_token=TOKEN)
    emulator.set_assumed(webhook_https_port_check=port_check)
    report = register(base)
    assert report["created"] == ["airflow"]
    assert webhook_writes(emulator) == 1


def test_the_emulator_switch_is_what_differs(emulator: EmulatorFixture) -> None:
    """Sent directly (as another client could), the emulator refuses port 8443 only while the check is on."""
    import httpx

    body = {
        "webhook": {
            "name": "direct",
            "url": "https://elsewhere.example.com:8443/hook",
            "events": ["unsubscribe"],
            "sources": ["api"],
        }
    }
    headers = {"Api-Token": emulator.api_key}
    emulator.expect_off_reference("the emulator's assumed 422 is under test, both ways")
    refused = httpx.post(f"{emulator.url}/api/3/webhooks", json=body, headers=headers, timeout=10)
    assert refused.status_code == 422
    emulator.set_assumed(webhook_https_port_check=False)
    created = httpx.post(f"{emulator.url}/api/3/webhooks", json=body, headers=headers, timeout=10)
    assert created.status_code == 201
