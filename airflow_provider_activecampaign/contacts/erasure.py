"""Erasing contacts who asked to be forgotten (GDPR art. 17, CCPA): exactly the listed ones, audited.

For each listed email, in order:

1. **Resolve** it with ``GET /contacts?email=`` and keep only a contact whose address is *equal*
   to it (case-insensitively, as ActiveCampaign matches addresses). The API's lookup is not
   trusted to be exact: a contact with any other address is never deleted. No match is
   ``not_found``: nothing is held about that address, nothing is done.
2. **Delete** it (``DELETE /contacts/{id}``, idempotent: a retry after a lost answer gets 404,
   which counts as deleted once verified), unless this is a dry run (``would_delete``) or the
   run's cap is reached (``skipped_cap``: ActiveCampaign has a monthly contact-delete limit, so a
   run never spends more than ``max_deletes`` of it).
3. **Verify**: ``GET /contacts/{id}`` must answer 404. Otherwise the result is ``unverified``.

Every subject gets one audit record (JSON Lines): who (DAG, run, task, try), when (UTC), the
subject (the email, or its SHA-256 with ``identify_by="sha256"``), the contact id and the result.
Before each DELETE an intent line (``result: "deleting"``) is written to the audit and to the
write journal (keyed by the address's SHA-256), so a task killed after the DELETE applied leaves
evidence: the retry finds no contact with the address, sees the open intent, confirms with
``GET /contacts/{id}`` that it answers 404, and audits the subject ``deleted`` (not ``not_found``).
Running the same list again is idempotent: erased subjects are ``not_found`` the second time.

A refusal that says a limit was reached (the monthly delete limit; its answer is undocumented)
stops the deletions: the remaining subjects are ``skipped_limit``, not tried one by one. The
refusal is recognised whether it comes as a 400/422, as a 403 naming the limit (the hook calls it
a refusal, not a bad key), or as 429s that outlast the hook's retries (``max_wait``): a limit
answered like the rate limit then stops the run the same way instead of waiting per subject.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignError,
    ActiveCampaignNotFoundError,
    ActiveCampaignRateLimitError,
    ActiveCampaignValidationError,
)
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.hooks.transport.redaction import bounded
from airflow_provider_activecampaign.records.emails import InvalidEmailError, check_email, email_key
from airflow_provider_activecampaign.records.journal import Outcome, WriteJournal
from airflow_provider_activecampaign.records.paths import JsonLinesFile

log = logging.getLogger(__name__)

RESULTS = (
    "deleted",
    "not_found",
    "would_delete",
    "skipped_cap",
    "skipped_limit",
    "invalid",
    "failed",
    "unverified",
)
IDENTIFY_BY = ("email", "sha256")
#: The audit's intent line, written before a DELETE is sent (not a result: a later line completes it).
INTENT = "deleting"
#: The journal's name for this writer.
WRITER = "erasure"


#: The longest address the email standards allow (RFC 5321's path limit); longer is quoted cut.
MAX_EMAIL_LENGTH = 254


@dataclass
class ErasureTally:
    subjects: int = 0
    deleted: int = 0
    not_found: int = 0
    would_delete: int = 0
    skipped_cap: int = 0
    skipped_limit: int = 0
    invalid: int = 0
    failed: int = 0
    unverified: int = 0
    duplicates: int = 0

    def to_json(self) -> dict[str, int]:
        return asdict(self)

    @property
    def incomplete(self) -> int:
        """Subjects whose erasure this run could not complete (each needs attention)."""
        return self.skipped_cap + self.skipped_limit + self.invalid + self.failed + self.unverified


def subject_emails(value: Any) -> list[str]:
    """The listed subjects: emails (or ``{"email": ...}`` dicts), or a newline/comma separated string."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        parts = value.replace("\r", "\n").replace(",", "\n").split("\n")
        return [part.strip() for part in parts if part.strip()]
    items: list[str] = []
    for item in value if isinstance(value, Iterable) else [value]:
        email = item.get("email") if isinstance(item, Mapping) else item
        if email is not None and str(email).strip():
            items.append(str(email).strip())
    return items


class ContactEraser:
    """Erase listed contacts one by one; every subject's outcome goes to ``audit`` (a callable)."""

    def __init__(
        self,
        hook: ActiveCampaignHook,
        *,
        audit: Any,
        who: Mapping[str, Any],
        dry_run: bool = False,
        max_deletes: int = 100,
        identify_by: str = "email",
        clock: Any = None,
        logger: Any = None,
        journal: WriteJournal | None = None,
        deadline_seconds: float = 65.0,
    ) -> None:
        if identify_by not in IDENTIFY_BY:
            raise ValueError(f"identify_by must be one of {IDENTIFY_BY}, got {identify_by!r}")
        if int(max_deletes) < 0:
            raise ValueError(f"max_deletes must be 0 or more, got {max_deletes}")
        self.hook = hook
        self.audit = audit
        self.who = dict(who)
        self.dry_run = dry_run
        self.max_deletes = int(max_deletes)
        self.identify_by = identify_by
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.log = logger or log
        self.tally = ErasureTally()
        self._seen: set[str] = set()
        self._limit_reached: str | None = None
        self.journal = journal or WriteJournal(tempfile.mkdtemp(prefix="ac-journal-"), WRITER)
        self.deadline_seconds = deadline_seconds

    def erase_all(self, emails: Iterable[str]) -> ErasureTally:
        for email in emails:
            self.erase(email)
        return self.tally

    def erase(self, email: str) -> str:
        try:
            address = check_email(email)
        except InvalidEmailError as error:
            return self._record(email, None, "invalid", error.problem)
        key = email_key(address)
        if key in self._seen:
            self.tally.duplicates += 1
            return "duplicate"  # listed twice: one audit record per subject, already written
        self._seen.add(key)
        matches = self._resolve(address)
        if not matches:
            earlier = self._deleted_before(address)
            if earlier is not None:
                return earlier
            return self._record(address, None, "not_found", "no contact has exactly this email address")
        if len(matches) > 1:
            return self._record(
                address,
                ",".join(matches),
                "failed",
                f"contacts {', '.join(matches)} all have this address; none was deleted (check them by hand)",
            )
        contact_id = matches[0]
        if self.dry_run:
            return self._record(address, contact_id, "would_delete", "dry run: nothing was deleted")
        if self._limit_reached is not None:
            return self._record(address, contact_id, "skipped_limit", self._limit_reached)
        if self.tally.deleted + self.tally.unverified >= self.max_deletes:
            return self._record(
                address,
                contact_id,
                "skipped_cap",
                f"this run's cap of {self.max_deletes} deletions (max_deletes) was reached",
            )
        intent = self.journal.intent(
            WRITER,
            _subject_hash(address),
            {"delete": contact_id},
            deadline_seconds=self.deadline_seconds,
            target=contact_id,
        )
        self._audit(
            address,
            contact_id,
            INTENT,
            "DELETE /contacts/{id} is about to be sent; the next line for "
            "this subject says how it ended (none: the task ended first, and a retry confirms it)",
        )
        try:
            self.hook.delete(f"contacts/{contact_id}")
        except ActiveCampaignNotFoundError:
            pass  # gone already (a retried DELETE whose first answer was lost): verified below
        except ActiveCampaignValidationError as error:
            self.journal.outcome(intent, Outcome.REFUSED)
            if "limit" in error.summary.lower():
                self._limit_reached = f"ActiveCampaign refused deletions: {error.summary}"
                return self._record(address, contact_id, "skipped_limit", self._limit_reached)
            return self._record(address, contact_id, "failed", error.summary)
        except ActiveCampaignRateLimitError as error:
            # Still 429 after the hook's retries (max_wait): a 429 is not applied, and another
            # DELETE would only wait as long again (a delete limit answered as 429 looks the same).
            self.journal.outcome(intent, Outcome.REFUSED)
            self._limit_reached = (
                f"ActiveCampaign kept refusing deletions as over a limit (HTTP 429 after the "
                f"provider's retries): {error.summary}"
            )
            return self._record(address, contact_id, "skipped_limit", self._limit_reached)
        except ActiveCampaignError as error:
            # May or may not have been applied (DELETE is idempotent: the next run sends it again).
            self.journal.outcome(intent, Outcome.AMBIGUOUS)
            return self._record(address, contact_id, "failed", error.summary)
        result = self._verify(address, contact_id)
        if result == "deleted":
            self.journal.outcome(intent, Outcome.APPLIED, ref=contact_id)
        return result

    def _deleted_before(self, address: str) -> str | None:
        """``deleted`` if an earlier try sent a DELETE for this subject and its contact answers 404."""
        for intent in reversed(self.journal.history(WRITER, _subject_hash(address))):
            if intent.closed or not intent.ref:
                continue
            result = self._verify(
                address,
                intent.ref,
                how="deleted by an earlier try of this task, whose DELETE was sent once and not answered "
                "before it ended; GET /contacts/{id} now answers 404",
            )
            if result == "deleted":
                self.journal.outcome(intent, Outcome.APPLIED, ref=intent.ref)
            return result
        return None

    def _resolve(self, address: str) -> list[str]:
        """Ids of the contacts whose address equals ``address``; the API's lookup is re-checked here."""
        wanted = email_key(address)
        answer = self.hook.get("contacts", params={"email": address})
        return sorted(
            {
                str(c["id"])
                for c in (answer or {}).get("contacts") or []
                if email_key(str(c.get("email") or "")) == wanted and c.get("id") is not None
            }
        )

    def _verify(
        self, address: str, contact_id: str, how: str = "deleted; GET /contacts/{id} answers 404"
    ) -> str:
        try:
            contact = self.hook.get(f"contacts/{contact_id}")
        except ActiveCampaignNotFoundError:
            return self._record(address, contact_id, "deleted", how)
        still = (contact or {}).get("contact") if isinstance(contact, Mapping) else None
        if still is not None and str(still.get("deleted", "0")) == "1":
            return self._record(address, contact_id, "deleted", "deleted (the contact is marked deleted)")
        return self._record(
            address,
            contact_id,
            "unverified",
            "DELETE answered, but GET /contacts/{id} still returns the contact",
        )

    def _record(self, email: str, contact_id: str | None, result: str, reason: str) -> str:
        self.tally.subjects += 1
        setattr(self.tally, result, getattr(self.tally, result) + 1)
        self._audit(email, contact_id, result, reason)
        if result in ("failed", "unverified", "invalid"):
            self.log.warning("Erasure of a subject: %s (%s)", result, reason)
        return result

    def _audit(self, email: str, contact_id: str | None, result: str, reason: str) -> None:
        subject = (
            hashlib.sha256(email_key(email).encode()).hexdigest() if self.identify_by == "sha256" else email
        )
        if len(subject) > MAX_EMAIL_LENGTH:  # never a valid address: quoted cut, with its length
            subject = bounded(subject)
        self.audit(
            {
                "subject": subject,
                "identified_by": self.identify_by,
                "contact_id": contact_id,
                "result": result,
                "reason": reason,
                "dry_run": self.dry_run,
                "at": self.clock().isoformat(timespec="seconds"),
                **self.who,
            }
        )


def _subject_hash(address: str) -> str:
    """The journal's key for a subject: a hash, so the journal never holds the address."""
    return hashlib.sha256(email_key(address).encode()).hexdigest()


class AuditLog:
    """Audit records appended as JSON Lines at any ``ObjectStoragePath`` (earlier runs' lines kept)."""

    def __init__(self, path: Any) -> None:
        self.path = path
        self._file = JsonLinesFile(path, append=True)
        self.records: list[dict[str, Any]] = []

    def __enter__(self) -> AuditLog:
        self._file.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()

    def __call__(self, record: Mapping[str, Any]) -> None:
        self._file.write(record, flush=True)
        self.records.append(dict(record))
