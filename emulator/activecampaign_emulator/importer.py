"""The bulk importer (DOC:bulk-import-contacts, DOC:bulk-import-status-info).

Timeline of a batch, in emulated time (``t0`` = submission)::

    t0 .. t0+1s                      GET import/info → {"status": false}
    .. start = max(t0 + queue_delay, previous batch's finish)     "waiting"
    start .. start + n / contacts_per_second                        "active" (contacts applied
                                                                     one by one as time passes)
    afterwards                                                      "completed"

Opt-in reported behaviours (seed ``importer`` section, off by default):
``unaccounted_contacts: N`` processes the last N contacts of each batch as usual (created,
updated, or failed) but lists them in neither ``success`` nor ``failure``;
``info_unknown_seconds: S`` makes ``GET /import/info`` answer "unknown batch" for S emulated
seconds after submission. Emulator control, for tests: ``start_after_first_poll: true`` holds each
batch "waiting" until ``GET /import/info`` has asked about it once (see :func:`release`).

Batches are processed FIFO, one at a time, like a per-account queue.  A contact that fails lands
in ``failure``. Nothing of it is written when its address cannot be written at all (format,
exclusion/bounce list, contact limit). When only a part of it fails (an unknown field or value, an
unknown list, re-subscribing a list the contact left), nothing of it is written either while the
assumed ``import_contact_failure_atomic`` is on (the default); off, its other changes are written
and only the failing parts are skipped (the reference does not say which).
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from activecampaign_emulator.state import (
    SUBSCRIBED,
    UNSUBSCRIBED,
    AccountState,
    ImportBatch,
)
from activecampaign_emulator.validation import (
    as_value_text,
    field_value_problem,
    is_valid_email,
    parse_int_id,
)

MAX_CONTACTS = 250
#: "Payload under 400K bytes (399,999 bytes or less)" (DOC), measured on the raw body.
MAX_BYTES = 399_999
VALIDATION_MESSAGE = (
    "JSON payload did not pass validation. Please fix failure Reasons and retry. "
    "The import was not queued for processing."
)
MULTI_LIMIT_REASON = (
    "Up to 100 imports may be requested per minute.Please batch contacts into larger requests, "
    "or retry this request in a minute."
)
# Not documented; shaped like the documented multi-contact text.
SINGLE_LIMIT_REASON = (
    "Up to 20 single contact imports may be requested per minute.Please batch contacts into larger "
    "requests, or retry this request in a minute."
)


def validation_failures(
    body: Any, byte_size: int, zero_based: Callable[[], bool] = lambda: True
) -> list[Any]:
    """Payload-level problems that make the whole request a 400 (nothing queued).

    Only the *shape* is validated here, as a JSON-schema validator would: per-contact data
    problems (a malformed address, an unknown field id) are reported later in ``failure``.
    Returns ``failureReasons`` entries: strings for the payload, ``{contact, failureReason}``
    for one contact (``contact`` is its index in ``contacts``: from 0 while ``zero_based()``, the
    assumed ``import_failure_index_zero_based``, else from 1; asked only when a contact is named).
    """
    if byte_size > MAX_BYTES:
        return [f"Payload size is {byte_size} bytes; it must be 399999 bytes or less."]
    if not isinstance(body, dict) or not isinstance(body.get("contacts"), list):
        return ["Field 'contacts' is required and must be an array."]
    contacts = body["contacts"]
    if not contacts:
        return ["Field 'contacts' must contain at least one contact."]
    if len(contacts) > MAX_CONTACTS:
        return [f"Up to {MAX_CONTACTS} contacts may be included in a single request; got {len(contacts)}."]
    reasons: list[Any] = []
    base: int | None = None
    for index, row in enumerate(contacts):
        problem = _row_shape_problem(row)
        if problem:
            if base is None:
                base = 0 if zero_based() else 1
            reasons.append({"contact": index + base, "failureReason": problem})
    callback = body.get("callback")
    if callback is not None and (not isinstance(callback, dict) or not callback.get("url")):
        reasons.append("Field 'callback' must be an object with a 'url'.")
    return reasons


def _row_shape_problem(row: Any) -> str | None:
    if not isinstance(row, dict):
        return "Contact must be an object"
    if "email" not in row:
        return "Field\u2018 email\u2019 is required"
    if not isinstance(row["email"], str):
        return "Field\u2018 email\u2019 incorrect format"
    for key in ("first_name", "last_name", "phone", "customer_acct_name"):
        if key in row and row[key] is not None and not isinstance(row[key], str | int | float):
            return f"Field\u2018 {key}\u2019 incorrect format"
    tags = row.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        return "Field\u2018 tags\u2019 must be an array of strings"
    fields = row.get("fields", [])
    if not isinstance(fields, list) or not all(
        isinstance(f, dict) and "id" in f and "value" in f for f in fields
    ):
        return "Field\u2018 fields\u2019 entries need 'id' and 'value'"
    for key in ("subscribe", "unsubscribe"):
        entries = row.get(key, [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) and "listid" in e for e in entries):
            return f"Field\u2018 {key}\u2019 entries need 'listid'"
    if "exclude_automations" in row and not isinstance(row["exclude_automations"], bool | int):
        return "Field\u2018 exclude_automations\u2019 must be a boolean"
    return None


def queue(
    state: AccountState, body: Mapping[str, Any], raw: bytes, now: float, *, atomic: bool = True
) -> ImportBatch:
    """Accept a validated payload and schedule it behind any batch still in the queue.

    ``atomic``: a contact that fails in part writes nothing (``import_contact_failure_atomic``).
    """
    settings = state.settings
    rows = list(body["contacts"])
    if settings.import_start_after_first_poll:
        start = finish = math.inf  # held: see release()
    else:
        previous_finish = max((b.finish_at for b in state.imports.values()), default=now)
        start = max(now + settings.import_queue_delay, previous_finish)
        finish = start + len(rows) / settings.import_contacts_per_second
    digest = hashlib.sha256(raw).hexdigest()
    batch = ImportBatch(
        id=str(uuid.uuid4()),
        submitted_at=now,
        start_at=start,
        finish_at=finish,
        rows=rows,
        payload_sha256=digest,
        byte_size=len(raw),
        callback=body.get("callback"),
        unaccounted=min(settings.import_unaccounted_contacts, len(rows)),
        info_unknown_until=now + settings.import_info_unknown_seconds,
        atomic=atomic,
    )
    state.imports[batch.id] = batch
    state.counters["imports_submitted"] += 1
    state.counters[f"import_payload:{digest}"] += 1
    return batch


def release(state: AccountState, batch: ImportBatch, now: float) -> None:
    """Schedule a batch held until its first ``/import/info`` (``importer.start_after_first_poll``)."""
    if batch.start_at != math.inf:
        return
    previous_finish = max(
        (b.finish_at for b in state.imports.values() if b is not batch and b.finish_at != math.inf),
        default=now,
    )
    batch.start_at = max(now + state.settings.import_queue_delay, previous_finish)
    batch.finish_at = batch.start_at + len(batch.rows) / state.settings.import_contacts_per_second


def advance(state: AccountState, now: float) -> None:
    """Apply every contact whose turn has come by emulated time ``now``."""
    rate = state.settings.import_contacts_per_second
    for batch in state.imports.values():
        if batch.processed >= len(batch.rows):
            continue
        if now < batch.start_at:
            break  # FIFO: later batches start even later
        due = min(len(batch.rows), int((now - batch.start_at) * rate + 1e-9))
        while batch.processed < due:
            row = batch.rows[batch.processed]
            when = batch.start_at + (batch.processed + 1) / rate
            _apply_row(state, batch, row, when)
            batch.processed += 1
        if batch.processed < len(batch.rows):
            break


def _apply_row(state: AccountState, batch: ImportBatch, row: dict[str, Any], when: float) -> None:
    email = str(row.get("email", "")).strip()
    reported = batch.reports_row(batch.processed)
    problem = _address_problem(state, email)
    part_problem: str | None = None
    if problem is None:
        part_problem, row = _without_failing_parts(state, row, email)
        if batch.atomic:
            problem = part_problem
    if problem is not None:
        _record_failure(batch, email, problem, reported)
        return
    contact = state.contact_by_email(email)
    if contact is None:
        contact = state.create_contact(email, when)
        contact.counters["created_by_import"] += 1
    attrs = {
        attr: as_value_text(row[key])
        for key, attr in (("first_name", "first_name"), ("last_name", "last_name"), ("phone", "phone"))
        if row.get(key) not in (None, "")
    }
    changed = state.update_contact(contact, attrs, when)
    for entry in row.get("fields", []):
        _, field_changed = state.set_field_value(
            contact, int(str(entry["id"])), as_value_text(entry["value"]), when
        )
        changed = changed or field_changed
    for name in row.get("tags", []):
        state.tag_contact(contact, state.get_or_create_tag(name, when), when)
    run_automations = not bool(row.get("exclude_automations", False))
    for entry in row.get("subscribe", []):
        state.set_list_status(
            contact,
            int(str(entry["listid"])),
            SUBSCRIBED,
            when,
            run_automations=run_automations,
            source="import",
        )
    for entry in row.get("unsubscribe", []):
        state.set_list_status(contact, int(str(entry["listid"])), UNSUBSCRIBED, when, source="import")
    contact.counters["import_rows"] += 1
    if changed:
        contact.counters["changes"] += 1
    contact.import_batches.append(batch.id)
    if part_problem is not None:  # not atomic: written without the failing parts, still a failure
        _record_failure(batch, email, part_problem, reported)
        return
    if reported:
        batch.success.append(contact.id)
    else:
        batch.unreported.append({"email": contact.email, "outcome": "success", "contact": str(contact.id)})


def _record_failure(batch: ImportBatch, email: str, problem: str, reported: bool) -> None:
    if reported:
        batch.failure.append(email)
        batch.failure_reasons.append({"email": email, "reason": problem})
    else:
        batch.unreported.append({"email": email, "outcome": "failure", "reason": problem})


def _address_problem(state: AccountState, email: str) -> str | None:
    """Why nothing of this contact can be written (DOC: format, no email, exclusion, bounce, limit)."""
    if not email:
        return "No email address"
    if not is_valid_email(email):
        return "Invalid email address format"
    lowered = email.lower()
    if lowered in state.settings.exclusions:
        return "Email address is on the account's exclusion list"
    if lowered in state.settings.bounced:
        return "Email address is on the bounce list"
    limit = state.settings.contact_limit
    if state.contact_by_email(email) is None and limit is not None and len(state.contacts) >= limit:
        return "Account contact limit reached"
    return None


def _without_failing_parts(
    state: AccountState, row: dict[str, Any], email: str
) -> tuple[str | None, dict[str, Any]]:
    """The first part of the contact that fails (unknown field or value, unknown list, a list the
    contact unsubscribed from, DOC), and the row without every failing part."""
    problems: list[str] = []
    fields: list[Any] = []
    for entry in row.get("fields", []):
        field_id = parse_int_id(entry.get("id"))
        custom = state.fields.get(field_id) if field_id else None
        if custom is None:
            problems.append(f"Custom field {entry.get('id')!r} does not exist")
            continue
        problem = field_value_problem(state, custom, as_value_text(entry.get("value")))
        if problem:
            problems.append(problem)
            continue
        fields.append(entry)
    existing = state.contact_by_email(email)
    kept: dict[str, list[Any]] = {"subscribe": [], "unsubscribe": []}
    for key in ("subscribe", "unsubscribe"):
        for entry in row.get(key, []):
            list_id = parse_int_id(entry.get("listid"))
            if list_id is None or list_id not in state.lists:
                problems.append(f"List {entry.get('listid')!r} does not exist")
                continue
            if (
                key == "subscribe"
                and existing is not None
                and (membership := existing.lists.get(list_id)) is not None
                and membership.status == UNSUBSCRIBED
            ):
                problems.append(
                    f"Contact unsubscribed from list {list_id} and cannot be re-subscribed by an import"
                )
                continue
            kept[key].append(entry)
    if not problems:
        return None, row
    return problems[0], {**row, "fields": fields, **kept}
