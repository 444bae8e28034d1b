"""Deal and account custom fields: found by label, values formatted as ActiveCampaign stores them.

Deals (``/dealCustomFieldMeta``, ``/dealCustomFieldData``) and accounts (``/accountCustomFieldMeta``,
``/accountCustomFieldData``) share one field model: a ``fieldLabel``, a ``fieldType`` among text,
textarea, date, datetime, dropdown, multiselect, radio, checkbox, hidden, currency and number,
``fieldOptions`` for the choice types, and a ``personalization`` tag. A value is checked against
its field *before* anything is written, so a bad value rejects its record only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook

CHOICE_TYPES = frozenset({"dropdown", "radio"})
MULTI_TYPES = frozenset({"multiselect", "checkbox"})


class FieldValueError(ValueError):
    """A value its custom field cannot hold; ``field`` is the field's label."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True)
class CustomField:
    id: str
    label: str
    type: str
    options: tuple[str, ...] = ()
    personalization: str = ""
    default_currency: str = ""

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> CustomField:
        options = data.get("fieldOptions") or ()
        if isinstance(options, str):
            options = [part for part in options.split("||") if part]
        return cls(
            id=str(data.get("id")),
            label=str(data.get("fieldLabel") or ""),
            type=str(data.get("fieldType") or "text").lower(),
            options=tuple(str(option) for option in options),
            personalization=str(data.get("personalization") or ""),
            default_currency=str(data.get("fieldDefaultCurrency") or ""),
        )


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
        self._by_id = {field.id: field for field in self.fields}
        self._by_name: dict[str, list[CustomField]] = {}
        for field in self.fields:
            for name in {field.label, field.personalization, f"%{field.personalization}%"}:
                if name and name != "%%":
                    bucket = self._by_name.setdefault(name.strip().lower(), [])
                    if field not in bucket:
                        bucket.append(field)

    @classmethod
    def load(cls, hook: ActiveCampaignHook, kind: str) -> CustomFieldCatalogue:
        """Read ``/dealCustomFieldMeta`` or ``/accountCustomFieldMeta`` (``kind`` ``deal``/``account``)."""
        endpoint = f"{kind}CustomFieldMeta"
        return cls(hook.paginate(endpoint, key=endpoint), kind)

    def find(self, name: str) -> CustomField | None:
        matches = self._by_name.get(str(name).strip().lower(), [])
        if len(matches) > 1:
            ids = ", ".join(f"{m.label!r} (id {m.id})" for m in matches)
            raise ValueError(f"The {self.kind} custom field name {name!r} is ambiguous: {ids}; use its id.")
        if matches:
            return matches[0]
        return self._by_id.get(str(name).strip())

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
    """``value`` as ``field`` stores it, or ``None`` for an empty value (leave the field alone).

    Currency fields take minor units (cents) as an integer, like the deal value.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    kind = field.type
    if kind in MULTI_TYPES:
        items = value if isinstance(value, list | tuple) else [p for p in str(value).split("||") if p]
        chosen = [_option(field, item) for item in items if str(item).strip()]
        return FieldValue(field, "||" + "||".join(chosen) + "||" if chosen else "")
    if kind in CHOICE_TYPES:
        return FieldValue(field, _option(field, value))
    if kind == "number":
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise FieldValueError(field.label, f"{value!r} is not a number") from None
        return FieldValue(
            field, format(number.normalize(), "f") if number == number.to_integral() else str(number)
        )
    if kind == "currency":
        amount = minor_units(value, field.label)
        code = (currency or field.default_currency or "").strip().lower()
        return FieldValue(field, str(amount), check_currency(code, field.label) if code else None)
    if kind == "date":
        return FieldValue(field, _date(field, value).isoformat())
    if kind == "datetime":
        if isinstance(value, dt.datetime):
            return FieldValue(field, value.isoformat())
        text = str(value).strip()
        try:
            return FieldValue(field, dt.datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat())
        except ValueError:
            raise FieldValueError(field.label, f"{value!r} is not an ISO 8601 date-time") from None
    return FieldValue(field, str(value))


def _option(field: CustomField, value: Any) -> str:
    text = str(value).strip()
    if not field.options:
        return text
    for option in field.options:
        if option.lower() == text.lower():
            return option
    shown = ", ".join(repr(o) for o in field.options[:20])
    raise FieldValueError(field.label, f"{text!r} is not one of its options ({shown})")


def _date(field: CustomField, value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise FieldValueError(field.label, f"{value!r} is not a date (YYYY-MM-DD)") from None


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
