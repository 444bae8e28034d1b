"""Find the changes the webhooks never delivered, as events in the webhook's own shape.

ActiveCampaign sends each webhook once, never retries a failed delivery, and sends none for mass
operations such as imports (reference §8).  Reconcile reads the account for the changes of a
time window and returns, for each change that no recorded event covers, the event the webhook
would have produced (``source: "reconcile"``):

* ``unsubscribe``: list memberships with status 2 whose ``udate`` falls in the window, read per
  watched list with ``GET /contacts?listid=L&status=2&include=contactLists`` (100 contacts a
  request, one request per page);
* ``contact_tag_added``: ``contactTags`` rows whose ``cdate`` falls in the window, per watched tag
  with ``GET /contacts?tagid=T&include=contactTags``.

``include`` on the contacts list is not in the reference: a page that comes without the rows it
asked for has them read per contact (:mod:`airflow_provider_activecampaign.records.sideloads`),
so an account that ignored it still has every missed change found.

A change counts as received when a recorded event (webhook or an earlier reconcile) has the same
``change_key`` and a ``date_time`` within ``tolerance`` of the change. The reference names only
``type``, ``date_time``, ``initiated_by`` and ``contact[email]`` as delivery keys (§8): a delivery
without ``contact[id]`` is keyed by the email, one without ``list`` by no list, so those keys of
the change count too (:func:`keys_of`); otherwise every such change would be emitted again.
A tag *removal* leaves no row to read, so it can only come from the webhook (documented in
docs/webhooks.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from airflow_provider_activecampaign.records.sideloads import ContactSideloads
from airflow_provider_activecampaign.webhooks.events import (
    WebhookEvent,
    change_key,
    parse_date_time,
)
from airflow_provider_activecampaign.webhooks.payload import WebhookPayloadError

DEFAULT_TOLERANCE = timedelta(minutes=10)


class PagedApi(Protocol):
    def iter_pages(self, endpoint: str, *, key: str, params: Any = None) -> Iterator[dict[str, Any]]: ...

    def get(self, endpoint: str, params: Any = None) -> Any: ...


class Received:
    """The change keys already recorded, with their times (from the assets' events' ``extra``)."""

    def __init__(self, extras: Iterable[Mapping[str, Any]], tolerance: timedelta = DEFAULT_TOLERANCE) -> None:
        self.tolerance = tolerance
        self._times: dict[str, list[datetime]] = {}
        for extra in extras:
            key = extra.get("change_key") if isinstance(extra, Mapping) else None
            raw = extra.get("date_time") if isinstance(extra, Mapping) else None
            if not isinstance(key, str) or not isinstance(raw, str):
                continue
            try:
                moment = parse_date_time(raw)
            except WebhookPayloadError:
                continue
            self._times.setdefault(key, []).append(moment)

    def claim(self, keys: Iterable[str], moment: datetime) -> bool:
        """Whether a recorded event stands for this change; that event then stands for no other.

        One delivery covers one change: a delivery recorded without its list (or by email) may
        match several of the contact's changes, and an unclaimed match would hide a second one.
        The nearest recorded time under the first key that has one is taken.
        """
        for key in keys:
            times = self._times.get(key, [])
            near = [seen for seen in times if abs(seen - moment) <= self.tolerance]
            if near:
                times.remove(min(near, key=lambda seen: abs(seen - moment)))
                return True
        return False

    def add(self, key: str, moment: datetime) -> None:
        self._times.setdefault(key, []).append(moment)


def missed_events(
    api: PagedApi,
    host: str,
    *,
    since: datetime,
    until: datetime,
    list_ids: Iterable[str] = (),
    tags: Mapping[str, str] | None = None,
    received: Received,
    sideloads: ContactSideloads | None = None,
) -> list[WebhookEvent]:
    """The window's changes (``since`` < time <= ``until``) that ``received`` does not cover.

    :param tags: ``{tag id: tag name}`` of the tags to watch (names as the webhook sends them).
    :param sideloads: reads a page's missing sideload per contact (and warns); one is made if
        not given.
    """
    rows = sideloads or ContactSideloads()
    found: dict[tuple[str, datetime], WebhookEvent] = {}  # a change read twice (overlapping pages) once
    changes = [
        *(e for list_id in list_ids for e in _unsubscribes(api, rows, host, str(list_id), since, until)),
        *(
            e
            for tag_id, name in (tags or {}).items()
            for e in _tag_adds(api, rows, host, str(tag_id), name, since, until)
        ),
    ]
    for event in changes:
        seen = (event.change_key, event.date_time)
        if seen not in found and not received.claim(keys_of(event), event.date_time):
            found[seen] = event
    return sorted(found.values(), key=lambda e: (e.date_time, e.change_key))


def keys_of(event: WebhookEvent) -> list[str]:
    """The change keys a delivery of ``event`` may have been recorded under.

    Its own (contact id, list); by email, for a delivery without ``contact[id]``; without the
    list, for one without ``list`` (both outside the reference's four keys, §8). A list-less
    delivery then covers one of the contact's unsubscribes within the tolerance, never two
    (``Received.claim``).
    """
    contact = event.contact or {}
    contacts = [contact]
    if contact.get("id") and contact.get("email"):
        contacts.append({"email": contact["email"]})
    lists = [event.list_id, None] if event.list_id else [None]
    keys = [
        change_key(event.type, who, list_id, event.tag, event.deal) for who in contacts for list_id in lists
    ]
    return list(dict.fromkeys(keys))


def _contact_of(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row.get("id")),
        "email": (str(row.get("email") or "").lower() or None),
        "first_name": row.get("firstName") or None,
        "last_name": row.get("lastName") or None,
        "phone": row.get("phone") or None,
        "orgname": row.get("orgname") or None,
        "tags": [],
    }


def _event(
    host: str, event_type: str, moment: datetime, contact: dict[str, Any], **what: Any
) -> WebhookEvent:
    key = change_key(event_type, contact, what.get("list_id"), what.get("tag"), None)
    digest = hashlib.sha256(f"{host}|reconcile|{key}|{moment.isoformat()}".encode()).hexdigest()
    return WebhookEvent(
        type=event_type,
        date_time=moment,
        account_host=host,
        contact=contact,
        list_id=what.get("list_id"),
        tag=what.get("tag"),
        deal=None,
        initiated_from=None,
        initiated_by="reconcile",
        unsubscribe_reason=None,
        delivery_key=digest,
        source="reconcile",
    )


def _in_window(raw: Any, since: datetime, until: datetime) -> datetime | None:
    if not isinstance(raw, str) or not raw or raw.startswith("0000"):
        return None
    moment = parse_date_time(raw)
    return moment if since < moment <= until else None


def _page_rows(api: PagedApi, sideloads: ContactSideloads, page: Mapping[str, Any], key: str) -> list[Any]:
    """The page's ``key`` rows: sideloaded, or read per contact of the page."""
    ids = [c.get("id") for c in page.get("contacts") or []]
    return [row for rows in sideloads.rows(api.get, page, key, ids).values() for row in rows]


def _unsubscribes(
    api: PagedApi, sideloads: ContactSideloads, host: str, list_id: str, since: datetime, until: datetime
) -> Iterator[WebhookEvent]:
    params = {"listid": list_id, "status": 2, "include": "contactLists"}
    for page in api.iter_pages("contacts", key="contacts", params=params):
        contacts = {str(c.get("id")): c for c in page.get("contacts") or []}
        for membership in _page_rows(api, sideloads, page, "contactLists"):
            if str(membership.get("list")) != list_id or str(membership.get("status")) != "2":
                continue
            moment = _in_window(membership.get("udate"), since, until)
            contact = contacts.get(str(membership.get("contact")))
            if moment is None or contact is None:
                continue
            yield _event(host, "unsubscribe", moment, _contact_of(contact), list_id=list_id)


def _tag_adds(
    api: PagedApi,
    sideloads: ContactSideloads,
    host: str,
    tag_id: str,
    tag_name: str,
    since: datetime,
    until: datetime,
) -> Iterator[WebhookEvent]:
    params = {"tagid": tag_id, "include": "contactTags"}
    for page in api.iter_pages("contacts", key="contacts", params=params):
        contacts = {str(c.get("id")): c for c in page.get("contacts") or []}
        for row in _page_rows(api, sideloads, page, "contactTags"):
            if str(row.get("tag")) != tag_id:
                continue
            moment = _in_window(row.get("cdate"), since, until)
            contact = contacts.get(str(row.get("contact")))
            if moment is None or contact is None:
                continue
            yield _event(host, "contact_tag_added", moment, _contact_of(contact), tag=tag_name)
