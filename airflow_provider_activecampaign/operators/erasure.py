"""Erase contacts who asked to be forgotten (GDPR/CCPA), with a dry run, a cap and an audit trail.

The rules live in ``contacts/erasure.py``; see ``docs/operators/erasure.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context, ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_activecampaign.contacts.erasure import (
    IDENTIFY_BY,
    AuditLog,
    ContactEraser,
    subject_emails,
)
from airflow_provider_activecampaign.operators.base import ActiveCampaignBaseOperator
from airflow_provider_activecampaign.records.journal import WriteJournal, request_deadline_seconds

#: Deletions one run may spend of the account's monthly contact-delete limit, unless told otherwise.
DEFAULT_MAX_DELETES = 100


class ActiveCampaignEraseContactsOperator(ActiveCampaignBaseOperator):
    """Delete exactly the listed contacts, by email, verify each is gone, and audit every subject.

    Each email is looked up and only a contact with exactly that address is deleted (never a
    fuzzy match, never anyone not listed); ``GET /contacts/{id}`` must then answer 404. One audit
    record per subject (who: DAG, run, task and try; when; result) is appended as JSON Lines to
    ``audit_path``. Running the same list again is safe: erased subjects are ``not_found``.

    The task fails (without retrying) when any subject was not erased for a reason that needs a
    person: the cap was reached, ActiveCampaign's monthly delete limit was hit, an email is
    invalid, a delete failed or could not be verified. The audit file says which.

    :param emails: The subjects' emails: a list (of strings or ``{"email": ...}``), or a string
        with one per line or comma-separated. (templated)
    :param audit_path: Where audit records are appended (any ``ObjectStoragePath`` URI). (templated)
    :param dry_run: Resolve and audit (``would_delete``), delete nothing. (templated)
    :param max_deletes: At most this many deletions per run (ActiveCampaign limits contact
        deletions per month); subjects beyond it are ``skipped_cap``. (templated)
    :param identify_by: ``email`` (default) or ``sha256`` (the audit holds a hash of the
        lower-cased address instead of the address).
    """

    template_fields: Sequence[str] = (
        "activecampaign_conn_id",
        "emails",
        "audit_path",
        "erase_dry_run",
        "max_deletes",
    )

    def __init__(
        self,
        *,
        emails: Any,
        audit_path: str,
        dry_run: bool | str = False,
        max_deletes: int | str = DEFAULT_MAX_DELETES,
        identify_by: str = "email",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if identify_by not in IDENTIFY_BY:
            raise ValueError(f"identify_by must be one of {IDENTIFY_BY}, got {identify_by!r}")
        self.emails = emails
        self.audit_path = audit_path
        self.erase_dry_run = dry_run  # (BaseOperator.dry_run is a method)
        self.max_deletes = max_deletes
        self.identify_by = identify_by

    def execute(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        who = {
            "dag_id": ti.dag_id,
            "run_id": ti.run_id,
            "task_id": ti.task_id,
            "try_number": ti.try_number,
            "map_index": getattr(ti, "map_index", -1),
        }
        flag = self.erase_dry_run
        dry_run = flag if isinstance(flag, bool) else str(flag).strip().lower() == "true"
        path = ObjectStoragePath(self.audit_path)
        emails = subject_emails(self.emails)
        with AuditLog(path) as audit, WriteJournal.for_task(context) as journal:
            eraser = ContactEraser(
                self.hook,
                audit=audit,
                journal=journal,
                deadline_seconds=request_deadline_seconds(self.hook),
                who=who,
                dry_run=dry_run,
                max_deletes=int(self.max_deletes),
                identify_by=self.identify_by,
                logger=self.log,
            )
            tally = eraser.erase_all(emails)
        self.log.info("Erasure%s: %s. Audit: %s", " (dry run)" if dry_run else "", tally.to_json(), path)
        result = {**tally.to_json(), "dry_run": dry_run, "audit_path": str(path)}
        if tally.incomplete:
            raise AirflowFailException(
                f"{tally.incomplete:,} of {tally.subjects:,} subjects were not erased: "
                f"{tally.skipped_cap} over the cap of {self.max_deletes} deletions per run, "
                f"{tally.skipped_limit} stopped by ActiveCampaign's delete limit, {tally.invalid} invalid "
                f"emails, {tally.failed} failed, {tally.unverified} unverified. Each has a record in "
                f"{path}. Re-running is safe (erased subjects become not_found); raise max_deletes or "
                "wait for the next billing period for the ones over a limit."
            )
        return result
