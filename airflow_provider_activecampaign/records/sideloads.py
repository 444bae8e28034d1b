"""The rows a ``GET /contacts?include=...`` page sideloads, or the same rows read per contact.

``include`` on the contacts *list* is not in ActiveCampaign's reference (only ``GET /contacts/{id}``
shows sideloads); it is widely used and works on the accounts we know of, and it turns 100
per-contact reads into one. An account that ignored it would answer without the sideload key,
and a reader that took the missing key for "no rows" would lose data silently: an export without
custom-field values, a removal that finds no tag to remove, a reconcile that finds no
unsubscribe. So a missing key means "ask each contact": ``GET /contacts/{id}/fieldValues``,
``/contactLists`` (both in the reference) or ``/contactTags`` (the link every contact carries).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from airflow_provider_activecampaign.exceptions import ActiveCampaignNotFoundError

#: ``get(endpoint) -> body``: one read of the hook in use (hooks are not shared between threads).
Get = Callable[[str], Any]


class ContactSideloads:
    """Groups a page's sideloaded rows by contact; reads them per contact when the page has none.

    Warns once per key (per instance) that the page came without it and why the read is slower.
    Thread-safe: the contacts export calls it from several readers.
    """

    def __init__(self, logger: Any = None) -> None:
        self.log = logger or logging.getLogger(__name__)
        #: Contacts whose rows had to be read one request each, per key (for reports and tests).
        self.read_per_contact: dict[str, int] = {}
        self._lock = threading.Lock()

    def rows(
        self, get: Get, page: Mapping[str, Any], key: str, contact_ids: Iterable[Any]
    ) -> dict[str, list[dict[str, Any]]]:
        """``{contact id: [rows of key]}`` for ``contact_ids``, from the page or per contact."""
        grouped: dict[str, list[dict[str, Any]]] = {}
        sideloaded = page.get(key)
        if isinstance(sideloaded, list):
            for row in sideloaded:
                owner = row.get("contact", row.get("owner"))
                grouped.setdefault(str(owner), []).append(row)
            return grouped
        ids = [str(contact_id) for contact_id in contact_ids]
        if not ids:
            return grouped
        with self._lock:
            first_time = key not in self.read_per_contact
            self.read_per_contact[key] = self.read_per_contact.get(key, 0) + len(ids)
        if first_time:
            self.log.warning(
                "ActiveCampaign answered GET /contacts without the %s it was asked to include "
                "(include= on the contacts list is not in its reference); reading them with one "
                "GET /contacts/{id}/%s per contact instead, so nothing is missed. That costs one "
                "request per contact instead of one per 100 (at 5 requests a second, about 20 "
                "times slower).",
                key,
                key,
            )
        for contact_id in ids:
            try:
                body = get(f"contacts/{contact_id}/{key}")
            except ActiveCampaignNotFoundError:
                body = {}  # deleted since the page was read: it has no rows any more
            rows = body.get(key) if isinstance(body, Mapping) else None
            grouped[contact_id] = [row for row in rows or [] if isinstance(row, dict)]
        return grouped
