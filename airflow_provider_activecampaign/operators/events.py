"""Track custom events ("trial started", "invoice paid") by contact email (rules: ``events/tracking.py``).

See ``docs/operators/events.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_activecampaign.events.tracking import EventNotRecordedError, EventTracker, build_event
from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignAmbiguousWriteError,
    ActiveCampaignConfigError,
    ActiveCampaignValidationError,
)
from airflow_provider_activecampaign.hooks import metrics
from airflow_provider_activecampaign.operators.base import ActiveCampaignRecordsOperator
from airflow_provider_activecampaign.records.failures import FailureLog
from airflow_provider_activecampaign.records.journal import (
    Outcome,
    Resolution,
    WriteJournal,
    lost_answer,
    request_deadline_seconds,
    task_scope,
    times,
)
from airflow_provider_activecampaign.records.ratio import enforce_failure_ratio
from airflow_provider_activecampaign.records.sources import BadRecord
from airflow_provider_activecampaign.records.upsert import RecordRejected, map_columns, mapped_columns


class ActiveCampaignTrackEventsOperator(ActiveCampaignRecordsOperator):
    """Send custom events through ActiveCampaign event tracking, each at most once per task.

    Records come from ``events`` (a list of dicts), ``source_path`` or ``sql`` + ``sql_conn_id``,
    streamed. Each record names the contact by ``email`` and the event by ``event`` (or the
    operator's ``event`` for all), with optional ``eventdata`` (text, or anything JSON can hold).

    Before anything is sent the task checks the connection's tracking extras
    (``event_tracking_actid``, ``event_tracking_secret``) and that event tracking is enabled for the
    account (``GET /api/3/eventTracking``): with tracking off ActiveCampaign accepts events and
    drops them, so the task fails instead, having sent nothing.

    Events are paced with every other call of the account. A tracking post has no idempotency key,
    so every event goes through the write journal (``records/journal.py``): its intent is on
    storage before it is sent and its outcome after. An event whose answer was lost (a 5xx, a
    dropped connection, a task killed while waiting) is never resent: it is reported as ``unknown``
    ("sent once, may have been recorded") in the failures file; a retry or a re-run of the same DAG
    run skips the events already recorded and reports the unknown ones again, never sending twice.

    :param events: Records as a list of dicts (or a JSON string of one). (templated)
    :param event: The event name for records without an ``event`` column. (templated)
    :param source_path: A CSV or JSON Lines file. (templated)
    :param source_format: ``csv`` or ``jsonl``; by default from the file name.
    :param sql: A query whose rows are the records. (templated)
    :param sql_conn_id: The Airflow connection ``sql`` runs on. (templated)
    :param sql_parameters: Query parameters. (templated)
    :param field_map: ``{"source column": "email" | "event" | "eventdata"}``. (templated)
    :param create_events: Create event names the account does not have yet (default ``True``).
    :param failures_path: Rejected, failed and unknown events as JSON Lines. (templated)
    :param sent_log_path: The write journal's root for this task (any ``ObjectStoragePath`` URI),
        instead of ``[activecampaign] write_journal_path``; it must be storage every worker that may
        run a retry reaches. (templated)
    :param max_failure_ratio: Fail if more than this share of events was not recorded. (templated)
    """

    template_fields: Sequence[str] = (
        "activecampaign_conn_id",
        "events",
        "event",
        "sent_log_path",
        *ActiveCampaignRecordsOperator.source_template_fields,
    )

    def __init__(
        self,
        *,
        events: Any = None,
        event: str | None = None,
        create_events: bool = True,
        sent_log_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.events = events
        self.event = event
        self.create_events = create_events
        self.sent_log_path = sent_log_path

    def execute(self, context: Context) -> dict[str, Any]:
        ratio = self.rendered_failure_ratio()
        tracker = EventTracker(self.hook, create_events=self.create_events, logger=self.log)
        try:
            tracker.check_enabled()
        except ActiveCampaignConfigError as error:
            # Tracking off or no tracking extras: a retry cannot help until someone changes that.
            raise AirflowFailException(str(error)) from error
        failures_path = self.failures_location(context)
        journal = (
            WriteJournal(self.sent_log_path, task_scope(context))
            if self.sent_log_path
            else WriteJournal.for_task(context)
        )
        deadline = request_deadline_seconds(self.hook)
        skipped = 0
        source = self.open_records(self.events)
        tally = tracker.tally
        with source, FailureLog(failures_path) as failures, journal:
            mapped_columns(source.columns, self.field_map)
            for row, raw in source:
                tally.records += 1
                if isinstance(raw, BadRecord):
                    tally.rejected += 1
                    failures.add({"row": row, "stage": "rejected", "reason": raw.reason})
                    continue
                record = map_columns(raw, self.field_map)
                sent = 0
                try:
                    event = build_event(record, event=self.event)
                    identity = _identity(row, event.email, event.name)
                    # Events cannot be read back: an intent without an answer stays "possibly sent".
                    decision = journal.resolve(WRITER, identity)
                    if decision.resolution is Resolution.APPLIED:
                        skipped += 1
                        continue
                    if decision.resolution is Resolution.UNKNOWN:
                        tally.unknown += 1
                        failures.add(
                            {
                                "row": row,
                                "email": event.email,
                                "event": event.name,
                                "stage": "unknown",
                                "sent": decision.sent,
                                "reason": f"sent {times(decision.sent)} by an earlier try of this task, "
                                "which ended before ActiveCampaign's answer was recorded: it may have been "
                                "recorded once; not resent (a resend could record it twice).",
                            }
                        )
                        continue
                    tracker.ensure_name(event.name)
                    intent = journal.intent(WRITER, identity, event.form(), deadline_seconds=deadline)
                    sent = decision.sent + 1
                    try:
                        tracker.send(event)
                    except (ActiveCampaignValidationError, EventNotRecordedError):
                        journal.outcome(intent, Outcome.REFUSED)
                        raise
                    except ActiveCampaignAmbiguousWriteError:
                        journal.outcome(intent, Outcome.AMBIGUOUS)
                        raise
                    journal.outcome(intent, Outcome.APPLIED)
                except RecordRejected as error:
                    tally.rejected += 1
                    failures.add(
                        {
                            "row": row,
                            "email": record.get("email"),
                            "stage": "rejected",
                            "field": error.field,
                            "reason": error.reason,
                        }
                    )
                except ActiveCampaignAmbiguousWriteError as error:
                    failures.add(
                        {
                            "row": row,
                            "email": event.email,
                            "event": event.name,
                            "stage": "unknown",
                            "sent": sent,
                            "reason": f"sent {times(sent)}; {lost_answer(error)}: it may have been "
                            "recorded once; not resent (a resend could record it twice).",
                        }
                    )
                except (ActiveCampaignValidationError, EventNotRecordedError) as error:
                    failures.add(
                        {
                            "row": row,
                            "email": event.email,
                            "event": event.name,
                            "stage": "failed",
                            "sent": sent,
                            "reason": f"sent {times(sent)}; ActiveCampaign refused it, so it was not "
                            f"recorded. {error.summary}",
                        }
                    )
        # The rows metric every records operator emits (ActiveCampaignRecordsOperator.write_records).
        metrics.record_rows(
            type(self).__name__,
            ok=tally.sent + skipped,
            rejected=tally.rejected,
            failed=tally.failed,
            unknown=tally.unknown,
        )
        result = {
            **tally.to_json(),
            "skipped_already_sent": skipped,
            "failures": failures.first,
            "failures_path": str(failures_path),
            "journal_path": str(journal.directory),
        }
        self.log.info(
            "Events: %d records, %d sent, %d skipped (recorded by an earlier try), %d rejected, %d failed, "
            "%d unknown (sent once, may have been recorded; not resent).",
            tally.records,
            tally.sent,
            skipped,
            tally.rejected,
            tally.failed,
            tally.unknown,
        )
        enforce_failure_ratio(
            tally.rejected + tally.failed + tally.unknown,
            tally.records,
            ratio,
            report=str(failures_path),
            what="events",
            happened="were not recorded for sure",
            detail=f" ({tally.failed:,} failed, {tally.rejected:,} rejected, {tally.unknown:,} unknown)",
            first=failures.describe_first(),
            after=(
                "The other events were recorded. A retry skips the events already recorded and never "
                "resends the unknown ones (each was sent once and may have been recorded)."
            ),
        )
        return result


#: The journal's name for this writer.
WRITER = "events"


def _identity(row: int, email: str, name: str) -> str:
    return f"{row}\t{email.lower()}\t{name}"
