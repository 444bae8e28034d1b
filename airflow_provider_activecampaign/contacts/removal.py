"""Taking tags off contacts and unsubscribing them from lists, by name, for any number of contacts.

Two steps, so a plan can show the writes before they happen:

* :class:`RemovalFinder` reads which of the given contacts still have the tags / are still
  subscribed to the lists, and yields one :class:`Removal` per write needed. Nothing is written.
  It picks the cheaper way to read: one ``GET /contacts?email=…&include=contactTags,contactLists``
  per contact, or walking each tag's and list's members 100 a page (``tagid`` /
  ``listid`` + ``status=1``), whichever takes fewer requests. ``include`` on the contacts list is
  not in the reference: a page without the sideload it asked for is read per contact instead
  (:mod:`airflow_provider_activecampaign.records.sideloads`), never taken as "nothing to remove".
* :class:`RemovalApplier` makes those writes: ``DELETE /contactTags/{id}`` (the contactTag *join*
  id, which is what the API deletes, not the tag id) and ``POST /contactLists`` with status 2.

Idempotent: a tag already gone or a contact already unsubscribed needs no write, so a second run
writes nothing. Never deletes a contact, and never sends status 1: nobody who unsubscribed is
subscribed again.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignAmbiguousWriteError,
    ActiveCampaignError,
    ActiveCampaignNotFoundError,
    ActiveCampaignValidationError,
)
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.records.emails import email_key
from airflow_provider_activecampaign.records.journal import lost_answer, times
from airflow_provider_activecampaign.records.names import (  # noqa: F401  (re-exported: older imports)
    find_tag_id,
    resolve_lists,
    resolve_tags,
)
from airflow_provider_activecampaign.records.sideloads import ContactSideloads

SUBSCRIBED = "1"
UNSUBSCRIBED = "2"
PAGE_SIZE = 100

UNTAG = "untag"
UNSUBSCRIBE = "unsubscribe"


@dataclass(frozen=True)
class Removal:
    """One write: take a tag off a contact, or unsubscribe a contact from a list."""

    op: str
    email: str
    contact_id: str
    #: The tag's or list's id, and its name (for reports).
    target_id: str
    target: str
    #: ``untag`` only: the contactTag join id (``DELETE /contactTags/{id}``).
    contact_tag_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Removal:
        return cls(
            op=str(data["op"]),
            email=str(data["email"]),
            contact_id=str(data["contact_id"]),
            target_id=str(data["target_id"]),
            target=str(data["target"]),
            contact_tag_id=str(data["contact_tag_id"]) if data.get("contact_tag_id") else None,
        )


@dataclass
class RemovalCounts:
    """What a removal run did (or, planning, would do)."""

    untagged: int = 0
    unsubscribed: int = 0
    #: Already done when the write was attempted (tag gone, contact or join deleted meanwhile).
    already_done: int = 0
    failed: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def writes(self) -> int:
        return self.untagged + self.unsubscribed

    def to_json(self) -> dict[str, Any]:
        return {
            "untagged": self.untagged,
            "unsubscribed": self.unsubscribed,
            "already_done": self.already_done,
            "failed": self.failed,
            "failures": self.failures[:20],
        }


class RemovalFinder:
    """Finds the writes that take ``tags`` off and unsubscribe ``lists`` for given contacts (reads only)."""

    def __init__(
        self,
        hook: ActiveCampaignHook,
        *,
        tags: Mapping[str, str] | None = None,
        lists: Mapping[str, str] | None = None,
        logger: Any = None,
    ) -> None:
        self.hook = hook
        self.tags = dict(tags or {})
        self.lists = dict(lists or {})
        self.log = logger or logging.getLogger(__name__)
        #: Read requests made.
        self.reads = 0
        #: ``per-contact`` or ``members``: how the last :meth:`find` read.
        self.strategy = ""
        #: The pages' sideloads, or per-contact reads where the account ignored ``include``.
        self.sideloads = ContactSideloads(self.log)

    def find(self, emails: Iterable[str]) -> Iterator[Removal]:
        """One :class:`Removal` per tag a contact still has and per list it is still subscribed to.

        Emails ActiveCampaign has no contact for need nothing. The order is stable (by target,
        then contact id, or by the given order per contact).
        """
        wanted: dict[str, str] = {}
        for email in emails:
            wanted.setdefault(email_key(email), email)
        if not wanted or not (self.tags or self.lists):
            return
        member_pages = self._member_pages(len(wanted))
        if member_pages is not None and member_pages < len(wanted):
            self.strategy = "members"
            yield from self._by_members(wanted)
        else:
            self.strategy = "per-contact"
            yield from self._per_contact(wanted)

    # -- cost --------------------------------------------------------------------------------

    def _member_pages(self, budget: int) -> int | None:
        """Requests walking every target's members takes (counted with one request per target),
        or ``None`` once that is already more than ``budget``."""
        pages = 0
        for params in self._member_queries():
            # Only meta.total is read; the order is named anyway (the default one is not documented).
            body = self._get("contacts", {**params, "orders[id]": "ASC", "limit": 1})
            total = int((body.get("meta") or {}).get("total") or 0)
            pages += 1 + math.ceil(total / PAGE_SIZE)
            if pages >= budget:
                return None
        return pages

    def _member_queries(self) -> list[dict[str, Any]]:
        queries: list[dict[str, Any]] = [{"tagid": tag_id} for tag_id in self.tags]
        queries += [{"listid": list_id, "status": SUBSCRIBED} for list_id in self.lists]
        return queries

    def _get(self, endpoint: str, params: Mapping[str, Any]) -> dict[str, Any]:
        self.reads += 1
        body = self.hook.get(endpoint, params=dict(params))
        return body if isinstance(body, dict) else {}

    # -- one request per contact --------------------------------------------------------------

    def _per_contact(self, wanted: Mapping[str, str]) -> Iterator[Removal]:
        include = ",".join(
            part for part, needed in (("contactTags", self.tags), ("contactLists", self.lists)) if needed
        )
        for key, email in wanted.items():
            body = self._get("contacts", {"email": email, "include": include})
            contact = next(
                (c for c in body.get("contacts") or [] if email_key(str(c.get("email", ""))) == key), None
            )
            if contact is None:
                continue
            contact_id = str(contact["id"])
            yield from self._removals(contact_id, str(contact.get("email") or email), body)

    def _read(self, endpoint: str) -> Any:
        return self._get(endpoint, {})

    def _removals(self, contact_id: str, email: str, body: Mapping[str, Any]) -> Iterator[Removal]:
        joins = self.sideloads.rows(self._read, body, "contactTags", [contact_id]) if self.tags else {}
        for join in joins.get(contact_id, []):
            tag_id = str(join.get("tag"))
            if str(join.get("contact")) == contact_id and tag_id in self.tags:
                yield Removal(UNTAG, email, contact_id, tag_id, self.tags[tag_id], str(join["id"]))
        memberships = (
            self.sideloads.rows(self._read, body, "contactLists", [contact_id]) if self.lists else {}
        )
        for membership in memberships.get(contact_id, []):
            list_id = str(membership.get("list"))
            if (
                str(membership.get("contact")) == contact_id
                and list_id in self.lists
                and str(membership.get("status")) == SUBSCRIBED
            ):
                yield Removal(UNSUBSCRIBE, email, contact_id, list_id, self.lists[list_id])

    # -- walking members -----------------------------------------------------------------------

    def _by_members(self, wanted: Mapping[str, str]) -> Iterator[Removal]:
        for tag_id, name in self.tags.items():
            for page in self._pages({"tagid": tag_id, "include": "contactTags"}):
                # Only the wanted contacts' joins matter: without the sideload, only they are read.
                members = [
                    c["id"]
                    for c in page.get("contacts") or []
                    if email_key(str(c.get("email") or "")) in wanted
                ]
                rows = self.sideloads.rows(self._read, page, "contactTags", members)
                joins = {
                    str(j.get("contact")): str(j["id"])
                    for contact_rows in rows.values()
                    for j in contact_rows
                    if str(j.get("tag")) == tag_id
                }
                for contact in page.get("contacts") or []:
                    email = str(contact.get("email") or "")
                    contact_id = str(contact["id"])
                    if email_key(email) in wanted and contact_id in joins:
                        yield Removal(UNTAG, email, contact_id, tag_id, name, joins[contact_id])
        for list_id, name in self.lists.items():
            for page in self._pages({"listid": list_id, "status": SUBSCRIBED}):
                for contact in page.get("contacts") or []:
                    email = str(contact.get("email") or "")
                    if email_key(email) in wanted:
                        yield Removal(UNSUBSCRIBE, email, str(contact["id"]), list_id, name)

    def _pages(self, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        for page in self.hook.iter_pages("contacts", key="contacts", params=dict(params)):
            self.reads += 1
            yield page


class RemovalApplier:
    """Makes the writes :class:`RemovalFinder` found; each at most once, each checked when ambiguous."""

    def __init__(
        self,
        hook: ActiveCampaignHook,
        *,
        on_failure: Callable[[Removal, str], None] | None = None,
        logger: Any = None,
    ) -> None:
        self.hook = hook
        self.on_failure = on_failure
        self.log = logger or logging.getLogger(__name__)
        self.counts = RemovalCounts()
        #: How many times the current removal's write was sent (for truthful failure reasons).
        self._sent = 0
        #: Every removal that did not go through (for the state: its contact stays due).
        self.failed: list[Removal] = []

    def apply(self, removals: Iterable[Removal]) -> RemovalCounts:
        for removal in removals:
            self._sent = 0
            try:
                done = self._untag(removal) if removal.op == UNTAG else self._unsubscribe(removal)
            except ActiveCampaignError as error:
                self._fail(removal, self._what_happened(removal, error))
                continue
            if done:
                if removal.op == UNTAG:
                    self.counts.untagged += 1
                else:
                    self.counts.unsubscribed += 1
            else:
                self.counts.already_done += 1
        return self.counts

    def _what_happened(self, removal: Removal, error: ActiveCampaignError) -> str:
        """How often the write went and what came back (the transport's text speaks of one send)."""
        write = (
            f"DELETE /contactTags/{removal.contact_tag_id}" if removal.op == UNTAG else "POST /contactLists"
        )
        if isinstance(error, ActiveCampaignAmbiguousWriteError):
            return (
                f"{write} was sent {times(self._sent)}; {lost_answer(error)} (it changes nothing when "
                "applied twice); the next run reads the contact back and sends it again only if needed"
            )
        return f"{write} was sent {times(self._sent)}; {error.summary}"

    def _fail(self, removal: Removal, reason: str) -> None:
        self.counts.failed += 1
        self.failed.append(removal)
        if len(self.counts.failures) < 20:
            self.counts.failures.append({**removal.to_json(), "reason": reason})
        if self.on_failure is not None:
            self.on_failure(removal, reason)

    def _untag(self, removal: Removal) -> bool:
        """``DELETE /contactTags/{join id}`` (retried by the transport: a DELETE is idempotent)."""
        self._sent += 1
        try:
            self.hook.delete(f"contactTags/{removal.contact_tag_id}")
        except ActiveCampaignNotFoundError:
            return False  # removed meanwhile (or by an earlier try): nothing left to do
        return True

    def _unsubscribe(self, removal: Removal) -> bool:
        """``POST /contactLists`` status 2; after an ambiguous failure, read back before sending again.

        A contact deleted since it was found is "not found" (404, the usual answer) or, as the
        reference documents this call's only error, ``400 {}`` (emulator switch
        ``contact_list_unknown_404``). So a refusal is read back too: a contact that is gone, or is
        no longer subscribed, has nothing left to remove; one still subscribed was truly refused.
        """
        payload = {
            "contactList": {
                "list": int(removal.target_id),
                "contact": int(removal.contact_id),
                "status": int(UNSUBSCRIBED),
            }
        }
        self._sent += 1
        try:
            self.hook.request("POST", "contactLists", json=payload)
            return True
        except ActiveCampaignNotFoundError:
            return False  # the contact (or list) is gone: it is on no list
        except ActiveCampaignValidationError as refused:
            try:
                still = self._list_status(removal) == SUBSCRIBED
            except ActiveCampaignNotFoundError:
                return False  # the contact is gone: it is on no list
            if still:
                raise refused
            return False  # unsubscribed meanwhile (or gone from the list): nothing left to do
        except ActiveCampaignAmbiguousWriteError:
            status = self._list_status(removal)
        if status != SUBSCRIBED:
            return True  # the ambiguous request was applied (or someone else unsubscribed them)
        self._sent += 1  # read back: not applied; status 2 sent again changes nothing if it lands late
        self.hook.request("POST", "contactLists", json=payload)
        return True

    def _list_status(self, removal: Removal) -> str | None:
        """The contact's status on the removal's list as read now (``None``: not on it)."""
        body = self.hook.get(f"contacts/{removal.contact_id}/contactLists")
        return next(
            (
                str(m.get("status"))
                for m in body.get("contactLists") or []
                if str(m.get("list")) == removal.target_id
            ),
            None,
        )


def remove(
    hook: ActiveCampaignHook,
    emails: Iterable[str],
    *,
    tags: Sequence[str] = (),
    lists: Sequence[str] = (),
    logger: Any = None,
) -> tuple[RemovalCounts, RemovalFinder]:
    """Take ``tags`` off and unsubscribe from ``lists`` every contact in ``emails`` (by name)."""
    finder = RemovalFinder(
        hook, tags=resolve_tags(hook, tags), lists=resolve_lists(hook, lists), logger=logger
    )
    applier = RemovalApplier(hook, logger=logger)
    counts = applier.apply(list(finder.find(emails)))
    return counts, finder
