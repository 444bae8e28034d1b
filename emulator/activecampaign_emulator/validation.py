"""Input checks shared by the route modules (emails, ids, custom-field values, perstags)."""

from __future__ import annotations

import math
import re
from datetime import date, datetime

from activecampaign_emulator.state import AccountState, CustomField

# A conservative address grammar.  The official import-status example lists
# "invalid.email@invalidDomain" and "invalid'character@example.com" as failures, so the
# domain needs a dot-separated alphabetic TLD and the local part excludes quotes.
_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9!#$%&*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&*+/=?^_`{|}~-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}$"
)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PERSTAG_STRIP = re.compile(r"[^A-Z0-9_]")

#: Field types whose values are chosen from options, and which of them take several.
OPTION_TYPES = frozenset({"dropdown", "radio", "listbox", "checkbox"})
MULTI_OPTION_TYPES = frozenset({"listbox", "checkbox"})
FIELD_TYPES = frozenset(
    {"text", "textarea", "hidden", "date", "datetime", "number", "dropdown", "radio", "listbox", "checkbox"}
)


def is_valid_email(value: str) -> bool:
    return len(value) <= 254 and bool(_EMAIL_RE.match(value))


def parse_int_id(value: object) -> int | None:
    """AC accepts ids as numbers or numeric strings; anything else is ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
        return number if number > 0 else None
    return None


def perstag_for(text: str) -> str:
    """``"Another Test Title"`` → ``"ANOTHER_TEST_TITLE"`` (SPEC ``POST /fields`` example)."""
    upper = re.sub(r"\s+", "_", text.strip().upper())
    return _PERSTAG_STRIP.sub("", upper)


def split_options(value: str) -> list[str]:
    """``"||A||B||"`` → ``["A", "B"]``; a bare ``"A"`` is a single choice."""
    if value.startswith("||") and value.endswith("||") and len(value) >= 4:
        return [part for part in value[2:-2].split("||") if part != ""]
    return [value]


def as_value_text(value: object) -> str:
    """Field values travel as strings; numbers are accepted and stringified like PHP does."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def field_value_problem(state: AccountState, custom_field: CustomField, value: str) -> str | None:
    """Why ``value`` cannot be stored in ``custom_field`` (``None`` when it can).

    AC documents the formats (SPEC ``POST /fieldValues`` examples) but not what happens to a
    value that breaks them.  The emulator rejects it rather than storing garbage, so a client
    bug shows up as a failed call instead of a silently corrupted contact.
    """
    if value == "":
        return None  # clearing a value is always allowed
    kind = custom_field.type
    if kind == "date":
        if not _DATE_RE.match(value):
            return f"'{value}' is not a date (YYYY-MM-DD)"
        try:
            date.fromisoformat(value)
        except ValueError:
            return f"'{value}' is not a valid date"
    elif kind == "datetime":
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return f"'{value}' is not an ISO-8601 datetime"
    elif kind == "number":
        try:
            number = float(value)
        except ValueError:
            return f"'{value}' is not a number"
        if not math.isfinite(number):
            return f"'{value}' is not a finite number"
    elif kind in OPTION_TYPES and custom_field.option_ids:
        allowed = {state.field_options[oid].value for oid in custom_field.option_ids}
        chosen = split_options(value)
        if kind not in MULTI_OPTION_TYPES and len(chosen) > 1:
            return f"field '{custom_field.title}' takes one option, got {len(chosen)}"
        unknown = [choice for choice in chosen if choice not in allowed]
        if unknown:
            return f"{unknown!r} not among the options of field '{custom_field.title}'"
    return None
