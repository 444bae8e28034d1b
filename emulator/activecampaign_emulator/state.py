"""The emulated account: in-memory records, their indexes, and every mutation.

All mutations go through :class:`AccountState` methods so the indexes (email → contact,
tag name → tag, field value id → value) and the audit counters can never drift from the
records.  Callers hold ``Emulator.lock``; nothing here locks by itself.

Times are emulated Unix timestamps (floats); ids are ints here and strings on the wire.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timezone
from typing import Any

from activecampaign_emulator.clock import parse_offset
from activecampaign_emulator.ratelimit import SlidingWindowLimiter

#: ContactList statuses we emulate (SPEC ``POST /contactLists``).
SUBSCRIBED = 1
UNSUBSCRIBED = 2


@dataclass(slots=True)
class AccountSettings:
    """Account-wide knobs that the seed controls."""

    name: str = "emulator"
    tz: timezone = UTC
    tz_text: str = "+00:00"
    #: Max contacts the plan allows; imports over it fail per contact (DOC:bulk-import-contacts).
    contact_limit: int | None = None
    #: Emails on the account's exclusion list / bounce list: bulk import skips them.
    exclusions: set[str] = field(default_factory=set)
    bounced: set[str] = field(default_factory=set)
    #: Emulated seconds a batch waits in the queue before it is claimed.
    import_queue_delay: float = 2.0
    #: Contacts processed per emulated second once a batch is active.
    import_contacts_per_second: float = 25.0
    import_multi_per_minute: int = 100
    import_single_per_minute: int = 20
    #: Opt-in reported behaviours (off by default; docs/emulator.md "Reported behaviours").
    #: The last N contacts of every batch are processed but left out of ``/import/info``.
    import_unaccounted_contacts: int = 0
    #: Emulated seconds after submission during which ``/import/info`` does not know the batch.
    import_info_unknown_seconds: float = 0.0
    #: Emulator control (a test aid, not an ActiveCampaign behaviour): a batch stays "waiting" until
    #: ``/import/info`` has been asked about it once, then starts ``import_queue_delay`` later. A test
    #: of a waiting sensor then meets a batch that has not started, however slowly tasks start.
    import_start_after_first_poll: bool = False
    #: ``GET /contacts`` repeats the previous page's last record at the start of the next page.
    overlapping_pages: bool = False
    #: With ``overlapping_pages``: the repeat takes one of the page's ``limit`` places (the other
    #: reading of the report) instead of coming on top of them.
    overlap_within_limit: bool = False
    #: Opt-in: ``DELETE /contacts/{id}`` refuses after this many deletions in a calendar month
    #: (account timezone).  ``None`` = no limit (seed ``contact_deletion.monthly_limit``).
    contact_delete_monthly_limit: int | None = None

    def set_timezone(self, text: str) -> None:
        self.tz = parse_offset(text)
        self.tz_text = text


@dataclass(slots=True)
class User:
    id: int
    username: str
    first_name: str
    last_name: str
    email: str
    phone: str = ""
    signature: str | None = None


@dataclass(slots=True)
class MailingList:
    id: int
    name: str
    stringid: str
    cdate: float
    sender_url: str = ""
    sender_reminder: str = ""
    user_id: int = 1
    udate: float | None = None
    #: Any other documented list attributes the seed or POST provided, passed through verbatim.
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class FieldOption:
    id: int
    field_id: int
    value: str
    label: str
    orderid: int
    isdefault: bool
    cdate: float


@dataclass(slots=True)
class FieldRel:
    id: int
    field_id: int
    relid: int
    cdate: float


@dataclass(slots=True)
class CustomField:
    id: int
    title: str
    type: str
    perstag: str
    cdate: float
    udate: float
    descript: str | None = None
    defval: str | None = None
    isrequired: bool = False
    visible: bool = True
    ordernum: int = 0
    option_ids: list[int] = field(default_factory=list)
    rel_ids: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Tag:
    id: int
    tag: str
    tag_type: str
    description: str
    cdate: float


@dataclass(slots=True)
class Trigger:
    """What enrols contacts automatically; only list subscription is emulated."""

    type: str
    list_id: int


@dataclass(slots=True)
class Automation:
    id: int
    name: str
    status: int
    multientry: bool
    #: Emulated seconds from enrolment until the contact completes the automation.
    duration: float
    total_elements: int
    cdate: float
    mdate: float
    description: str | None = None
    triggers: list[Trigger] = field(default_factory=list)
    entered: int = 0
    exited: int = 0
    #: Emulator control (a test aid, not an ActiveCampaign behaviour; seed key of the same name):
    #: each enrolment stays running until ``GET /contactAutomations/{id}`` first reads it, then
    #: completes ``duration`` later. A test of a waiting sensor then meets an enrolment still
    #: running, however slowly the test machine starts the task that waits.
    complete_after_first_poll: bool = False


@dataclass(slots=True)
class FieldValue:
    id: int
    contact_id: int
    field_id: int
    value: str
    cdate: float
    udate: float
    writes: int = 1


@dataclass(slots=True)
class ContactList:
    """A contact's membership of one list (one row per contact and list, as in AC)."""

    id: int
    contact_id: int
    list_id: int
    status: int
    sdate: float
    udate: float
    sourceid: str = "0"
    unsubdate: float | None = None
    first_name: str = ""
    last_name: str = ""
    #: How many times this row moved to "subscribed" (re-subscriptions included).
    subscribes: int = 0
    unsubscribes: int = 0


@dataclass(slots=True)
class ContactTag:
    id: int
    contact_id: int
    tag_id: int
    cdate: float
    #: ``POST /contactTags`` calls that asked for this pair (1 when nothing was repeated).
    add_requests: int = 1


@dataclass(slots=True)
class Enrolment:
    """One contactAutomation row.  ``source`` records who created it."""

    id: int
    contact_id: int
    automation_id: int
    adddate: float
    complete_at: float
    source: str
    remdate: float | None = None
    removed: bool = False
    #: When a held enrolment's clock started (``complete_after_first_poll``): its progress counts
    #: from here, not from ``adddate``.
    released_at: float | None = None

    def is_complete(self) -> bool:
        return self.remdate is not None


@dataclass(slots=True)
class ImportBatch:
    """One ``POST /import/bulk_import`` request and its progress (see ``importer``)."""

    id: str
    submitted_at: float
    #: When the queue claims the batch and when the last contact is processed (emulated).
    start_at: float
    finish_at: float
    rows: list[dict[str, Any]]
    payload_sha256: str
    byte_size: int
    callback: dict[str, Any] | None = None
    processed: int = 0
    success: list[int] = field(default_factory=list)
    failure: list[str] = field(default_factory=list)
    failure_reasons: list[dict[str, str]] = field(default_factory=list)
    #: How many trailing rows are processed but reported in neither ``success`` nor ``failure``
    #: (``importer.unaccounted_contacts``), and what really happened to them.
    unaccounted: int = 0
    unreported: list[dict[str, str]] = field(default_factory=list)
    #: Until this emulated instant ``/import/info`` answers as for an unknown batch.
    info_unknown_until: float = 0.0
    #: Whether a contact that fails is applied atomically (nothing of it written), the assumed
    #: ``import_contact_failure_atomic``; read when the batch is queued.
    atomic: bool = True

    def reports_row(self, index: int) -> bool:
        """Whether row ``index``'s outcome appears in ``/import/info``."""
        return index < len(self.rows) - self.unaccounted

    def status(self, now: float) -> str | bool:
        """``false`` for ~1 s after submission, then waiting → active → completed (DOC)."""
        if now < self.submitted_at + 1.0:
            return False
        if now < self.start_at:
            return "waiting"
        if self.processed < len(self.rows) or now < self.finish_at:
            return "active"
        return "completed"


@dataclass(slots=True)
class Contact:
    id: int
    email: str
    first_name: str
    last_name: str
    phone: str
    cdate: float
    udate: float
    field_values: dict[int, FieldValue] = field(default_factory=dict)
    lists: dict[int, ContactList] = field(default_factory=dict)
    tags: dict[int, ContactTag] = field(default_factory=dict)
    enrolment_ids: list[int] = field(default_factory=list)
    import_batches: list[str] = field(default_factory=list)
    #: Audit counters that let tests prove "nothing happened twice".
    counters: Counter[str] = field(default_factory=Counter)
    sentcnt: int = 0

    @property
    def hash(self) -> str:
        return hashlib.md5(f"{self.id}:{self.email}".encode(), usedforsecurity=False).hexdigest()


@dataclass(slots=True)
class ContactChange:
    """What a contact write did; ``changed`` drives ``udate`` and the audit counters."""

    contact: Contact
    created: bool = False
    changed: bool = False
    field_values: list[FieldValue] = field(default_factory=list)


class AccountState:
    """Every record of one emulated account, with indexes kept in step by the methods below."""

    def __init__(self, settings: AccountSettings | None = None) -> None:
        self.settings = settings or AccountSettings()
        self.users: dict[int, User] = {}
        self.api_keys: dict[str, int] = {}
        self.lists: dict[int, MailingList] = {}
        self.fields: dict[int, CustomField] = {}
        self.field_options: dict[int, FieldOption] = {}
        self.field_rels: dict[int, FieldRel] = {}
        self.tags: dict[int, Tag] = {}
        self.automations: dict[int, Automation] = {}
        self.contacts: dict[int, Contact] = {}
        self.contact_lists: dict[int, ContactList] = {}
        self.contact_tags: dict[int, ContactTag] = {}
        self.field_values: dict[int, FieldValue] = {}
        self.enrolments: dict[int, Enrolment] = {}
        #: Messages and addresses: seeded here, served/extended by the campaigns module.
        self.messages: dict[int, dict[str, Any]] = {}
        self.addresses: dict[int, dict[str, Any]] = {}
        #: Bulk-import batches by batchId, in submission order (see ``importer``).
        self.imports: dict[str, ImportBatch] = {}
        #: The importer's own request windows ("multi"/"single"), created on first use.
        self.import_limiters: dict[str, SlidingWindowLimiter] = {}
        #: Deleted contacts (id → email), so audits can tell "deleted" from "never existed".
        self.deleted_contacts: dict[int, str] = {}
        #: Account-wide audit counters ("contacts_created", "enrolments_created", ...).
        self.counters: Counter[str] = Counter()
        self._email_index: dict[str, int] = {}
        #: Store emails as sent (assumed behaviour ``contact_email_lowercased`` off); lookups
        #: stay case-blind either way.
        self.keep_email_case = False
        #: List and tag changes move the contact's ``udate`` (assumed behaviour
        #: ``contact_udate_ignores_list_and_tag_changes`` off).
        self.memberships_move_udate = False
        self._tag_index: dict[str, int] = {}
        self._pending_enrolments: list[tuple[float, int]] = []
        self._ids: Counter[str] = Counter()

    # -- ids ------------------------------------------------------------------------------

    def next_id(self, kind: str) -> int:
        """Allocate the next id of ``kind`` (AC ids start at 1 and only grow)."""
        self._ids[kind] += 1
        return self._ids[kind]

    def claim_id(self, kind: str, ident: int) -> int:
        """Use an explicit (seeded) id and keep the allocator ahead of it."""
        if ident > self._ids[kind]:
            self._ids[kind] = ident
        return ident

    # -- lookups --------------------------------------------------------------------------

    def contact_by_email(self, email: str) -> Contact | None:
        cid = self._email_index.get(email.strip().lower())
        return None if cid is None else self.contacts[cid]

    def tag_by_name(self, name: str) -> Tag | None:
        tid = self._tag_index.get(name.strip().lower())
        return None if tid is None else self.tags[tid]

    def field_by_perstag(self, perstag: str) -> CustomField | None:
        wanted = perstag.strip().upper()
        return next((f for f in self.fields.values() if f.perstag == wanted), None)

    def members(self, list_id: int, status: int = SUBSCRIBED) -> list[Contact]:
        """Contacts whose membership of ``list_id`` has ``status`` (campaign audiences), by id."""
        rows = (
            c
            for c in self.contacts.values()
            if (m := c.lists.get(list_id)) is not None and m.status == status
        )
        return sorted(rows, key=lambda c: c.id)

    def user_for_key(self, key: str) -> User | None:
        uid = self.api_keys.get(key)
        return None if uid is None else self.users.get(uid)

    # -- simple records -------------------------------------------------------------------

    def add_tag(self, name: str, now: float, tag_type: str = "contact", description: str = "") -> Tag:
        tag = Tag(self.next_id("tag"), name, tag_type, description, now)
        self._store_tag(tag)
        return tag

    def store_tag(self, tag: Tag) -> None:
        self.claim_id("tag", tag.id)
        self._store_tag(tag)

    def _store_tag(self, tag: Tag) -> None:
        self.tags[tag.id] = tag
        self._tag_index[tag.tag.strip().lower()] = tag.id
        self.counters["tags_created"] += 1

    def get_or_create_tag(self, name: str, now: float) -> Tag:
        """Tags by name, created when missing (DOC:bulk-import-contacts; names compare case-blind)."""
        return self.tag_by_name(name) or self.add_tag(name.strip(), now)

    # -- contacts -------------------------------------------------------------------------

    def create_contact(
        self,
        email: str,
        now: float,
        *,
        first_name: str = "",
        last_name: str = "",
        phone: str = "",
        ident: int | None = None,
    ) -> Contact:
        """Insert a contact; emails are stored lower-cased (unless ``keep_email_case``), indexed
        lower-cased for O(1) case-blind upserts."""
        normalized = email.strip().lower()
        if normalized in self._email_index:
            raise ValueError(f"duplicate email {normalized}")
        cid = self.next_id("contact") if ident is None else self.claim_id("contact", ident)
        stored = email.strip() if self.keep_email_case else normalized
        contact = Contact(cid, stored, first_name, last_name, phone, now, now)
        self.contacts[cid] = contact
        self._email_index[normalized] = cid
        self.counters["contacts_created"] += 1
        return contact

    def update_contact(self, contact: Contact, attrs: dict[str, str], now: float) -> bool:
        """Apply ``email``/``first_name``/``last_name``/``phone``; ``udate`` moves only on change."""
        changed = False
        for attr, value in attrs.items():
            if attr == "email":
                key = value.strip().lower()
                value = value.strip() if self.keep_email_case else key
                if value == contact.email:
                    continue
                if key != contact.email.lower() and key in self._email_index:
                    raise ValueError(f"duplicate email {key}")
                del self._email_index[contact.email.lower()]
                self._email_index[key] = contact.id
            elif getattr(contact, attr) == value:
                continue
            setattr(contact, attr, value)
            changed = True
        if changed:
            contact.udate = now
        return changed

    def set_field_value(
        self, contact: Contact, field_id: int, value: str, now: float
    ) -> tuple[FieldValue, bool]:
        """Create or overwrite one custom-field value; returns (value row, changed?)."""
        current = contact.field_values.get(field_id)
        if current is None:
            current = FieldValue(self.next_id("fieldValue"), contact.id, field_id, value, now, now)
            contact.field_values[field_id] = current
            self.field_values[current.id] = current
            contact.udate = now
            return current, True
        current.writes += 1
        if current.value == value:
            return current, False
        current.value = value
        current.udate = now
        contact.udate = now
        return current, True

    def delete_field_value(self, value: FieldValue, now: float) -> None:
        self.field_values.pop(value.id, None)
        contact = self.contacts.get(value.contact_id)
        if contact is not None and contact.field_values.get(value.field_id) is value:
            del contact.field_values[value.field_id]
            contact.udate = now

    def delete_contact(self, contact: Contact) -> None:
        """Remove a contact with everything hanging off it; keep a tombstone for audits."""
        del self.contacts[contact.id]
        self._email_index.pop(contact.email.lower(), None)
        for value in contact.field_values.values():
            self.field_values.pop(value.id, None)
        for membership in contact.lists.values():
            self.contact_lists.pop(membership.id, None)
        for contact_tag in contact.tags.values():
            self.contact_tags.pop(contact_tag.id, None)
        for eid in contact.enrolment_ids:
            enrolment = self.enrolments.get(eid)
            if enrolment is not None and not enrolment.removed:
                enrolment.removed = True
        self.deleted_contacts[contact.id] = contact.email
        self.counters["contacts_deleted"] += 1

    def contact_deletes_this_month(self, now: float) -> int:
        """Contacts deleted through the API in ``now``'s calendar month (account timezone)."""
        return self.counters[_delete_month_key(now, self.settings.tz)]

    def contact_delete_allowed(self, now: float) -> bool:
        """False once the opt-in monthly delete limit is used up (``settings``)."""
        limit = self.settings.contact_delete_monthly_limit
        return limit is None or self.contact_deletes_this_month(now) < limit

    def count_contact_delete(self, now: float) -> None:
        self.counters[_delete_month_key(now, self.settings.tz)] += 1

    # -- list memberships -----------------------------------------------------------------

    def set_list_status(
        self,
        contact: Contact,
        list_id: int,
        status: int,
        now: float,
        *,
        sourceid: str = "0",
        run_automations: bool = True,
        source: str = "api",
    ) -> tuple[ContactList, bool]:
        """Subscribe (1) or unsubscribe (2); a move to "subscribed" fires subscribe triggers.

        Returns (membership row, changed?).  Callers decide whether a re-subscription is
        allowed: ``POST /contactLists`` allows it (SPEC warns it does), bulk import does not.
        """
        membership = contact.lists.get(list_id)
        if membership is None:
            membership = ContactList(
                self.next_id("contactList"),
                contact.id,
                list_id,
                status,
                now,
                now,
                sourceid=sourceid,
                first_name=contact.first_name,
                last_name=contact.last_name,
            )
            contact.lists[list_id] = membership
            self.contact_lists[membership.id] = membership
            changed = True
        elif membership.status == status:
            return membership, False
        else:
            membership.status = status
            membership.udate = now
            membership.sourceid = sourceid
            changed = True
        if status == SUBSCRIBED:
            membership.subscribes += 1
            membership.sdate = now
            membership.unsubdate = None
            if run_automations:
                self._fire_subscribe_triggers(contact, list_id, now, source)
        else:
            membership.unsubscribes += 1
            membership.unsubdate = now
        if self.memberships_move_udate:
            contact.udate = now
        contact.counters["list_changes"] += 1
        return membership, changed

    def _fire_subscribe_triggers(self, contact: Contact, list_id: int, now: float, source: str) -> None:
        for automation in self.automations.values():
            if not any(t.type == "subscribe" and t.list_id == list_id for t in automation.triggers):
                continue
            if not automation.multientry and self.active_enrolments(contact.id, automation.id):
                continue  # a triggered entry respects multientry; the API endpoint does not
            self.enrol(contact, automation, now, source=f"{source}:subscribe")

    # -- tags -----------------------------------------------------------------------------

    def tag_contact(self, contact: Contact, tag: Tag, now: float) -> tuple[ContactTag, bool]:
        """Attach a tag once; repeating returns the existing row and counts the repeat."""
        existing = contact.tags.get(tag.id)
        if existing is not None:
            existing.add_requests += 1
            contact.counters["tag_repeats"] += 1
            return existing, False
        contact_tag = ContactTag(self.next_id("contactTag"), contact.id, tag.id, now)
        contact.tags[tag.id] = contact_tag
        self.contact_tags[contact_tag.id] = contact_tag
        if self.memberships_move_udate:
            contact.udate = now
        contact.counters["tag_adds"] += 1
        return contact_tag, True

    def untag(self, contact_tag: ContactTag, now: float | None = None) -> None:
        self.contact_tags.pop(contact_tag.id, None)
        contact = self.contacts.get(contact_tag.contact_id)
        if contact is not None:
            contact.tags.pop(contact_tag.tag_id, None)
            if self.memberships_move_udate and now is not None:
                contact.udate = now
            contact.counters["tag_removes"] += 1

    # -- automations ----------------------------------------------------------------------

    def enrol(self, contact: Contact, automation: Automation, now: float, *, source: str) -> Enrolment:
        """Always creates a NEW enrolment, even if the contact is already running this automation.

        AC does not document what re-adding does (reference §6, "could not confirm" 7); the
        emulator takes the worst case so operators must prove they never add twice.
        """
        enrolment = Enrolment(
            self.next_id("contactAutomation"),
            contact.id,
            automation.id,
            now,
            # held: see release_enrolment()
            math.inf if automation.complete_after_first_poll else now + automation.duration,
            source,
        )
        self.enrolments[enrolment.id] = enrolment
        contact.enrolment_ids.append(enrolment.id)
        automation.entered += 1
        contact.counters["enrolments"] += 1
        self.counters["enrolments_created"] += 1
        if enrolment.complete_at != math.inf:
            heapq.heappush(self._pending_enrolments, (enrolment.complete_at, enrolment.id))
        return enrolment

    def release_enrolment(self, enrolment: Enrolment, now: float) -> None:
        """Start the clock of an enrolment held until its first read by id
        (``complete_after_first_poll``): it completes its automation's duration from ``now``."""
        if enrolment.complete_at != math.inf or enrolment.remdate is not None:
            return
        automation = self.automations.get(enrolment.automation_id)
        enrolment.released_at = now
        enrolment.complete_at = now + (automation.duration if automation is not None else 0.0)
        heapq.heappush(self._pending_enrolments, (enrolment.complete_at, enrolment.id))

    def active_enrolments(self, contact_id: int, automation_id: int) -> list[Enrolment]:
        contact = self.contacts.get(contact_id)
        if contact is None:
            return []
        rows = (self.enrolments[eid] for eid in contact.enrolment_ids)
        return [e for e in rows if e.automation_id == automation_id and not e.removed and not e.is_complete()]

    def remove_enrolment(self, enrolment: Enrolment, now: float) -> None:
        """``DELETE /contactAutomations/{id}``: the contact leaves the automation now."""
        enrolment.removed = True
        if enrolment.remdate is None:
            enrolment.remdate = now
            automation = self.automations.get(enrolment.automation_id)
            if automation is not None:
                automation.exited += 1

    def complete_due_enrolments(self, now: float) -> None:
        """Finish every enrolment whose emulated duration has elapsed (O(log n) per completion)."""
        pending = self._pending_enrolments
        while pending and pending[0][0] <= now:
            complete_at, eid = heapq.heappop(pending)
            enrolment = self.enrolments.get(eid)
            if enrolment is None or enrolment.remdate is not None:
                continue
            enrolment.remdate = complete_at
            automation = self.automations.get(enrolment.automation_id)
            if automation is not None:
                automation.exited += 1

    def visible_enrolments(self) -> list[Enrolment]:
        """Enrolments the API still shows (removed ones and deleted contacts' are hidden)."""
        return [e for e in self.enrolments.values() if not e.removed]


def _delete_month_key(now: float, tz: timezone) -> str:
    return "contact_deletes:" + datetime.fromtimestamp(now, tz).strftime("%Y-%m")
