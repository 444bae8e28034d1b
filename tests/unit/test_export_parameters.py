"""ActiveCampaignExportOperator: a parameter mistake fails before any request, naming the parameter.

Written for issue 22: ``api_params=["a","b"]`` failed with "dictionary update sequence element #0",
``updated_after="yesterday"`` with pendulum's parser message, and an unknown ``timezone`` was
accepted in full mode (it is only used to place naive timestamps in a window).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_activecampaign.operators.export import ActiveCampaignExportOperator


class NoCallsHook:
    """Any request is a failure: parameters must be refused before the first one."""

    activecampaign_conn_id = "none"
    base_url = "https://acme.api-us1.com"

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the hook was used ({name}) before the parameters were checked")


def execute(**options: Any) -> None:
    options.setdefault("resource", "deals")
    options.setdefault("output_path", "/tmp/never-written.jsonl")
    operator = ActiveCampaignExportOperator(task_id="export", **options)
    operator.__dict__["hook"] = NoCallsHook()  # the cached hook property
    context = {
        "data_interval_start": datetime(2024, 3, 1, tzinfo=UTC),
        "data_interval_end": datetime(2024, 3, 2, tzinfo=UTC),
    }
    operator.execute(context)  # type: ignore[arg-type]


@pytest.mark.parametrize("api_params", [["a", "b"], "filters[group]=2", {"filters[group]": {"x": 1}}])
def test_api_params_must_be_a_mapping_of_plain_values(api_params: Any) -> None:
    with pytest.raises(AirflowFailException, match="api_params") as caught:
        execute(api_params=api_params)
    assert "dictionary update sequence" not in str(caught.value)


@pytest.mark.parametrize("name", ["updated_after", "updated_before"])
def test_a_bound_that_is_not_a_date_names_the_parameter_and_the_value(name: str) -> None:
    with pytest.raises(AirflowFailException, match=rf"{name}='yesterday'.*ISO 8601"):
        execute(**{name: "yesterday"})


@pytest.mark.parametrize("mode", ["full", "auto", "incremental"])
def test_an_unknown_timezone_is_refused_in_every_mode(mode: str) -> None:
    with pytest.raises(AirflowFailException, match=r"timezone='Mars/Olympus'.*IANA"):
        execute(timezone="Mars/Olympus", mode=mode)
