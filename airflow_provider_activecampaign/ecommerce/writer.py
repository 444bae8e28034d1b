"""What the customer and order writers share: one store connection, its index, and creating once.

Both look a record up by ``externalid`` in the store's index first; only a record not found is
created, through the write journal, so a retry, a re-run or a create that applies late is found by
the read-back and never sent again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from airflow_provider_activecampaign.ecommerce.store import StoreIndex, find_connection
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.records.journal import Intent, Sent, WriteJournal, send_once
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
    ) -> Sent:
        """``POST`` the new record through the journal (``find`` reads it back by ``externalid``)."""

        def read_back(_intent: Intent) -> str | None:
            found = find()
            return str(found["id"]) if found else None

        sent = send_once(
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
