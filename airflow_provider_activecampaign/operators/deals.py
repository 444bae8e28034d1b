"""Upsert deals from the warehouse by an external key, never twice (rules: ``deals/sync.py``).

See ``docs/operators/deals.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from airflow_provider_activecampaign.deals.sync import VALUE_UNITS, DealCreateUnresolvedError, DealUpserter
from airflow_provider_activecampaign.operators.base import (
    ActiveCampaignRecordsOperator,
)
from airflow_provider_activecampaign.records.journal import WriteJournal, request_deadline_seconds


class ActiveCampaignSyncDealsOperator(ActiveCampaignRecordsOperator):
    """Create or update deals keyed by an external id kept in a deal custom field; never twice.

    Records come from exactly one source: ``deals`` (a list of dicts), ``source_path`` (CSV or JSON
    Lines at any ``ObjectStoragePath`` URI) or ``sql`` + ``sql_conn_id``, streamed. Columns
    ``title``, ``value``, ``currency``, ``pipeline``, ``stage``, ``owner`` (username or email),
    ``contact`` (email), ``account`` (name), ``status`` (open, won, lost), ``description`` and
    ``percent`` are the deal; every other column is a deal custom field by its label. Unknown
    columns, a missing key field or an unknown default pipeline fail before anything is written; a
    record with a bad value is rejected (row, field, reason) and the others still go.

    A key already held by a deal updates that deal (nothing is sent when nothing differs), any other
    key creates one deal, with the key written by the same call. A retry, a re-run or a create that
    failed after reaching ActiveCampaign never makes a second deal for a key: the keys are read
    back first (see ``deals/sync.py``).

    :param deals: Records as a list of dicts (or a JSON string of one). (templated)
    :param source_path: A CSV or JSON Lines file, any ``ObjectStoragePath`` URI. (templated)
    :param source_format: ``csv`` or ``jsonl``; by default from the file name.
    :param csv_delimiter: CSV delimiter (default ``,``).
    :param encoding: Text encoding of ``source_path`` (default UTF-8). (templated)
    :param sql: A query whose rows are the records. (templated)
    :param sql_conn_id: The Airflow connection ``sql`` runs on. (templated)
    :param sql_parameters: Query parameters. (templated)
    :param key_field: The deal custom field holding the external key (label, personalization tag
        or id); a text or hidden field created for this. (templated)
    :param key_column: The source column with each deal's key (default ``external_id``). (templated)
    :param pipeline: Default pipeline (title or id) for records without one. (templated)
    :param stage: Default stage (title or id) for records without one. (templated)
    :param deal_owner: Default deal owner (username, email or id); ``owner`` is Airflow's task owner.
        (templated)
    :param currency: Default currency (3-letter ISO code); else the pipeline's. (templated)
    :param value_unit: ``minor`` (default): ``value`` is ActiveCampaign's cents, 100 x the base
        unit (45678 is 456.78). ``major``: ``value`` is 456.78, converted exactly.
    :param field_map: ``{"source column": "deal column or custom field label"}``; ``None`` drops a
        column. (templated)
    :param failures_path: Where rejected and failed records go, as JSON Lines (default: a file
        under the worker's temp directory). (templated)
    :param max_failure_ratio: Fail the task if more than this share of records was rejected or
        failed (default 0: any). (templated)
    """

    template_fields: Sequence[str] = (
        "activecampaign_conn_id",
        "deals",
        "key_field",
        "key_column",
        "pipeline",
        "stage",
        "deal_owner",
        "currency",
        *ActiveCampaignRecordsOperator.source_template_fields,
    )

    def __init__(
        self,
        *,
        key_field: str,
        deals: Any = None,
        key_column: str = "external_id",
        pipeline: str | None = None,
        stage: str | None = None,
        deal_owner: str | None = None,
        currency: str | None = None,
        value_unit: str = "minor",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if value_unit not in VALUE_UNITS:
            raise ValueError(f"value_unit must be one of {VALUE_UNITS}, got {value_unit!r}")
        self.deals = deals
        self.key_field = key_field
        self.key_column = key_column
        self.pipeline = pipeline
        self.stage = stage
        self.deal_owner = deal_owner
        self.currency = currency
        self.value_unit = value_unit

    def execute(self, context: Context) -> dict[str, Any]:
        ratio = self.rendered_failure_ratio()
        upserter = DealUpserter(
            self.hook,
            key_field=self.key_field,
            key_column=self.key_column,
            pipeline=self.pipeline,
            stage=self.stage,
            owner=self.deal_owner,
            currency=self.currency,
            value_unit=self.value_unit,
            logger=self.log,
            journal=WriteJournal.for_task(context),
            deadline_seconds=request_deadline_seconds(self.hook),
        )
        failures, path = self.write_records(
            context,
            self.deals,
            upserter,
            identify=lambda record: {"key": record.get(self.key_column)},
            refused=(DealCreateUnresolvedError,),
        )
        return self.finish_records(
            upserter.tally,
            ratio,
            failures,
            path,
            label="Deals",
            what="deal records",
            after=(
                "The other deals were written; re-running is safe: deals are found by key before any create."
            ),
        )
