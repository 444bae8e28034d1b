"""The contact sync as a service: read a source, map and batch it, send it, wait, and account for every row.

The operators stay thin (``execute`` -> this service -> the hook):
``ActiveCampaignSyncContactsOperator`` calls :meth:`ContactSyncService.run` and, when imports are
still running after ``defer_after``, defers with the :class:`PendingSync` it returns and finishes
with :meth:`ContactSyncService.resume`; ``ActiveCampaignAudienceSyncOperator`` calls
:meth:`ContactSyncService.plan` and :meth:`ContactSyncService.apply` (the only-changes, mirror and
plan/apply features of :mod:`~airflow_provider_activecampaign.contacts.audience`).

A CSV -> bulk import -> wait sync passes: the operator, this service, ``contacts.sources`` (rows),
``contacts.mapping`` (contacts and batches), ``contacts.routing`` (importer or ``contact/sync``),
``contacts.sync`` (pipeline, failure log), ``contacts.import_status`` (``GET /import/info``) and
the hook; it returns to the operator once.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from airflow.sdk import ObjectStoragePath
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_activecampaign.contacts.audience import service as audience
from airflow_provider_activecampaign.contacts.import_status import ImportInfo
from airflow_provider_activecampaign.contacts.mapping import (
    MAX_IMPORT_CONTACTS,
    BatchBuilder,
    ColumnPlan,
    ContactBuilder,
    DuplicateRow,
    FieldCatalogue,
    RecordRejected,
)
from airflow_provider_activecampaign.contacts.routing import DEFAULT_SYNC_BELOW, BatchRouter
from airflow_provider_activecampaign.contacts.sync import (
    INLINE_FAILURES,
    FailureLog,
    ImportPipeline,
    ProgressReporter,
    SmallBatchWriter,
    SyncTally,
    list_names,
    record_import_result,
)
from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignError,
    ActiveCampaignNotFoundError,
    ActiveCampaignValidationError,
)
from airflow_provider_activecampaign.hooks import metrics
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.records.failures import FailureReport
from airflow_provider_activecampaign.records.journal import WriteJournal
from airflow_provider_activecampaign.records.names import resolve_ids, split_names
from airflow_provider_activecampaign.records.ratio import check_failure_ratio, failure_ratio_message
from airflow_provider_activecampaign.records.sources import (
    DEFAULT_ENCODING,
    BadRecord,
    ContactSource,
    check_encoding,
    open_source,
)

#: Duplicate emails logged one by one; the rest are counted in one summary line.
LOGGED_DUPLICATES = 5


def seconds(value: timedelta | float | int) -> float:
    """A duration given as a timedelta or a number of seconds, in seconds."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def is_templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


# --------------------------------------------------------------------------------------------------
# What the operator passes
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceSpec:
    """Where the records come from: exactly one of ``contacts``, ``source_path`` or ``sql``."""

    contacts: Any = None
    source_path: Any = None
    source_format: str | None = None
    csv_delimiter: str | None = None
    encoding: str = DEFAULT_ENCODING
    sql: str | None = None
    sql_conn_id: str | None = None
    sql_parameters: Any = None

    def check(self) -> None:
        """Checked when the DAG is parsed: one source, a connection for SQL, a known encoding."""
        given = [
            name
            for name, value in (
                ("contacts", self.contacts),
                ("source_path", self.source_path),
                ("sql", self.sql),
            )
            if value is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "Give exactly one source: contacts, source_path or sql"
                + (f" (got {', '.join(given)})." if given else ".")
            )
        if self.sql is not None and not self.sql_conn_id:
            raise ValueError("sql needs sql_conn_id: the Airflow connection of the database to query.")
        if not is_templated(self.encoding):
            check_encoding(self.encoding)  # a typo fails when the DAG is parsed; a template, at run time

    def open(self) -> ContactSource:
        try:
            encoding = check_encoding(self.encoding)
        except ValueError as error:
            raise AirflowFailException(str(error)) from None  # a retry would not make it exist
        return open_source(
            contacts=self.contacts,
            source_path=self.source_path,
            source_format=self.source_format,
            csv_delimiter=self.csv_delimiter,
            encoding=encoding,
            sql=self.sql,
            sql_conn_id=self.sql_conn_id,
            sql_parameters=self.sql_parameters,
        )


@dataclass(frozen=True)
class MappingSpec:
    """How records become contacts: field names, lists, tags."""

    field_map: Mapping[str, str | None] | None = None
    subscribe_lists: Any = None
    unsubscribe_lists: Any = None
    tags: Any = None
    tags_column: str | None = None
    tag_separator: str = ","
    exclude_automations: bool = False


@dataclass(frozen=True)
class SendingSpec:
    """How contacts are sent and waited for."""

    batch_size: int = MAX_IMPORT_CONTACTS
    sync_below: int = DEFAULT_SYNC_BELOW
    progress_every: int = 10
    wait_for_completion: bool = True
    poll_interval: float = 5.0
    wait_timeout: float = 6 * 3600.0
    max_pending_batches: int = 100
    max_failure_ratio: float = 0.0

    def check(self) -> None:
        if not 1 <= self.batch_size <= MAX_IMPORT_CONTACTS:
            raise ValueError(
                f"batch_size must be between 1 and {MAX_IMPORT_CONTACTS}, got {self.batch_size}."
            )
        if self.poll_interval <= 0:
            raise ValueError("poll_interval must be positive.")
        check_failure_ratio(self.max_failure_ratio)


@dataclass(frozen=True)
class AudienceSpec:
    """The audience sync's own paths, beside :class:`audience.AudienceOptions`."""

    options: audience.AudienceOptions
    state_path: Any = None
    plan_path: Any = None
    history_path: Any = None
    changelog_path: Any = None
    max_removals: Any = None


@dataclass(frozen=True)
class PendingSync:
    """A sync whose imports still run: what resuming needs (JSON, for XCom) and what to wait for."""

    state: dict[str, Any]
    batch_ids: list[str]


# --------------------------------------------------------------------------------------------------
# Bookkeeping
# --------------------------------------------------------------------------------------------------


#: The one failure report of the records floor (it also records superseded duplicates).
FailuresReport = FailureReport


@dataclass
class Reading:
    """What was read from the source, for the result: rows, warnings about the source itself."""

    records: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass
class PreparedMapping:
    """A contact builder plus the names of the lists it uses (for messages)."""

    contacts: ContactBuilder
    list_names: dict[str, str]


def progress_when_failed(tally: SyncTally, failures: FailureLog) -> str:
    """What a failed sync had done, for its error message: what was sent, and what a re-run does."""
    total = f" of {tally.total:,}" if tally.total is not None else ""
    return (
        f"Before this failure the sync had submitted {tally.submitted:,}{total} records "
        f"({tally.batches:,} bulk imports, {tally.small_batches:,} small batches; {tally.confirmed:,} "
        f"confirmed imported) and rejected {failures.rejected:,}. Re-running the task sends every "
        "record again, which is safe: the importer and contact/sync upsert by email, so nothing is "
        "created twice."
    )


def describe_failure(failure: Mapping[str, Any]) -> str:
    where = f"row {failure.get('row')}" if failure.get("row") is not None else "a record"
    email = f" ({failure['email']})" if failure.get("email") else ""
    column = f" [{failure['field']}]" if failure.get("field") else ""
    return f"{where}{email}{column}: {failure.get('reason')}"


# --------------------------------------------------------------------------------------------------
# The service
# --------------------------------------------------------------------------------------------------


class ContactSyncService:
    """One contact sync: :meth:`run` (:meth:`resume` after a deferral), or :meth:`plan` and :meth:`apply`."""

    def __init__(
        self,
        hook: ActiveCampaignHook,
        source: SourceSpec,
        mapping: MappingSpec,
        sending: SendingSpec,
        *,
        logger: Any = None,
        operator_name: str = "ActiveCampaignSyncContactsOperator",
        journal: WriteJournal | None = None,
    ) -> None:
        self.hook = hook
        self.source = source
        self.mapping = mapping
        self.sending = sending
        self.log = logger or logging.getLogger(__name__)
        #: The task's write journal (tag creates of small batches); ``None``: a throwaway one.
        self.journal = journal
        #: The operator the row metrics are tagged with.
        self.operator_name = operator_name

    # -- plain sync -------------------------------------------------------------------------------

    def run(self, failures_path: str, *, defer_after: float | None = None) -> dict[str, Any] | PendingSync:
        """Send every record; wait for the imports (unless not waiting) and return the result.

        With ``defer_after`` (deferrable), imports still running that long after the last send are
        returned as a :class:`PendingSync` for the triggerer to wait for, instead of a result.
        """
        path = ObjectStoragePath(str(failures_path))
        sending = self.sending
        reading = Reading()
        with self.source.open() as source:
            self.log.info("Syncing contacts from %s.", source.description)
            prepared = self.prepare(source.columns)
            tally = SyncTally(total=source.total)
            with FailuresReport(path) as failures:
                progress = ProgressReporter(
                    tally, self.log, failures=failures, every_batches=max(1, sending.progress_every)
                )
                pipeline = ImportPipeline(
                    self.hook,
                    failures,
                    tally,
                    progress,
                    track=sending.wait_for_completion,
                    poll_interval=sending.poll_interval,
                    max_pending=sending.max_pending_batches,
                    wait_timeout=sending.wait_timeout,
                    logger=self.log,
                )
                small = SmallBatchWriter(
                    self.hook,
                    failures,
                    tally,
                    progress,
                    list_names=prepared.list_names if prepared else {},
                    logger=self.log,
                    journal=self.journal,
                )
                router = BatchRouter(
                    pipeline,
                    small,
                    sync_below=sending.sync_below,
                    exclude_automations=self.mapping.exclude_automations,
                )
                with pipeline:
                    try:
                        self._send_all(
                            source, prepared.contacts if prepared else None, failures, router, reading
                        )
                        progress.finished_sending(len(pipeline.pending))
                        if pipeline.pending and defer_after is not None:
                            # Imports that finish soon finish here (see defer_after).
                            pipeline.drain(until=time.monotonic() + defer_after)
                            pending = self._pending(pipeline, tally, failures, path, reading)
                            if pending is not None:
                                return pending
                        pipeline.drain()
                    except ActiveCampaignError as error:
                        error.amend(progress_when_failed(tally, failures))
                        raise
        return self._finish(tally, failures, str(path), reading)

    def _pending(
        self,
        pipeline: ImportPipeline,
        tally: SyncTally,
        failures: FailuresReport,
        path: ObjectStoragePath,
        reading: Reading,
    ) -> PendingSync | None:
        """What resuming needs, when imports are still running (``None`` when none are)."""
        pending = pipeline.pending_state()
        if not pending:
            return None  # everything turned out finished already
        state: dict[str, Any] = {
            "tally": tally.to_json(),
            "pending": pending,
            "failures_path": str(path),
            "rejected": failures.rejected,
            "failed": failures.failed,
            "duplicates": failures.duplicates,
            "first_failures": failures.first,
            "records": reading.records,
            "warnings": reading.warnings,
            "host": socket.gethostname(),
        }
        failures.close()
        self.log.info(
            "All records sent; waiting in the triggerer for %d bulk imports to finish.", len(pending)
        )
        return PendingSync(state=state, batch_ids=list(pending))

    def resume(self, state: Mapping[str, Any], event: Mapping[str, Any]) -> dict[str, Any]:
        """Merge the imports the trigger waited for (``event``) into the counts saved before deferring."""
        tally = SyncTally.from_json(state["tally"])
        path = ObjectStoragePath(state["failures_path"])
        if getattr(path, "protocol", "") in ("", "file") and not path.exists() and state.get("host"):
            self.log.warning(
                "%s was written on %s and is not on this worker; it will hold only the failures found "
                "after the wait. Set failures_path to shared storage for deferrable syncs.",
                path,
                state["host"],
            )
        failures = FailuresReport(
            path,
            append=True,
            rejected=int(state["rejected"]),
            failed=int(state["failed"]),
            duplicates=int(state.get("duplicates") or 0),
        )
        failures.first = list(state.get("first_failures") or [])
        records = state.get("records")
        reading = Reading(
            records=int(records) if records is not None else tally.submitted + failures.rejected,
            warnings=list(state.get("warnings") or []),
        )
        batches: Mapping[str, Any] = event.get("batches") or {}
        with failures:
            for batch_id, rows in (state.get("pending") or {}).items():
                result = batches.get(batch_id)
                if result is None:
                    raise AirflowException(f"The trigger returned no result for bulk import {batch_id}.")
                succeeded, _ = record_import_result(ImportInfo.from_json(batch_id, result), rows, failures)
                tally.confirmed += succeeded
        return self._finish(tally, failures, str(path), reading)

    # -- audience: plan, apply --------------------------------------------------------------------

    def plan(self, context: Mapping[str, Any], spec: AudienceSpec) -> dict[str, Any]:
        """Plan against the sync's state (a dry run: reads only); returns the plan's summary."""
        with self.source.open() as source:
            self.log.info("Planning the contact sync from %s.", source.description)
            prepared = self.prepare(source.columns)
            if prepared is None:
                raise AirflowFailException(f"{source.description} has no columns: there is nothing to sync.")
            mirror = audience.resolve_mirror(
                self.hook,
                spec.options,
                tags=split_names(self.mapping.tags),
                lists=split_names(self.mapping.subscribe_lists),
                max_removals=spec.max_removals,
            )
            return audience.plan_contacts(
                self.hook,
                source,
                prepared.contacts,
                spec.options,
                context,
                state_path=spec.state_path,
                plan_path=spec.plan_path,
                history_path=spec.history_path,
                changelog_path=spec.changelog_path,
                mirror=mirror,
                settings={
                    "list_names": prepared.list_names,
                    "batch_size": self.sending.batch_size,
                    "sync_below": self.sending.sync_below,
                    "exclude_automations": self.mapping.exclude_automations,
                },
                logger=self.log,
            )

    def apply(self, context: Mapping[str, Any], plan: Any, failures_path: str) -> dict[str, Any]:
        """Apply the plan :meth:`plan` just wrote (digest checked), commit the state, record the run."""
        sending = self.sending
        return audience.apply_contacts_plan(
            self.hook,
            plan,
            context,
            failures_path=failures_path,
            max_failure_ratio=sending.max_failure_ratio,
            poll_interval=sending.poll_interval,
            wait_timeout=sending.wait_timeout,
            max_pending_batches=sending.max_pending_batches,
            progress_every=max(1, sending.progress_every),
            logger=self.log,
        )

    # -- shared -----------------------------------------------------------------------------------

    def prepare(self, columns: list[str]) -> PreparedMapping | None:
        """Resolve columns and lists against the account: any unknown name fails here, before writing."""
        hook, mapping = self.hook, self.mapping
        subscribe = split_names(mapping.subscribe_lists)
        unsubscribe = split_names(mapping.unsubscribe_lists)
        both = set(subscribe) & set(unsubscribe)
        if both:
            raise AirflowFailException(
                f"Lists {sorted(both)} are both in subscribe_lists and unsubscribe_lists."
            )
        try:
            lists = resolve_ids(hook, "lists", key="lists", wanted=subscribe + unsubscribe, kind="list")
            if not columns:
                return None
            catalogue = FieldCatalogue.load(hook)
            plan = ColumnPlan.build(
                columns, catalogue, field_map=dict(mapping.field_map or {}), tags_column=mapping.tags_column
            )
        except (ActiveCampaignNotFoundError, ActiveCampaignValidationError) as error:
            # A name that does not exist will not exist on a retry either: fail without retrying.
            raise AirflowFailException(str(error)) from None
        subscribe_ids = [lists[name] for name in subscribe]
        unsubscribe_ids = [lists[name] for name in unsubscribe]
        builder = ContactBuilder(
            plan,
            subscribe_list_ids=subscribe_ids,
            unsubscribe_list_ids=unsubscribe_ids,
            tags=split_names(mapping.tags),
            tag_separator=mapping.tag_separator,
            exclude_automations=mapping.exclude_automations,
        )
        return PreparedMapping(builder, list_names(hook, subscribe_ids + unsubscribe_ids))

    def _send_all(
        self,
        source: ContactSource,
        builder: ContactBuilder | None,
        failures: FailuresReport,
        send: BatchRouter,
        reading: Reading,
    ) -> None:
        """Read every row, reject the bad ones, and send the rest in batches, in source order.

        ``builder`` is ``None`` when the source has no columns; its rows (if any) are then all bad.
        """

        def duplicate(row: DuplicateRow) -> None:
            failures.add_duplicate(row)
            if failures.duplicates <= LOGGED_DUPLICATES:
                self.log.warning(
                    "%s is on rows %s and %d: row %d wins (rows with one email are applied in source "
                    "order).%s",
                    row.email,
                    row.row if row.row is not None else "(an earlier row)",
                    row.kept_row,
                    row.kept_row,
                    " Further duplicates are only counted."
                    if failures.duplicates == LOGGED_DUPLICATES
                    else "",
                )

        batches = BatchBuilder(self.sending.batch_size, on_duplicate=duplicate)
        for row, record in source:
            reading.records += 1
            if isinstance(record, BadRecord):
                failures.add({"row": row, "email": None, "stage": "rejected", "reason": record.reason})
                continue
            if builder is None:
                failures.add(
                    {
                        "row": row,
                        "email": None,
                        "field": "email",
                        "stage": "rejected",
                        "reason": "no email address",
                    }
                )
                continue
            try:
                contact = builder.build(row, record)
            except RecordRejected as rejected:
                failures.add({**rejected.as_failure(), "stage": "rejected"})
                continue
            for batch in batches.add(contact):
                send(batch)
        last = batches.flush()
        if last is not None:
            send(last)
        if not reading.records:
            self._warn(
                reading,
                f"{source.describe_empty()}: nothing was synced. If the source should have rows, check "
                "the task that writes it (a path for the wrong date, an export that failed half-way).",
            )
        if failures.duplicates:
            count = failures.duplicates
            rows = f"{count:,} row had an email" if count == 1 else f"{count:,} rows had an email"
            self._warn(
                reading,
                f"{rows} that a later row of the source repeats; the last row with each email won (rows "
                "with one email are applied in source order: merged into one contact within a batch, "
                "and across batches because the importer applies batches in order). They are not "
                f"failures; each is in {failures.path} with stage 'duplicate'.",
            )

    def _warn(self, reading: Reading, message: str) -> None:
        """Log a warning about the source and keep it for the result, where downstream tasks see it."""
        self.log.warning(message)
        reading.warnings.append(message)

    def _finish(
        self, tally: SyncTally, failures: FailuresReport, path: str, reading: Reading
    ) -> dict[str, Any]:
        records = reading.records
        waited = self.sending.wait_for_completion
        result: dict[str, Any] = {
            "records": records,
            "submitted": tally.submitted,
            "succeeded": tally.submitted - failures.failed if waited else None,
            "failed": failures.failed,
            "rejected": failures.rejected,
            "duplicates": failures.duplicates,
            "batch_ids": list(tally.batch_ids),
            "failures_path": path,
            "warnings": list(reading.warnings),
        }
        if failures.count <= INLINE_FAILURES:
            result["failures"] = list(failures.first)
        self.log.info(
            "Contacts: %d records, %d submitted, %s succeeded, %d failed, %d rejected, %d duplicates, "
            "%d bulk imports.",
            records,
            tally.submitted,
            result["succeeded"] if waited else "(not waited for)",
            failures.failed,
            failures.rejected,
            failures.duplicates,
            len(tally.batch_ids),
        )
        metrics.record_rows(
            self.operator_name,
            ok=result["succeeded"] or 0,
            rejected=failures.rejected,
            failed=failures.failed,
            unknown=0 if waited else tally.submitted,  # sent, not waited for: not known yet
        )
        limit = self.sending.max_failure_ratio
        ratio = failures.count / records if records else 0.0
        if failures.count and ratio > limit:
            first = "; ".join(describe_failure(f) for f in failures.first[:5])
            more = f" and {failures.count - 5} more" if failures.count > 5 else ""
            summary = failure_ratio_message(
                failures.count,
                max(records, failures.count),
                limit,
                detail=f" ({failures.failed:,} failed, {failures.rejected:,} rejected)",
            )
            raise AirflowFailException(
                f"{summary}. First: {first}{more}. Every one is listed in {path}. The other contacts "
                "were synced."
            )
        return result
