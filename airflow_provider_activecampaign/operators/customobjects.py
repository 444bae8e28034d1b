"""Upsert custom-object records from a warehouse by external id (rules: ``customobjects/records.py``).

See ``docs/operators/custom-objects.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import Context

from airflow_provider_activecampaign.customobjects.records import CustomObjectUpserter
from airflow_provider_activecampaign.operators.base import (
    ActiveCampaignRecordsOperator,
)
from airflow_provider_activecampaign.records.journal import WriteJournal, request_deadline_seconds


class ActiveCampaignUpsertCustomObjectRecordsOperator(ActiveCampaignRecordsOperator):
    """Create or update the records of one custom object, by external id, with fields by name.

    Records come from exactly one source: ``records`` (a list of dicts), ``source_path`` (CSV or
    JSON Lines at any ``ObjectStoragePath`` URI) or ``sql`` + ``sql_conn_id``, streamed. The
    ``external_id_column`` identifies each record; every other column is a field of the schema, by
    its id or label (unknown columns fail before anything is written), except the
    ``relationship_columns``, which hold related contact, account or deal ids.

    A re-run writes nothing: the schema's records are read once and only new or changed records are
    sent; every write goes through the write journal, so a killed or timed-out try never writes a
    record twice. A bad value is rejected with its row and field while the other records go.

    :param schema: The custom object: its slug, label or schema id. (templated)
    :param records: Records as a list of dicts (or a JSON string of one). (templated)
    :param external_id_column: The column holding each record's external id. (templated)
    :param relationship_columns: ``{"source column": "relationship id"}``, e.g.
        ``{"contact_id": "primary-contact"}``. (templated)
    """

    template_fields: Sequence[str] = (
        "activecampaign_conn_id",
        "schema",
        "records",
        "external_id_column",
        "relationship_columns",
        *ActiveCampaignRecordsOperator.source_template_fields,
    )

    def __init__(
        self,
        *,
        schema: str,
        records: Any = None,
        external_id_column: str = "external_id",
        relationship_columns: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.schema = schema
        self.records = records
        self.external_id_column = external_id_column
        self.relationship_columns = relationship_columns

    def execute(self, context: Context) -> dict[str, Any]:
        ratio = self.rendered_failure_ratio()
        upserter = CustomObjectUpserter(
            self.hook,
            self.schema,
            external_id_column=self.external_id_column,
            relationship_columns=self.relationship_columns,
            journal=WriteJournal.for_task(context),
            deadline_seconds=request_deadline_seconds(self.hook),
            logger=self.log,
        )
        failures, path = self.write_records(
            context,
            self.records,
            upserter,
            identify=lambda record: {"external_id": record.get(self.external_id_column)},
        )
        return self.finish_records(
            upserter.tally,
            ratio,
            failures,
            path,
            label=f"Custom object {self.schema!r}",
            what="custom-object records",
            after="The other records were written; re-running writes only what is missing or differs.",
        )
