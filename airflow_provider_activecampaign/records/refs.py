"""What a DAG passes as ``contacts``, turned into contact references and then into contact ids.

Operators that act on existing contacts (enrol in an automation, remove from one, wait for one)
accept contacts in whatever shape the upstream task produced. This module reads those shapes in
one place, with one set of rules, and resolves emails to contact ids through the hook.

Accepted shapes (see ``docs/operators/automations.md``):

* a list (or tuple, set, generator) whose items are email addresses, contact ids (``"12"`` or
  ``12``), or records (dicts) with an ``email`` or a ``contact_id`` / ``contact`` / ``id`` key;
* a dict with an ``emails``, ``contact_ids`` or ``contacts`` list (or several of them), or the
  result of ``ActiveCampaignAddContactsToAutomationOperator`` (its ``enrolled`` and
  ``skipped_already_active`` contacts);
* a string: a JSON list or dict, a Python list literal (what ``{{ ti.xcom_pull(...) }}`` renders
  to), or emails/ids separated by commas, semicolons or whitespace.

A record that has an ``email`` is always looked up by its email: its ``id`` may be the caller's
own key (a warehouse customer id), so it is never trusted as an ActiveCampaign contact id.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignAuthError,
    ActiveCampaignConfigError,
    ActiveCampaignError,
    ActiveCampaignNotFoundError,
    ActiveCampaignValidationError,
)
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.hooks.transport.redaction import bounded
from airflow_provider_activecampaign.records.emails import InvalidEmailError, check_email, email_key

_SEPARATORS = re.compile(r"[,;\s]+")
#: Keys of a dict that hold lists of contacts.
LIST_KEYS = ("emails", "contact_ids", "contacts")
#: Keys of a record that name an ActiveCampaign contact id (used only when it has no email).
ID_KEYS = ("contact_id", "contact", "id")
#: Keys of the automation operator's result whose contacts are (still) in the automation.
RESULT_KEYS = ("enrolled", "skipped_already_active")
#: Errors after which no other contact can succeed either: stop instead of failing each contact.
FATAL_ERRORS: tuple[type[ActiveCampaignError], ...] = (ActiveCampaignAuthError, ActiveCampaignConfigError)


@dataclass(frozen=True)
class ContactRef:
    """One contact as the caller named it: ``key`` is how results refer to it."""

    key: str
    email: str | None = None
    contact_id: str | None = None


@dataclass
class ParsedContacts:
    """The usable references, plus the items that can never be a contact (with the reason)."""

    refs: list[ContactRef] = field(default_factory=list)
    invalid: list[dict[str, str]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.refs) + len(self.invalid)


def parse_contacts(value: Any, *, parameter: str = "contacts") -> ParsedContacts:
    """Read any accepted shape of ``contacts``; duplicates (same email or id) are kept once.

    Raises ``TypeError`` for a shape that is not accepted at all (the whole parameter is wrong);
    single bad items are returned in ``invalid`` so the valid ones still go through.
    """
    parsed = ParsedContacts()
    seen: set[str] = set()
    for item in _items(value, parameter):
        ref, reason = _ref(item)
        if ref is None:
            key = _display(item)
            if key.lower() not in seen:
                seen.add(key.lower())
                parsed.invalid.append({"contact": key, "reason": reason})
            continue
        identity = (ref.email or f"#{ref.contact_id}").lower()
        if identity in seen:
            continue
        seen.add(identity)
        parsed.refs.append(ref)
    return parsed


def _items(value: Any, parameter: str) -> Iterable[Any]:
    if value is None:
        raise TypeError(f"{parameter} is required: a list of emails or contact ids (got None).")
    if isinstance(value, str):
        return _items_from_text(value, parameter)
    if isinstance(value, bytes | bytearray):
        return _items_from_text(bytes(value).decode("utf-8"), parameter)
    if isinstance(value, Mapping):
        return _items_from_mapping(value, parameter)
    if isinstance(value, int | float):
        return [value]
    if isinstance(value, Iterable):
        return list(value)
    raise TypeError(
        f"{parameter} must be a list of emails or contact ids, got {type(value).__name__}.",
    )


def _items_from_text(text: str, parameter: str) -> Iterable[Any]:
    stripped = text.strip()
    if not stripped:
        return []
    if stripped[0] in "[{(":
        for loader in (json.loads, ast.literal_eval):
            try:
                loaded = loader(stripped)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
            return _items(loaded, parameter)
    return [part for part in _SEPARATORS.split(stripped) if part]


def _items_from_mapping(value: Mapping[str, Any], parameter: str) -> Iterable[Any]:
    is_collection = any(key in value for key in (*LIST_KEYS, *RESULT_KEYS))
    if not is_collection and ("email" in value or any(key in value for key in ID_KEYS)):
        return [value]  # a single record
    items: list[Any] = []
    found = False
    for key in LIST_KEYS:
        if key in value and value[key] is not None:
            found = True
            inner = value[key]
            items.extend(_items(inner, f"{parameter}[{key!r}]"))
    if not found and any(key in value for key in RESULT_KEYS):
        found = True
        enrolled = value.get("enrolled") or {}
        items.extend(enrolled.keys() if isinstance(enrolled, Mapping) else enrolled)
        items.extend(value.get("skipped_already_active") or [])
    if not found:
        keys = ", ".join(repr(k) for k in list(value)[:10]) or "none"
        raise TypeError(
            f"{parameter} is a dict with keys {keys}; expected a list of emails or contact ids, or a "
            f"dict with an {', '.join(repr(k) for k in LIST_KEYS)} list. Pass the list itself, e.g. "
            f"{parameter}=upstream.output['emails']."
        )
    return items


def _ref(item: Any) -> tuple[ContactRef | None, str]:
    if isinstance(item, bool) or item is None:
        return None, "neither an email address nor a contact id"
    if isinstance(item, int):
        return _id_ref(str(item), str(item))
    if isinstance(item, float):
        if item.is_integer():
            return _id_ref(str(int(item)), str(int(item)))
        return None, "a contact id must be a whole number"
    if isinstance(item, str):
        return _text_ref(item.strip())
    if isinstance(item, Mapping):
        email = item.get("email")
        if isinstance(email, str) and email.strip():
            return _text_ref(email.strip(), must_be_email=True)
        for key in ID_KEYS:
            candidate = item.get(key)
            if candidate not in (None, ""):
                return _id_ref(str(candidate).strip(), str(candidate).strip())
        return None, "the record has no 'email' and no 'contact_id'"
    return None, f"neither an email address nor a contact id ({type(item).__name__})"


def _text_ref(text: str, *, must_be_email: bool = False) -> tuple[ContactRef | None, str]:
    if not text:
        return None, "empty value"
    if "@" in text or must_be_email:
        # The provider's one email rule (emails.py), the reason worded as the contacts sync words it.
        try:
            address = check_email(text)
        except InvalidEmailError as error:
            return None, str(error)
        return ContactRef(key=text, email=email_key(address)), ""
    return _id_ref(text, text)


def _id_ref(key: str, text: str) -> tuple[ContactRef | None, str]:
    if text.isdigit() and int(text) > 0:
        return ContactRef(key=key, contact_id=str(int(text))), ""
    return None, "neither an email address nor a contact id (ids are positive whole numbers)"


def _display(item: Any) -> str:
    if isinstance(item, Mapping):
        email = item.get("email")
        if email not in (None, ""):
            text = str(email).strip()
            return text if len(text) <= 320 else bounded(text)  # never a valid address: cut, length stated
        return json.dumps(dict(item), default=str, sort_keys=True)[:200]
    return str(item).strip()[:200]


# --------------------------------------------------------------------------------------------------
# Resolution: reference -> contact id
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolution:
    """What became of one reference: ``contact_id`` when found, else ``not_found`` or a ``reason``."""

    ref: ContactRef
    contact_id: str | None = None
    not_found: bool = False
    reason: str | None = None
    created: bool = False


class ContactResolver:
    """Resolve references to contact ids: ids as given, emails by lookup (or upsert, if asked).

    ``create_missing`` creates a missing contact with ``contact/sync`` (an upsert keyed on the
    email, so a retry cannot create it twice); otherwise a missing email is reported, never
    invented. Ids are not checked here: the next call that reads the contact does it for free.
    """

    def __init__(self, hook: ActiveCampaignHook, *, create_missing: bool = False) -> None:
        self.hook = hook
        self.create_missing = create_missing

    def resolve(self, ref: ContactRef) -> Resolution:
        if ref.contact_id is not None:
            return Resolution(ref, contact_id=ref.contact_id)
        email = ref.email or ""
        try:
            contact = self.hook.get_contact_by_email(email)
            if contact is not None:
                return Resolution(ref, contact_id=str(contact["id"]))
            if not self.create_missing:
                return Resolution(ref, not_found=True)
            body = self.hook.post("contact/sync", {"contact": {"email": email}})
            return Resolution(ref, contact_id=str(body["contact"]["id"]), created=True)
        except ActiveCampaignValidationError as error:
            return Resolution(ref, reason=f"ActiveCampaign refused the contact: {_api_reason(error)}")
        except ActiveCampaignNotFoundError:
            return Resolution(ref, not_found=True)
        except FATAL_ERRORS:
            raise
        except ActiveCampaignError as error:
            return Resolution(ref, reason=f"could not look the contact up: {failure_reason(error)}")


def _api_reason(error: ActiveCampaignError) -> str:
    field_errors = getattr(error, "field_errors", None) or []
    parts = []
    for item in field_errors:
        text = " ".join(str(p) for p in (item.get("title"), item.get("detail")) if p)
        if item.get("field"):
            text = f"{item['field']}: {text}"
        if text:
            parts.append(text)
    return "; ".join(parts) or error.summary


def failure_reason(error: ActiveCampaignError) -> str:
    """A short reason for a per-contact failure: the summary line and the HTTP status."""
    status = f" (HTTP {error.status})" if error.status is not None else ""
    return f"{error.summary}{status}"
