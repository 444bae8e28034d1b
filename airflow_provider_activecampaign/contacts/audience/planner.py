"""The contact sync's plan and apply: which rows changed, what the mirror removes, and the state after.

:class:`ContactPlanner` reads the whole source and the state, and writes a plan: rows to send
(created, updated, retried, or all of them on a full sync), rows rejected, contacts that left
the source, and the removals the mirror makes for them. It writes nothing to ActiveCampaign
(the mirror's look-ups are reads), so a plan is a dry run.

:class:`ContactPlanApplier` sends exactly the plan's rows through the bulk importer (or
``contact/sync`` for a few), makes its removals, and returns the state changes: a row is
``CLEAN`` only when ActiveCampaign confirmed it, ``DIRTY`` (sent again next run) when it failed
or was not confirmed, ``REJECTED`` when refused for its data (not sent again until it changes).
The caller commits those changes to the state file only after everything was confirmed.
"""

from __future__ import annotations

import logging
import time
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_activecampaign.contacts.audience.fingerprint import (
    ALWAYS_SEND,
    fingerprint,
    key_digest,
    raw_fingerprint,
)
from airflow_provider_activecampaign.contacts.audience.mirror import RemovalCap
from airflow_provider_activecampaign.contacts.audience.plan import PlanFile, PlanWriter, Sample
from airflow_provider_activecampaign.contacts.audience.state import (
    CLEAN,
    DIRTY,
    REJECTED,
    LoadedState,
    StateChanges,
    iter_departed,
)
from airflow_provider_activecampaign.contacts.mapping import (
    BatchBuilder,
    ContactBatch,
    ContactBuilder,
    PreparedContact,
    RecordRejected,
)
from airflow_provider_activecampaign.contacts.removal import (
    Removal,
    RemovalApplier,
    RemovalCounts,
    RemovalFinder,
)
from airflow_provider_activecampaign.records.emails import email_key
from airflow_provider_activecampaign.records.failures import FailureLog
from airflow_provider_activecampaign.records.sources import BadRecord

#: Reasons of small-batch failures that are about the contact's data (not retried unchanged).
_DATA_REFUSALS = ("ActiveCampaign refused the contact",)

CREATE, UPDATE, RETRY, RESEND = "create", "update", "retry", "resend"


def contact_key(email: str) -> int:
    return key_digest(email_key(email))


@dataclass
class PlanCounts:
    """What a plan holds (and what its summary reports)."""

    rows: int = 0
    creates: int = 0
    updates: int = 0
    retries: int = 0
    #: Unchanged rows sent anyway (a full sync).
    resends: int = 0
    unchanged: int = 0
    rejected: int = 0
    #: Rows rejected before and unchanged since: not sent, not reported again.
    rejected_unchanged: int = 0
    #: Emails on several rows (sent every run: see the docs).
    duplicate_keys: int = 0
    departed: int = 0
    tag_adds: int = 0
    list_adds: int = 0
    untags: int = 0
    unsubscribes: int = 0

    @property
    def sends(self) -> int:
        return self.creates + self.updates + self.retries + self.resends

    def to_json(self) -> dict[str, int]:
        data = dict(self.__dict__)
        data["sends"] = self.sends
        return data


@dataclass
class Mirror:
    """What the mirror takes off departed contacts: ``{id: name}`` of tags and lists, and the cap."""

    tags: dict[str, str] = field(default_factory=dict)
    lists: dict[str, str] = field(default_factory=dict)
    cap: RemovalCap = field(default_factory=RemovalCap)


class ContactPlanner:
    """Turns the source plus the state into a plan (reads only)."""

    def __init__(
        self,
        hook: Any,
        builder: ContactBuilder,
        loaded: LoadedState,
        *,
        full: bool,
        mirror: Mirror | None = None,
        sample_size: int = 10,
        logger: Any = None,
    ) -> None:
        self.hook = hook
        self.builder = builder
        self.loaded = loaded
        self.full = full
        self.mirror = mirror
        self.sample = Sample(sample_size)
        self.counts = PlanCounts()
        self.log = logger or logging.getLogger(__name__)
        self.removal_reads = 0

    def plan(self, source: Any, writer: PlanWriter) -> PlanCounts:
        state = self.loaded.state
        counts = self.counts
        seen = bytearray(len(state))
        new_keys: set[int] = set()
        sent_keys: set[int] = set()
        duplicates: set[int] = set()
        lists_per_contact = len(self.builder.subscribe)
        for row, record in source:
            counts.rows += 1
            if isinstance(record, BadRecord):
                self._reject(writer, {"row": row, "email": None, "reason": record.reason})
                continue
            try:
                contact = self.builder.build(row, record)
            except RecordRejected as rejected:
                self._rejected_row(writer, state, seen, rejected, record)
                continue
            key = contact_key(contact.email)
            payload_fp = fingerprint(contact.body)
            index = state.find(key)
            duplicate = False
            if index >= 0:
                duplicate = bool(seen[index])
                seen[index] = 1
                old_fp, status = state.fingerprints[index], state.statuses[index]
                if status == DIRTY:
                    change: str | None = RETRY
                elif old_fp != payload_fp or old_fp == ALWAYS_SEND:
                    change = UPDATE
                elif status == REJECTED:
                    change = None
                else:
                    change = RESEND if self.full else None
            else:
                duplicate = key in new_keys
                new_keys.add(key)
                change = CREATE
            if duplicate:
                duplicates.add(key)
                if change is None and key in sent_keys:
                    change = UPDATE  # an earlier row of this email was sent: the later one must follow
            if change is None:
                if index >= 0 and state.statuses[index] == REJECTED:
                    counts.rejected_unchanged += 1
                else:
                    counts.unchanged += 1
                continue
            setattr(counts, _counter(change), getattr(counts, _counter(change)) + 1)
            if change == CREATE:
                counts.tag_adds += len(contact.tags)
                counts.list_adds += lists_per_contact
            sent_keys.add(key)
            item = {
                "op": "upsert",
                "change": change,
                "row": row,
                "key": key,
                "fp": payload_fp,
                "email": contact.email,
                "size": contact.size,
                "body": contact.body,
            }
            writer.add(item)
            self.sample.add(change, {"row": row, "email": contact.email, "change": change})
        counts.duplicate_keys = len(duplicates)
        for key in sorted(duplicates):
            writer.add({"op": "duplicate", "key": key})
        departed = list(iter_departed(state, seen))
        counts.departed = len(departed)
        if self.mirror is not None and (self.mirror.tags or self.mirror.lists):
            mirrored = [i for i in departed if state.statuses[i] != REJECTED]
            self.mirror.cap.check(len(mirrored), len(state))
            self._plan_removals(writer, [state.label(i) for i in mirrored])
        for index in departed:
            writer.add({"op": "depart", "key": state.keys[index]})
        return counts

    def _reject(self, writer: PlanWriter, entry: Mapping[str, Any]) -> None:
        self.counts.rejected += 1
        writer.add({"op": "reject", **entry})
        self.sample.add(
            "rejected", {k: v for k, v in entry.items() if k in ("row", "email", "field", "reason")}
        )

    def _rejected_row(
        self, writer: PlanWriter, state: Any, seen: bytearray, rejected: RecordRejected, record: Any
    ) -> None:
        entry = rejected.as_failure()
        if not rejected.email:
            self._reject(writer, entry)
            return
        key = contact_key(rejected.email)
        row_fp = raw_fingerprint(record)
        index = state.find(key)
        if index >= 0:
            seen[index] = 1
            if state.statuses[index] == REJECTED and state.fingerprints[index] == row_fp:
                self.counts.rejected_unchanged += 1
                return
        self._reject(writer, {**entry, "key": key, "fp": row_fp})

    def _plan_removals(self, writer: PlanWriter, emails: Sequence[str]) -> None:
        assert self.mirror is not None
        finder = RemovalFinder(self.hook, tags=self.mirror.tags, lists=self.mirror.lists, logger=self.log)
        for removal in finder.find(emails):
            if removal.op == "untag":
                self.counts.untags += 1
            else:
                self.counts.unsubscribes += 1
            writer.add({"op": "remove", "key": contact_key(removal.email), "removal": removal.to_json()})
            self.sample.add(removal.op, removal.to_json())
        self.removal_reads = finder.reads


def _counter(change: str) -> str:
    return "retries" if change == RETRY else change + "s"


class TrackingFailureLog(FailureLog):
    """The failures report, also remembering which rows failed and which were refused for their data."""

    def __init__(self, path: Any, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self.failed_rows: set[int] = set()
        self.rejected_rows: set[int] = set()

    def __enter__(self) -> TrackingFailureLog:
        self.open()
        return self

    def add(self, entry: Mapping[str, Any]) -> None:
        super().add(entry)
        row = entry.get("row")
        if row is None:
            return
        reason = str(entry.get("reason") or "")
        if entry.get("stage") == "rejected" or reason.startswith(_DATA_REFUSALS):
            self.rejected_rows.add(int(row))
        else:
            self.failed_rows.add(int(row))


@dataclass
class ApplyOutcome:
    """What applying a plan did, and the state changes to commit."""

    changes: StateChanges
    sent: int = 0
    confirmed: int = 0
    removals: RemovalCounts = field(default_factory=RemovalCounts)
    send_seconds: float = 0.0
    removal_seconds: float = 0.0


class ContactPlanApplier:
    """Applies exactly the items of a plan file (see the module docstring)."""

    def __init__(
        self,
        hook: Any,
        plan: PlanFile,
        failures: TrackingFailureLog,
        *,
        send: Callable[[ContactBatch], None],
        drain: Callable[[], None],
        batch_size: int,
        changelog: Any = None,
        logger: Any = None,
    ) -> None:
        self.hook = hook
        self.plan = plan
        self.failures = failures
        self.send = send
        self.drain = drain
        self.batch_size = batch_size
        self.changelog = changelog
        self.log = logger or logging.getLogger(__name__)

    def apply(self) -> ApplyOutcome:
        changes = StateChanges()
        outcome = ApplyOutcome(changes)
        rows, keys, fps, emails = array("Q"), array("Q"), array("Q"), []
        duplicates: set[int] = set()
        departed: list[int] = []
        removals: list[tuple[int, Removal]] = []
        batches = BatchBuilder(self.batch_size)
        started = time.monotonic()
        for item in self.plan.items():
            op = item["op"]
            if op == "upsert":
                contact = PreparedContact(
                    row=int(item["row"]), email=str(item["email"]), body=item["body"], size=int(item["size"])
                )
                rows.append(contact.row)
                keys.append(int(item["key"]))
                fps.append(int(item["fp"]))
                emails.append(contact.email)
                for batch in batches.add(contact):
                    self.send(batch)
            elif op == "reject":
                self.failures.add(
                    {k: item.get(k) for k in ("row", "email", "field", "reason")} | {"stage": "rejected"}
                )
                if item.get("key") is not None:
                    changes.set(int(item["key"]), int(item["fp"]), REJECTED, str(item.get("email") or ""))
                self._log_change(item.get("row"), item.get("email"), "reject", "rejected")
            elif op == "duplicate":
                duplicates.add(int(item["key"]))
            elif op == "depart":
                departed.append(int(item["key"]))
            elif op == "remove":
                removals.append((int(item["key"]), Removal.from_json(item["removal"])))
        last = batches.flush()
        if last is not None:
            self.send(last)
        self.drain()
        outcome.send_seconds = time.monotonic() - started
        outcome.sent = len(rows)
        for index, row in enumerate(rows):
            key = keys[index]
            payload_fp = ALWAYS_SEND if key in duplicates else fps[index]
            if row in self.failures.rejected_rows:
                status, result = REJECTED, "rejected"
                payload_fp = fps[index]
            elif row in self.failures.failed_rows:
                status, result = DIRTY, "failed"
            else:
                status, result = CLEAN, "confirmed"
                outcome.confirmed += 1
            changes.set(key, payload_fp, status, emails[index])
            self._log_change(row, emails[index], "upsert", result)
        started = time.monotonic()
        applier = RemovalApplier(self.hook, logger=self.log)
        outcome.removals = applier.apply(removal for _, removal in removals)
        failed_keys = {contact_key(removal.email) for removal in applier.failed}
        for _key, removal in removals:
            self._log_change(
                None,
                removal.email,
                f"{removal.op} {removal.target}",
                "failed" if removal in applier.failed else "done",
            )
        for key in departed:
            if key not in failed_keys:
                changes.remove(key)
        outcome.removal_seconds = time.monotonic() - started
        return outcome

    def _log_change(self, row: Any, email: Any, op: str, result: str) -> None:
        if self.changelog is not None:
            self.changelog.add({"row": row, "email": email, "op": op, "result": result})
