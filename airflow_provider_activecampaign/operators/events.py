"""Track custom events ("trial started", "invoice paid") by contact email (rules: ``events/tracking.py``).

See ``docs/operators/events.md``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context, ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_activecampaign.events.tracking import EventNotRecordedError, EventTracker, build_event
from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignAmbiguousWriteError,
    ActiveCampaignConfigError,
    ActiveCampaignValidationError,
)
from airflow_provider_activecampaign.operators.base import (
    ActiveCampaignRecordsOperator,
)
from airflow_provider_activecampaign.records.failures import FailureLog
from airflow_provider_activecampaign.records.paths import JsonLinesFile
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
    so an event whose answer was lost (5xx, dropped connection) is not resent: it is reported as
    ``unknown`` in the failures file. Events already sent are written to ``sent_log_path`` as they
    go; a retry of the task skips them, so a retry or a re-run of the same DAG run does not send an
    event twice.

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
    :param sent_log_path: The ledger of sent events that makes retries skip them (default: next to
        the failures file; put it on shared storage when retries may run on another worker). (templated)
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
        sent_path = ObjectStoragePath(self.sent_log_path or str(failures_path) + ".sent.jsonl")
        already = _read_ledger(sent_path)
        skipped = 0
        source = self.open_records(self.events)
        tally = tracker.tally
        with source, FailureLog(failures_path) as failures, _Ledger(sent_path) as ledger:
            mapped_columns(source.columns, self.field_map)
            for row, raw in source:
                tally.records += 1
                if isinstance(raw, BadRecord):
                    tally.rejected += 1
                    failures.add({"row": row, "stage": "rejected", "reason": raw.reason})
                    continue
                record = map_columns(raw, self.field_map)
                try:
                    event = build_event(record, event=self.event)
                    identity = _identity(row, event.email, event.name)
                    if identity in already:
                        skipped += 1
                        continue
                    tracker.ensure_name(event.name)
                    tracker.send(event)
                    ledger.add(identity, "sent")
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
                    ledger.add(identity, "unknown")  # never resent by a retry either
                    failures.add(
                        {
                            "row": row,
                            "email": event.email,
                            "event": event.name,
                            "stage": "unknown",
                            "reason": "the answer was lost after the event was sent: it may have been "
                            f"recorded once; not resent (a resend could record it twice). {error.summary}",
                        }
                    )
                except (ActiveCampaignValidationError, EventNotRecordedError) as error:
                    failures.add(
                        {
                            "row": row,
                            "email": event.email,
                            "event": event.name,
                            "stage": "failed",
                            "reason": error.summary,
                        }
                    )
        result = {
            **tally.to_json(),
            "skipped_already_sent": skipped,
            "failures": failures.first,
            "failures_path": str(failures_path),
            "sent_log_path": str(sent_path),
        }
        self.log.info(
            "Events: %d records, %d sent, %d skipped (sent by an earlier try), %d rejected, %d failed, "
            "%d unknown (may have been recorded; not resent).",
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
                "The other events were recorded; a re-run skips the events already sent (and the "
                "unknown ones)."
            ),
        )
        return result


def _identity(row: int, email: str, name: str) -> str:
    return f"{row}\t{email.lower()}\t{name}"


def _read_ledger(path: Any) -> set[str]:
    if not path.exists():
        return set()
    seen: set[str] = set()
    with path.open("r", encoding="utf-8") as handle:
        for line in handle:
            try:
                seen.add(json.loads(line)["id"])
            except (ValueError, KeyError, TypeError):
                continue  # a line cut by a crash: that event's outcome is unknown either way
    return seen


class _Ledger:
    """The events this task sent (or may have sent), appended and flushed one line at a time."""

    def __init__(self, path: Any) -> None:
        self._log = JsonLinesFile(path, append=True)

    def __enter__(self) -> _Ledger:
        self._log.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self._log.close()

    def add(self, identity: str, outcome: str) -> None:
        # on disk before the next event goes: a killed task still knows what it sent
        self._log.write({"id": identity, "outcome": outcome}, flush=True)
