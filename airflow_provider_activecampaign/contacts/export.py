"""Reading contacts out of ActiveCampaign as JSON Lines: one page of 100 per request, fields by title.

``GET /contacts`` is walked in id order with ``id_greater`` (large offsets are slow on big
accounts) and asked to sideload each page's field values (and, on request, list memberships and
tags) with ``include=``. That keeps an export at one request per 100 contacts, the best the
account's 5 requests a second allow. ``include`` is not in the official reference but is widely
used; if an account ignores it, the exporter notices the missing sideload and reads those
contacts' values one request each instead (``GET /contacts/{id}/fieldValues``), with a warning
(:mod:`airflow_provider_activecampaign.records.sideloads`). No bulk listing is cheaper: the
reference's ``GET /fieldValues`` filters by field and value only, not by contact.

Time windows are the caller's: it sends ``filters[updated_after]``/``[updated_before]`` as dates
(the reference declares them ``format: date``; integrators report that a time part is not
honoured), wider than its window at any account offset, and passes ``keep`` to cut the exact window on each
contact's ``udate`` (``exports/windows.py``: ``api_date_filter`` and ``WindowCut``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

from airflow_provider_activecampaign.contacts.mapping import FieldCatalogue
from airflow_provider_activecampaign.exceptions import ActiveCampaignNotFoundError
from airflow_provider_activecampaign.hooks.activecampaign import PAGE_SIZE, ActiveCampaignHook
from airflow_provider_activecampaign.records.fields import MULTI_VALUE_TYPES
from airflow_provider_activecampaign.records.sideloads import ContactSideloads

#: ``contactList.status`` codes (SPEC ``POST /contactLists``; 0 and 3 from the contact docs).
LIST_STATUSES = {"0": "unconfirmed", "1": "active", "2": "unsubscribed", "3": "bounced"}


class ContactExporter:
    """Streams the contacts matching ``params`` to a text handle as JSON Lines, in id order.

    Each line: ``{"id", "email", "first_name", "last_name", "phone", "cdate", "udate",
    "fields": {title: value}, "lists": [...], "tags": [...]}``; multi-value fields become lists,
    ``lists``/``tags`` only when asked for. ``keep`` (optional) drops records it returns false for:
    the generic export (:mod:`airflow_provider_activecampaign.exports`) cuts its exact window so.

    Paging by ``id_greater`` makes each page depend on the last, so one reader gets at most one
    page per round trip; with round trips of a few hundred milliseconds that is well under the
    account's 5 requests a second. So after the first page the remaining id range is split among
    ``parallel`` readers (each walking its own ``id_greater``/``id_less`` slice, and handing half
    of what is left to a reader that runs out of work); the account's rate limiter, shared by all
    of them, keeps the total at 5 requests a second. Each slice is written to a temporary file and
    the slices are joined in id order at the end, so memory stays flat.
    """

    def __init__(
        self,
        hook: ActiveCampaignHook,
        *,
        include_lists: bool = False,
        include_tags: bool = False,
        parallel: int = 4,
        hook_factory: Callable[[], ActiveCampaignHook] | None = None,
        logger: Any = None,
        keep: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        self.hook = hook
        #: Which records to write (the generic export's exact window); called from reader threads.
        self.keep = keep
        self.include_lists = include_lists
        self.include_tags = include_tags
        self.parallel = max(1, int(parallel))
        self.hook_factory = hook_factory or (lambda: ActiveCampaignHook(hook.activecampaign_conn_id))
        self.log = logger or logging.getLogger(__name__)
        self._catalogue: FieldCatalogue | None = None
        self._list_names: dict[str, str] = {}
        self._tag_names: dict[str, str] = {}
        #: The page's sideloads, or per-contact reads where the account ignored ``include``.
        self.sideloads = ContactSideloads(self.log)
        self._lock = threading.Lock()

    def export(self, handle: IO[str], params: Mapping[str, Any]) -> int:
        includes = ["fieldValues"]
        if self.include_lists:
            includes.append("contactLists")
        if self.include_tags:
            includes.append("contactTags")
        query = {**params, "include": ",".join(includes), "orders[id]": "ASC", "limit": PAGE_SIZE}
        # The reads that start an export do not depend on each other: one round trip for all of
        # them, not four in a row (at 300 ms of latency that is a second of the account's budget).
        with ThreadPoolExecutor(4, thread_name_prefix="ac-export-start") as pool:
            catalogue_read = pool.submit(FieldCatalogue.load, self.hook)
            lists_read = pool.submit(self._read_list_names) if self.include_lists else None
            first_read = pool.submit(self._get, "contacts", {**query, "id_greater": 0})
            newest_read = pool.submit(self._get, "contacts", {**params, "orders[id]": "DESC", "limit": 1})
            catalogue = self._catalogue = catalogue_read.result()
            if lists_read is not None:
                self._list_names = lists_read.result()
            first = first_read.result()
            newest = newest_read.result().get("contacts")
        count = self._write_page(handle, first, catalogue)
        contacts = first.get("contacts") or []
        if len(contacts) < PAGE_SIZE:
            return count
        start = max(int(c["id"]) for c in contacts)
        end = int(newest[0]["id"]) if newest else start
        if end <= start:
            return count
        with tempfile.TemporaryDirectory(prefix="ac-export-") as folder:
            slices = _SliceQueue(start, end, self.parallel)
            with ThreadPoolExecutor(self.parallel, thread_name_prefix="ac-export") as pool:
                futures = [
                    pool.submit(self._read_slices, slices, query, catalogue, folder)
                    for _ in range(self.parallel)
                ]
                for future in futures:
                    future.result()
            for _, path in sorted(slices.files):
                with open(path, encoding="utf-8") as part:
                    shutil.copyfileobj(part, handle)
            return count + slices.written

    def _read_slices(
        self, slices: _SliceQueue, query: Mapping[str, Any], catalogue: FieldCatalogue, folder: str
    ) -> None:
        """One reader: take a slice, walk it page by page, give half away when another reader idles."""
        hook = self.hook_factory()
        try:
            while True:
                taken = slices.take()
                if taken is None:
                    return
                low, high = taken
                path = os.path.join(folder, f"{low:012d}.jsonl")
                with open(path, "w", encoding="utf-8") as out:
                    slices.add_file(low, path)
                    cursor = low
                    while True:
                        page = hook.get(
                            "contacts", params={**query, "id_greater": cursor, "id_less": high + 1}
                        )
                        written = self._write_page(out, page, catalogue, hook, after=cursor)
                        slices.add_written(written)
                        contacts = page.get("contacts") or []
                        if len(contacts) < PAGE_SIZE:
                            break
                        cursor = max(int(c["id"]) for c in contacts)
                        high = slices.maybe_split(cursor, high)
                slices.done()
        except BaseException:
            slices.abort()
            raise

    def _get(self, endpoint: str, params: Mapping[str, Any]) -> Any:
        """One read on a hook of its own (hooks are not shared between threads)."""
        return self.hook_factory().get(endpoint, params=params)

    def _read_list_names(self) -> dict[str, str]:
        hook = self.hook_factory()
        return {str(item["id"]): str(item.get("name")) for item in hook.paginate("lists", key="lists")}

    def _write_page(
        self,
        handle: IO[str],
        page: Mapping[str, Any],
        catalogue: FieldCatalogue,
        hook: ActiveCampaignHook | None = None,
        after: int = 0,
    ) -> int:
        """Write a page's contacts with an id above ``after`` (the id the page was asked to start after).

        A server whose pages overlap (a record repeated at a page boundary, as integrators report)
        would otherwise put a contact in the file twice; ids only grow along an ``id_greater`` walk,
        so one comparison per record keeps each contact once.
        """
        contacts = page.get("contacts") or []
        fresh = [contact for contact in contacts if int(contact["id"]) > after]
        if len(fresh) < len(contacts):
            self.log.debug("Skipped %d contacts repeated from the previous page.", len(contacts) - len(fresh))
            page = {**page, "contacts": fresh}
        count = 0
        for record in self._records(page, catalogue, hook or self.hook):
            if self.keep is not None and not self.keep(record):
                continue
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
        return count

    def _records(
        self, page: Mapping[str, Any], catalogue: FieldCatalogue, hook: ActiveCampaignHook
    ) -> Iterator[dict[str, Any]]:
        contacts = page.get("contacts") or []
        values = self._sideload(hook, page, "fieldValues", contacts)
        lists = self._sideload(hook, page, "contactLists", contacts) if self.include_lists else {}
        tags = self._sideload(hook, page, "contactTags", contacts) if self.include_tags else {}
        for contact in contacts:
            cid = str(contact["id"])
            record: dict[str, Any] = {
                "id": cid,
                "email": contact.get("email"),
                "first_name": contact.get("firstName"),
                "last_name": contact.get("lastName"),
                "phone": contact.get("phone"),
                "cdate": contact.get("cdate"),
                "udate": contact.get("udate"),
                "fields": self._fields(values.get(cid, []), catalogue),
            }
            if self.include_lists:
                record["lists"] = [
                    {
                        "id": str(m.get("list")),
                        "name": self._list_names.get(str(m.get("list"))),
                        "status": LIST_STATUSES.get(str(m.get("status")), str(m.get("status"))),
                    }
                    for m in lists.get(cid, [])
                ]
            if self.include_tags:
                record["tags"] = sorted(self._tag_name(hook, str(t.get("tag"))) for t in tags.get(cid, []))
            yield record

    def _sideload(
        self, hook: ActiveCampaignHook, page: Mapping[str, Any], key: str, contacts: list[dict[str, Any]]
    ) -> dict[str, list[dict[str, Any]]]:
        """``{contact id: [rows]}`` from the page's sideload, or one request per contact without it."""
        return self.sideloads.rows(hook.get, page, key, (contact["id"] for contact in contacts))

    @staticmethod
    def _fields(values: list[dict[str, Any]], catalogue: FieldCatalogue) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for value in values:
            custom = catalogue.by_id(str(value.get("field")))
            text = value.get("value")
            if custom is None:
                fields[f"field {value.get('field')}"] = text
                continue
            if custom.type in MULTI_VALUE_TYPES and isinstance(text, str):
                fields[custom.title] = [part for part in text.strip("|").split("||") if part] if text else []
            else:
                fields[custom.title] = text
        return fields

    def _tag_name(self, hook: ActiveCampaignHook, tag_id: str) -> str:
        with self._lock:
            known = self._tag_names.get(tag_id)
        if known is not None:
            return known
        try:
            name = str(hook.get(f"tags/{tag_id}")["tag"]["tag"])
        except ActiveCampaignNotFoundError:
            name = f"tag {tag_id}"
        with self._lock:
            self._tag_names[tag_id] = name
        return name


class _SliceQueue:
    """The id slices still to read, shared by the readers; splits a busy slice when one idles."""

    def __init__(self, start: int, end: int, parallel: int) -> None:
        self._condition = threading.Condition()
        self._todo: list[tuple[int, int]] = []
        self._idle = 0
        self._busy = 0
        self._aborted = False
        self.readers = parallel
        self.files: list[tuple[int, str]] = []
        self.written = 0
        span = end - start
        step = max(1, math.ceil(span / parallel))
        low = start
        while low < end:
            high = min(end, low + step)
            self._todo.append((low, high))  # ids in (low, high]
            low = high

    def take(self) -> tuple[int, int] | None:
        """A slice ``(low, high)`` to read ids ``low < id <= high`` from; ``None`` when all are read."""
        with self._condition:
            self._idle += 1
            while not self._todo and self._busy and not self._aborted:
                self._condition.wait()
            self._idle -= 1
            if not self._todo or self._aborted:
                self._condition.notify_all()
                return None
            self._busy += 1
            return self._todo.pop(0)

    def maybe_split(self, cursor: int, high: int) -> int:
        """Give the upper half of ``(cursor, high]`` to an idle reader; return the new ``high``."""
        with self._condition:
            if self._idle and not self._todo and high - cursor > 2 * PAGE_SIZE:
                middle = cursor + (high - cursor) // 2
                self._todo.append((middle, high))
                self._condition.notify()
                return middle
            return high

    def add_file(self, low: int, path: str) -> None:
        with self._condition:
            self.files.append((low, path))

    def add_written(self, count: int) -> None:
        with self._condition:
            self.written += count

    def done(self) -> None:
        with self._condition:
            self._busy -= 1
            self._condition.notify_all()

    def abort(self) -> None:
        with self._condition:
            self._aborted = True
            self._condition.notify_all()
