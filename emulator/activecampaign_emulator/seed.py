"""Seed files: the starting content of the emulated account (JSON).

Sections (all optional; see ``default_seed.json`` and docs/emulator.md for a full example)::

    account      {"name", "timezone": "-05:00", "start_time": ISO-8601, "contact_limit": int}
    importer     {"queue_delay_seconds", "contacts_per_second",
                  "multi_contact_requests_per_minute", "single_contact_requests_per_minute",
                  "unaccounted_contacts": N, "info_unknown_seconds": S}   (the last two: opt-in
                  reported behaviours, off by default)
    paging       {"overlapping_pages": true}   (opt-in reported behaviour of GET /contacts)
    users        [{"id", "username", "firstName", "lastName", "email", "phone"}]
    api_keys     ["key", ...] or [{"key", "user": <user id>}]
    lists        [{"id", "name", "stringid", "sender_url", "sender_reminder"}]
    fields       [{"id", "title", "type", "perstag", "defval", "options": ["A", ...], "lists": [0]}]
    tags         ["name", ...] or [{"id", "tag", "tagType", "description"}]
    automations  [{"id", "name", "status", "multientry", "duration_seconds", "total_elements",
                   "triggers": [{"type": "subscribe", "list": <list id>}],
                   "complete_after_first_poll": true}]   (an emulator control, off by default:
                  each enrolment runs until its first GET /contactAutomations/{id})
    messages     [{"id", "name", "fromname", "fromemail", "subject", ...}]
    addresses    [{"id", "companyName", "address1", ..., "country"}]
    contacts     [{"id", "email", "firstName", "lastName", "phone",
                   "fields": {"<field id or PERSTAG>": "value"}, "lists": {"<list id>": 1|2},
                   "tags": ["name"]}]
    exclusions   ["email", ...]   (bulk import reports these in ``failure``)
    bounced      ["email", ...]

Unknown top-level keys are rejected unless an extension (e.g. campaigns) claims them, so a
typo in a seed fails loudly instead of silently seeding nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from activecampaign_emulator.clock import iso, parse_timestamp
from activecampaign_emulator.state import (
    SUBSCRIBED,
    UNSUBSCRIBED,
    AccountSettings,
    AccountState,
    Automation,
    CustomField,
    FieldOption,
    FieldRel,
    MailingList,
    Tag,
    Trigger,
    User,
)
from activecampaign_emulator.validation import (
    FIELD_TYPES,
    parse_int_id,
    perstag_for,
)

LIST_SECTIONS = (
    "users",
    "api_keys",
    "lists",
    "fields",
    "tags",
    "automations",
    "messages",
    "addresses",
    "contacts",
    "exclusions",
    "bounced",
)
OBJECT_SECTIONS = ("account", "importer", "paging")
KNOWN_SECTIONS = frozenset(LIST_SECTIONS + OBJECT_SECTIONS + ("description",))


class SeedError(ValueError):
    """The seed cannot be loaded; the message names the offending section and item."""


def default_seed() -> dict[str, Any]:
    """The bundled starting account (a fresh copy each call)."""
    text = resources.files("activecampaign_emulator").joinpath("default_seed.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def load_seed_file(path: str | Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise SeedError(f"cannot read seed file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise SeedError(f"seed file {path} must hold a JSON object")
    return data


def validate(seed: Mapping[str, Any], extra_keys: frozenset[str] | None, *, partial: bool = False) -> None:
    """Check section types; with ``extra_keys`` given, also reject unknown sections."""
    if not isinstance(seed, Mapping):
        raise SeedError("a seed must be a JSON object")
    if extra_keys is not None:
        unknown = set(seed) - KNOWN_SECTIONS - extra_keys
        if unknown:
            raise SeedError(f"unknown seed sections: {sorted(unknown)}")
    for section in LIST_SECTIONS:
        if section in seed and not isinstance(seed[section], list):
            raise SeedError(f"seed section '{section}' must be a list")
    for section in OBJECT_SECTIONS:
        if section in seed and not isinstance(seed[section], dict):
            raise SeedError(f"seed section '{section}' must be an object")
    if not partial and not seed.get("api_keys"):
        raise SeedError("a seed needs at least one entry in 'api_keys'")


def start_time(seed: Mapping[str, Any]) -> float | None:
    """The emulated start instant (``account.start_time``), or ``None`` for "now"."""
    account = seed.get("account") or {}
    text = account.get("start_time")
    if not text:
        return None
    return parse_timestamp(str(text), _settings_from(seed).tz)


def build_state(seed: Mapping[str, Any], now: float) -> AccountState:
    state = AccountState(_settings_from(seed))
    merge(state, seed, now)
    return state


def _settings_from(seed: Mapping[str, Any]) -> AccountSettings:
    settings = AccountSettings()
    _apply_settings(settings, seed)
    return settings


def _apply_settings(settings: AccountSettings, seed: Mapping[str, Any]) -> None:
    account = seed.get("account") or {}
    if "name" in account:
        settings.name = str(account["name"])
    if "timezone" in account:
        try:
            settings.set_timezone(str(account["timezone"]))
        except ValueError as exc:
            raise SeedError(str(exc)) from exc
    if "contact_limit" in account:
        limit = account["contact_limit"]
        settings.contact_limit = None if limit is None else int(limit)
    imp = seed.get("importer") or {}
    if "queue_delay_seconds" in imp:
        settings.import_queue_delay = float(imp["queue_delay_seconds"])
    if "start_after_first_poll" in imp:
        settings.import_start_after_first_poll = bool(imp["start_after_first_poll"])
    if "contacts_per_second" in imp:
        settings.import_contacts_per_second = float(imp["contacts_per_second"])
        if settings.import_contacts_per_second <= 0:
            raise SeedError("importer.contacts_per_second must be > 0")
    if "multi_contact_requests_per_minute" in imp:
        settings.import_multi_per_minute = int(imp["multi_contact_requests_per_minute"])
    if "single_contact_requests_per_minute" in imp:
        settings.import_single_per_minute = int(imp["single_contact_requests_per_minute"])
    if "unaccounted_contacts" in imp:
        settings.import_unaccounted_contacts = _non_negative_int(
            imp["unaccounted_contacts"], "importer.unaccounted_contacts"
        )
    if "info_unknown_seconds" in imp:
        settings.import_info_unknown_seconds = _non_negative_number(
            imp["info_unknown_seconds"], "importer.info_unknown_seconds"
        )
    paging = seed.get("paging") or {}
    unknown = set(paging) - {"overlapping_pages", "overlap_within_limit"}
    if unknown:
        raise SeedError(f"unknown paging keys: {sorted(unknown)}")
    if "overlapping_pages" in paging:
        if not isinstance(paging["overlapping_pages"], bool):
            raise SeedError("paging.overlapping_pages must be true or false")
        settings.overlapping_pages = paging["overlapping_pages"]
    if "overlap_within_limit" in paging:
        if not isinstance(paging["overlap_within_limit"], bool):
            raise SeedError("paging.overlap_within_limit must be true or false")
        settings.overlap_within_limit = paging["overlap_within_limit"]
    settings.exclusions |= {str(e).strip().lower() for e in seed.get("exclusions") or []}
    settings.bounced |= {str(e).strip().lower() for e in seed.get("bounced") or []}


def _non_negative_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SeedError(f"{name} must be an integer >= 0, got {value!r}")
    return value


def _non_negative_number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise SeedError(f"{name} must be a number >= 0, got {value!r}")
    return float(value)


def merge(state: AccountState, seed: Mapping[str, Any], now: float) -> dict[str, list[str]]:
    """Add every record in ``seed`` to ``state``; explicit ids replace existing records."""
    _apply_settings(state.settings, seed)
    audit = state.counters.copy()  # seeded records are not client activity
    created: dict[str, list[str]] = {}
    for section, loader in _LOADERS:
        items = seed.get(section) or []
        ids: list[str] = []
        for index, item in enumerate(items):
            try:
                ids.append(str(loader(state, item, now)))
            except SeedError:
                raise
            except (KeyError, TypeError, ValueError) as exc:
                raise SeedError(f"seed {section}[{index}]: {exc}") from exc
        if items:
            created[section] = ids
    state.counters = audit
    return created


def _ident(state: AccountState, kind: str, item: Mapping[str, Any]) -> int:
    if "id" in item:
        ident = parse_int_id(item["id"])
        if ident is None:
            raise SeedError(f"{kind}: id must be a positive integer, got {item['id']!r}")
        return state.claim_id(kind, ident)
    return state.next_id(kind)


def _when(state: AccountState, item: Mapping[str, Any], key: str, now: float) -> float:
    text = item.get(key)
    return now if not text else parse_timestamp(str(text), state.settings.tz)


def _load_user(state: AccountState, item: Mapping[str, Any], now: float) -> int:
    uid = _ident(state, "user", item)
    state.users[uid] = User(
        uid,
        str(item.get("username", f"user{uid}")),
        str(item.get("firstName", "")),
        str(item.get("lastName", "")),
        str(item.get("email", f"user{uid}@example.com")),
        str(item.get("phone", "")),
        item.get("signature"),
    )
    return uid


def _load_api_key(state: AccountState, item: Any, now: float) -> str:
    if isinstance(item, str):
        key, user = item, None
    else:
        key, user = str(item["key"]), parse_int_id(item.get("user"))
    if not key:
        raise SeedError("api_keys: empty key")
    if user is None:
        if not state.users:
            _load_user(state, {"username": "admin", "firstName": "Admin", "lastName": "User"}, now)
        user = min(state.users)
    if user not in state.users:
        raise SeedError(f"api_keys: user {user} is not in 'users'")
    state.api_keys[key] = user
    return key


def _load_list(state: AccountState, item: Mapping[str, Any], now: float) -> int:
    lid = _ident(state, "list", item)
    name = str(item["name"])
    known = {"id", "name", "stringid", "sender_url", "sender_reminder", "cdate", "user"}
    state.lists[lid] = MailingList(
        lid,
        name,
        str(item.get("stringid") or perstag_for(name).lower().replace("_", "-")),
        _when(state, item, "cdate", now),
        sender_url=str(item.get("sender_url", "https://example.com")),
        sender_reminder=str(item.get("sender_reminder", "You signed up on our website.")),
        user_id=parse_int_id(item.get("user", 1)) or 1,
        extra={k: v for k, v in item.items() if k not in known},
    )
    return lid


def _load_field(state: AccountState, item: Mapping[str, Any], now: float) -> int:
    fid = _ident(state, "field", item)
    ftype = str(item.get("type", "text"))
    if ftype not in FIELD_TYPES:
        raise SeedError(f"fields: unknown type {ftype!r} (one of {sorted(FIELD_TYPES)})")
    title = str(item["title"])
    custom = CustomField(
        fid,
        title,
        ftype,
        perstag_for(str(item.get("perstag") or title)),
        now,
        now,
        descript=item.get("descript"),
        defval=item.get("defval"),
        isrequired=bool(item.get("isrequired", False)),
        visible=bool(item.get("visible", True)),
        ordernum=int(item.get("ordernum", fid)),
    )
    state.fields[fid] = custom
    for order, option in enumerate(item.get("options") or [], start=1):
        spec = option if isinstance(option, Mapping) else {"value": str(option)}
        oid = state.next_id("fieldOption")
        value = str(spec["value"])
        state.field_options[oid] = FieldOption(
            oid, fid, value, str(spec.get("label", value)), order, bool(spec.get("isdefault", False)), now
        )
        custom.option_ids.append(oid)
    for relid in item.get("lists", [0]):
        rid = state.next_id("fieldRel")
        state.field_rels[rid] = FieldRel(rid, fid, int(relid), now)
        custom.rel_ids.append(rid)
    return fid


def _load_tag(state: AccountState, item: Any, now: float) -> int:
    spec: Mapping[str, Any] = {"tag": item} if isinstance(item, str) else item
    tid = _ident(state, "tag", spec)
    state.store_tag(
        Tag(tid, str(spec["tag"]), str(spec.get("tagType", "contact")), str(spec.get("description", "")), now)
    )
    return tid


def _load_automation(state: AccountState, item: Mapping[str, Any], now: float) -> int:
    aid = _ident(state, "automation", item)
    triggers = []
    for trigger in item.get("triggers") or []:
        if trigger.get("type") != "subscribe":
            raise SeedError("automations: only 'subscribe' triggers are emulated")
        list_id = parse_int_id(trigger.get("list"))
        if list_id is None:
            raise SeedError("automations: a subscribe trigger needs a 'list' id")
        triggers.append(Trigger("subscribe", list_id))
    held = item.get("complete_after_first_poll", False)
    if not isinstance(held, bool):
        raise SeedError("automations: complete_after_first_poll must be true or false")
    state.automations[aid] = Automation(
        aid,
        str(item["name"]),
        int(item.get("status", 1)),
        bool(int(item.get("multientry", 0))),
        float(item.get("duration_seconds", 60)),
        int(item.get("total_elements", 3)),
        now,
        now,
        description=item.get("description"),
        triggers=triggers,
        complete_after_first_poll=held,
    )
    return aid


def _load_message(state: AccountState, item: Mapping[str, Any], now: float) -> int:
    mid = _ident(state, "message", item)
    stamp = iso(now, state.settings.tz)
    message: dict[str, Any] = {
        "userid": "1",
        "ed_instanceid": "0",
        "ed_version": "1",
        "cdate": stamp,
        "mdate": stamp,
        "name": "",
        "fromname": "",
        "fromemail": "",
        "reply2": "",
        "priority": "3",
        "charset": "utf-8",
        "encoding": "quoted-printable",
        "format": "mime",
        "subject": "",
        "preheader_text": "",
        "text": "",
        "html": "",
        "htmlfetch": "now",
        "textfetch": "now",
        "hidden": "0",
        "preview_mime": "",
        "preview_data": "",
    }
    message.update({k: v for k, v in item.items() if k != "id"})
    message["id"] = str(mid)
    message["user"] = message.get("userid", "1")
    state.messages[mid] = message
    return mid


def _load_address(state: AccountState, item: Mapping[str, Any], now: float) -> int:
    aid = _ident(state, "address", item)
    address: dict[str, Any] = {
        "companyName": "",
        "address1": "",
        "address2": "",
        "city": "",
        "state": "",
        "district": "",
        "zip": "",
        "country": "US",
        "allgroup": "0",
        "isDefault": "0",
    }
    address.update({k: v for k, v in item.items() if k != "id"})
    address["id"] = str(aid)
    state.addresses[aid] = address
    return aid


def _load_contact(state: AccountState, item: Mapping[str, Any], now: float) -> int:
    email = str(item["email"])
    existing = state.contact_by_email(email)
    when = _when(state, item, "cdate", now)
    ident = parse_int_id(item["id"]) if "id" in item else None
    if existing is not None:
        contact = existing
    else:
        contact = state.create_contact(
            email,
            when,
            first_name=str(item.get("firstName", "")),
            last_name=str(item.get("lastName", "")),
            phone=str(item.get("phone", "")),
            ident=ident,
        )
    for ref, value in (item.get("fields") or {}).items():
        field_id = parse_int_id(ref)
        custom = state.fields.get(field_id) if field_id else state.field_by_perstag(str(ref))
        if custom is None:
            raise SeedError(f"contacts: unknown field {ref!r} for {email}")
        state.set_field_value(contact, custom.id, str(value), when)
    memberships = item.get("lists") or {}
    if isinstance(memberships, list):
        memberships = {lid: SUBSCRIBED for lid in memberships}
    for ref, status in memberships.items():
        list_id = parse_int_id(ref)
        if list_id not in state.lists:
            raise SeedError(f"contacts: unknown list {ref!r} for {email}")
        if int(status) not in (SUBSCRIBED, UNSUBSCRIBED):
            raise SeedError(f"contacts: list status must be 1 or 2 for {email}")
        state.set_list_status(contact, list_id, int(status), when, run_automations=False, source="seed")
    for name in item.get("tags") or []:
        state.tag_contact(contact, state.get_or_create_tag(str(name), when), when)
    contact.udate = when
    contact.counters.clear()  # seeded history is not client activity
    return contact.id


_LOADERS: tuple[tuple[str, Callable[[AccountState, Any, float], int | str]], ...] = (
    ("users", _load_user),
    ("api_keys", _load_api_key),
    ("lists", _load_list),
    ("fields", _load_field),
    ("tags", _load_tag),
    ("automations", _load_automation),
    ("messages", _load_message),
    ("addresses", _load_address),
    ("contacts", _load_contact),
)
