"""Upsert accounts (companies) and link their contacts (rules: ``accounts/sync.py``).

See ``docs/operators/accounts.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowException

from airflow_provider_activecampaign.accounts.sync import AccountUpserter
from airflow_provider_activecampaign.operators.base import (
    ActiveCampaignRecordsOperator,
)
from airflow_provider_activecampaign.records.failures import FailureReport
from airflow_provider_activecampaign.records.journal import WriteJournal, request_deadline_seconds


class ActiveCampaignSyncAccountsOperator(ActiveCampaignRecordsOperator):
    """Create or update accounts by name (or a custom-field key) and link contacts to them.

    Records come from exactly one source: ``accounts`` (a list of dicts), ``source_path`` (CSV or
    JSON Lines, any ``ObjectStoragePath`` URI) or ``sql`` + ``sql_conn_id``, streamed. Columns
    ``name`` (required), ``url``, ``owner`` (username or email), ``contacts`` (emails: a list, or a
    string split on ``;`` or ``,``) and ``job_title`` are the account and its contacts; every other
    column is an account custom field by its label. Unknown columns fail before anything is written.

    Running it twice leaves the same state: known accounts are updated only where they differ,
    contacts already linked are left alone. A contact belongs to one account in ActiveCampaign: one
    that is in another account is moved only with ``move_contacts=True``; otherwise it stays and is
    listed (once) in the failures report with ``stage`` ``left_in_other_account``.

    :param accounts: Records as a list of dicts (or a JSON string of one). (templated)
    :param source_path: A CSV or JSON Lines file. (templated)
    :param source_format: ``csv`` or ``jsonl``; by default from the file name.
    :param csv_delimiter: CSV delimiter (default ``,``).
    :param encoding: Text encoding of ``source_path``. (templated)
    :param sql: A query whose rows are the records. (templated)
    :param sql_conn_id: The Airflow connection ``sql`` runs on. (templated)
    :param sql_parameters: Query parameters. (templated)
    :param key_field: An account custom field that identifies accounts (label or id) instead of the
        name; its value comes from ``key_column``. (templated)
    :param key_column: The source column holding the key (default ``external_id``). (templated)
    :param move_contacts: Move a contact from the account it is in to the record's account. (templated)
    :param field_map: ``{"source column": "account column or custom field label"}``; ``None`` drops
        a column. (templated)
    :param failures_path: Where rejected records and unlinked contacts go, as JSON Lines. (templated)
    :param max_failure_ratio: Fail if more than this share of records was rejected or failed. (templated)
    """

    template_fields: Sequence[str] = (
        "activecampaign_conn_id",
        "accounts",
        "key_field",
        "key_column",
        "move_contacts",
        *ActiveCampaignRecordsOperator.source_template_fields,
    )

    def __init__(
        self,
        *,
        accounts: Any = None,
        key_field: str | None = None,
        key_column: str = "external_id",
        move_contacts: bool | str = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.accounts = accounts
        self.key_field = key_field
        self.key_column = key_column
        self.move_contacts = move_contacts

    def execute(self, context: Context) -> dict[str, Any]:
        ratio = self.rendered_failure_ratio()
        # The upserter adds a line per contact it could not link: it writes to the records' report.
        report = FailureReport(self.failures_location(context))
        upserter = AccountUpserter(
            self.hook,
            key_field=self.key_field,
            key_column=self.key_column,
            move_contacts=_flag(self.move_contacts),
            report=report.add,
            logger=self.log,
            journal=WriteJournal.for_task(context),
            deadline_seconds=request_deadline_seconds(self.hook),
        )
        failures, path = self.write_records(
            context,
            self.accounts,
            upserter,
            identify=lambda record: {"account": record.get("name")},
            failures=report,
        )
        links = upserter.links
        if links.left_in_other_account:
            self.log.warning(
                "%d contacts belong to another account and were left there (move_contacts=False); "
                "they are listed in %s with stage left_in_other_account.",
                links.left_in_other_account,
                path,
            )
        result = self.finish_records(
            upserter.tally,
            ratio,
            failures,
            path,
            label="Accounts",
            what="account records",
            after=(
                "The other accounts were written; re-running is safe: accounts are found by name or "
                "key first."
            ),
            also=f"; contacts: {links.to_json()}",
        )
        if links.unknown:
            # Retryable on purpose: the retry reads each one back once it has settled.
            raise AirflowException(
                f"{links.unknown} contact link(s) were sent, their answers were lost and they are not "
                f"found yet (listed in {path} with stage unknown); they were not sent again. The "
                "other records were written. A retry reads them back once they have settled "
                "(write_settle_seconds) and links only the contacts still missing."
            )
        return {**result, "contacts": links.to_json()}


def _flag(value: Any) -> bool:
    """A templated boolean (a rendered ``"True"`` is true)."""
    return value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1", "yes")
