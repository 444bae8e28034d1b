"""The thin contact operators: parameters checked at parse time, deprecations, the one routing rule."""

from __future__ import annotations

import warnings
from pathlib import Path
from unittest.mock import MagicMock

import pytest
from airflow.exceptions import AirflowProviderDeprecationWarning

from airflow_provider_activecampaign.contacts.audience import service as audience_service
from airflow_provider_activecampaign.contacts.mapping import ContactBatch, PreparedContact, serialized_size
from airflow_provider_activecampaign.contacts.routing import BatchRouter, goes_to_contact_sync
from airflow_provider_activecampaign.operators.contacts import (
    DEPRECATED_AUDIENCE_PARAMETERS,
    ActiveCampaignAudienceSyncOperator,
    ActiveCampaignSyncContactsOperator,
)
from airflow_provider_activecampaign.triggers.contacts import ActiveCampaignBulkImportTrigger

RECORDS = [{"email": "a@example.com"}]


def batch(size: int, *, follows_earlier: bool = False) -> ContactBatch:
    contacts = []
    for row in range(size):
        body = {"email": f"user{row}@example.com"}
        contacts.append(PreparedContact(row, body["email"], body, serialized_size(body)))
    return ContactBatch(contacts, follows_earlier=follows_earlier)


def test_a_plain_sync_warns_nothing() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", AirflowProviderDeprecationWarning)
        task = ActiveCampaignSyncContactsOperator(task_id="sync", contacts=RECORDS)
    assert not task.audience.enabled


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"only_changed": True, "state_path": "/tmp/s"}, "only_changed, state_path"),
        ({"mirror": True, "state_path": "/tmp/s", "max_removals": 5}, "max_removals, mirror, state_path"),
        ({"mode": "plan"}, "mode"),
    ],
)
def test_the_old_audience_parameters_warn_and_name_themselves(options: dict[str, object], named: str) -> None:
    with pytest.warns(AirflowProviderDeprecationWarning, match=rf"\({named}\) is deprecated") as caught:
        task = ActiveCampaignSyncContactsOperator(task_id="sync", contacts=RECORDS, **options)
    assert "ActiveCampaignAudienceSyncOperator" in str(caught[0].message)
    assert task.audience.enabled


def test_the_old_parameters_at_their_defaults_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", AirflowProviderDeprecationWarning)
        ActiveCampaignSyncContactsOperator(task_id="sync", contacts=RECORDS, **DEPRECATED_AUDIENCE_PARAMETERS)


def test_the_old_parameters_are_checked_as_before() -> None:
    with (
        pytest.warns(AirflowProviderDeprecationWarning),
        pytest.raises(ValueError, match="need a state_path"),
    ):
        ActiveCampaignSyncContactsOperator(task_id="sync", contacts=RECORDS, only_changed=True)


def test_the_audience_operator_takes_the_same_parameters_without_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", AirflowProviderDeprecationWarning)
        task = ActiveCampaignAudienceSyncOperator(
            task_id="audience", contacts=RECORDS, state_path="/tmp/s", mirror=True, max_removals=5
        )
    assert task.audience.only_changed
    assert task.audience.mirror
    for name in ("state_path", "plan_path", "history_path", "changelog_path", "max_removals", "source_path"):
        assert name in task.template_fields


def test_the_audience_operator_needs_something_to_do_and_a_state() -> None:
    with pytest.raises(ValueError, match="need a state_path"):
        ActiveCampaignAudienceSyncOperator(task_id="audience", contacts=RECORDS)
    with pytest.raises(ValueError, match="Nothing for an audience sync to do"):
        ActiveCampaignAudienceSyncOperator(task_id="audience", contacts=RECORDS, only_changed=False)


def test_both_operators_check_the_source_when_the_dag_is_parsed() -> None:
    for operator in (ActiveCampaignSyncContactsOperator, ActiveCampaignAudienceSyncOperator):
        with pytest.raises(ValueError, match="exactly one source"):
            operator(task_id="t", contacts=RECORDS, source_path="/tmp/x.csv", state_path="/tmp/s")
        with pytest.raises(ValueError, match="batch_size must be between 1 and 250"):
            operator(task_id="t", contacts=RECORDS, batch_size=251, state_path="/tmp/s")


@pytest.mark.parametrize(
    ("size", "exclude", "follows", "small"),
    [
        (9, False, False, True),
        (10, False, False, False),  # sync_below=10: ten contacts go to the importer
        (9, True, False, False),  # contact/sync cannot exclude automations
        (9, False, True, False),  # after an earlier batch with one of its emails: importer, in order
    ],
)
def test_the_one_routing_rule(size: int, exclude: bool, follows: bool, small: bool) -> None:
    candidate = batch(size, follows_earlier=follows)
    assert goes_to_contact_sync(candidate, sync_below=10, exclude_automations=exclude) is small
    pipeline, writer = MagicMock(), MagicMock()
    BatchRouter(pipeline, writer, sync_below=10, exclude_automations=exclude)(candidate)
    assert writer.write.called is small
    assert pipeline.submit.called is not small


def test_the_audience_apply_routes_through_the_same_rule() -> None:
    """No twin of the rule: the audience apply sends through BatchRouter."""
    assert audience_service.BatchRouter is BatchRouter
    source = Path(audience_service.__file__).read_text(encoding="utf-8")
    assert "follows_earlier" not in source


def test_the_bulk_import_trigger_keeps_its_classpath() -> None:
    """A deferred task resumes through the classpath it serialised before an upgrade."""
    classpath, kwargs = ActiveCampaignBulkImportTrigger(
        batch_ids=["b1"], activecampaign_conn_id="ac", poll_interval=3.0
    ).serialize()
    assert classpath == "airflow_provider_activecampaign.triggers.contacts.ActiveCampaignBulkImportTrigger"
    assert kwargs["batch_ids"] == ["b1"]
