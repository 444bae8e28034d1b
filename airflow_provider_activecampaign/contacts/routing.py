"""The one rule that sends a batch of contacts to the bulk importer or through ``contact/sync``.

The contact sync and the audience sync's apply both send through :class:`BatchRouter`, so the two
paths can never disagree about which batch goes where.
"""

from __future__ import annotations

from airflow_provider_activecampaign.contacts.mapping import ContactBatch
from airflow_provider_activecampaign.contacts.sync import ImportPipeline, SmallBatchWriter

#: Batches with fewer contacts than this go through ``contact/sync`` instead of the importer.
DEFAULT_SYNC_BELOW = 10


def goes_to_contact_sync(batch: ContactBatch, *, sync_below: int, exclude_automations: bool) -> bool:
    """Whether ``batch`` is written through ``contact/sync`` rather than the bulk importer.

    Only a batch smaller than ``sync_below``; never with ``exclude_automations`` (``contact/sync``
    has no such switch), and never a batch repeating an email of an earlier one: the importer
    applies batches in order, ``contact/sync`` would apply it before an earlier import still queued.
    """
    return len(batch) < sync_below and not exclude_automations and not batch.follows_earlier


class BatchRouter:
    """Sends each batch down the path :func:`goes_to_contact_sync` picks."""

    def __init__(
        self,
        pipeline: ImportPipeline,
        small: SmallBatchWriter,
        *,
        sync_below: int = DEFAULT_SYNC_BELOW,
        exclude_automations: bool = False,
    ) -> None:
        self.pipeline = pipeline
        self.small = small
        self.sync_below = sync_below
        self.exclude_automations = exclude_automations

    def __call__(self, batch: ContactBatch) -> None:
        if goes_to_contact_sync(
            batch, sync_below=self.sync_below, exclude_automations=self.exclude_automations
        ):
            self.small.write(batch)
        else:
            self.pipeline.submit(batch)
