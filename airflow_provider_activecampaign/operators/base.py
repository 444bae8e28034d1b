"""What every ActiveCampaign operator shares: the connection id and a lazily built hook."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import Any, Protocol

from airflow.sdk import BaseOperator, Context, ObjectStoragePath

from airflow_provider_activecampaign.hooks import metrics
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.records.failures import FailureReport
from airflow_provider_activecampaign.records.journal import WriteJournal
from airflow_provider_activecampaign.records.paths import safe_path_part as _safe
from airflow_provider_activecampaign.records.ratio import (  # noqa: F401  (re-exported)
    check_failure_ratio,
    enforce_failure_ratio,
    failure_ratio_message,
    percent,
)
from airflow_provider_activecampaign.records.sources import ContactSource, open_source
from airflow_provider_activecampaign.records.upsert import UpsertTally, mapped_columns, run_records


class ActiveCampaignBaseOperator(BaseOperator):
    """Base of the provider's operators: holds ``activecampaign_conn_id``, builds the hook on first use.

    :param activecampaign_conn_id: The ActiveCampaign connection (default ``activecampaign_default``).
    """

    template_fields: Sequence[str] = ("activecampaign_conn_id",)
    ui_color = "#356ae6"
    ui_fgcolor = "#ffffff"

    def __init__(
        self, *, activecampaign_conn_id: str = ActiveCampaignHook.default_conn_name, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.activecampaign_conn_id = activecampaign_conn_id

    @cached_property
    def hook(self) -> ActiveCampaignHook:
        return ActiveCampaignHook(activecampaign_conn_id=self.activecampaign_conn_id)


def default_failures_path(context: Context) -> str:
    """``<tmp>/airflow-activecampaign/<dag>/<task>/<run>[-<map index>]/failures.jsonl`` on the worker."""
    ti = context["ti"]
    run = _safe(ti.run_id)
    map_index = getattr(ti, "map_index", -1)
    if map_index is not None and map_index >= 0:
        run = f"{run}-{map_index}"
    folder = f"{tempfile.gettempdir()}/airflow-activecampaign/{_safe(ti.dag_id)}/{_safe(ti.task_id)}"
    return f"{folder}/{run}/failures.jsonl"


class ActiveCampaignRecordsOperator(ActiveCampaignBaseOperator):
    """Base of the operators that write one ActiveCampaign object per source record.

    They read records the same way as the contacts sync (a list of dicts, a CSV or JSON Lines file
    on any ``ObjectStoragePath``, or a SQL query; streamed), report rejected records to a JSON Lines
    failures file, and fail above ``max_failure_ratio``; this class holds those parameters once.

    :param source_path: A CSV or JSON Lines file. (templated)
    :param source_format: ``csv`` or ``jsonl``; by default from the file name.
    :param csv_delimiter: CSV delimiter (default ``,``).
    :param encoding: Text encoding of ``source_path`` (default UTF-8). (templated)
    :param sql: A query whose rows are the records. (templated)
    :param sql_conn_id: The Airflow connection ``sql`` runs on. (templated)
    :param sql_parameters: Query parameters. (templated)
    :param field_map: ``{"source column": "target column"}``; ``None`` drops a column. (templated)
    :param failures_path: Where rejected and failed records go, as JSON Lines. (templated)
    :param max_failure_ratio: Fail if more than this share of records was rejected or failed. (templated)
    """

    #: The template fields every records operator has; subclasses add their own in front.
    source_template_fields: Sequence[str] = (
        "source_path",
        "encoding",
        "sql",
        "sql_conn_id",
        "sql_parameters",
        "field_map",
        "failures_path",
        "max_failure_ratio",
    )
    template_ext: Sequence[str] = (".sql",)

    def __init__(
        self,
        *,
        source_path: Any = None,
        source_format: str | None = None,
        csv_delimiter: str | None = None,
        encoding: str | None = None,
        sql: str | None = None,
        sql_conn_id: str | None = None,
        sql_parameters: Any = None,
        field_map: Mapping[str, str | None] | None = None,
        failures_path: str | None = None,
        max_failure_ratio: float | str = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source_path = source_path
        self.source_format = source_format
        self.csv_delimiter = csv_delimiter
        self.encoding = encoding
        self.sql = sql
        self.sql_conn_id = sql_conn_id
        self.sql_parameters = sql_parameters
        self.field_map = field_map
        self.failures_path = failures_path
        if not isinstance(max_failure_ratio, str):  # a template is checked once rendered
            check_failure_ratio(max_failure_ratio)
        self.max_failure_ratio = max_failure_ratio

    def open_records(self, records: Any) -> ContactSource:
        """The one source this task reads: ``records``, ``source_path`` or ``sql``, whichever is set."""
        return open_source(
            contacts=records,
            source_path=self.source_path,
            source_format=self.source_format,
            csv_delimiter=self.csv_delimiter,
            encoding=self.encoding,
            sql=self.sql,
            sql_conn_id=self.sql_conn_id,
            sql_parameters=self.sql_parameters,
        )

    def failures_location(self, context: Context) -> ObjectStoragePath:
        """``failures_path``, or a per-task-instance file on the worker."""
        return ObjectStoragePath(self.failures_path or default_failures_path(context))

    def rendered_failure_ratio(self) -> float:
        return check_failure_ratio(float(self.max_failure_ratio))

    def write_records(
        self,
        context: Context,
        records: Any,
        writer: RecordWriter,
        *,
        identify: Callable[[Mapping[str, Any]], dict[str, Any]],
        refused: tuple[type[BaseException], ...] = (),
        failures: FailureReport | None = None,
    ) -> tuple[FailureReport, ObjectStoragePath]:
        """Every record of the task's source through ``writer``: the loop every records operator runs.

        The source is opened, the failures report and the writer's write journal are open for the
        whole loop, the columns are checked once (``writer.prepare``) before anything is written (an
        empty source has none: nothing to check, nothing to write), and each bad or refused record
        becomes a report line while the others go. Returns the report and where it is.

        ``failures``: the report, when the writer was built to add its own lines to it (at
        :meth:`failures_location`); opened and closed here.
        """
        path = self.failures_location(context)
        if failures is None:
            failures = FailureReport(path)
        source = self.open_records(records)
        with source, failures, writer.journal:
            columns = mapped_columns(source.columns, self.field_map)
            if columns:
                writer.prepare(columns)
            run_records(
                source,
                writer.upsert,
                failures,
                writer.tally,
                field_map=self.field_map,
                identify=identify,
                refused=refused,
            )
        metrics.record_rows(
            type(self).__name__,
            ok=writer.tally.created + writer.tally.updated + writer.tally.unchanged,
            rejected=writer.tally.rejected,
            failed=writer.tally.failed,
            unknown=writer.tally.unknown,
        )
        return failures, path

    def finish_records(
        self,
        tally: UpsertTally,
        ratio: float,
        failures: FailureReport,
        path: ObjectStoragePath,
        *,
        label: str,
        what: str,
        after: str,
        also: str = "",
    ) -> dict[str, Any]:
        """End the task as every records writer does: one summary line, the failure-ratio rule, the result.

        Every writer counts in an :class:`UpsertTally`, so each reports alike; ``also`` adds the
        writer's own clause to the line (``"; contacts: ..."``).
        """
        self.log.info("%s: %s%s. Report: %s", label, tally.describe(), also, path)
        # Rejected, failed and unknown records count as lost.
        enforce_failure_ratio(
            tally.rejected + tally.failed + tally.unknown,
            tally.records,
            ratio,
            report=str(path),
            what=what,
            happened="failed, were rejected or are unknown" if tally.unknown else "failed or were rejected",
            detail=f" ({tally.failed:,} failed, {tally.rejected:,} rejected"
            + (f", {tally.unknown:,} unknown)" if tally.unknown else ")"),
            first=failures.describe_first(),
            after=after,
        )
        return {**tally.to_json(), "failures": failures.first, "failures_path": str(path)}


class RecordWriter(Protocol):
    """What :meth:`ActiveCampaignRecordsOperator.write_records` drives (deals, accounts, custom objects)."""

    journal: WriteJournal
    tally: UpsertTally

    def prepare(self, columns: list[str]) -> None: ...

    def upsert(self, record: dict[str, Any]) -> Any: ...
