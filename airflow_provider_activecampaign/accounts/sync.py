"""Accounts (companies) upserted by name or by an account custom field, and their contacts linked.

A run reads every account once (``GET /accounts``) and, when custom fields or a custom-field key
are used, every stored account field value (``GET /accountCustomFieldData``). A known account is
updated only where it differs (``PUT /accounts/{id}``), an unknown one is created with its fields in
the same call (``POST /accounts``). ActiveCampaign refuses a second account with the same name
(422 ``duplicate``). Every create goes through the write journal (``records/journal.py``): its
intent is on storage before the POST, and a create whose answer was lost is settled by reading the
name back (``GET /accounts?search=``), counting "not found" as "not created" only after the
request's deadline plus ``write_settle_seconds``; before that the record is ``unknown`` and is not
sent again in that try.

Contacts: a contact belongs to at most one account (``POST /accountContacts`` answers 422 "already
associated" otherwise). The run reads every association once (``GET /accountContacts``). A contact
already in the record's account is left alone; one in no account is linked; one in *another*
account is moved (``DELETE /accountContacts/{id}``, then ``POST``) only with ``move_contacts``,
otherwise it stays where it is and gets one line in the report, never an error per request. Each
link's ``POST`` goes through the journal too (read back by ``GET /accountContacts?filters[contact]=``);
a link whose answer was lost and that has not settled is reported ``unknown`` and the task fails
after every record was written, so its retry settles it. The ``DELETE`` of a move names one
association: repeating it cannot act twice (404 counts as done).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignNotFoundError,
    ActiveCampaignValidationError,
)
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.records.fields import (
    CustomField,
    CustomFieldCatalogue,
    FieldValue,
    FieldValueError,
    field_data_index,
    format_value,
    update_body,
)
from airflow_provider_activecampaign.records.journal import (
    Intent,
    Sent,
    WriteJournal,
    WriteUnknown,
    send_once,
)
from airflow_provider_activecampaign.records.upsert import (
    ContactLookup,
    NameIndex,
    RecordRejected,
    UpsertTally,
    empty,
    names,
)

log = logging.getLogger(__name__)

#: Columns that are the account itself (or its contacts); every other column is a custom field.
ACCOUNT_COLUMNS = ("name", "url", "owner", "contacts", "job_title")
#: The journal's names for account creates and for account-contact links.
WRITER = "accounts"
LINK_WRITER = "account_contacts"
#: A request's deadline when the operator does not give one (one attempt at the default timeout).
DEFAULT_DEADLINE_SECONDS = 65.0


@dataclass
class LinkTally:
    """What happened to the contacts named by the records."""

    linked: int = 0
    already_linked: int = 0
    moved: int = 0
    #: In another account and ``move_contacts`` is off: left there, one report line each.
    left_in_other_account: int = 0
    not_found: int = 0
    failed: int = 0
    #: Sent, answer lost, not found yet and not settled: not resent in this try (the retry settles it).
    unknown: int = 0

    def to_json(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class AccountPlan:
    fields: dict[str, CustomField] = field(default_factory=dict)


class AccountUpserter:
    """Upsert accounts one record at a time and link their contacts; :meth:`prepare` reads first.

    :param key_field: An account custom field holding the key (label or id); ``None``: the name.
    :param key_column: The source column with the key when ``key_field`` is set.
    :param move_contacts: Move a contact that belongs to another account into this one.
    :param report: Called with one dict per contact that was not linked (not found, left, failed).
    """

    def __init__(
        self,
        hook: ActiveCampaignHook,
        *,
        key_field: str | None = None,
        key_column: str = "external_id",
        move_contacts: bool = False,
        report: Any = None,
        logger: Any = None,
        sleep: Any = time.sleep,
        journal: WriteJournal | None = None,
        deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
    ) -> None:
        self.hook = hook
        #: The write journal (the operator's per-task one; a throwaway one outside a task).
        self.journal = journal or WriteJournal(tempfile.mkdtemp(prefix="ac-journal-"), WRITER)
        self.deadline_seconds = deadline_seconds
        self.key_field_name = key_field
        self.key_column = key_column
        self.move_contacts = move_contacts
        self.report = report or (lambda entry: None)
        self.log = logger or log
        self.sleep = sleep
        self.tally = UpsertTally()
        self.links = LinkTally()
        self.contacts = ContactLookup(hook)
        self.plan = AccountPlan()
        self.key_field: CustomField | None = None
        self.values: dict[str, dict[str, tuple[str, Any]]] = {}
        self.by_key: dict[str, list[str]] = {}
        self._associations: dict[str, tuple[str, str]] | None = None

    def prepare(self, columns: list[str]) -> None:
        """Resolve the columns and read every account (and field value when needed) before any write."""
        if "name" not in columns:
            raise ValueError(
                f"The source has no 'name' column (columns: {', '.join(columns) or 'none'}); every "
                "account needs its name. Map your column to it with field_map."
            )
        custom = [c for c in columns if c not in ACCOUNT_COLUMNS and c != self.key_column]
        needs_fields = bool(custom) or self.key_field_name is not None
        catalogue = CustomFieldCatalogue.load(self.hook, "account") if needs_fields else None
        if self.key_field_name is not None:
            assert catalogue is not None
            self.key_field = catalogue.find(self.key_field_name)
            if self.key_field is None:
                raise ValueError(
                    f"No account custom field {self.key_field_name!r} to hold the key; create it in "
                    "ActiveCampaign (Settings → Fields → Accounts) or fix key_field."
                )
            if self.key_column not in columns:
                raise ValueError(f"The source has no key column {self.key_column!r}; set key_column.")
        if custom:
            assert catalogue is not None
            self.plan = AccountPlan(fields=catalogue.resolve(custom))
        self.users = NameIndex(self.hook.paginate("users", key="users"), ("username", "email"), "owner")
        self.accounts = NameIndex(self.hook.paginate("accounts", key="accounts"), ("name",), "account")
        if needs_fields:
            self.values = field_data_index(self.hook, "account", "accountId")
        if self.key_field is not None:
            for account_id, values in self.values.items():
                stored = values.get(self.key_field.id)
                if stored is not None and not empty(stored[1]):
                    self.by_key.setdefault(str(stored[1]).strip(), []).append(account_id)

    # ----------------------------------------------------------------------------------------------
    # One record
    # ----------------------------------------------------------------------------------------------

    def upsert(self, record: Mapping[str, Any]) -> tuple[str, str]:
        """Create or update the record's account and link its contacts; ``(action, account id)``."""
        name = record.get("name")
        if empty(name):
            raise RecordRejected("name", "the account name is empty")
        if isinstance(name, bool) or not isinstance(name, str | int | float):
            raise RecordRejected(
                "name", f"is a {type(name).__name__}, not text; give the account's name as a string"
            )
        name = str(name).strip()
        attrs, fields = self._desired(record, name)
        account = self._find(record, name)
        if account is None:
            account_id, action = self._create(name, attrs, fields)
        else:
            account_id = str(account["id"])
            action = self._update(account, attrs, fields)
        emails = self._contacts_of(record)
        if emails:
            self._link(account_id, name, emails, record.get("job_title"))
        return action, account_id

    def _find(self, record: Mapping[str, Any], name: str) -> dict[str, Any] | None:
        if self.key_field is None:
            # Names match case-blind: whether ActiveCampaign also refuses "ACME" beside "Acme" is not
            # documented (docs/emulator.md, switch ``account_names_case_insensitive``). Where it does
            # not, both may exist; the record cannot say which it means, so it is refused, naming them.
            same = list(self.accounts.by_name.get(name.lower(), []))
            if len(same) > 1:
                shown = ", ".join(f"{a.get('name')!r} (id {a.get('id')})" for a in same[:10])
                raise RecordRejected(
                    "name",
                    f"{len(same)} accounts are named {name!r} in some case: {shown}; ActiveCampaign "
                    "keeps them apart, this writer matches names case-blind: rename or merge them in "
                    "ActiveCampaign, or upsert by an account custom field (key_field)",
                )
            return same[0] if same else None
        key = record.get(self.key_column)
        if empty(key):
            raise RecordRejected(self.key_column, "the account key is empty")
        held = self.by_key.get(str(key).strip(), [])
        if len(held) > 1:
            raise RecordRejected(
                self.key_column, f"accounts {', '.join(held)} all hold the key {str(key).strip()!r}; keep one"
            )
        return self.accounts.by_id.get(held[0]) if held else None

    def _desired(self, record: Mapping[str, Any], name: str) -> tuple[dict[str, Any], list[FieldValue]]:
        attrs: dict[str, Any] = {"name": name}
        if not empty(record.get("url")):
            attrs["accountUrl"] = str(record["url"]).strip()
        if not empty(record.get("owner")):
            attrs["owner"] = int(self.users.get(record["owner"])["id"])
        fields: list[FieldValue] = []
        try:
            if self.key_field is not None:
                fields.append(FieldValue(self.key_field, str(record.get(self.key_column)).strip()))
            for column, custom in self.plan.fields.items():
                value = format_value(custom, record.get(column))
                if value is not None:
                    fields.append(value)
        except FieldValueError as error:
            raise RecordRejected.from_field_error(error) from None
        return attrs, fields

    def _update(self, account: Mapping[str, Any], attrs: dict[str, Any], fields: list[FieldValue]) -> str:
        account_id = str(account["id"])
        # The listing may not carry the owner: it is compared only when it does (sent on change).
        changed = {
            k: v
            for k, v in attrs.items()
            if (k in account and str(account.get(k) or "").strip() != str(v).strip())
            or (k not in account and k != "owner")
        }
        update = update_body(changed, fields, self.values.get(account_id, {}))
        if update is None:
            self.tally.unchanged += 1
            return "unchanged"
        body, changed_fields = update
        answer = self.hook.put(f"accounts/{account_id}", {"account": body})
        updated = (answer or {}).get("account") if isinstance(answer, Mapping) else None
        self._remember(account_id, {**account, **attrs, **(updated or {})}, changed_fields)
        self.tally.updated += 1
        return "updated"

    def _create(self, name: str, attrs: dict[str, Any], fields: list[FieldValue]) -> tuple[str, str]:
        body: dict[str, Any] = {"account": dict(attrs)}
        if fields:
            body["account"]["fields"] = [f.as_api() for f in fields]
        key = self._journal_key(name, fields)
        found: dict[str, dict[str, Any]] = {}

        def read_back(intent: Intent) -> str | None:
            account = self._read_back(name)
            if account is None:
                return None
            found["account"] = account
            return str(account["id"])

        try:
            sent = send_once(
                self.journal,
                WRITER,
                key,
                body,
                lambda: self.hook.post("accounts", body),
                read_back=read_back,
                deadline_seconds=self.deadline_seconds,
                what=f"POST /accounts for {name!r}",
                ref_of=lambda answer: ((answer or {}).get("account") or {}).get("id"),
                sleep=self.sleep,
            )
        except ActiveCampaignValidationError as error:
            if any(e.get("code") == "duplicate" for e in getattr(error, "field_errors", []) or []):
                existing = self._read_back(name)
                if existing is not None and self.key_field is None:
                    # Created meanwhile (another task, a person): it is this record's account.
                    self.accounts.add(existing)
                    return str(existing["id"]), self._update(existing, attrs, fields)
                raise RecordRejected(
                    "name",
                    f"an account named {name!r} already exists "
                    f"(id {existing.get('id') if existing else '?'}) with another key; rename one of them",
                ) from None
            raise
        if sent.recovered:
            self.log.info(
                "Account %r was created once by an earlier send (id %s); not sent again.", name, sent.ref
            )
            self.tally.recovered += 1
            answer: Any = {"account": found.get("account") or {"id": sent.ref, "name": name}}
        else:
            answer = sent.answer
        account = dict((answer or {}).get("account") or {})
        if not account.get("id"):
            raise RecordRejected(None, f"POST /accounts answered without an account id: {str(answer)[:200]}")
        account_id = str(account["id"])
        self._remember(account_id, {**attrs, **account}, fields, new=True)
        self.tally.created += 1
        return account_id, "created"

    def _journal_key(self, name: str, fields: list[FieldValue]) -> str:
        """The account's identity in the journal: its key field value, else its name (unique in AC)."""
        if self.key_field is not None:
            for value in fields:
                if value.field.id == self.key_field.id:
                    return f"key:{value.value}"
        return f"name:{name.lower()}"

    def _read_back(self, name: str) -> dict[str, Any] | None:
        """The account named ``name``: the exact spelling first, else another case of it."""
        found = [
            dict(account)
            for account in self.hook.paginate("accounts", key="accounts", params={"search": name})
            if str(account.get("name", "")).strip().lower() == name.lower()
        ]
        exact = [account for account in found if str(account.get("name", "")).strip() == name]
        chosen = exact or found
        return chosen[0] if chosen else None

    def _remember(
        self, account_id: str, account: Mapping[str, Any], fields: list[FieldValue], *, new: bool = False
    ) -> None:
        item = {**account, "id": account_id}
        if new:
            self.accounts.add(item)
        else:
            self.accounts.by_id[account_id].update(item)
        stored = self.values.setdefault(account_id, {})
        for value in fields:
            stored[value.field.id] = (stored.get(value.field.id, ("", None))[0], value.value)
            if self.key_field is not None and value.field.id == self.key_field.id:
                self.by_key[value.value] = [account_id]

    # ----------------------------------------------------------------------------------------------
    # Contacts
    # ----------------------------------------------------------------------------------------------

    def _contacts_of(self, record: Mapping[str, Any]) -> list[str]:
        value = record.get("contacts")
        if isinstance(value, str):
            separator = ";" if ";" in value else ","
            return names(value, separator)
        return names(value)

    @property
    def associations(self) -> dict[str, tuple[str, str]]:
        """``{contact id: (association id, account id)}``: every association, read once."""
        if self._associations is None:
            self._associations = {
                str(item.get("contact")): (str(item.get("id")), str(item.get("account")))
                for item in self.hook.paginate("accountContacts", key="accountContacts")
            }
        return self._associations

    def _link(self, account_id: str, account_name: str, emails: list[str], job_title: Any) -> None:
        for email in emails:
            entry = {"account": account_name, "email": email}
            try:
                contact_id = self.contacts.find(email, "contacts")
            except RecordRejected as error:
                self.links.not_found += 1
                self.report({**entry, "stage": "rejected", "field": "contacts", "reason": error.reason})
                continue
            if contact_id is None:
                self.links.not_found += 1
                self.report(
                    {**entry, "stage": "not_found", "reason": "no contact with this email; sync it first"}
                )
                continue
            try:
                self._link_one(account_id, contact_id, entry, job_title)
            except (ActiveCampaignValidationError, ActiveCampaignNotFoundError) as error:
                self.links.failed += 1
                self.report({**entry, "stage": "failed", "reason": error.summary})

    def _link_one(self, account_id: str, contact_id: str, entry: dict[str, Any], job_title: Any) -> None:
        current = self.associations.get(contact_id)
        if current is not None and current[1] == account_id:
            self.links.already_linked += 1
            return
        if current is not None:
            other = self.accounts.by_id.get(current[1], {}).get("name", current[1])
            if not self.move_contacts:
                self.links.left_in_other_account += 1
                self.report(
                    {
                        **entry,
                        "stage": "left_in_other_account",
                        "reason": f"the contact belongs to account {other!r} (a contact has one account); "
                        "pass move_contacts=True to move it",
                    }
                )
                return
            with contextlib.suppress(ActiveCampaignNotFoundError):  # gone already (an earlier try)
                self.hook.delete(f"accountContacts/{current[0]}")
            self.associations.pop(contact_id, None)
            moved = True
        else:
            moved = False
        body: dict[str, Any] = {"accountContact": {"contact": int(contact_id), "account": int(account_id)}}
        if not empty(job_title):
            body["accountContact"]["jobTitle"] = str(job_title)

        def read_back(intent: Intent) -> str | None:
            found = self._association_of(contact_id)
            return found[0] if found is not None and found[1] == account_id else None

        try:
            sent = send_once(
                self.journal,
                LINK_WRITER,
                f"{contact_id}:{account_id}",
                body,
                lambda: self.hook.post("accountContacts", body),
                read_back=read_back,
                deadline_seconds=self.deadline_seconds,
                what=f"POST /accountContacts linking {entry['email']!r} to account {entry['account']!r}",
                ref_of=lambda answer: ((answer or {}).get("accountContact") or {}).get("id"),
                sleep=self.sleep,
            )
        except WriteUnknown as unknown:
            self.links.unknown += 1
            self.report({**entry, "stage": "unknown", "sent": unknown.sent, "reason": unknown.reason})
            return
        except ActiveCampaignValidationError:
            # 422 "already associated": the association itself says with which account.
            found = self._association_of(contact_id)
            if found is None:
                raise
            if found[1] != account_id:
                self.associations[contact_id] = found
                return self._link_one(account_id, contact_id, entry, job_title)
            sent = Sent(None, found[0], 1, recovered=True)
        self.associations[contact_id] = (str(sent.ref), account_id)
        if moved:
            self.links.moved += 1
        else:
            self.links.linked += 1

    def _association_of(self, contact_id: str) -> tuple[str, str] | None:
        answer = self.hook.get("accountContacts", params={"filters[contact]": contact_id})
        for item in (answer or {}).get("accountContacts") or []:
            if str(item.get("contact")) == contact_id:
                return str(item.get("id")), str(item.get("account"))
        return None
