"""Seed loading and fast volume generation for :class:`~.crm.CrmBook` (keys: see ``crm``).

Generated records are deterministic (a fixed random seed per section) and spread their
``cdate``/``mdate`` over the days before the seed instant, so incremental exports have
several days of data to window.  ``volume`` builds large accounts (100,000 deals and
contacts) in a few seconds by skipping per-record validation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from activecampaign_emulator import ecommerce
from activecampaign_emulator.clock import iso
from activecampaign_emulator.core import Emulator
from activecampaign_emulator.crm import (
    CRM_FIELD_TYPES,
    DEAL_STATUSES,
    NOTE_RELTYPES,
    SEED_KEYS,
    CrmBook,
    Deal,
    DealTask,
    FieldMeta,
    Note,
    TaskType,
    rng,
    seed_ident,
    seed_time,
)
from activecampaign_emulator.seed import SeedError
from activecampaign_emulator.validation import parse_int_id

DAY = 86_400.0
_COMPANY_WORDS = (
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent",
    "Tyrell", "Wonka", "Cyberdyne", "Aperture", "Massive", "Dynamic", "Pied Piper",
)  # fmt: skip
_COMPANY_SUFFIX = ("Inc", "LLC", "GmbH", "Ltd", "Group", "Labs", "Partners", "Systems")
_DEAL_WORDS = ("Renewal", "Upsell", "New business", "Pilot", "Expansion", "Migration", "Support plan")


#: Seed keys applied immediately on reset (cheap settings); the rest are record sections.
SETTING_KEYS = ("contact_deletion", "event_tracking")


def record_sections(seed: Mapping[str, Any]) -> dict[str, Any]:
    return {k: seed[k] for k in SEED_KEYS if k in seed and k not in SETTING_KEYS}


def load_settings(book: CrmBook, emu: Emulator, seed: Mapping[str, Any]) -> None:
    if "contact_deletion" in seed:
        _contact_deletion(emu, seed["contact_deletion"])
    if "event_tracking" in seed:
        _event_tracking(book, seed["event_tracking"])


def load_records(book: CrmBook, emu: Emulator, seed: Mapping[str, Any], now: float) -> None:
    """Apply every CRM record section present in ``seed`` (referenced records first)."""
    tz = emu.state.settings.tz
    for item in _items(seed, "pipelines"):
        _pipeline(book, item, now, tz)
    for kind in ("deal", "account"):
        for item in _items(seed, f"{kind}_fields"):
            _field_meta(book, kind, item, now)
    for item in _items(seed, "deal_task_types"):
        tid = seed_ident(book, "dealTasktype", item) or book.next_id("dealTasktype")
        book.task_types[tid] = TaskType(tid, str(item["title"]), now, now)
    _section(book, emu, seed, "accounts", _account, _generate_accounts, now)
    _section(book, emu, seed, "account_contacts", _account_contact, _generate_account_contacts, now)
    _section(book, emu, seed, "deals", _deal, _generate_deals, now)
    _section(book, emu, seed, "notes", _note, _generate_notes, now)
    _section(book, emu, seed, "deal_tasks", _task, _generate_tasks, now)
    if "ecommerce" in seed:
        _ecommerce(book, emu, seed["ecommerce"], now)
    volume = seed.get("volume")
    if volume is not None:
        if not isinstance(volume, Mapping):
            raise SeedError("seed 'volume' must be an object like {\"deals\": 100000}")
        generate_volume(book, emu, volume, now)


def _items(seed: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = seed.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise SeedError(f"seed '{key}' must be a list of objects")
    return value


def _section(
    book: CrmBook, emu: Emulator, seed: Mapping[str, Any], key: str, one: Any, many: Any, now: float
) -> None:
    value = seed.get(key)
    if value is None:
        return
    if isinstance(value, Mapping):
        count = value.get("generate")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise SeedError(f"seed '{key}' must be a list or {{\"generate\": N}}, got {value!r}")
        many(book, emu, count, now)
        return
    if not isinstance(value, list):
        raise SeedError(f"seed '{key}' must be a list or {{\"generate\": N}}")
    for index, item in enumerate(value):
        try:
            one(book, emu, item, now)
        except SeedError as exc:
            raise SeedError(f"seed {key}[{index}]: {exc}") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise SeedError(f"seed {key}[{index}]: {exc!r}") from exc


# -- settings ---------------------------------------------------------------------------------


def _contact_deletion(emu: Emulator, spec: Any) -> None:
    if not isinstance(spec, Mapping) or set(spec) - {"monthly_limit"}:
        raise SeedError("seed 'contact_deletion' takes {\"monthly_limit\": N or null}")
    limit = spec.get("monthly_limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise SeedError("contact_deletion.monthly_limit must be an integer >= 0 or null")
    emu.state.settings.contact_delete_monthly_limit = limit


def _event_tracking(book: CrmBook, spec: Any) -> None:
    if not isinstance(spec, Mapping) or set(spec) - {"enabled", "actid", "key", "events"}:
        raise SeedError("seed 'event_tracking' takes enabled, actid, key and events")
    t = book.tracking
    if "enabled" in spec:
        t.enabled = bool(spec["enabled"])
    if "actid" in spec:
        t.actid = str(spec["actid"])
    if "key" in spec:
        t.key = str(spec["key"])
    for name in spec.get("events") or []:
        if str(name) not in t.names:
            t.names.append(str(name))


# -- pipelines, fields ------------------------------------------------------------------------


def _pipeline(book: CrmBook, item: Mapping[str, Any], now: float, tz: Any) -> None:
    when = seed_time(item, "cdate", now, tz)
    pipeline = book.add_pipeline(
        str(item["title"]), str(item.get("currency", "usd")), when, seed_ident(book, "dealGroup", item)
    )
    pipeline.autoassign = int(item.get("autoassign", 1))
    pipeline.allusers = int(item.get("allusers", 1))
    pipeline.users = [int(u) for u in item.get("users") or []]
    for stage_item in item.get("stages") or []:
        spec = {"title": stage_item} if isinstance(stage_item, str) else stage_item
        stage = book.add_stage(pipeline, str(spec["title"]), when, ident=seed_ident(book, "dealStage", spec))
        if "color" in spec:
            stage.color = str(spec["color"])


def _field_meta(book: CrmBook, kind: str, item: Mapping[str, Any], now: float) -> None:
    ftype = str(item.get("type", "text"))
    if ftype not in CRM_FIELD_TYPES:
        raise SeedError(f"{kind}_fields: unknown type {ftype!r} (one of {sorted(CRM_FIELD_TYPES)})")
    store = book.fields[kind]
    mid = seed_ident(book, f"{kind}CustomFieldMetum", item) or book.next_id(f"{kind}CustomFieldMetum")
    options = item.get("options")
    store.meta[mid] = FieldMeta(
        mid,
        str(item["label"]),
        ftype,
        now,
        now,
        options=None if options is None else [str(o) for o in options],
        default=item.get("default"),
        default_currency=item.get("currency"),
        is_required=int(bool(item.get("required", False))),
        display_order=int(item.get("displayOrder", len(store.meta) + 1)),
    )


def _field_ref(book: CrmBook, kind: str, ref: Any) -> FieldMeta:
    store = book.fields[kind]
    mid = parse_int_id(ref)
    meta = store.meta.get(mid) if mid else store.meta_by_label(str(ref))
    if meta is None:
        raise SeedError(f"unknown {kind} field {ref!r}")
    return meta


def _set_fields(book: CrmBook, kind: str, owner_id: int, fields: Any, when: float) -> None:
    for ref, value in (fields or {}).items():
        meta = _field_ref(book, kind, ref)
        currency = meta.default_currency if meta.type == "currency" else None
        book.set_datum(kind, meta, owner_id, value, currency, when)


# -- accounts ---------------------------------------------------------------------------------


def _owner(emu: Emulator, ref: Any) -> int:
    uid = parse_int_id(ref) if ref is not None else min(emu.state.users)
    if uid is None or uid not in emu.state.users:
        raise SeedError(f"unknown user {ref!r}")
    return uid


def _account(book: CrmBook, emu: Emulator, item: Mapping[str, Any], now: float) -> None:
    tz = emu.state.settings.tz
    name = str(item["name"])
    if book.account_by_name(name) is not None:
        raise SeedError(f"an account named {name!r} already exists")
    cdate = seed_time(item, "cdate", now, tz)
    account = book.add_account(
        name, item.get("url"), _owner(emu, item.get("owner")), cdate, seed_ident(book, "account", item)
    )
    account.udate = seed_time(item, "udate", cdate, tz)
    _set_fields(book, "account", account.id, item.get("fields"), cdate)


def _generate_accounts(book: CrmBook, emu: Emulator, count: int, now: float) -> None:
    r = rng("accounts")
    users = sorted(emu.state.users)
    sizes = ("1-10", "11-50", "51-200", "201-1000", "1000+")
    size_field = book.fields["account"].meta_by_label("Company size")
    industry_field = book.fields["account"].meta_by_label("Industry")
    for n in range(count):
        base = len(book.accounts) + 1
        name = f"{_COMPANY_WORDS[n % len(_COMPANY_WORDS)]} {_COMPANY_SUFFIX[n % len(_COMPANY_SUFFIX)]} {base}"
        cdate = now - (count - n) * DAY * 60 / max(count, 1) - 3600
        account = book.add_account(
            name, f"https://{name.split()[0].lower()}{base}.example.com", r.choice(users), cdate
        )
        account.udate = min(now, cdate + r.uniform(0, 30) * DAY)
        if size_field is not None:
            book.set_datum("account", size_field, account.id, r.choice(sizes), None, cdate)
        if industry_field is not None and industry_field.options:
            book.set_datum(
                "account", industry_field, account.id, r.choice(industry_field.options), None, cdate
            )


def _contact_ref(emu: Emulator, ref: Any) -> int:
    cid = parse_int_id(ref)
    if cid is not None:
        if cid not in emu.state.contacts:
            raise SeedError(f"unknown contact {ref!r}")
        return cid
    contact = emu.state.contact_by_email(str(ref))
    if contact is None:
        raise SeedError(f"unknown contact {ref!r}")
    return contact.id


def _account_ref(book: CrmBook, ref: Any) -> int:
    aid = parse_int_id(ref)
    if aid is not None and aid in book.accounts:
        return aid
    account = book.account_by_name(str(ref)) if aid is None else None
    if account is None:
        raise SeedError(f"unknown account {ref!r}")
    return account.id


def _account_contact(book: CrmBook, emu: Emulator, item: Mapping[str, Any], now: float) -> None:
    contact_id = _contact_ref(emu, item["contact"])
    if book.account_of_contact(contact_id) is not None:
        raise SeedError(f"contact {item['contact']!r} already belongs to an account")
    when = seed_time(item, "cdate", now, emu.state.settings.tz)
    book.link_contact(_account_ref(book, item["account"]), contact_id, str(item.get("jobTitle", "")), when)


_JOBS = ("CEO", "CTO", "Head of Data", "Marketing Manager", "Buyer", "Engineer", "")


def _generate_account_contacts(book: CrmBook, emu: Emulator, count: int, now: float) -> None:
    """Creates ``count`` contacts and links each to an account (round robin)."""
    if not book.accounts:
        raise SeedError("account_contacts generation needs accounts")
    state = emu.state
    accounts = list(book.accounts)
    start = len(book.account_contacts)
    audit = state.counters.copy()
    for n in range(count):
        email = f"acct-contact-{start + n + 1}@example.com"
        contact = state.contact_by_email(email) or state.create_contact(
            email, now - DAY, first_name="Contact", last_name=str(start + n + 1)
        )
        if book.account_of_contact(contact.id) is None:
            book.link_contact(accounts[n % len(accounts)], contact.id, _JOBS[n % len(_JOBS)], now - DAY)
    state.counters = audit


# -- deals ------------------------------------------------------------------------------------


def _deal(book: CrmBook, emu: Emulator, item: Mapping[str, Any], now: float) -> None:
    tz = emu.state.settings.tz
    group_id = parse_int_id(item.get("pipeline", item.get("group")))
    stage_id = parse_int_id(item.get("stage"))
    if stage_id is not None and stage_id not in book.stages:
        raise SeedError(f"unknown stage {item.get('stage')!r}")
    if stage_id is None:
        if group_id not in book.pipelines or not book.pipelines[group_id].stage_ids:
            raise SeedError("a deal needs a 'stage' or a 'pipeline' with stages")
        stage_id = book.pipelines[group_id].stage_ids[0]
    group_id = book.stages[stage_id].group_id
    contact_id = _contact_ref(emu, item["contact"]) if item.get("contact") is not None else None
    account_id = _account_ref(book, item["account"]) if item.get("account") is not None else None
    status = int(item.get("status", 0))
    if status not in DEAL_STATUSES:
        raise SeedError("deal status must be 0, 1 or 2")
    cdate = seed_time(item, "cdate", now, tz)
    ident = seed_ident(book, "deal", item) or book.next_id("deal")
    deal = Deal(
        ident,
        str(item.get("title", f"Deal {ident}")),
        str(item.get("description", "")),
        int(item.get("value", 0)),
        str(item.get("currency", book.pipelines[group_id].currency)).lower(),
        group_id,
        stage_id,
        _owner(emu, item.get("owner")),
        contact_id,
        account_id,
        status,
        item.get("percent"),
        cdate,
        seed_time(item, "mdate", cdate, tz),
    )
    book.store_deal(deal)
    _set_fields(book, "deal", deal.id, item.get("fields"), cdate)


def _generate_deals(book: CrmBook, emu: Emulator, count: int, now: float, *, days: float = 60.0) -> None:
    if not book.pipelines or not book.stages:
        raise SeedError("deal generation needs pipelines with stages")
    r = rng(f"deals:{len(book.deals)}")
    stages = sorted(book.stages.values(), key=lambda s: s.id)
    users = sorted(emu.state.users)
    accounts = list(book.accounts)
    contacts_with_accounts = [(ac.contact_id, ac.account_id) for ac in book.visible_account_contacts()]
    key_field = book.fields["deal"].meta_by_label("External key")
    source_field = book.fields["deal"].meta_by_label("Lead source")
    span = days * DAY
    for n in range(count):
        stage = stages[r.randrange(len(stages))]
        pipeline = book.pipelines[stage.group_id]
        cdate = now - span + span * n / max(count, 1) - 60
        mdate = min(now - 1, cdate + r.random() * 10 * DAY)
        contact_id, account_id = (None, None)
        if contacts_with_accounts and n % 2 == 0:
            contact_id, account_id = contacts_with_accounts[n % len(contacts_with_accounts)]
        elif accounts:
            account_id = accounts[n % len(accounts)]
        ident = book.next_id("deal")
        deal = Deal(
            ident,
            f"{_DEAL_WORDS[n % len(_DEAL_WORDS)]} #{ident}",
            "",
            r.randrange(10, 5000) * 100,
            pipeline.currency,
            pipeline.id,
            stage.id,
            users[n % len(users)],
            contact_id,
            account_id,
            0 if n % 5 else (1 if n % 10 else 2),
            None,
            cdate,
            mdate,
        )
        book.deals[ident] = deal  # ids only grow here: bypass store_deal's order check
        if key_field is not None:
            book.set_datum("deal", key_field, ident, f"gen-{ident}", None, cdate)
        if source_field is not None and source_field.options and n % 3 == 0:
            book.set_datum(
                "deal", source_field, ident, source_field.options[n % len(source_field.options)], None, cdate
            )
    book.version += 1


# -- notes, tasks ----------------------------------------------------------------------------


def _note(book: CrmBook, emu: Emulator, item: Mapping[str, Any], now: float) -> None:
    reltype = str(item.get("reltype", "Deal"))
    if reltype not in NOTE_RELTYPES:
        raise SeedError(f"note reltype must be one of {sorted(NOTE_RELTYPES)}")
    tz = emu.state.settings.tz
    cdate = seed_time(item, "cdate", now, tz)
    nid = seed_ident(book, "note", item) or book.next_id("note")
    book.notes[nid] = Note(
        nid, str(item["note"]), reltype, int(item["relid"]), _owner(emu, item.get("user")), cdate,
        seed_time(item, "mdate", cdate, tz),
    )  # fmt: skip


def _generate_notes(book: CrmBook, emu: Emulator, count: int, now: float) -> None:
    deals = list(book.deals)
    accounts = list(book.accounts)
    for n in range(count):
        nid = book.next_id("note")
        if accounts and n % 3 == 2:
            reltype, relid = "CustomerAccount", accounts[n % len(accounts)]
        elif deals:
            reltype, relid = "Deal", deals[(n * 7) % len(deals)]
        else:
            continue
        cdate = now - (count - n) * DAY / 2
        book.notes[nid] = Note(nid, f"Call summary {nid}", reltype, relid, min(emu.state.users), cdate, cdate)


def _task_type(book: CrmBook, now: float) -> int:
    if not book.task_types:
        for title in ("Call", "Email"):
            tid = book.next_id("dealTasktype")
            book.task_types[tid] = TaskType(tid, title, now, now)
    return min(book.task_types)


def _task(book: CrmBook, emu: Emulator, item: Mapping[str, Any], now: float) -> None:
    tz = emu.state.settings.tz
    cdate = seed_time(item, "cdate", now, tz)
    due = seed_time(item, "duedate", cdate + DAY, tz)
    tid = seed_ident(book, "dealTask", item) or book.next_id("dealTask")
    book.tasks[tid] = DealTask(
        tid,
        item.get("title"),
        str(item.get("note", "")),
        str(item.get("reltype", "Deal")),
        int(item["relid"]),
        parse_int_id(item.get("type")) or _task_type(book, now),
        due,
        due + 900,
        int(item.get("status", 0)),
        _owner(emu, item.get("user")),
        _owner(emu, item.get("assignee")),
        cdate,
        seed_time(item, "udate", cdate, tz),
    )


def _generate_tasks(book: CrmBook, emu: Emulator, count: int, now: float) -> None:
    deals = list(book.deals)
    if not deals:
        return
    users = sorted(emu.state.users)
    task_type = _task_type(book, now)
    for n in range(count):
        tid = book.next_id("dealTask")
        cdate = now - (count - n) * DAY / 2
        due = cdate + 3 * DAY
        book.tasks[tid] = DealTask(
            tid, None, f"Follow up {tid}", "Deal", deals[(n * 5) % len(deals)], task_type, due, due + 900,
            1 if n % 4 == 0 else 0, users[0], users[n % len(users)], cdate, cdate,
        )  # fmt: skip


# -- e-commerce -------------------------------------------------------------------------------


def _ecommerce(book: CrmBook, emu: Emulator, spec: Any, now: float) -> None:
    if not isinstance(spec, Mapping):
        raise SeedError("seed 'ecommerce' must be an object")
    tz = emu.state.settings.tz
    for item in spec.get("connections") or []:
        ecommerce.add_connection(book, dict(item), seed_time(item, "cdate", now, tz))
    for item in spec.get("customers") or []:
        ecommerce.add_customer(book, dict(item), seed_time(item, "cdate", now, tz))
    for item in spec.get("orders") or []:
        ecommerce.add_order(book, dict(item), seed_time(item, "cdate", now, tz), tz)
    generate = spec.get("generate")
    if generate:
        ecommerce.generate(book, dict(generate), now, tz)


# -- volume -----------------------------------------------------------------------------------


def generate_volume(book: CrmBook, emu: Emulator, volume: Mapping[str, Any], now: float) -> None:
    """Bulk data for benchmarks: ``{"contacts": N, "accounts": N, "account_contacts": N, "deals": N}``."""
    unknown = set(volume) - {"contacts", "accounts", "account_contacts", "deals", "notes"}
    if unknown:
        raise SeedError(f"unknown volume keys: {sorted(unknown)}")
    state = emu.state
    contacts = int(volume.get("contacts", 0))
    if contacts:
        audit = state.counters.copy()
        start = len(state.contacts)
        step = 60 * DAY / contacts
        for n in range(contacts):
            when = now - 60 * DAY + n * step
            state.create_contact(
                f"volume-{start + n + 1}@example.com", when, first_name="Vol", last_name=str(n)
            )
        state.counters = audit
    if volume.get("accounts"):
        _generate_accounts(book, emu, int(volume["accounts"]), now)
    if volume.get("account_contacts"):
        _generate_account_contacts(book, emu, int(volume["account_contacts"]), now)
    if volume.get("deals"):
        _generate_deals(book, emu, int(volume["deals"]), now)
    if volume.get("notes"):
        _generate_notes(book, emu, int(volume["notes"]), now)


def describe(book: CrmBook, tz: Any) -> dict[str, Any]:
    """Full CRM records for ``GET /_emulator/crm`` (plain JSON, ids as strings)."""
    members: dict[int, list[str]] = {}
    for ac in book.visible_account_contacts():
        members.setdefault(ac.account_id, []).append(str(ac.contact_id))
    deal_meta = book.fields["deal"].meta
    account_meta = book.fields["account"].meta

    def named(kind: str, fields: dict[int, int], metas: dict[int, FieldMeta]) -> dict[str, Any]:
        data = book.fields[kind].data
        return {metas[m].label: data[d].value for m, d in sorted(fields.items()) if m in metas and d in data}

    return {
        "pipelines": [
            {
                "id": str(p.id),
                "title": p.title,
                "currency": p.currency,
                "stages": [str(s) for s in p.stage_ids],
            }
            for p in book.pipelines.values()
        ],
        "stages": [
            {"id": str(s.id), "pipeline": str(s.group_id), "title": s.title, "order": s.order}
            for s in book.stages.values()
        ],
        "deals": [
            {
                "id": str(d.id),
                "title": d.title,
                "value": d.value,
                "currency": d.currency,
                "pipeline": str(d.group_id),
                "stage": str(d.stage_id),
                "owner": str(d.owner_id),
                "contact": None if d.contact_id is None else str(d.contact_id),
                "account": None if d.account_id is None else str(d.account_id),
                "status": d.status,
                "cdate": iso(d.cdate, tz),
                "mdate": iso(d.mdate, tz),
                "fields": named("deal", d.fields, deal_meta),
            }
            for d in book.deals.values()
        ],
        "accounts": [
            {
                "id": str(a.id),
                "name": a.name,
                "url": a.url,
                "owner": str(a.owner_id),
                "cdate": iso(a.cdate, tz),
                "udate": iso(a.udate, tz),
                "fields": named("account", a.fields, account_meta),
                "contacts": sorted(members.get(a.id, []), key=int),
            }
            for a in book.accounts.values()
        ],
        "account_contacts": [
            {
                "id": str(ac.id),
                "account": str(ac.account_id),
                "contact": str(ac.contact_id),
                "jobTitle": ac.job_title,
            }
            for ac in book.visible_account_contacts()
        ],
        "deal_fields": [{"id": str(m.id), "label": m.label, "type": m.type} for m in deal_meta.values()],
        "account_fields": [
            {"id": str(m.id), "label": m.label, "type": m.type} for m in account_meta.values()
        ],
        "notes": [
            {"id": str(n.id), "note": n.note, "reltype": n.reltype, "relid": str(n.relid)}
            for n in book.notes.values()
        ],
        "deal_tasks": [
            {"id": str(t.id), "reltype": t.reltype, "relid": str(t.relid), "status": t.status}
            for t in book.tasks.values()
        ],
        "ecom_connections": list(book.connections.values()),
        "ecom_customers": list(book.ecom_customers.values()),
        "ecom_orders": list(book.ecom_orders.values()),
        "counters": dict(sorted(book.counters.items())),
    }
