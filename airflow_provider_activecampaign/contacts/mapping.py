"""From a source record to what ActiveCampaign accepts: names resolved, values formatted, sizes known.

Everything here is pure (no HTTP) except :meth:`FieldCatalogue.load`, which reads ``/fields`` once.
The contact operators build on it:

* :class:`FieldCatalogue` resolves a column to a custom field by its title, its personalisation
  tag (``PLAN`` or ``%PLAN%``) or its id, case-insensitively.
* :func:`~airflow_provider_activecampaign.records.fields.format_field_value` (the records floor,
  the same rules as deals and accounts) writes a Python value the way ActiveCampaign stores it for
  the field's type (dates ``YYYY-MM-DD``, datetimes ISO-8601 with offset, multi-value ``||a||b||``).
* :class:`ColumnPlan` decides once, from the source's columns, where each column goes; an
  unknown column fails the run before anything is written.
* :class:`ContactBuilder` turns one record into a :class:`PreparedContact` (the bulk-import
  shape and its serialised size) or raises :class:`RecordRejected` naming row, field and reason.
* :class:`BatchBuilder` packs contacts into batches of at most 250 contacts and 399,999 bytes
  (measured on the body exactly as it is sent), and applies rows that repeat an email in source
  order (:class:`SeenEmails` remembers every email of a run in about 25 MB per million).
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignNotFoundError,
    ActiveCampaignValidationError,
)
from airflow_provider_activecampaign.records.emails import InvalidEmailError, check_email, email_key
from airflow_provider_activecampaign.records.failures import RecordRejected
from airflow_provider_activecampaign.records.fields import (  # noqa: F401  (re-exported: older imports)
    MULTI_VALUE_TYPES,
    SINGLE_OPTION_TYPES,
    CustomField,
    FieldIndex,
    FieldValueError,
    format_field_value,
)
from airflow_provider_activecampaign.records.names import find_tag_id  # noqa: F401  (re-exported: older imports)

#: The name the contacts' field-value error had; one error for every resource now.
ValueFormatError = FieldValueError

if TYPE_CHECKING:
    from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook

#: The bulk importer takes up to 250 contacts per request (DOC:bulk-import-contacts).
MAX_IMPORT_CONTACTS = 250
#: "Payload under 400K bytes (399,999 bytes or less)" (DOC:bulk-import-contacts).
MAX_IMPORT_BYTES = 399_999

#: Standard contact attributes, by every spelling we accept, to their bulk-import key.
STANDARD_ATTRIBUTES: dict[str, str] = {
    "email": "email",
    "first_name": "first_name",
    "firstname": "first_name",
    "last_name": "last_name",
    "lastname": "last_name",
    "phone": "phone",
}
#: Bulk-import attribute → ``contact/sync`` attribute.
SYNC_ATTRIBUTE_NAMES = {
    "email": "email",
    "first_name": "firstName",
    "last_name": "lastName",
    "phone": "phone",
}

# json.dumps with its defaults is what ``requests`` sends for ``json=``; sizes are measured with it.
_ENCODER = json.JSONEncoder(allow_nan=False)
_BODY_PREFIX = len('{"contacts": [')
_BODY_SUFFIX = len("]}")
_ITEM_SEPARATOR = len(", ")


def serialized_size(value: Any) -> int:
    """Bytes of ``value`` as ``requests`` serialises a ``json=`` body (ASCII-escaped JSON)."""
    return len(_ENCODER.encode(value))


def import_body_size(contact_sizes: Iterable[int]) -> int:
    """Bytes of ``{"contacts": [...]}`` holding contacts of these serialised sizes."""
    sizes = list(contact_sizes)
    return _BODY_PREFIX + sum(sizes) + _ITEM_SEPARATOR * max(0, len(sizes) - 1) + _BODY_SUFFIX


# --------------------------------------------------------------------------------------------------
# Custom fields
# --------------------------------------------------------------------------------------------------


class FieldCatalogue:
    """Every contact custom field of the account, addressable by title, perstag or id."""

    def __init__(self, fields: Iterable[CustomField]) -> None:
        self.fields = sorted(fields, key=lambda f: int(f.id) if f.id.isdigit() else 0)
        self._index = FieldIndex(self.fields, "contact custom field")

    @classmethod
    def load(cls, hook: ActiveCampaignHook) -> FieldCatalogue:
        """Read ``GET /fields`` (every page) with the options each page sideloads."""
        fields: list[dict[str, Any]] = []
        options: dict[str, list[tuple[int, str]]] = {}
        for page in hook.iter_pages("fields", key="fields"):
            fields.extend(page.get("fields") or [])
            for option in page.get("fieldOptions") or []:
                value = option.get("value")
                if value is None:
                    continue
                order = _as_int(option.get("orderid"))
                options.setdefault(str(option.get("field")), []).append((order, str(value)))
        return cls(
            CustomField(
                id=str(item["id"]),
                title=str(item.get("title") or ""),
                type=str(item.get("type") or "").lower(),
                perstag=str(item.get("perstag") or "").upper(),
                options=tuple(value for _, value in sorted(options.get(str(item["id"]), []))),
            )
            for item in fields
        )

    def by_id(self, field_id: str) -> CustomField | None:
        return self._index.by_id(field_id)

    def resolve(self, name: str) -> CustomField | None:
        """The field a column name means: a title, a perstag with or without ``%``, or an id.

        The provider's one name rule (``records/names.py``): names first, then an existing id.

        Raises :class:`ActiveCampaignValidationError` when the name fits two different fields.
        """
        matches = self._index.matches(name)
        if len(matches) > 1:
            described = ", ".join(m.describe() for m in matches)
            raise ActiveCampaignValidationError(
                f"The column {name!r} matches more than one custom field: {described}.",
                hint="Map the column to one field by id with field_map, e.g. "
                f"field_map={{{name!r}: {matches[0].id!r}}}.",
            )
        return matches[0] if matches else None

    def existing(self, limit: int = 50) -> str:
        shown = ", ".join(f.describe() for f in self.fields[:limit])
        more = f" and {len(self.fields) - limit} more" if len(self.fields) > limit else ""
        return (shown or "none") + more


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


# --------------------------------------------------------------------------------------------------
# Columns
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnTarget:
    """Where one source column goes: a standard attribute, a custom field, the tags, or nowhere."""

    kind: str  # "attribute" | "field" | "tags" | "ignore"
    attribute: str | None = None
    custom: CustomField | None = None


@dataclass
class ColumnPlan:
    """The destination of every known source column, decided once per run."""

    targets: dict[str, ColumnTarget]
    catalogue: FieldCatalogue
    field_map: Mapping[str, str | None] = field(default_factory=dict)
    tags_column: str | None = None

    @classmethod
    def build(
        cls,
        columns: Iterable[str],
        catalogue: FieldCatalogue,
        *,
        field_map: Mapping[str, str | None] | None = None,
        tags_column: str | None = None,
    ) -> ColumnPlan:
        """Resolve every column; raise listing *all* unknown ones and the fields that exist."""
        plan = cls({}, catalogue, dict(field_map or {}), tags_column)
        columns = list(columns)
        if tags_column is not None and tags_column not in columns:
            raise ActiveCampaignValidationError(
                f"tags_column {tags_column!r} is not one of the columns {columns}.",
                hint="Name the column holding each record's tags exactly as the source spells it.",
            )
        unknown: list[str] = []
        for column in columns:
            try:
                plan.targets[column] = plan._resolve(column)
            except KeyError:
                unknown.append(column)
        if unknown:
            raise unknown_columns_error(unknown, catalogue)
        if not any(t.kind == "attribute" and t.attribute == "email" for t in plan.targets.values()):
            raise ActiveCampaignValidationError(
                f"No column holds the contact's email address; the columns are {sorted(plan.targets)}.",
                hint="Name the column 'email', or map it with field_map={'<your column>': 'email'}.",
            )
        return plan

    def target(self, column: str) -> ColumnTarget:
        """The target of ``column``; a column not seen when the plan was built raises ``KeyError``."""
        found = self.targets.get(column)
        if found is None:
            found = self.targets[column] = self._resolve(column)
        return found

    def _resolve(self, column: str) -> ColumnTarget:
        name: str | None = column
        if column in self.field_map:
            name = self.field_map[column]
            if name is None:
                return ColumnTarget("ignore")
        assert name is not None
        if self.tags_column is not None and column == self.tags_column:
            return ColumnTarget("tags")
        attribute = STANDARD_ATTRIBUTES.get(name.strip().lower())
        if attribute is not None:
            return ColumnTarget("attribute", attribute=attribute)
        custom = self.catalogue.resolve(name)
        if custom is not None:
            return ColumnTarget("field", custom=custom)
        raise KeyError(column)


def unknown_columns_error(unknown: Sequence[str], catalogue: FieldCatalogue) -> ActiveCampaignNotFoundError:
    names = ", ".join(repr(u) for u in unknown)
    return ActiveCampaignNotFoundError(
        f"Unknown contact field {names}: not email, first_name, last_name, phone, nor the title, "
        f"personalisation tag or id of a custom field. Existing custom fields: {catalogue.existing()}.",
        hint="Rename the column with field_map={'<column>': '<field title, %PERSTAG% or id>'}, map it "
        "to None to leave it out, or create the field in ActiveCampaign first. Nothing was written.",
    )


# --------------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedContact:
    """One contact ready for the bulk importer, with where it came from and its size."""

    row: int
    email: str
    #: The bulk-import contact object (``email``, ``first_name``, ``fields``, ``tags`` ...).
    body: dict[str, Any]
    #: Bytes of ``body`` as sent.
    size: int

    def sync_payload(self) -> dict[str, Any]:
        """The same data as a ``POST /contact/sync`` body (lists and tags go separately)."""
        contact: dict[str, Any] = {
            SYNC_ATTRIBUTE_NAMES[key]: value
            for key, value in self.body.items()
            if key in SYNC_ATTRIBUTE_NAMES
        }
        fields = self.body.get("fields") or []
        if fields:
            contact["fieldValues"] = [{"field": str(f["id"]), "value": f["value"]} for f in fields]
        return {"contact": contact}

    @property
    def tags(self) -> list[str]:
        return list(self.body.get("tags") or [])

    @property
    def subscribe(self) -> list[str]:
        return [str(entry["listid"]) for entry in self.body.get("subscribe") or []]

    @property
    def unsubscribe(self) -> list[str]:
        return [str(entry["listid"]) for entry in self.body.get("unsubscribe") or []]


class ContactBuilder:
    """Turns source records into :class:`PreparedContact` objects, or rejects them with a reason."""

    def __init__(
        self,
        plan: ColumnPlan,
        *,
        subscribe_list_ids: Sequence[str] = (),
        unsubscribe_list_ids: Sequence[str] = (),
        tags: Sequence[str] = (),
        tag_separator: str = ",",
        exclude_automations: bool = False,
        max_bytes: int = MAX_IMPORT_BYTES,
    ) -> None:
        self.plan = plan
        self.subscribe = [{"listid": int(i)} for i in subscribe_list_ids]
        self.unsubscribe = [{"listid": int(i)} for i in unsubscribe_list_ids]
        self.tags = _clean_tags(tags)
        self.tag_separator = tag_separator
        self.exclude_automations = exclude_automations
        self.max_contact_bytes = max_bytes - import_body_size([])

    def build(self, row: int, record: Mapping[str, Any]) -> PreparedContact:
        plan = self.plan
        body: dict[str, Any] = {}
        fields: list[dict[str, Any]] = []
        tags = list(self.tags)
        email_hint = _email_hint(record, plan)
        raw_email = None
        for column, value in record.items():
            try:
                target = plan.target(column)
            except KeyError:
                raise RecordRejected(
                    column,
                    f"unknown field {column!r} (not in the columns the run started with)",
                    row=row,
                    email=email_hint,
                ) from None
            if target.kind == "ignore" or value is None:
                continue
            if target.kind == "attribute":
                if target.attribute == "email":
                    raw_email = value
                    continue
                text = _attribute_text(value)
                if text is None:
                    raise RecordRejected(
                        column, f"a {type(value).__name__} is not a text value", row=row, email=email_hint
                    )
                body[target.attribute or column] = text
            elif target.kind == "field":
                custom = target.custom
                assert custom is not None
                try:
                    formatted = format_field_value(custom, value)
                except FieldValueError as error:
                    raise RecordRejected(column, error.reason, row=row, email=email_hint) from None
                if formatted is not None:
                    fields.append(
                        {"id": int(custom.id) if custom.id.isdigit() else custom.id, "value": formatted}
                    )
            elif target.kind == "tags":
                tags.extend(_split_tags(value, self.tag_separator))
        email = _email_text(raw_email)
        if not email:
            raise RecordRejected("email", "no email address", row=row)
        try:
            email = check_email(email)  # the provider's one email rule (emails.py)
        except InvalidEmailError as error:
            raise RecordRejected("email", str(error), row=row, email=email) from None
        contact: dict[str, Any] = {"email": email, **body}
        if fields:
            contact["fields"] = fields
        if tags:
            contact["tags"] = _clean_tags(tags)
        if self.subscribe:
            contact["subscribe"] = self.subscribe
        if self.unsubscribe:
            contact["unsubscribe"] = self.unsubscribe
        if self.exclude_automations:
            contact["exclude_automations"] = True
        try:
            size = serialized_size(contact)
        except ValueError as error:
            raise RecordRejected(
                None, f"cannot be serialised as JSON: {error}", row=row, email=email
            ) from None
        if size > self.max_contact_bytes:
            raise RecordRejected(
                None,
                f"the contact's data is {size:,} bytes; one bulk-import request must stay under "
                f"{MAX_IMPORT_BYTES + 1:,} bytes. Shorten its longest values.",
                row=row,
                email=email,
            )
        return PreparedContact(row=row, email=email, body=contact, size=size)


def _attribute_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str | int | float | Decimal):
        return str(value).strip()
    return None


def _email_text(raw: Any) -> str | None:
    if raw is None:
        return None
    return raw.strip() if isinstance(raw, str) else str(raw).strip()


def _email_hint(record: Mapping[str, Any], plan: ColumnPlan) -> str | None:
    for column, value in record.items():
        target = plan.targets.get(column)
        if target is not None and target.attribute == "email" and value is not None:
            return _email_text(value)
    return None


def _split_tags(value: Any, separator: str) -> list[str]:
    if isinstance(value, str):
        return value.split(separator) if separator else [value]
    if isinstance(value, list | tuple | set | frozenset):
        return [str(item) for item in value if item is not None]
    return [str(value)]


def _clean_tags(tags: Iterable[str]) -> list[str]:
    """Strip, drop empties, and keep one of each name (tag names compare case-insensitively)."""
    seen: set[str] = set()
    cleaned: list[str] = []
    for tag in tags:
        name = str(tag).strip()
        if name and name.lower() not in seen:
            seen.add(name.lower())
            cleaned.append(name)
    return cleaned


# --------------------------------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------------------------------


@dataclass
class ContactBatch:
    """Contacts that go in one request (bulk import) or one run of ``contact/sync`` calls."""

    contacts: list[PreparedContact] = field(default_factory=list)
    size: int = _BODY_PREFIX + _BODY_SUFFIX
    #: Holds a row repeating an email of an earlier batch. It must then be applied after that
    #: batch, so it goes through the importer (which applies batches in order) even when small:
    #: ``contact/sync`` would apply it at once, before an earlier import still in the queue.
    follows_earlier: bool = False

    def __len__(self) -> int:
        return len(self.contacts)

    def body(self) -> dict[str, Any]:
        return {"contacts": [contact.body for contact in self.contacts]}

    def rows(self) -> list[tuple[int, str]]:
        return [(contact.row, contact.email) for contact in self.contacts]


@dataclass(frozen=True)
class DuplicateRow:
    """A row whose email a later row of the same source repeats: the later row wins.

    Rows with one email are applied in source order, like one upsert each: the last row's values
    win, and a value it leaves empty keeps what an earlier row gave (as it would keep what the
    contact already had). Within a batch the rows are merged into one contact (the importer does
    not say which of two contacts with one email in a batch wins); across batches both are sent
    and the importer, which applies an account's batches in order, applies the later one last.
    """

    #: The earlier row (``None`` past the 4,294,967,295th row, where rows are not remembered).
    row: int | None
    email: str
    #: The later row, which wins.
    kept_row: int
    #: Merged into the later row's contact in one batch (not sent on its own), rather than sent
    #: in an earlier batch.
    merged: bool

    def reason(self) -> str:
        kept = self.kept_row
        if self.merged:
            return (
                f"row {kept}, later in the source, has the same email and wins: both rows went in one "
                f"batch as one contact, with row {kept}'s values, and this row's only where row {kept} "
                "leaves a field empty"
            )
        return (
            f"row {kept}, later in the source, has the same email and wins: this row was sent in an "
            f"earlier batch and the importer applies batches in order, so row {kept}'s values replace "
            f"this row's (a field row {kept} leaves empty keeps this row's value)"
        )

    def as_entry(self) -> dict[str, Any]:
        """Its line in the failures report (``stage`` ``duplicate``: not a failure)."""
        return {
            "row": self.row,
            "email": self.email,
            "stage": "duplicate",
            "kept_row": self.kept_row,
            "reason": self.reason(),
        }


def merge_contacts(earlier: PreparedContact, later: PreparedContact) -> PreparedContact:
    """One contact doing what sending ``earlier`` then ``later`` does: ``later``'s values win.

    Attributes and custom fields ``later`` gives replace ``earlier``'s; those it does not give
    (an empty cell) stay; tags add up. Lists and ``exclude_automations`` are the same for every
    contact of a run.
    """
    body: dict[str, Any] = {"email": later.body["email"]}
    body.update((key, value) for key, value in earlier.body.items() if key != "email")
    for key, value in later.body.items():
        if key == "fields":
            by_id = {item["id"]: item for item in body.get("fields") or []}
            by_id.update((item["id"], item) for item in value)
            body["fields"] = list(by_id.values())
        elif key == "tags":
            body["tags"] = _clean_tags([*(body.get("tags") or []), *value])
        elif key != "email":
            body[key] = value
    return PreparedContact(row=later.row, email=later.email, body=body, size=serialized_size(body))


class SeenEmails:
    """Every email a run has packed so far, with the row it was last on, in a few bytes each.

    Cross-batch duplicates can be a million rows apart, so every email of the run is remembered:
    an 8-byte BLAKE2b digest of its :func:`~airflow_provider_activecampaign.records.emails.email_key` in
    an open-addressing table (``array('Q')``, linear probing, at most two-thirds full) with the
    row beside it (``array('I')``): 12 bytes a slot, about 25 MB for 1,000,000 emails (38 MB at
    the peak of a resize), where a ``set`` of the same digests as Python ints takes about 70 MB.

    Two different emails share a digest with a chance of about n²/2⁶⁵ (3 in 100 million for a
    million emails); such a pair would be reported as a duplicate across batches, and both rows
    would still be sent: nothing is lost.
    """

    _NO_ROW = 0
    _MAX_ROW = 2**32 - 1

    def __init__(self, capacity: int = 1024) -> None:
        size = 1 << max(4, (max(1, capacity) - 1).bit_length())
        self._keys = array("Q", [0]) * size
        self._rows = array("I", [0]) * size
        self._mask = size - 1
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def nbytes(self) -> int:
        """Bytes held by the table (what :mod:`tracemalloc` sees, bar a few hundred)."""
        return len(self._keys) * self._keys.itemsize + len(self._rows) * self._rows.itemsize

    @staticmethod
    def digest(email: str) -> int:
        """The 8-byte digest the table keeps for ``email`` (never 0, which marks a free slot)."""
        value = int.from_bytes(hashlib.blake2b(email_key(email).encode(), digest_size=8).digest(), "little")
        return value or 1

    def add(self, email: str, row: int) -> int | None:
        """Remember ``row`` for ``email``; the row that had it before (0 if past the last remembered
        row), or ``None`` when it is new."""
        key = self.digest(email)
        stored = row if 0 < row <= self._MAX_ROW else self._NO_ROW
        keys, mask = self._keys, self._mask
        slot = key & mask
        while True:
            found = keys[slot]
            if found == key:
                previous = self._rows[slot]
                self._rows[slot] = stored
                return previous
            if found == 0:
                keys[slot] = key
                self._rows[slot] = stored
                self._count += 1
                if self._count * 3 > len(keys) * 2:
                    self._grow()
                return None
            slot = (slot + 1) & mask

    def _grow(self) -> None:
        old_keys, old_rows = self._keys, self._rows
        size = len(old_keys) * 2
        keys = self._keys = array("Q", [0]) * size
        rows = self._rows = array("I", [0]) * size
        mask = self._mask = size - 1
        for key, row in zip(old_keys, old_rows, strict=True):
            if key:
                slot = key & mask
                while keys[slot]:
                    slot = (slot + 1) & mask
                keys[slot] = key
                rows[slot] = row


class BatchBuilder:
    """Packs contacts in order into batches under both bulk-import limits, one contact per email.

    A row repeating an email of the batch being filled is merged into that email's contact (see
    :class:`DuplicateRow`); one repeating an email of an earlier batch goes in its own batch, which
    is marked :attr:`ContactBatch.follows_earlier`. Each duplicate is handed to ``on_duplicate``.
    """

    def __init__(
        self,
        max_contacts: int = MAX_IMPORT_CONTACTS,
        max_bytes: int = MAX_IMPORT_BYTES,
        *,
        on_duplicate: Callable[[DuplicateRow], None] | None = None,
    ) -> None:
        if not 1 <= max_contacts <= MAX_IMPORT_CONTACTS:
            raise ValueError(f"batch_size must be between 1 and {MAX_IMPORT_CONTACTS}, got {max_contacts}")
        self.max_contacts = max_contacts
        self.max_bytes = max_bytes
        self.max_contact_bytes = max_bytes - import_body_size([])
        self.on_duplicate = on_duplicate
        #: Every email packed so far, for duplicates across batches.
        self.seen = SeenEmails()
        #: Number of rows that a later row with the same email superseded.
        self.duplicates = 0
        self._current = ContactBatch()
        #: Position of each email (by :func:`email_key`) in the batch being filled.
        self._positions: dict[str, int] = {}
        #: The emails of the batch being filled that an earlier batch also holds.
        self._follows: set[str] = set()

    def add(self, contact: PreparedContact) -> Iterator[ContactBatch]:
        """Add one contact; yield the batch it closed, if any."""
        key = email_key(contact.email)
        follows_earlier = False
        previous = self.seen.add(contact.email, contact.row)
        if previous is not None:
            position = self._positions.get(key)
            if position is None:
                follows_earlier = True
                self._duplicate(DuplicateRow(previous or None, contact.email, contact.row, merged=False))
            else:
                earlier = self._current.contacts[position]
                merged = merge_contacts(earlier, contact)
                if merged.size <= self.max_contact_bytes:
                    follows_earlier = key in self._follows
                    self._remove(position)
                    self._duplicate(DuplicateRow(earlier.row, earlier.email, contact.row, merged=True))
                    contact = merged
                else:  # too big as one: send the earlier first, the later after it
                    yield self._close()
                    follows_earlier = True
                    self._duplicate(DuplicateRow(earlier.row, earlier.email, contact.row, merged=False))
        current = self._current
        grown = current.size + contact.size + (_ITEM_SEPARATOR if current.contacts else 0)
        if current.contacts and (len(current) >= self.max_contacts or grown > self.max_bytes):
            yield self._close()
            current = self._current
            grown = current.size + contact.size
        self._positions[key] = len(current.contacts)
        current.contacts.append(contact)
        current.size = grown
        if follows_earlier:
            current.follows_earlier = True
            self._follows.add(key)

    def flush(self) -> ContactBatch | None:
        """The last, partly filled batch (``None`` when empty)."""
        current = self._close()
        return current if current.contacts else None

    def _close(self) -> ContactBatch:
        current = self._current
        self._current = ContactBatch()
        self._positions = {}
        self._follows = set()
        return current

    def _remove(self, position: int) -> None:
        current = self._current
        removed = current.contacts.pop(position)
        current.size -= removed.size + (_ITEM_SEPARATOR if current.contacts else 0)
        del self._positions[email_key(removed.email)]
        for index in range(position, len(current.contacts)):
            self._positions[email_key(current.contacts[index].email)] = index

    def _duplicate(self, duplicate: DuplicateRow) -> None:
        self.duplicates += 1
        if self.on_duplicate is not None:
            self.on_duplicate(duplicate)
