"""One custom-field value model for every resource: contacts, deals and accounts.

A custom field has an id, a title (``title`` for contacts, ``fieldLabel`` for deals and accounts),
a type, a personalisation tag and, for the option types, its options. A value is checked against
its field *before* anything is written, so a bad value rejects its record only, and it is written
the way ActiveCampaign stores it, by the same rules whatever the resource:

* date: ``YYYY-MM-DD`` from a date, a datetime, ``YYYY-MM-DD`` or a date-time string (a string
  that only *starts* like a date, ``2024-01-01garbage``, is refused).
* datetime: ISO 8601 with an offset, seconds precision; a naive value is UTC.
* several options (:data:`MULTI_VALUE_TYPES`): ``||a||b||`` from a list, a ``||``-separated string
  or one option; one option (:data:`SINGLE_OPTION_TYPES`): exactly one. Options are checked when
  the account lists them, and written the way the account spells them.
* number: a finite number or numeric string; booleans are ``1``/``0`` (number and text fields).
* currency (deals and accounts only; a per-resource parameter): minor units, a 3-letter code.

Contacts' own column plan and ``/fields`` catalogue stay in ``contacts/mapping.py``; deals and
accounts share :class:`CustomFieldCatalogue` (``/dealCustomFieldMeta``, ``/accountCustomFieldMeta``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import pendulum

from airflow_provider_activecampaign.records.names import NameIndex

if TYPE_CHECKING:
    from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook

#: Field types holding several options, ``||a||b||`` (contacts: listbox, checkbox; deals: multiselect).
MULTI_VALUE_TYPES = frozenset({"listbox", "checkbox", "multiselect"})
#: Field types holding exactly one option.
SINGLE_OPTION_TYPES = frozenset({"dropdown", "radio"})

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_PREFIX_RE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]|$)")


class FieldValueError(ValueError):
    """A value its custom field cannot hold; ``field`` is the field's title (or the column)."""

    def __init__(self, field: str | None, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


@dataclass(frozen=True)
class CustomField:
    """One custom field of any resource, as its ``/fields`` or ``/…CustomFieldMeta`` entry describes it."""

    id: str
    title: str
    type: str
    perstag: str = ""
    #: Allowed values for option types; empty when unknown (then any value is taken).
    options: tuple[str, ...] = ()
    #: Deals and accounts: a currency field's default currency.
    default_currency: str = ""

    @property
    def label(self) -> str:
        """The deal/account spelling of :attr:`title`."""
        return self.title

    @property
    def personalization(self) -> str:
        """The deal/account spelling of :attr:`perstag`."""
        return self.perstag

    def describe(self) -> str:
        return f"{self.title!r} (%{self.perstag}%, id {self.id}, {self.type or 'text'})"

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> CustomField:
        """From a ``/dealCustomFieldMeta`` or ``/accountCustomFieldMeta`` entry."""
        options = data.get("fieldOptions") or ()
        if isinstance(options, str):
            options = [part for part in options.split("||") if part]
        return cls(
            id=str(data.get("id")),
            title=str(data.get("fieldLabel") or ""),
            type=str(data.get("fieldType") or "text").lower(),
            perstag=str(data.get("personalization") or ""),
            options=tuple(str(option) for option in options),
            default_currency=str(data.get("fieldDefaultCurrency") or ""),
        )


class FieldIndex:
    """Custom fields by title, personalisation tag (``PLAN`` or ``%PLAN%``) or id, case-insensitively.

    The provider's one name rule (:class:`~airflow_provider_activecampaign.records.names.NameIndex`)
    applied to fields: names first, then an existing id; :meth:`matches` returns every field a
    name fits, so each caller refuses an ambiguous name in its own words.
    """

    def __init__(self, fields: Iterable[CustomField], kind: str = "custom field") -> None:
        self.fields = list(fields)
        entries = ({"id": f.id, "title": f.title, "perstag": f.perstag, "field": f} for f in self.fields)
        self._index = NameIndex(entries, ("title", "perstag"), kind)

    def matches(self, name: Any) -> list[CustomField]:
        text = str(name).strip()
        if text.startswith("%"):
            text = text.strip("%").strip()
        return [entry["field"] for entry in self._index.matches(text)]

    def by_id(self, field_id: Any) -> CustomField | None:
        entry = self._index.by_id.get(str(field_id).strip())
        return None if entry is None else entry["field"]


# --------------------------------------------------------------------------------------------------
# Value formatting (every resource)
# --------------------------------------------------------------------------------------------------


def format_field_value(custom: CustomField, value: Any) -> str | None:
    """The text ActiveCampaign stores for ``value`` in ``custom``; ``None`` leaves the field untouched.

    * date: ``YYYY-MM-DD`` from a date, a datetime or a date/datetime string.
    * datetime: ISO-8601 with offset (``2020-05-19T02:45:00-05:00``); naive values are UTC.
    * listbox / checkbox / multiselect (several options): ``||a||b||`` from a list, or a string
      already in that form or ``a||b``, or one option; an empty list clears the field.
    * dropdown / radio: one option.
    * number: a finite number or a numeric string.
    * text and the rest: the value as text; booleans become ``1``/``0``.

    Options are checked when the account lists them; a differently-cased option is written the
    way the account spells it. A refusal is a :class:`FieldValueError` naming the field's title.
    """
    if value is None:
        return None
    try:
        return _format(custom, value)
    except FieldValueError as error:
        if error.field is None:
            raise FieldValueError(custom.title, error.reason) from None
        raise


def _format(custom: CustomField, value: Any) -> str:
    kind = custom.type
    if kind == "date":
        return _format_date(value)
    if kind == "datetime":
        return _format_datetime(value)
    if kind == "number":
        return _format_number(value)
    if kind in MULTI_VALUE_TYPES:
        choices = _as_choices(value)
        if not choices:
            return ""
        canonical = [_canonical_option(custom, choice) for choice in choices]
        return "||" + "||".join(canonical) + "||"
    if kind in SINGLE_OPTION_TYPES:
        choices = _as_choices(value)
        if len(choices) > 1:
            raise FieldValueError(
                custom.title, f"field {custom.title!r} takes one option, got {len(choices)}: {choices!r}"
            )
        return _canonical_option(custom, choices[0]) if choices else ""
    return _format_text(value)


def _format_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return _format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FieldValueError(None, f"{value!r} is not a finite number")
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str | int | Decimal):
        return str(value)
    raise FieldValueError(None, f"a {type(value).__name__} cannot be written to a text field")


def _format_date(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        text = value.strip()
        if _DATE_RE.match(text):
            try:
                return date.fromisoformat(text).isoformat()
            except ValueError:
                raise FieldValueError(None, f"{value!r} is not a valid date") from None
        parsed = _parse_datetime_text(text)
        if parsed is None:
            raise FieldValueError(None, f"{value!r} is not a date (expected YYYY-MM-DD)")
        return parsed.date().isoformat()
    raise FieldValueError(None, f"a {type(value).__name__} is not a date (expected YYYY-MM-DD)")


def _format_datetime(value: Any) -> str:
    moment: datetime | None
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=pendulum.UTC)
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day, tzinfo=pendulum.UTC)
    elif isinstance(value, str):
        moment = _parse_datetime_text(value.strip())
        if moment is None:
            raise FieldValueError(None, f"{value!r} is not an ISO-8601 datetime")
    else:
        raise FieldValueError(None, f"a {type(value).__name__} is not a datetime")
    return moment.replace(microsecond=0).isoformat()


def _parse_datetime_text(text: str) -> datetime | None:
    if not _DATE_PREFIX_RE.match(text):
        return None
    try:
        parsed = pendulum.parse(text, tz=pendulum.UTC)
    except (ValueError, TypeError):
        return None
    if isinstance(parsed, datetime):
        return parsed
    if isinstance(parsed, date):
        return datetime(parsed.year, parsed.month, parsed.day, tzinfo=pendulum.UTC)
    return None


def _format_number(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | Decimal):
        if isinstance(value, Decimal) and not value.is_finite():
            raise FieldValueError(None, f"{value!r} is not a finite number")
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FieldValueError(None, f"{value!r} is not a finite number")
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            raise FieldValueError(None, f"{value!r} is not a number") from None
        if not math.isfinite(number):
            raise FieldValueError(None, f"{value!r} is not a finite number")
        return text
    raise FieldValueError(None, f"a {type(value).__name__} is not a number")


def _as_choices(value: Any) -> list[str]:
    if isinstance(value, str):
        text = value.strip()
        if "||" in text:  # ``||a||b||`` as stored, or ``a||b``
            return [part.strip() for part in text.split("||") if part.strip()]
        return [text] if text else []
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
        choices = []
        for item in items:
            if item is None:
                continue
            if isinstance(item, list | tuple | set | frozenset | Mapping):
                raise FieldValueError(None, "an option cannot itself be a list")
            text = _format_text(item).strip()
            if "||" in text:
                raise FieldValueError(None, f"the option {text!r} contains '||', which separates options")
            if text:
                choices.append(text)
        return choices
    if isinstance(value, Mapping):
        raise FieldValueError(None, "a mapping cannot be written to an option field")
    return [_format_text(value)]


def _canonical_option(custom: CustomField, choice: str) -> str:
    if not custom.options or choice in custom.options:
        return choice
    folded = [option for option in custom.options if option.lower() == choice.lower()]
    if len(folded) == 1:
        return folded[0]
    allowed = ", ".join(repr(option) for option in custom.options)
    raise FieldValueError(
        custom.title,
        f"{choice!r} is not an option of field {custom.title!r} (not one of its options: {allowed})",
    )


# --------------------------------------------------------------------------------------------------
# Deals and accounts
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldValue:
    """What goes in a deal's or account's ``fields`` list: ``customFieldId``, ``fieldValue``, currency."""

    field: CustomField
    value: str
    currency: str | None = None

    def as_api(self) -> dict[str, Any]:
        item: dict[str, Any] = {"customFieldId": int(self.field.id), "fieldValue": self.value}
        if self.currency:
            item["fieldCurrency"] = self.currency
        return item


class CustomFieldCatalogue:
    """The custom fields of one kind (deal or account), resolved by label, personalization tag or id."""

    def __init__(self, fields: Iterable[Mapping[str, Any]], kind: str) -> None:
        self.kind = kind
        self.fields = [CustomField.from_api(field) for field in fields]
        self._index = FieldIndex(self.fields, f"{kind} custom field")

    @classmethod
    def load(cls, hook: ActiveCampaignHook, kind: str) -> CustomFieldCatalogue:
        """Read ``/dealCustomFieldMeta`` or ``/accountCustomFieldMeta`` (``kind`` ``deal``/``account``)."""
        endpoint = f"{kind}CustomFieldMeta"
        return cls(hook.paginate(endpoint, key=endpoint), kind)

    def find(self, name: str) -> CustomField | None:
        matches = self._index.matches(name)
        if len(matches) > 1:
            ids = ", ".join(f"{m.label!r} (id {m.id})" for m in matches)
            raise ValueError(f"The {self.kind} custom field name {name!r} is ambiguous: {ids}; use its id.")
        return matches[0] if matches else None

    def resolve(self, names: Iterable[str]) -> dict[str, CustomField]:
        """Every name's field; unknown names fail at once, listing the fields that exist."""
        resolved: dict[str, CustomField] = {}
        unknown: list[str] = []
        for name in names:
            field = self.find(name)
            if field is None:
                unknown.append(name)
            else:
                resolved[name] = field
        if unknown:
            existing = ", ".join(repr(f.label) for f in self.fields[:50]) or "none"
            raise ValueError(
                f"Unknown {self.kind} custom field{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(repr(u) for u in unknown)}. Existing: {existing}. Create the field in "
                f"ActiveCampaign, rename the column, or map it to None in field_map."
            )
        return resolved


def format_value(field: CustomField, value: Any, *, currency: str | None = None) -> FieldValue | None:
    """A deal's or account's ``value`` as ``field`` stores it, or ``None`` for an empty value (leave it).

    The value rules are :func:`format_field_value`'s, the contacts' own; what deals and accounts add
    is the currency type (minor units, like the deal value) and that a blank cell leaves the field
    alone.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if field.type == "currency":
        amount = minor_units(value, field.title)
        code = (currency or field.default_currency or "").strip().lower()
        return FieldValue(field, str(amount), check_currency(code, field.title) if code else None)
    try:
        text = format_field_value(field, value)
    except FieldValueError as error:
        raise FieldValueError(field.title, error.reason) from None
    return None if text is None else FieldValue(field, text)


def minor_units(value: Any, label: str) -> int:
    """An amount in minor units (ActiveCampaign's "cents": 100 x the base unit) as a non-negative int.

    ``4567`` and ``"4567"`` are 4567; ``45.67`` is refused (it is a major-unit amount: the rule is
    that sources hold minor units, so a decimal point is a unit mistake, not something to round).
    """
    if isinstance(value, bool):
        raise FieldValueError(label, f"{value!r} is not an amount")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise FieldValueError(label, f"{value!r} is not an amount in minor units (an integer)") from None
    if number != number.to_integral_value():
        raise FieldValueError(
            label,
            f"{value!r} is not a whole number of minor units (cents): give 45678 for 456.78, or set "
            "value_unit='major'",
        )
    if number < 0:
        raise FieldValueError(label, f"{value!r} is negative; ActiveCampaign accepts 0 or more")
    return int(number)


def major_to_minor(value: Any, label: str) -> int:
    """A major-unit amount (``456.78``) as minor units (``45678``), exactly; fractions of a cent refused."""
    if isinstance(value, bool):
        raise FieldValueError(label, f"{value!r} is not an amount")
    try:
        cents = Decimal(str(value).strip()) * 100
    except InvalidOperation:
        raise FieldValueError(label, f"{value!r} is not an amount") from None
    if cents != cents.to_integral_value():
        raise FieldValueError(label, f"{value!r} has a fraction of a cent; ActiveCampaign stores whole cents")
    return minor_units(cents, label)


def check_currency(code: str, label: str = "currency") -> str:
    code = str(code or "").strip().lower()
    if len(code) != 3 or not code.isalpha():
        raise FieldValueError(label, f"{code!r} is not a 3-letter ISO 4217 currency code (e.g. 'usd')")
    return code


def same_value(current: Any, wanted: FieldValue) -> bool:
    """Whether a stored ``fieldValue`` already equals what would be written (no request needed)."""
    if current is None:
        return False
    if isinstance(current, list):
        current = "||" + "||".join(str(c) for c in current) + "||"
    text = str(current)
    if wanted.field.type in ("number", "currency"):
        try:
            return Decimal(text) == Decimal(wanted.value)
        except InvalidOperation:
            return False
    if wanted.field.type == "date":
        return text[:10] == wanted.value
    return text == wanted.value


def update_body(
    changed: Mapping[str, Any], fields: Iterable[FieldValue], stored: Mapping[str, tuple[str, Any]]
) -> tuple[dict[str, Any], list[FieldValue]] | None:
    """The ``PUT`` body of what differs (attributes and field values), and those field values.

    ``None`` when nothing differs, so an unchanged record costs no request. ``stored`` is the
    owner's ``{field id: (datum id, value)}`` from :func:`field_data_index`.
    """
    changed_fields = [f for f in fields if not same_value(stored.get(f.field.id, (None, None))[1], f)]
    if not changed and not changed_fields:
        return None
    body: dict[str, Any] = dict(changed)
    if changed_fields:
        body["fields"] = [f.as_api() for f in changed_fields]
    return body, changed_fields


def field_data_index(
    hook: ActiveCampaignHook, kind: str, owner_key: str
) -> dict[str, dict[str, tuple[str, Any]]]:
    """Every stored custom field value of one kind: ``{owner id: {field id: (datum id, value)}}``.

    One walk of ``/dealCustomFieldData`` (owner key ``dealId``) or ``/accountCustomFieldData``
    (``accountId``, or ``customerAccountId``), 100 values per request.
    """
    endpoint = f"{kind}CustomFieldData"
    index: dict[str, dict[str, tuple[str, Any]]] = {}
    for datum in hook.paginate(endpoint, key=endpoint):
        owner = datum.get(owner_key) or datum.get("customerAccountId")
        field = datum.get("customFieldId") or datum.get(f"{kind}CustomFieldMetumId")
        if owner in (None, "") or field in (None, ""):
            continue
        index.setdefault(str(owner), {})[str(field)] = (str(datum.get("id")), datum.get("fieldValue"))
    return index
