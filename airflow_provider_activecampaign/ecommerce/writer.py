"""What the customer and order writers share: one store connection, its index, and creating once.

Both look a record up by ``externalid`` in the store's index first; only a record not found is
created, through the write journal, so a retry, a re-run or a create that applies late is found by
the read-back and never sent again.

An account may refuse a second customer or order with the same (``connectionid``, ``externalid``)
(the reference documents no refusal: emulator switch ``ecom_duplicate_externalid_accepted``). Such
a refusal (422 ``duplicate``) can only mean the record exists after all: a create whose answer was
lost and that applied after its read-back (later than ``write_settle_seconds``), or another writer
between the lookup and the create. It is looked up again and used, never reported as a failure and
never created a second time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from airflow_provider_activecampaign.ecommerce.store import StoreIndex, find_connection
from airflow_provider_activecampaign.exceptions import ActiveCampaignValidationError
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.records.journal import (
    Intent,
    Outcome,
    Sent,
    WriteJournal,
    fingerprint,
    send_once,
)
from airflow_provider_activecampaign.records.upsert import UpsertTally

log = logging.getLogger(__name__)


class StoreWriter:
    """One run's writes of one kind (customers or orders) into one store connection."""

    #: The journal's writer name, the API collection and its body's key (``ecomCustomer``, ...).
    writer: str
    collection: str
    item: str
    #: "Customer" or "Order", for log lines.
    noun: str

    def __init__(
        self,
        hook: ActiveCampaignHook,
        connection: Any,
        *,
        journal: WriteJournal,
        deadline_seconds: float,
        logger: Any = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.hook = hook
        self.connection = connection
        self.journal = journal
        self.deadline_seconds = deadline_seconds
        self.log = logger or log
        self.sleep = sleep
        self.tally = UpsertTally()
        self.connection_id = ""
        self.store: StoreIndex | None = None

    def open_store(self) -> dict[str, Any]:
        """Find the connection (id, ``externalid`` or name) and index its store; returns the connection."""
        connection = find_connection(self.hook, self.connection)
        self.connection_id = str(connection["id"])
        self.store = StoreIndex(self.hook, self.connection_id)
        return connection

    def create_once(
        self, key: str, external: str, body: dict[str, Any], find: Callable[[], dict[str, Any] | None]
    ) -> Sent | dict[str, Any]:
        """``POST`` the new record through the journal (``find`` reads it back by ``externalid``).

        Returns what :func:`send_once` did (counted ``created``), or, when ActiveCampaign refused the
        create as a duplicate and ``find`` now finds the record, the record found: the caller then
        treats it as existing (compares and updates). A duplicate that our own earlier send of the
        same body created is counted ``created`` (``recovered``) and returned as :class:`Sent`.
        """

        def read_back(_intent: Intent) -> str | None:
            found = find()
            return str(found["id"]) if found else None

        try:
            sent = self._send(key, external, body, read_back)
        except ActiveCampaignValidationError as refusal:
            if not is_duplicate(refusal):
                raise
            found = find()
            if found is None:
                raise  # "already exists", yet not found by its externalid: reported as it was said
            if self._sent_before(key, body):
                self.log.info(
                    "%s %r: ActiveCampaign refused the resend as a duplicate; an earlier send of it "
                    "was applied late (id %s): created once, not sent again.",
                    self.noun,
                    external,
                    found.get("id"),
                )
                self.tally.recovered += 1
                self.tally.created += 1
                return Sent(None, str(found["id"]), 0, recovered=True)
            self.log.info(
                "%s %r: ActiveCampaign refused the create as a duplicate: it exists (id %s), made by "
                "another writer or an earlier run after this run looked it up; updated in place instead.",
                self.noun,
                external,
                found.get("id"),
            )
            return found
        if sent.recovered:
            self.log.info(
                "%s %r was created once by an earlier send (id %s); not sent again.",
                self.noun,
                external,
                sent.ref,
            )
            self.tally.recovered += 1
        self.tally.created += 1
        return sent

    def _sent_before(self, key: str, body: dict[str, Any]) -> bool:
        """Whether this scope's journal holds a send of this very body that was not refused."""
        wanted = fingerprint(body)
        return any(
            intent.fingerprint == wanted and intent.outcome is not Outcome.REFUSED
            for intent in self.journal.history(self.writer, key)
        )

    def _send(
        self, key: str, external: str, body: dict[str, Any], read_back: Callable[[Intent], Any]
    ) -> Sent:
        return send_once(
            self.journal,
            self.writer,
            key,
            body,
            lambda: self.hook.post(self.collection, body),
            read_back=read_back,
            deadline_seconds=self.deadline_seconds,
            what=f"POST /{self.collection} for externalid {external!r}",
            ref_of=lambda answer: ((answer or {}).get(self.item) or {}).get("id"),
            sleep=self.sleep,
        )


def is_duplicate(refusal: ActiveCampaignValidationError) -> bool:
    """Whether a 422 says the record already exists (the v3 envelope's ``code`` ``duplicate``)."""
    return any(str(error.get("code") or "").lower() == "duplicate" for error in refusal.field_errors)
