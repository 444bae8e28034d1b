"""CRM and e-commerce state: pipelines, stages, deals, accounts, custom field data, notes, tasks,
event tracking and Deep Data records, kept beside the core account state.

One :class:`CrmBook` extension per emulator holds every record; route modules find it with
:func:`crm_book`.  Every change of a record goes through a ``CrmBook`` method (one place per
resource), so indexes and the ``version`` counter that invalidates cached list filters never
drift.  Records whose contact was deleted are hidden on read (the contacts module stays
unaware of CRM state).

Seed keys (all optional; see docs/emulator.md "CRM seed keys")::

    pipelines       [{"id", "title", "currency", "autoassign", "users": [ids],
                      "stages": ["To Contact", {"id", "title", "color"}...]}]
    deal_fields     [{"id", "label", "type", "options": [...], "default", "currency"}]
    account_fields  (same shape as deal_fields)
    accounts        [{"id", "name", "url", "owner", "cdate", "udate", "fields": {label|id: v}}]
                    or {"generate": N}
    account_contacts [{"account", "contact" (id or email), "jobTitle"}] or {"generate": N}
                    (generating creates contacts ``acct-contact-<n>@example.com``)
    deals           [{"id", "title", "value" (cents), "currency", "pipeline", "stage", "owner",
                      "contact", "account", "status", "percent", "cdate", "mdate",
                      "fields": {label|id: value}}] or {"generate": N}
    notes           [{"id", "note", "reltype", "relid", "cdate", "mdate"}] or {"generate": N}
    deal_task_types [{"id", "title"}]
    deal_tasks      [{"id", "title", "note", "reltype", "relid", "type", "duedate", "status",
                      "assignee", "cdate", "udate"}] or {"generate": N}
    ecommerce       {"connections": [...], "customers": [...], "orders": [...]}
                    or {"generate": {"customers": N, "orders": M}}
    event_tracking  {"enabled": bool, "actid": "...", "key": "...", "events": ["name", ...]}
    contact_deletion {"monthly_limit": N | null}
    volume          {"contacts": N, "accounts": N, "deals": N, "account_contacts": N}
                    (fast bulk generation for benchmarks)
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Protocol, TypeVar

from starlette.responses import Response
from starlette.routing import Route

from activecampaign_emulator.clock import iso, parse_timestamp
from activecampaign_emulator.core import ApiRequest, BaseExtension, Emulator
from activecampaign_emulator.seed import SeedError
from activecampaign_emulator.validation import parse_int_id

T = TypeVar("T")

#: Deal statuses (SPEC ``PUT /deals/{id}``: 0 open, 1 won, 2 lost).
DEAL_STATUSES = (0, 1, 2)
#: Custom field types of deal and account fields (SPEC ``POST /dealCustomFieldMeta``).
CRM_FIELD_TYPES = frozenset(
    {
        "text",
        "textarea",
        "date",
        "datetime",
        "dropdown",
        "multiselect",
        "radio",
        "checkbox",
        "hidden",
        "currency",
        "number",
    }
)
#: ``reltype`` values of notes (SPEC ``POST /notes``) and the ``owner.type`` each shows.
NOTE_RELTYPES = {
    "Activity": "activity",
    "Deal": "deal",
    "DealTask": "dealTask",
    "Subscriber": "contact",
    "CustomerAccount": "account",
}
#: Event names are at most 32 characters (reference §8, DOC:track-event).
EVENT_NAME_MAX = 32
DEFAULT_ACTID = "650123456"
DEFAULT_EVENT_KEY = "c0ffee5eed0e1ec7ab1e7a3c4d5e6f708192a3b4"

SEED_KEYS = frozenset(
    {
        "pipelines",
        "deal_fields",
        "account_fields",
        "accounts",
        "account_contacts",
        "deals",
        "notes",
        "deal_task_types",
        "deal_tasks",
        "ecommerce",
        "event_tracking",
        "contact_deletion",
        "volume",
    }
)


@dataclass(slots=True)
class Stage:
    id: int
    group_id: int
    title: str
    order: int
    cdate: float
    udate: float
    color: str = "32B0FC"
    deal_order: str = "next-action DESC"
    width: int = 280
    card_regions: tuple[str, str, str, str, str] = (
        "title",
        "next-action",
        "show-avatar",
        "contact-fullname-orgname",
        "value",
    )


@dataclass(slots=True)
class Pipeline:
    id: int
    title: str
    currency: str
    cdate: float
    udate: float
    allgroups: int = 1
    allusers: int = 1
    autoassign: int = 1
    users: list[int] = field(default_factory=list)
    stage_ids: list[int] = field(default_factory=list)


@dataclass(slots=True)
class FieldMeta:
    """A deal or account custom field (``dealCustomFieldMetum`` / ``accountCustomFieldMetum``)."""

    id: int
    label: str
    type: str
    cdate: float
    udate: float
    options: list[str] | None = None
    default: Any = None
    default_currency: str | None = None
    is_form_visible: int = 1
    is_required: int = 0
    display_order: int = 1


@dataclass(slots=True)
class FieldDatum:
    id: int
    meta_id: int
    owner_id: int
    value: Any
    cdate: float
    udate: float
    currency: str | None = None


@dataclass(slots=True)
class Deal:
    id: int
    title: str
    description: str
    value: int
    currency: str
    group_id: int
    stage_id: int
    owner_id: int
    contact_id: int | None
    account_id: int | None
    status: int
    percent: int | None
    cdate: float
    mdate: float
    #: custom field meta id → datum id
    fields: dict[int, int] = field(default_factory=dict)
    #: "Never twice" audit: how many create requests produced this deal (always 1).
    activitycount: int = 1

    @property
    def hash(self) -> str:
        return hashlib.md5(f"deal:{self.id}".encode(), usedforsecurity=False).hexdigest()[:8]


@dataclass(slots=True)
class Account:
    id: int
    name: str
    url: str | None
    owner_id: int
    cdate: float
    udate: float
    fields: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True)
class AccountContact:
    id: int
    account_id: int
    contact_id: int
    job_title: str
    cdate: float
    udate: float


@dataclass(slots=True)
class Note:
    id: int
    note: str
    reltype: str
    relid: int
    user_id: int
    cdate: float
    mdate: float


@dataclass(slots=True)
class TaskType:
    id: int
    title: str
    cdate: float
    udate: float
    status: int = 0


@dataclass(slots=True)
class DealTask:
    id: int
    title: str | None
    note: str
    reltype: str
    relid: int
    tasktype_id: int
    duedate: float
    edate: float
    status: int
    user_id: int
    assignee_id: int
    cdate: float
    udate: float
    outcome_id: int | None = None
    outcome_info: str | None = None


@dataclass(slots=True)
class TrackedEvent:
    """One ``POST /event`` call the emulator accepted (saved or, with tracking off, dropped)."""

    seq: int
    event: str
    eventdata: str | None
    email: str | None
    contact_id: int | None
    at: float
    saved: bool


@dataclass(slots=True)
class EventTracking:
    enabled: bool = False
    actid: str = DEFAULT_ACTID
    key: str = DEFAULT_EVENT_KEY
    #: Registered event names (``/eventTrackingEvents``), in creation order.
    names: list[str] = field(default_factory=list)
    events: list[TrackedEvent] = field(default_factory=list)


@dataclass(slots=True)
class FieldStore:
    """Custom field meta + data of one kind (``deal`` or ``account``)."""

    kind: str
    meta: dict[int, FieldMeta] = field(default_factory=dict)
    data: dict[int, FieldDatum] = field(default_factory=dict)
    #: (meta id, owner id) → datum id
    index: dict[tuple[int, int], int] = field(default_factory=dict)

    def meta_by_label(self, label: str) -> FieldMeta | None:
        wanted = label.strip().lower()
        return next((m for m in self.meta.values() if m.label.strip().lower() == wanted), None)


class CrmSeedLoader(Protocol):
    """What :class:`CrmBook` needs of the seed loader (the ``crm_seed`` module provides it)."""

    def load_settings(self, book: CrmBook, emu: Emulator, seed: Mapping[str, Any]) -> None: ...

    def record_sections(self, seed: Mapping[str, Any]) -> dict[str, Any]: ...

    def load_records(self, book: CrmBook, emu: Emulator, seed: Mapping[str, Any], now: float) -> None: ...


class CrmBook(BaseExtension):
    """Every CRM / e-commerce / tracking record of the account, reset and seeded with it."""

    seed_keys = SEED_KEYS

    def __init__(self, seeds: CrmSeedLoader) -> None:
        #: How seed sections become records (``crm_seed``): passed in, so this module imports
        #: neither the seed loader nor e-commerce, which both build on it.
        self.seeds = seeds
        self.emu: Emulator | None = None
        #: CRM record sections that loaded without error once (replayed lazily on reset).
        self._known_good: dict[str, Any] | None = None
        self._pending: list[tuple[dict[str, Any], float]] = []
        self._clear()

    def _clear(self) -> None:
        self.pipelines: dict[int, Pipeline] = {}
        self.stages: dict[int, Stage] = {}
        self.deals: dict[int, Deal] = {}
        self.accounts: dict[int, Account] = {}
        self.account_contacts: dict[int, AccountContact] = {}
        #: contact id → accountContact id (one account per contact, SPEC ``POST /accountContacts``)
        self.contact_account: dict[int, int] = {}
        self.fields = {"deal": FieldStore("deal"), "account": FieldStore("account")}
        self.notes: dict[int, Note] = {}
        self.task_types: dict[int, TaskType] = {}
        self.tasks: dict[int, DealTask] = {}
        self.connections: dict[int, dict[str, Any]] = {}
        self.ecom_customers: dict[int, dict[str, Any]] = {}
        self.ecom_orders: dict[int, dict[str, Any]] = {}
        self.ecom_products: dict[int, dict[str, Any]] = {}
        self.tracking = EventTracking()
        self.counters: dict[str, int] = {}
        self._ids: dict[str, int] = {}
        #: Lower-cased name -> ids: names compare case-blind unless ``account_names_case_insensitive`` is off.
        self._account_names: dict[str, list[int]] = {}
        #: Bumped on every deal change; list filters are cached per (query, version).
        self.version = 0
        self._filter_cache: dict[tuple[Any, ...], Any] = {}

    # -- extension protocol ---------------------------------------------------------------

    def reset(self, emu: Emulator, seed: Mapping[str, Any]) -> None:
        """Settings apply now; records are built on first use when the seed was built before.

        Generating the default CRM data costs ~10 ms and every test resets the emulator, most
        without touching a deal: so a CRM seed that has loaded cleanly once is replayed lazily
        (on the first CRM request or control call).  A new CRM seed loads at once, so its
        errors surface from the reset itself.
        """
        self.emu = emu
        self._clear()
        self._pending = []
        now = emu.clock.now()
        self.seeds.load_settings(self, emu, seed)
        records = self.seeds.record_sections(seed)
        if not records:
            return
        if records == self._known_good:
            self._pending = [(records, now)]
            return
        self.seeds.load_records(self, emu, records, now)
        self._known_good = records

    def merge_seed(self, emu: Emulator, seed: Mapping[str, Any]) -> None:
        self.emu = emu
        self.seeds.load_settings(self, emu, seed)
        records = self.seeds.record_sections(seed)
        if records:  # settings-only merges (e.g. set_event_tracking) build nothing
            self.materialize()
            self.seeds.load_records(self, emu, records, emu.clock.now())

    def materialize(self) -> None:
        """Build records a lazy reset left pending (see :meth:`reset`)."""
        if not self._pending or self.emu is None:
            return
        pending, self._pending = self._pending, []
        for records, now in pending:
            self.seeds.load_records(self, self.emu, records, now)

    def route(self, path: str, handler: Callable[[ApiRequest], Response], methods: list[str]) -> Route:
        """``emu.route`` for CRM handlers: pending seed records are built first."""
        assert self.emu is not None

        def with_records(req: ApiRequest) -> Response:
            self.materialize()
            return handler(req)

        with_records.__name__ = handler.__name__
        with_records.__doc__ = handler.__doc__
        return self.emu.route(path, with_records, methods)

    def snapshot(self, emu: Emulator) -> dict[str, Any]:
        """Cheap on purpose (``GET /_emulator/state`` is read often and must not build CRM
        records): event tracking and the contact-delete limit.  Records: ``GET /_emulator/crm``.
        """
        return {
            "event_tracking": self.tracking_snapshot(emu.state.settings.tz),
            "contact_deletion": {
                "monthly_limit": emu.state.settings.contact_delete_monthly_limit,
                "deleted_this_month": emu.state.contact_deletes_this_month(emu.clock.now()),
            },
        }

    def counts(self) -> dict[str, int]:
        return {
            "pipelines": len(self.pipelines),
            "stages": len(self.stages),
            "deals": len(self.deals),
            "accounts": len(self.accounts),
            "account_contacts": sum(1 for _ in self.visible_account_contacts()),
            "deal_fields": len(self.fields["deal"].meta),
            "account_fields": len(self.fields["account"].meta),
            "notes": len(self.notes),
            "deal_tasks": len(self.tasks),
            "ecom_connections": len(self.connections),
            "ecom_customers": len(self.ecom_customers),
            "ecom_orders": len(self.ecom_orders),
            "ecom_order_products": len(self.ecom_products),
        }

    def tracking_snapshot(self, tz: Any) -> dict[str, Any]:
        t = self.tracking
        return {
            "enabled": t.enabled,
            "actid": t.actid,
            "key": t.key,
            "event_names": list(t.names),
            "saved": sum(1 for e in t.events if e.saved),
            "dropped": sum(1 for e in t.events if not e.saved),
            "events": [
                {
                    "seq": e.seq,
                    "event": e.event,
                    "eventdata": e.eventdata,
                    "email": e.email,
                    "contact": None if e.contact_id is None else str(e.contact_id),
                    "at": iso(e.at, tz),
                    "saved": e.saved,
                }
                for e in t.events
            ],
        }

    # -- ids and counters -----------------------------------------------------------------

    def next_id(self, kind: str) -> int:
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return self._ids[kind]

    def claim_id(self, kind: str, ident: int) -> int:
        if ident > self._ids.get(kind, 0):
            self._ids[kind] = ident
        return ident

    def count(self, name: str, amount: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + amount

    # -- lookups --------------------------------------------------------------------------

    def contact_exists(self, contact_id: int | None) -> bool:
        return contact_id is not None and self.emu is not None and contact_id in self.emu.state.contacts

    def account_by_name(self, name: str) -> Account | None:
        """The account named ``name``, compared case-blind (the same name spelled exactly first)."""
        named = self.accounts_named(name)
        return next((a for a in named if a.name.strip() == name.strip()), named[0] if named else None)

    def accounts_named(self, name: str) -> list[Account]:
        """Every account whose name is ``name`` compared case-blind (several only when the switch is off)."""
        ids = self._account_names.get(name.strip().lower(), [])
        return [self.accounts[aid] for aid in ids if aid in self.accounts]

    def visible_account_contacts(self) -> Iterator[AccountContact]:
        """Associations whose contact still exists (a deleted contact leaves its account)."""
        contacts = self.emu.state.contacts if self.emu is not None else {}
        return (ac for ac in self.account_contacts.values() if ac.contact_id in contacts)

    def account_of_contact(self, contact_id: int) -> AccountContact | None:
        acid = self.contact_account.get(contact_id)
        if acid is None or not self.contact_exists(contact_id):
            return None
        return self.account_contacts.get(acid)

    def cached(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        """``compute()`` for ``key`` at the current ``version`` (paging a filter re-uses it)."""
        full = (self.version, *key)
        if full not in self._filter_cache:
            if len(self._filter_cache) > 64:
                self._filter_cache.clear()
            self._filter_cache[full] = compute()
        result: T = self._filter_cache[full]
        return result

    # -- pipelines and stages -------------------------------------------------------------

    def add_pipeline(self, title: str, currency: str, now: float, ident: int | None = None) -> Pipeline:
        pid = self.next_id("dealGroup") if ident is None else self.claim_id("dealGroup", ident)
        pipeline = Pipeline(pid, title, currency.lower(), now, now)
        self.pipelines[pid] = pipeline
        return pipeline

    def add_stage(
        self, pipeline: Pipeline, title: str, now: float, order: int | None = None, ident: int | None = None
    ) -> Stage:
        sid = self.next_id("dealStage") if ident is None else self.claim_id("dealStage", ident)
        if order is None:
            order = max((self.stages[s].order for s in pipeline.stage_ids), default=0) + 1
        stage = Stage(sid, pipeline.id, title, order, now, now)
        self.stages[sid] = stage
        pipeline.stage_ids.append(sid)
        return stage

    def delete_stage(self, stage: Stage) -> None:
        self.stages.pop(stage.id, None)
        pipeline = self.pipelines.get(stage.group_id)
        if pipeline is not None and stage.id in pipeline.stage_ids:
            pipeline.stage_ids.remove(stage.id)

    def delete_pipeline(self, pipeline: Pipeline) -> None:
        """Deleting a pipeline deletes its stages and deals (SPEC example is named "deals exist")."""
        for sid in list(pipeline.stage_ids):
            self.stages.pop(sid, None)
        for deal in [d for d in self.deals.values() if d.group_id == pipeline.id]:
            self.delete_deal(deal)
        del self.pipelines[pipeline.id]

    # -- deals: the one place every deal write goes through ---------------------------------

    def store_deal(self, deal: Deal) -> Deal:
        """Insert a new deal (ids only grow, so dict order stays id order)."""
        if self.deals and deal.id < next(reversed(self.deals)):
            self.deals[deal.id] = deal
            self.deals = dict(sorted(self.deals.items()))
        else:
            self.deals[deal.id] = deal
        self.version += 1
        return deal

    def touch_deal(self, deal: Deal, now: float) -> None:
        deal.mdate = now
        self.version += 1

    def delete_deal(self, deal: Deal) -> None:
        self.deals.pop(deal.id, None)
        store = self.fields["deal"]
        for meta_id, datum_id in deal.fields.items():
            store.data.pop(datum_id, None)
            store.index.pop((meta_id, deal.id), None)
        self.version += 1

    # -- custom field data ----------------------------------------------------------------

    def owner_fields(self, kind: str, owner_id: int) -> dict[int, int] | None:
        if kind == "deal":
            deal = self.deals.get(owner_id)
            return None if deal is None else deal.fields
        account = self.accounts.get(owner_id)
        return None if account is None else account.fields

    def set_datum(
        self, kind: str, meta: FieldMeta, owner_id: int, value: Any, currency: str | None, now: float
    ) -> tuple[FieldDatum, bool]:
        """Create or overwrite the value of ``meta`` for one deal/account; (datum, changed?)."""
        store = self.fields[kind]
        existing_id = store.index.get((meta.id, owner_id))
        if existing_id is not None:
            datum = store.data[existing_id]
            if datum.value == value and (currency is None or datum.currency == currency):
                return datum, False
            datum.value = value
            if currency is not None:
                datum.currency = currency
            datum.udate = now
            if kind == "deal":
                self.version += 1
            return datum, True
        did = self.next_id(f"{kind}CustomFieldDatum")
        datum = FieldDatum(did, meta.id, owner_id, value, now, now, currency)
        store.data[did] = datum
        store.index[(meta.id, owner_id)] = did
        owner = self.owner_fields(kind, owner_id)
        if owner is not None:
            owner[meta.id] = did
        if kind == "deal":
            self.version += 1
        return datum, True

    def delete_datum(self, kind: str, datum: FieldDatum) -> None:
        store = self.fields[kind]
        store.data.pop(datum.id, None)
        store.index.pop((datum.meta_id, datum.owner_id), None)
        owner = self.owner_fields(kind, datum.owner_id)
        if owner is not None and owner.get(datum.meta_id) == datum.id:
            del owner[datum.meta_id]
        if kind == "deal":
            self.version += 1

    def delete_meta(self, kind: str, meta: FieldMeta) -> None:
        store = self.fields[kind]
        for datum in [d for d in store.data.values() if d.meta_id == meta.id]:
            self.delete_datum(kind, datum)
        del store.meta[meta.id]

    # -- accounts ---------------------------------------------------------------------------

    def add_account(
        self, name: str, url: str | None, owner_id: int, now: float, ident: int | None = None
    ) -> Account:
        aid = self.next_id("account") if ident is None else self.claim_id("account", ident)
        account = Account(aid, name, url, owner_id, now, now)
        self.accounts[aid] = account
        self._account_names.setdefault(name.strip().lower(), []).append(aid)
        return account

    def rename_account(self, account: Account, name: str) -> None:
        self._forget_name(account)
        account.name = name
        self._account_names.setdefault(name.strip().lower(), []).append(account.id)

    def _forget_name(self, account: Account) -> None:
        ids = self._account_names.get(account.name.strip().lower(), [])
        if account.id in ids:
            ids.remove(account.id)

    def delete_account(self, account: Account) -> None:
        """Its associations and field values go; deals keep existing without an account."""
        self.accounts.pop(account.id, None)
        self._forget_name(account)
        for ac in [a for a in self.account_contacts.values() if a.account_id == account.id]:
            self.unlink_contact(ac)
        store = self.fields["account"]
        for meta_id, datum_id in account.fields.items():
            store.data.pop(datum_id, None)
            store.index.pop((meta_id, account.id), None)
        for deal in self.deals.values():
            if deal.account_id == account.id:
                deal.account_id = None
        self.version += 1

    def link_contact(self, account_id: int, contact_id: int, job_title: str, now: float) -> AccountContact:
        acid = self.next_id("accountContact")
        ac = AccountContact(acid, account_id, contact_id, job_title, now, now)
        self.account_contacts[acid] = ac
        self.contact_account[contact_id] = acid
        return ac

    def unlink_contact(self, ac: AccountContact) -> None:
        self.account_contacts.pop(ac.id, None)
        if self.contact_account.get(ac.contact_id) == ac.id:
            del self.contact_account[ac.contact_id]

    def move_contact(self, ac: AccountContact, account_id: int | None, contact_id: int | None) -> None:
        if contact_id is not None and contact_id != ac.contact_id:
            if self.contact_account.get(ac.contact_id) == ac.id:
                del self.contact_account[ac.contact_id]
            ac.contact_id = contact_id
            self.contact_account[contact_id] = ac.id
        if account_id is not None:
            ac.account_id = account_id

    # -- event tracking ---------------------------------------------------------------------

    def record_event(self, event: str, eventdata: str | None, email: str | None, now: float) -> TrackedEvent:
        t = self.tracking
        contact = None
        if email and self.emu is not None:
            contact = self.emu.state.contact_by_email(email)
        record = TrackedEvent(
            len(t.events) + 1,
            event,
            eventdata,
            email,
            None if contact is None else contact.id,
            now,
            saved=t.enabled,
        )
        t.events.append(record)
        if t.enabled and event not in t.names:
            t.names.append(event)
        self.count("events_saved" if t.enabled else "events_dropped_tracking_disabled")
        return record


def crm_book(emu: Emulator) -> CrmBook:
    """The emulator's :class:`CrmBook` (all CRM modules share it; ``crm_seed.install`` adds it)."""
    for extension in emu.extensions:
        if isinstance(extension, CrmBook):
            return extension
    raise LookupError("the CRM records are not installed: call crm_seed.install(emu) first (create_app does)")


def page(rows: Iterable[Any], offset: int, limit: int) -> list[Any]:
    return list(islice(rows, offset, offset + limit))


def seed_time(item: Mapping[str, Any], key: str, default: float, tz: Any) -> float:
    text = item.get(key)
    if not text:
        return default
    try:
        return parse_timestamp(str(text), tz)
    except ValueError as exc:
        raise SeedError(f"{key} must be an ISO-8601 date or datetime, got {text!r}") from exc


def seed_ident(book: CrmBook, kind: str, item: Mapping[str, Any]) -> int | None:
    if "id" not in item:
        return None
    ident = parse_int_id(item["id"])
    if ident is None:
        raise SeedError(f"{kind}: id must be a positive integer, got {item['id']!r}")
    return book.claim_id(kind, ident)


def rng(name: str) -> random.Random:
    """A deterministic generator per seed section: generated data is the same on every reset."""
    return random.Random(f"activecampaign-emulator:{name}")
