"""Waiting for bulk imports in the triggerer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_activecampaign.contacts.import_status import ImportWatch, aread_import_info
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
        #: What earlier polls learnt (finished batches, when each was first unknown to the importer).
        self._watch = ImportWatch(self.batch_ids)

    def serialize_kwargs(self) -> dict[str, Any]:
        return {"batch_ids": list(self.batch_ids)}

    async def check(self, hook: ActiveCampaignAsyncHook) -> dict[str, Any] | None:
        watch = self._watch
        for batch_id in watch.unfinished():
            info = watch.observe(await aread_import_info(hook, batch_id))
            if not info.done:
                self.log.info(watch.progress(info))
                return None
        return {"batches": watch.results()}
