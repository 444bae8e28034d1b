"""Waiting for ActiveCampaign bulk imports submitted elsewhere (or by a sync that did not wait)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import Context, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_activecampaign.contacts.import_status import ImportWatch, read_import_info
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.records.ratio import check_failure_ratio, failure_ratio_message
from airflow_provider_activecampaign.sensors.base import ActiveCampaignDeferrableSensor
from airflow_provider_activecampaign.triggers.contacts import ActiveCampaignBulkImportTrigger


def parse_batch_ids(value: Any) -> list[str]:
    """Batch ids from a list, a comma-separated or JSON string, or a sync task's return value."""
    if isinstance(value, Mapping):
        value = value.get("batch_ids") or []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("[", "{")):
            return parse_batch_ids(json.loads(text))
        return [part.strip() for part in text.split(",") if part.strip()]
    return [str(item).strip() for item in value or [] if str(item).strip()]


class ActiveCampaignBulkImportSensor(ActiveCampaignDeferrableSensor):
    """Wait until bulk imports have finished, and report what each did.

    Each poke reads ``GET /import/info?batchId=`` for the batches not known to be finished, oldest
    first, stopping at the first still running (the importer works in order). Works in ``poke``,
    ``reschedule`` and deferrable modes; the deferrable mode waits in the triggerer with
    :class:`~airflow_provider_activecampaign.triggers.contacts.ActiveCampaignBulkImportTrigger`.

    :param batch_ids: The ``batchId`` values to wait for: a list, a comma-separated string, or the
        return value of ``ActiveCampaignSyncContactsOperator`` (its ``batch_ids``). (templated)
    :param activecampaign_conn_id: The ActiveCampaign connection. (templated)
    :param max_failure_ratio: Fail when failed / (imported + failed) contacts exceeds this; ``None``
        (default) only reports.
    :param deferrable: Wait in the triggerer instead of a worker slot.

    Returns ``{"batches": {id: {"status", "succeeded", "failed", "failed_emails"}}, "succeeded",
    "failed", "batch_ids"}``.
    """

    template_fields: Sequence[str] = ("batch_ids", "activecampaign_conn_id")

    def __init__(
        self,
        *,
        batch_ids: Any,
        activecampaign_conn_id: str = ActiveCampaignHook.default_conn_name,
        max_failure_ratio: float | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(activecampaign_conn_id=activecampaign_conn_id, deferrable=deferrable, **kwargs)
        self.batch_ids = batch_ids
        self.max_failure_ratio = None if max_failure_ratio is None else check_failure_ratio(max_failure_ratio)
        #: What earlier pokes learnt (finished batches, when each was first unknown to the importer).
        self._watch: ImportWatch | None = None

    def poke(self, context: Context) -> PokeReturnValue:
        ids = parse_batch_ids(self.batch_ids)
        if self._watch is None or self._watch.batch_ids != ids:
            self._watch = ImportWatch(ids)
        watch = self._watch
        for batch_id in watch.unfinished():
            info = watch.observe(read_import_info(self.hook, batch_id))
            if not info.done:
                self.log.info(watch.progress(info))
                return PokeReturnValue(is_done=False)
            self.log.info(
                "Bulk import %s %s: %d imported, %d failed.",
                batch_id,
                info.status,
                info.succeeded,
                len(info.failed_emails),
            )
        return PokeReturnValue(is_done=True, xcom_value=self._report(ids, watch.finished))

    def build_trigger(self) -> ActiveCampaignBulkImportTrigger:
        # The trigger gets every batch id (finished ones cost one more read each): the event then
        # holds the whole report, whatever becomes of the deferral's method kwargs.
        return ActiveCampaignBulkImportTrigger(
            batch_ids=parse_batch_ids(self.batch_ids),
            activecampaign_conn_id=self.activecampaign_conn_id,
            poll_interval=self.poke_interval,
        )

    def failed_wait_description(self) -> str:
        return "Waiting for bulk imports failed"

    def result_from_event(self, event: dict[str, Any]) -> dict[str, Any]:
        results = event.get("batches") or {}
        for batch_id, result in results.items():
            self.log.info(
                "Bulk import %s %s: %d imported, %d failed.",
                batch_id,
                result.get("status"),
                result.get("succeeded", 0),
                result.get("failed", 0),
            )
        return self._report(parse_batch_ids(self.batch_ids), results)

    def _report(self, ids: list[str], results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        batches = {batch_id: dict(results[batch_id]) for batch_id in ids if batch_id in results}
        succeeded = sum(int(b.get("succeeded", 0)) for b in batches.values())
        failed = sum(int(b.get("failed", 0)) for b in batches.values())
        report = {"batches": batches, "succeeded": succeeded, "failed": failed, "batch_ids": ids}
        total = succeeded + failed
        if self.max_failure_ratio is not None and total and failed / total > self.max_failure_ratio:
            examples = [
                f"{email} (batch {batch_id})"
                for batch_id, batch in batches.items()
                for email in batch.get("failed_emails", [])[:3]
            ][:5]
            summary = failure_ratio_message(
                failed, total, self.max_failure_ratio, what="imported contacts", happened="failed"
            )
            raise AirflowFailException(
                f"{summary}; for example {', '.join(examples)}. "
                "ActiveCampaign does not say why; see the documented causes in the guide."
            )
        return report
