"""Waiting for bulk imports in the triggerer."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from airflow_provider_activecampaign.contacts.mapping import ImportInfo, check_unknown_batch
from airflow_provider_activecampaign.exceptions import ActiveCampaignNotFoundError
from airflow_provider_activecampaign.hooks.activecampaign_async import ActiveCampaignAsyncHook
from airflow_provider_activecampaign.triggers.base import ActiveCampaignPollTrigger


class ActiveCampaignBulkImportTrigger(ActiveCampaignPollTrigger):
    """Fires once every given bulk-import batch has finished (``completed``, ``failed`` or ``interrupted``).

    Each poll reads ``GET /import/info?batchId=`` for the unfinished batches, oldest first, and
    stops at the first that is still running: the importer works through an account's batches in
    order, so later ones cannot be done either and polling them would only spend the account's
    5 requests a second. The event holds, per batch, its final status, how many contacts were
    imported and the email addresses of those that failed::

        {"status": "success", "batches": {"<batchId>": {"status": "completed", "succeeded": 248,
                                                        "failed": 2, "failed_emails": [...]}}}

    :param batch_ids: The ``batchId`` values returned by ``POST /import/bulk_import``.
    :param activecampaign_conn_id: The ActiveCampaign connection.
    :param poll_interval: Seconds between two rounds of polls.
    """

    def __init__(
        self,
        *,
        batch_ids: Sequence[str],
        activecampaign_conn_id: str,
        poll_interval: float = 30.0,
    ) -> None:
        super().__init__(activecampaign_conn_id=activecampaign_conn_id, poll_interval=poll_interval)
        self.batch_ids = [str(batch_id) for batch_id in batch_ids]
        self._finished: dict[str, dict[str, Any]] = {}
        #: When each batch was first found unknown to the importer (see ``UNKNOWN_BATCH_GRACE``).
        self._unknown_since: dict[str, float] = {}

    def serialize_kwargs(self) -> dict[str, Any]:
        return {"batch_ids": list(self.batch_ids)}

    async def check(self, hook: ActiveCampaignAsyncHook) -> dict[str, Any] | None:
        for batch_id in self.batch_ids:
            if batch_id in self._finished:
                continue
            try:
                body = await hook.get("import/info", params={"batchId": batch_id})
                info = ImportInfo.parse(batch_id, body if isinstance(body, dict) else {})
            except ActiveCampaignNotFoundError:  # not known to the importer yet: within the grace, waiting
                info = ImportInfo.not_known_yet(batch_id)
                since = self._unknown_since.setdefault(batch_id, time.monotonic())
                check_unknown_batch(batch_id, time.monotonic() - since)
            if not info.done:
                self.log.info(
                    "Bulk import %s is %s; %d of %d batches finished.",
                    batch_id,
                    info.status,
                    len(self._finished),
                    len(self.batch_ids),
                )
                return None
            self._finished[batch_id] = info.to_json()
        return {"batches": {batch_id: self._finished[batch_id] for batch_id in self.batch_ids}}
