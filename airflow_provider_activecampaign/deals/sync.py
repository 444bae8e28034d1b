"""Deals upserted by an external key kept in a deal custom field: never created twice.

ActiveCampaign has no deal upsert and no external id, so the key lives in a deal custom field the
user picks (e.g. ``External ID``). A run reads, once, every deal and every stored deal custom field
value (``GET /deals``, ``GET /dealCustomFieldData``, 100 a request): a key already held by a deal
is an update (``PUT /deals/{id}``, skipped when nothing differs), any other key a create
(``POST /deals`` with the key among its ``fields``, so the deal and its key are written by one call:
no window in which a deal exists without its key).

Why no deal is created twice for a key:

* **Task retry, re-run of a DAG run**: the next try reads the keys again, finds the deal the
  earlier try created and updates it.
* **Two records with one key in a source**: the first creates, the second updates the same deal.
* **An ambiguous create** (a 5xx, a timeout or a dropped connection after ``POST /deals`` was
  sent; the transport never resends it), or a try killed while waiting: every create goes through
  the write journal (``records/journal.py``), its intent on storage before the POST. The deal is
  read back by key (``GET /deals`` filtered by its title, then the key field of each candidate).
  Found: it was created once. Not found: it counts as not created only once the request's deadline
  plus ``write_settle_seconds`` has passed (ActiveCampaign may apply a timed-out create seconds
  later); then it is sent again, at most :data:`MAX_CREATE_ATTEMPTS` times in a try. Before that
  the record is ``unknown``, not sent again in this try, and the next run's read-back settles it.

Values: ``value`` is in minor units as ActiveCampaign counts them, 100 x the currency's base unit
(``45678`` is 456.78), whatever the currency; ``value_unit="major"`` converts ``456.78`` exactly
(fractions of a cent are refused, never rounded). The currency is the record's ``currency``, else
the operator's, else the pipeline's (its ``currency``, the account's default for its deals).
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_activecampaign.exceptions import ActiveCampaignAmbiguousWriteError
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.records.fields import (
    CustomField,
    CustomFieldCatalogue,
    FieldValue,
    FieldValueError,
    check_currency,
    field_data_index,
    format_value,
    major_to_minor,
    minor_units,
    update_body,
)
from airflow_provider_activecampaign.records.journal import (
    Decision,
    Outcome,
    Resolution,
    WriteJournal,
    WriteUnknown,
    lost_answer,
    times,
)
from airflow_provider_activecampaign.records.upsert import (
    ContactLookup,
    NameIndex,
    RecordRejected,
    UpsertTally,
    empty,
)

log = logging.getLogger(__name__)

#: Columns that are the deal itself; every other column is a deal custom field (by label).
DEAL_COLUMNS = (
    "title",
    "value",
    "currency",
    "pipeline",
    "stage",
    "owner",
    "contact",
    "account",
    "status",
    "description",
    "percent",
)
STATUSES = {"open": 0, "won": 1, "lost": 2, "0": 0, "1": 1, "2": 2}
#: Field types that can hold an external key exactly as given.
KEY_FIELD_TYPES = frozenset({"text", "hidden", "textarea", "number"})
#: How many times one record's POST /deals may be sent in a try when read-backs prove it did not apply.
MAX_CREATE_ATTEMPTS = 2
#: The journal's name for this writer.
WRITER = "deals"
#: The longest a try waits for an ambiguous create to settle before it reports it ``unknown``.
MAX_SETTLE_WAIT = 10.0
#: A request's deadline when the operator does not give one (one attempt at the default timeout).
DEFAULT_DEADLINE_SECONDS = 65.0
VALUE_UNITS = ("minor", "major")
#: Deals are read oldest first by creation (a SPEC ``GET /deals`` order): the reference names no
#: default, and by offset a deal created mid-read must come last, not shift the pages already read.
DEAL_ORDER = {"orders[cdate]": "ASC"}


class DealCreateUnresolvedError(Exception):
    """A create failed ambiguously every time and no deal with the key could be found."""


@dataclass
class DealPlan:
    """Where each source column goes: a deal attribute or a custom field (resolved before writing)."""

    attributes: dict[str, str] = field(default_factory=dict)
    fields: dict[str, CustomField] = field(default_factory=dict)


class DealUpserter:
    """Upsert deals one record at a time; :meth:`prepare` reads what the run needs first.

    :param key_field: The deal custom field holding the external key (label, personalization tag or id).
    :param key_column: The source column with the key.
    """

    def __init__(
        self,
        hook: ActiveCampaignHook,
        *,
        key_field: str,
        key_column: str = "external_id",
        pipeline: str | None = None,
        stage: str | None = None,
        owner: str | None = None,
        currency: str | None = None,
        value_unit: str = "minor",
        logger: Any = None,
        sleep: Any = time.sleep,
        journal: WriteJournal | None = None,
        deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
    ) -> None:
        if value_unit not in VALUE_UNITS:
            raise ValueError(f"value_unit must be one of {VALUE_UNITS}, got {value_unit!r}")
        self.hook = hook
        self.key_field_name = key_field
        self.key_column = key_column
        self.default_pipeline = pipeline
        self.default_stage = stage
        self.default_owner = owner
        self.default_currency = check_currency(currency, "currency") if currency else None
        self.value_unit = value_unit
        self.log = logger or log
        self.sleep = sleep
        self.tally = UpsertTally()
        self.contacts = ContactLookup(hook)
        self.plan = DealPlan()
        self.by_key: dict[str, list[str]] = {}
        self.deals: dict[str, dict[str, Any]] = {}
        self.values: dict[str, dict[str, tuple[str, Any]]] = {}
        self._accounts: NameIndex | None = None
        #: The write journal (the operator's per-task one; a throwaway one outside a task).
        self.journal = journal or WriteJournal(tempfile.mkdtemp(prefix="ac-journal-"), WRITER)
        self.deadline_seconds = deadline_seconds

    # ----------------------------------------------------------------------------------------------
    # Before any write
    # ----------------------------------------------------------------------------------------------

    def prepare(self, columns: list[str]) -> None:
        """Resolve columns, pipelines, stages, users and read every existing key; fail before writing."""
        if self.key_column not in columns:
            raise ValueError(
                f"The source has no key column {self.key_column!r} (columns: "
                f"{', '.join(columns) or 'none'}); set key_column to the column holding each deal's "
                "external key."
            )
        catalogue = CustomFieldCatalogue.load(self.hook, "deal")
        key_field = catalogue.find(self.key_field_name)
        if key_field is None:
            raise ValueError(
                f"No deal custom field {self.key_field_name!r} to hold the external key. Create a text "
                "deal custom field for it in ActiveCampaign (Settings → Fields → Deals), or fix key_field."
            )
        if key_field.type not in KEY_FIELD_TYPES:
            raise ValueError(
                f"The key field {key_field.label!r} is a {key_field.type} field; the key needs a text, "
                "hidden, textarea or number field."
            )
        self.key_field = key_field
        custom = [c for c in columns if c != self.key_column and c not in DEAL_COLUMNS]
        self.plan = DealPlan(
            attributes={c: c for c in columns if c in DEAL_COLUMNS},
            fields=catalogue.resolve(custom),
        )
        if any(f.id == key_field.id for f in self.plan.fields.values()):
            raise ValueError(f"The key field {key_field.label!r} is filled from key_column only.")
        self.pipelines = NameIndex(self.hook.paginate("dealGroups", key="dealGroups"), ("title",), "pipeline")
        self.stages = list(self.hook.paginate("dealStages", key="dealStages"))
        self.users = NameIndex(self.hook.paginate("users", key="users"), ("username", "email"), "owner")
        try:  # operator-level names are checked now: a typo fails the run before any write
            if self.default_pipeline:
                self.pipelines.get(self.default_pipeline)
            if self.default_stage:
                self._stage(self.default_stage, self._group_of(None))
            if self.default_owner:
                self.users.get(self.default_owner)
        except RecordRejected as error:
            raise ValueError(f"{error.field}: {error.reason}") from None
        self._read_keys()

    def _read_keys(self) -> None:
        self.values = field_data_index(self.hook, "deal", "dealId")
        self.deals = {
            str(deal["id"]): deal for deal in self.hook.paginate("deals", key="deals", params=DEAL_ORDER)
        }
        self.by_key = {}
        for deal_id, values in self.values.items():
            stored = values.get(self.key_field.id)
            if stored is not None and not empty(stored[1]):
                self.by_key.setdefault(str(stored[1]).strip(), []).append(deal_id)

    @property
    def accounts(self) -> NameIndex:
        if self._accounts is None:
            self._accounts = NameIndex(self.hook.paginate("accounts", key="accounts"), ("name",), "account")
        return self._accounts

    # ----------------------------------------------------------------------------------------------
    # One record
    # ----------------------------------------------------------------------------------------------

    def upsert(self, record: Mapping[str, Any]) -> tuple[str, str]:
        """Create or update the record's deal; return ``(action, deal id)``. Raises RecordRejected."""
        key = record.get(self.key_column)
        if empty(key):
            raise RecordRejected(self.key_column, "the external key is empty")
        key = str(key).strip()
        existing = self.by_key.get(key, [])
        if len(existing) > 1:
            raise RecordRejected(
                self.key_column,
                f"deals {', '.join(existing)} all hold the key {key!r} in {self.key_field.label!r}; "
                "keep one (merge or delete the others in ActiveCampaign) and re-run",
            )
        deal_id = existing[0] if existing else None
        if deal_id is None:
            deal_id = self._created_before(key, str(record.get("title") or "").strip())
        elif any(not intent.closed for intent in self.journal.history(WRITER, key)):
            found = deal_id  # an earlier try's create whose answer was lost: the key read found it
            self.journal.resolve(WRITER, key, read_back=lambda intent: found)
        attrs, fields = self._desired(record, creating=deal_id is None)
        if deal_id is None:
            deal_id, action = self._create(key, attrs, fields)
        else:
            action = self._update(deal_id, attrs, fields)
        return action, deal_id

    def _desired(
        self, record: Mapping[str, Any], *, creating: bool
    ) -> tuple[dict[str, Any], list[FieldValue]]:
        get = record.get
        attrs: dict[str, Any] = {}
        try:
            group = self._group_of(get("pipeline"))
            stage_name = get("stage") if not empty(get("stage")) else self.default_stage
            if stage_name:
                stage = self._stage(stage_name, group)
                attrs["stage"] = str(stage["id"])
                attrs["group"] = str(stage.get("group") or (group or {}).get("id") or "")
                if group is None:
                    group = self.pipelines.find(attrs["group"])
            elif group is not None:
                attrs["group"] = str(group["id"])
            if not empty(get("title")):
                attrs["title"] = str(get("title")).strip()
            if not empty(get("value")):
                convert = major_to_minor if self.value_unit == "major" else minor_units
                attrs["value"] = convert(get("value"), "value")
            currency = get("currency") if not empty(get("currency")) else self.default_currency
            if currency is None and group is not None and group.get("currency") and "value" in attrs:
                currency = group["currency"]
            if currency:
                attrs["currency"] = check_currency(currency, "currency")
            owner = get("owner") if not empty(get("owner")) else self.default_owner
            if owner:
                attrs["owner"] = str(self.users.get(owner)["id"])
            if not empty(get("contact")):
                attrs["contact"] = self.contacts.get(get("contact"))
            if not empty(get("account")):
                attrs["account"] = str(self.accounts.get(get("account"))["id"])
            if not empty(get("status")):
                status = STATUSES.get(str(get("status")).strip().lower())
                if status is None:
                    raise RecordRejected("status", f"{get('status')!r} is not open, won or lost (0, 1, 2)")
                attrs["status"] = status
            if not empty(get("description")):
                attrs["description"] = str(get("description"))
            if not empty(get("percent")):
                attrs["percent"] = int(minor_units(get("percent"), "percent"))
            fields = []
            for column, custom in self.plan.fields.items():
                value = format_value(custom, get(column), currency=attrs.get("currency"))
                if value is not None:
                    fields.append(value)
        except FieldValueError as error:
            raise RecordRejected.from_field_error(error) from None
        if creating:
            missing = [name for name in ("title",) if name not in attrs]
            if "group" not in attrs and "stage" not in attrs:
                missing.append("pipeline or stage")
            if "contact" not in attrs and "account" not in attrs:
                missing.append("contact or account")
            if missing:
                raise RecordRejected(
                    missing[0].split()[0], f"a new deal needs {', '.join(missing)} (the API requires them)"
                )
            check_owner_needed(attrs, self.pipelines.find(attrs["group"]) if attrs.get("group") else None)
            attrs.setdefault("value", 0)
            if "currency" not in attrs:
                pipeline = self.pipelines.find(attrs["group"]) if "group" in attrs else None
                attrs["currency"] = str((pipeline or {}).get("currency") or "usd").lower()
        return attrs, fields

    def _group_of(self, name: Any) -> dict[str, Any] | None:
        chosen = name if not empty(name) else self.default_pipeline
        return self.pipelines.get(chosen) if chosen else None

    def _stage(self, name: Any, group: Mapping[str, Any] | None) -> dict[str, Any]:
        text = str(name).strip()
        pool = [s for s in self.stages if group is None or str(s.get("group")) == str(group.get("id"))]
        matches = [s for s in pool if str(s.get("title", "")).strip().lower() == text.lower()]
        if not matches:
            matches = [s for s in pool if str(s.get("id")) == text]
        where = f" in pipeline {group.get('title')!r}" if group else ""
        if len(matches) > 1:
            shown = ", ".join(f"id {m.get('id')} (pipeline {m.get('group')})" for m in matches)
            raise RecordRejected("stage", f"{text!r} is ambiguous{where}: {shown}; name the pipeline too")
        if not matches:
            existing = ", ".join(sorted({repr(str(s.get("title"))) for s in pool})[:20]) or "none"
            raise RecordRejected("stage", f"no stage {text!r}{where}; existing: {existing}")
        return matches[0]

    # ----------------------------------------------------------------------------------------------
    # Writes
    # ----------------------------------------------------------------------------------------------

    def _update(self, deal_id: str, attrs: dict[str, Any], fields: list[FieldValue]) -> str:
        current = self.deals.get(deal_id, {})
        changed = {k: v for k, v in attrs.items() if not _same_attribute(current, k, v)}
        update = update_body(changed, fields, self.values.get(deal_id, {}))
        if update is None:
            self.tally.unchanged += 1
            return "unchanged"
        body, changed_fields = update
        answer = self.hook.put(f"deals/{deal_id}", {"deal": body})
        self._remember(deal_id, answer, attrs, changed_fields)
        self.tally.updated += 1
        return "updated"

    def _created_before(self, key: str, title: str) -> str | None:
        """The deal an earlier send for ``key`` created (its intent still open), if a read-back finds it."""
        if not self.journal.history(WRITER, key):
            return None
        decision = self._resolve(key, title)
        if decision.resolution is Resolution.UNKNOWN:
            raise WriteUnknown(self._unknown_reason(key, decision, None), sent=decision.sent)
        if decision.resolution is Resolution.APPLIED:
            if decision.ref and decision.ref in self.deals:
                return decision.ref
            raise DealCreateUnresolvedError(
                f"POST /deals for key {key!r} was sent {times(decision.sent)} and applied (deal "
                f"{decision.ref or 'id unknown'}), yet no deal holds the key now (deleted, or its key "
                "changed); it is not created again in this DAG run."
            )
        return None

    def _resolve(self, key: str, title: str) -> Decision:
        """The journal's decision for ``key``; waits for a short settle period rather than report unknown."""
        decision = self.journal.resolve(WRITER, key, read_back=lambda intent: self._find_created(key, title))
        settles_at = decision.settles_at
        if (
            decision.resolution is Resolution.UNKNOWN
            and settles_at is not None
            and self.journal.worth_waiting(WRITER, key, settles_at, MAX_SETTLE_WAIT)
        ):
            self.sleep(max(0.0, settles_at - self.journal.clock()))
            decision = self.journal.resolve(
                WRITER, key, read_back=lambda intent: self._find_created(key, title)
            )
        return decision

    def _find_created(self, key: str, title: str) -> str | None:
        found = self.read_back(key, title)
        if found is not None:
            self.log.info("Found deal %s with key %r: the create had applied once.", found, key)
            self._index_created(found, key, {"title": title}, [])
            self.tally.recovered += 1
        return found

    def _unknown_reason(self, key: str, decision: Decision, error: Any) -> str:
        what = f"; {lost_answer(error)}" if error is not None else " (the answer was never recorded)"
        return (
            f"POST /deals for key {key!r} was sent {times(decision.sent)}{what}; no deal with the key is "
            "found yet, and ActiveCampaign may still apply it, so it was not sent again. The next run "
            "reads the key back once the write has settled (write_settle_seconds) and creates it only "
            "if it is still missing."
        )

    def _create(self, key: str, attrs: dict[str, Any], fields: list[FieldValue]) -> tuple[str, str]:
        key_value = FieldValue(self.key_field, key)
        body = {"deal": {**attrs, "fields": [key_value.as_api(), *(f.as_api() for f in fields)]}}
        title = str(attrs.get("title", ""))
        last: ActiveCampaignAmbiguousWriteError | None = None
        for attempt in range(1, MAX_CREATE_ATTEMPTS + 1):
            intent = self.journal.intent(WRITER, key, body, deadline_seconds=self.deadline_seconds)
            try:
                answer = self.hook.post("deals", body)
            except ActiveCampaignAmbiguousWriteError as error:
                last = error
                self.journal.outcome(intent, Outcome.AMBIGUOUS)
                self.log.warning(
                    "POST /deals for key %r may have been applied (%s); reading back by key before "
                    "anything else (attempt %d of %d).",
                    key,
                    error.summary,
                    attempt,
                    MAX_CREATE_ATTEMPTS,
                )
                decision = self._resolve(key, title)
                if decision.resolution is Resolution.APPLIED and decision.ref:
                    self.tally.created += 1
                    return decision.ref, "created"
                if decision.resolution is Resolution.UNKNOWN:
                    raise WriteUnknown(
                        self._unknown_reason(key, decision, error), sent=decision.sent
                    ) from None
                continue  # proven not applied after it settled: send it again
            except Exception:
                # Answered with a refusal, or never sent (the transport says which): not applied.
                self.journal.outcome(intent, Outcome.REFUSED)
                raise
            deal = (answer or {}).get("deal") or {}
            if not deal.get("id"):
                self.journal.outcome(intent, Outcome.AMBIGUOUS, note="answered without a deal id")
                raise RecordRejected(None, f"POST /deals answered without a deal id: {str(answer)[:200]}")
            deal_id = str(deal["id"])
            self.journal.outcome(intent, Outcome.APPLIED, ref=deal_id)
            self._index_created(deal_id, key, {**attrs, **deal}, fields)
            self.tally.created += 1
            return deal_id, "created"
        raise DealCreateUnresolvedError(
            f"POST /deals for key {key!r} was sent {times(MAX_CREATE_ATTEMPTS)}, each time failing "
            "ambiguously, and read-backs after it settled found no deal with that key; it was not sent "
            "again. A re-run reads the keys first, so it cannot create a second deal. Last error: "
            f"{last.summary if last else 'none'}"
        )

    def read_back(self, key: str, title: str) -> str | None:
        """The deal holding ``key`` that this run did not know yet, looked up by title, then by key."""
        params = {**DEAL_ORDER, "filters[title]": title} if title else DEAL_ORDER
        for deal in self.hook.paginate("deals", key="deals", params=params):
            deal_id = str(deal.get("id"))
            same_title = str(deal.get("title", "")).strip().lower() == title.strip().lower()
            if deal_id in self.deals or (title and not same_title):
                continue  # known before this create (with another key or none), or another title
            data = self.hook.get("dealCustomFieldData", params={"filters[dealId]": deal_id})
            for datum in (data or {}).get("dealCustomFieldData") or []:
                field_id = str(datum.get("customFieldId") or datum.get("dealCustomFieldMetumId"))
                if (
                    field_id == self.key_field.id
                    and str(datum.get("dealId", deal_id)) == deal_id
                    and str(datum.get("fieldValue", "")).strip() == key
                ):
                    return deal_id
        return None

    def _index_created(
        self, deal_id: str, key: str, attrs: Mapping[str, Any], fields: list[FieldValue]
    ) -> None:
        self.by_key[key] = [deal_id]
        self.deals[deal_id] = {**attrs, "id": deal_id}
        stored = self.values.setdefault(deal_id, {})
        stored[self.key_field.id] = ("", key)
        for value in fields:
            stored[value.field.id] = ("", value.value)

    def _remember(
        self, deal_id: str, answer: Any, attrs: Mapping[str, Any], fields: list[FieldValue]
    ) -> None:
        deal = (answer or {}).get("deal") if isinstance(answer, Mapping) else None
        self.deals[deal_id] = {**self.deals.get(deal_id, {}), **attrs, **(deal or {})}
        stored = self.values.setdefault(deal_id, {})
        for value in fields:
            stored[value.field.id] = (stored.get(value.field.id, ("", None))[0], value.value)


def _same_attribute(current: Mapping[str, Any], name: str, wanted: Any) -> bool:
    have = current.get(name)
    if name == "account" and have in (None, ""):
        have = current.get("organization")
    if have is None:
        return False
    if name == "currency":
        return str(have).lower() == str(wanted).lower()
    return str(have).strip() == str(wanted).strip()


def check_owner_needed(attrs: Mapping[str, Any], pipeline: Mapping[str, Any] | None) -> None:
    """Refuse a new deal without an owner in a pipeline that does not auto-assign one.

    The reference's schema lists ``owner`` (and ``contact``, ``account``, ``group``, ``stage``) as
    required, but its own field descriptions make each conditional: ``owner`` is "Required if
    pipeline's auto-assign option is disabled" (SPEC ``POST /deals``), i.e. ``autoassign`` 0
    (SPEC ``POST /dealGroups``). Such a deal would be refused by ActiveCampaign; it is refused here,
    before any request, with what to do.
    """
    if attrs.get("owner") or pipeline is None:
        return
    if str(pipeline.get("autoassign", "1")).strip() in ("0", "false", "False"):
        raise RecordRejected(
            "owner",
            f"pipeline {pipeline.get('title')!r} does not auto-assign deals (auto-assign is off), so a "
            "new deal in it needs an owner: give the record an owner column (user name, email or id) "
            "or the operator an owner",
        )
