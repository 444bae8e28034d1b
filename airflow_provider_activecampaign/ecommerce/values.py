"""One e-commerce value checked and shaped as the reference's request schemas want it.

``POST /ecomCustomers``, ``POST /ecomOrders`` and ``PUT /ecomOrders/{id}`` (SPEC) take amounts as
``int32`` cents (``$456.78 => 45678``, "greater than or equal to zero"), ids and flags as strings,
dates as ISO 8601 with an offset (``2016-09-13T17:41:39-04:00``). Each check raises
:class:`RecordRejected` naming the field and what to do, so the writer reports the record and goes on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from airflow_provider_activecampaign.records.dates import UnparseableDateError, parse_ac_datetime
from airflow_provider_activecampaign.records.emails import InvalidEmailError, check_email
from airflow_provider_activecampaign.records.failures import RecordRejected
from airflow_provider_activecampaign.records.upsert import empty

#: The largest amount the reference's ``int32`` fields hold (2^31 - 1 cents).
INT32_MAX = 2**31 - 1
AMOUNT_UNITS = ("minor", "major")
__all__ = [
    "AMOUNT_UNITS",
    "cents",
    "currency",
    "email",
    "empty",
    "external_id",
    "flag",
    "products",
    "timestamp",
]
#: ``orderProducts`` keys of the request schemas; the first four are required on ``POST /ecomOrders``.
PRODUCT_REQUIRED = ("externalid", "name", "price", "quantity")
PRODUCT_TEXT = ("category", "sku", "description", "imageUrl", "productUrl")
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}


def external_id(value: Any, field: str = "externalid") -> str:
    """The id of the object in the store, as the string the reference declares (not a float, not empty)."""
    if empty(value):
        raise RecordRejected(field, "is empty; every customer and order needs its id in the store")
    if isinstance(value, bool | float | dict | list):
        raise RecordRejected(
            field,
            f"is a {type(value).__name__} ({str(value)[:40]!r}); give the store's id as text or an integer "
            "(a float column loses digits: cast it in the query)",
        )
    return str(value).strip()


def email(value: Any, field: str = "email") -> str:
    try:
        return check_email(str(value) if value is not None else "")
    except InvalidEmailError as error:
        raise RecordRejected(field, f"{error.problem}; fix the address in the source") from None


def cents(value: Any, field: str, unit: str = "minor") -> int:
    """An amount as int32 cents: ``minor`` (4567 is 45.67), or ``major`` (45.67) converted exactly."""
    if isinstance(value, bool | dict | list):
        raise RecordRejected(field, f"{str(value)[:40]!r} is not an amount")
    if isinstance(value, float) and not math.isfinite(value):
        raise RecordRejected(field, f"{value!r} is not an amount")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise RecordRejected(field, f"{str(value)[:40]!r} is not an amount") from None
    if unit == "major":
        number *= 100
    if number != number.to_integral_value():
        hint = (
            "ActiveCampaign stores whole cents"
            if unit == "major"
            else "amounts are in cents (45678 for 456.78); set amount_unit='major' to give 456.78"
        )
        raise RecordRejected(field, f"{value!r} is not a whole number of cents: {hint}")
    if number < 0:
        raise RecordRejected(field, f"{value!r} is negative; the reference requires 0 or more")
    if number > INT32_MAX:
        raise RecordRejected(
            field, f"{value!r} is more than the reference's int32 allows ({INT32_MAX} cents)"
        )
    return int(number)


def whole_number(value: Any, field: str) -> int:
    """A non-negative int32 (a quantity): ``2`` and ``"2"``, never ``2.5``."""
    if isinstance(value, bool | dict | list):
        raise RecordRejected(field, f"{str(value)[:40]!r} is not a whole number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise RecordRejected(field, f"{str(value)[:40]!r} is not a whole number") from None
    if not number.is_finite() or number != number.to_integral_value() or not 0 <= number <= INT32_MAX:
        raise RecordRejected(field, f"{value!r} is not a whole number from 0 to {INT32_MAX}")
    return int(number)


def currency(value: Any, field: str = "currency") -> str:
    """A 3-letter ISO code, upper case as in the reference's examples (``USD``)."""
    code = str(value or "").strip()
    if len(code) != 3 or not code.isalpha() or not code.isascii():
        raise RecordRejected(field, f"{code!r} is not a 3-letter ISO 4217 currency code (e.g. USD)")
    return code.upper()


def timestamp(value: Any, field: str) -> str:
    """ISO 8601 with an offset; naive times are UTC, as for every other writer; a date is its midnight."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    else:
        try:
            parsed = parse_ac_datetime(value)
        except UnparseableDateError:
            raise RecordRejected(
                field, f"{str(value)[:60]!r} is not an ISO 8601 date (2024-03-01T17:41:39-04:00)"
            ) from None
        if parsed is None:
            raise RecordRejected(field, "is empty or 0000-00-00; give the date the order was placed")
        moment = parsed
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat(timespec="seconds")


def flag(value: Any, field: str) -> str:
    """``"0"`` or ``"1"`` (``acceptsMarketing``): from 0/1, true/false, yes/no."""
    text = str(value).strip().lower()
    if isinstance(value, bool):
        return "1" if value else "0"
    if text in _TRUE:
        return "1"
    if text in _FALSE:
        return "0"
    raise RecordRejected(field, f"{str(value)[:40]!r} is not 0 or 1 (or true/false, yes/no)")


def text(value: Any, field: str) -> str:
    if isinstance(value, dict | list):
        raise RecordRejected(field, f"a {type(value).__name__} is not text")
    return str(value).strip()


def products(value: Any, unit: str = "minor", field: str = "orderProducts") -> list[dict[str, Any]]:
    """The order's lines: a list of objects (or a JSON text of one, from CSV or SQL), each checked."""
    items = value
    if isinstance(value, str):
        try:
            items = json.loads(value)
        except ValueError:
            raise RecordRejected(
                field, "is not JSON: give a list of products as JSON text or a list"
            ) from None
    if not isinstance(items, list):
        raise RecordRejected(field, f"is a {type(items).__name__}; give a list of products")
    checked: list[dict[str, Any]] = []
    for number, item in enumerate(items):
        where = f"{field}[{number}]"
        if not isinstance(item, Mapping):
            raise RecordRejected(where, f"is a {type(item).__name__}, not an object with name, price, ...")
        unknown = sorted(set(item) - set(PRODUCT_REQUIRED) - set(PRODUCT_TEXT))
        if unknown:
            raise RecordRejected(
                where,
                f"unknown keys {', '.join(map(repr, unknown))}; a product has "
                f"{', '.join(PRODUCT_REQUIRED + PRODUCT_TEXT)}",
            )
        missing = [key for key in PRODUCT_REQUIRED if empty(item.get(key))]
        if missing:
            raise RecordRejected(
                f"{where}.{missing[0]}", f"is missing; every product needs {', '.join(PRODUCT_REQUIRED)}"
            )
        product: dict[str, Any] = {
            "externalid": external_id(item["externalid"], f"{where}.externalid"),
            "name": text(item["name"], f"{where}.name"),
            "price": cents(item["price"], f"{where}.price", unit),
            "quantity": whole_number(item["quantity"], f"{where}.quantity"),
        }
        for key in PRODUCT_TEXT:
            if not empty(item.get(key)):
                product[key] = text(item[key], f"{where}.{key}")
        checked.append(product)
    return checked
