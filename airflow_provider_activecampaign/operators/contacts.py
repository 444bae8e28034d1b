"""Operators that push contacts into ActiveCampaign and read changed contacts back out.

They are thin: each ``execute`` hands its (rendered) parameters to a service of
:mod:`airflow_provider_activecampaign.contacts` and returns what it returns. The sync and the
audience sync run on :class:`~airflow_provider_activecampaign.contacts.service.ContactSyncService`,
the export on :mod:`~airflow_provider_activecampaign.contacts.export`, the removals on
:mod:`~airflow_provider_activecampaign.contacts.removal`; see ``docs/operators/contacts.md`` and
``docs/operators/audience-sync.md``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from airflow.exceptions import AirflowProviderDeprecationWarning
from airflow.sdk import Context, ObjectStoragePath, conf
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_activecampaign.contacts.audience import service as audience
from airflow_provider_activecampaign.contacts.audience.plan import PlanMismatchError
from airflow_provider_activecampaign.contacts.export import ContactExporter
from airflow_provider_activecampaign.contacts.mapping import MAX_IMPORT_CONTACTS, find_tag_id
from airflow_provider_activecampaign.contacts.refs import parse_contacts
from airflow_provider_activecampaign.contacts.removal import (
    RemovalApplier,
    RemovalFinder,
    resolve_lists,
    resolve_tags,
)
from airflow_provider_activecampaign.contacts.routing import DEFAULT_SYNC_BELOW
from airflow_provider_activecampaign.contacts.service import (
    AudienceSpec,
    ContactSyncService,
    MappingSpec,
    PendingSync,
    SendingSpec,
    SourceSpec,
    seconds,
)
from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignNotFoundError,
    ActiveCampaignValidationError,
)
from airflow_provider_activecampaign.exports.windows import (
    NoWindowError,
    Window,
    WindowCut,
    api_date_filter,
    as_utc,
    resolve_window,
)
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.hooks.transport.redaction import bounded
from airflow_provider_activecampaign.operators.base import (
    ActiveCampaignBaseOperator,
    check_failure_ratio,
    default_failures_path,
    failure_ratio_message,
)
from airflow_provider_activecampaign.records.journal import WriteJournal
from airflow_provider_activecampaign.records.names import resolve_ids, split_names
from airflow_provider_activecampaign.records.sources import DEFAULT_ENCODING
from airflow_provider_activecampaign.triggers.base import DEFAULT_DEFER_AFTER
from airflow_provider_activecampaign.triggers.contacts import ActiveCampaignBulkImportTrigger

__all__ = [
    "DEFAULT_SYNC_BELOW",
    "ActiveCampaignApplyContactsPlanOperator",
    "ActiveCampaignAudienceSyncOperator",
    "ActiveCampaignExportContactsOperator",
    "ActiveCampaignRemoveTagsOperator",
    "ActiveCampaignSyncContactsOperator",
    "ActiveCampaignUnsubscribeFromListsOperator",
]

#: XCom key of what a deferred sync needs to resume: counts so far and the rows of unfinished batches.
#: (XCom, not the deferral's method kwargs: ``dag.test()`` replaces those with the trigger event.)
DEFERRAL_STATE_XCOM_KEY = "contacts_sync_state"

#: ``ActiveCampaignSyncContactsOperator`` parameters that belong to ``ActiveCampaignAudienceSyncOperator``
#: now, with the value that means "not used".
DEPRECATED_AUDIENCE_PARAMETERS: dict[str, Any] = {
    "only_changed": False,
    "mode": "sync",
    "state_path": None,
    "full_every": None,
    "mirror": False,
    "mirror_tags": None,
    "mirror_lists": None,
    "max_removals": None,
    "plan_path": None,
    "history_path": None,
    "changelog_path": None,
}

_AUDIENCE_TEMPLATE_FIELDS = ("state_path", "plan_path", "history_path", "changelog_path", "max_removals")


class _ContactSyncOperator(ActiveCampaignBaseOperator):
    """The source, mapping and sending parameters both contact syncs share (documented on each)."""

    template_fields: Sequence[str] = (
        *ActiveCampaignBaseOperator.template_fields,
        "contacts",
        "source_path",
        "sql",
        "sql_conn_id",
        "sql_parameters",
        "encoding",
        "field_map",
        "subscribe_lists",
        "unsubscribe_lists",
        "tags",
        "failures_path",
    )
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers = {"contacts": "json", "sql": "sql", "field_map": "json"}

    def __init__(
        self,
        *,
        contacts: Any = None,
        source_path: str | ObjectStoragePath | None = None,
        source_format: str | None = None,
        csv_delimiter: str | None = None,
        encoding: str = DEFAULT_ENCODING,
        sql: str | None = None,
        sql_conn_id: str | None = None,
        sql_parameters: Any = None,
        field_map: Mapping[str, str | None] | None = None,
        subscribe_lists: Sequence[str | int] | str | None = None,
        unsubscribe_lists: Sequence[str | int] | str | None = None,
        tags: Sequence[str] | str | None = None,
        tags_column: str | None = None,
        tag_separator: str = ",",
        exclude_automations: bool = False,
        poll_interval: float = 5.0,
        wait_timeout: timedelta | float = timedelta(hours=6),
        max_pending_batches: int = 100,
        failures_path: str | ObjectStoragePath | None = None,
        max_failure_ratio: float = 0.0,
        batch_size: int = MAX_IMPORT_CONTACTS,
        sync_below: int = DEFAULT_SYNC_BELOW,
        progress_every: int = 10,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.contacts = contacts
        self.source_path = source_path
        self.source_format = source_format
        self.csv_delimiter = csv_delimiter
        self.encoding = encoding
        self.sql = sql
        self.sql_conn_id = sql_conn_id
        self.sql_parameters = sql_parameters
        self.field_map = field_map
        self.subscribe_lists = subscribe_lists
        self.unsubscribe_lists = unsubscribe_lists
        self.tags = tags
        self.tags_column = tags_column
        self.tag_separator = tag_separator
        self.exclude_automations = exclude_automations
        self.poll_interval = float(poll_interval)
        self.wait_timeout = seconds(wait_timeout)
        self.max_pending_batches = max_pending_batches
        self.failures_path = failures_path
        self.max_failure_ratio = check_failure_ratio(max_failure_ratio)
        self.batch_size = batch_size
        self.sync_below = sync_below
        self.progress_every = max(1, progress_every)
        self._source_spec().check()  # a wrong source fails when the DAG is parsed
        self._sending_spec(wait_for_completion=True).check()

    def _source_spec(self) -> SourceSpec:
        return SourceSpec(
            contacts=self.contacts,
            source_path=self.source_path,
            source_format=self.source_format,
            csv_delimiter=self.csv_delimiter,
            encoding=self.encoding,
            sql=self.sql,
            sql_conn_id=self.sql_conn_id,
            sql_parameters=self.sql_parameters,
        )

    def _sending_spec(self, *, wait_for_completion: bool) -> SendingSpec:
        return SendingSpec(
            batch_size=self.batch_size,
            sync_below=self.sync_below,
            progress_every=self.progress_every,
            wait_for_completion=wait_for_completion,
            poll_interval=self.poll_interval,
            wait_timeout=self.wait_timeout,
            max_pending_batches=self.max_pending_batches,
            max_failure_ratio=self.max_failure_ratio,
        )

    def service(
        self, *, wait_for_completion: bool = True, journal: WriteJournal | None = None
    ) -> ContactSyncService:
        """The sync service for this task's (rendered) parameters."""
        mapping = MappingSpec(
            field_map=self.field_map,
            subscribe_lists=self.subscribe_lists,
            unsubscribe_lists=self.unsubscribe_lists,
            tags=self.tags,
            tags_column=self.tags_column,
            tag_separator=self.tag_separator,
            exclude_automations=self.exclude_automations,
        )
        sending = self._sending_spec(wait_for_completion=wait_for_completion)
        return ContactSyncService(
            self.hook,
            self._source_spec(),
            mapping,
            sending,
            logger=self.log,
            operator_name=type(self).__name__,
            journal=journal,
        )

    def failures_location(self, context: Context) -> str:
        return str(self.failures_path or default_failures_path(context))

    #: The audience features and their paths, set by each contact sync operator.
    audience: audience.AudienceOptions
    state_path: Any
    plan_path: Any
    history_path: Any
    changelog_path: Any
    max_removals: Any

    def run_audience(self, context: Context) -> dict[str, Any]:
        """Plan against the state; then, unless ``mode="plan"``, apply that plan."""
        spec = AudienceSpec(
            self.audience,
            state_path=self.state_path,
            plan_path=self.plan_path,
            history_path=self.history_path,
            changelog_path=self.changelog_path,
            max_removals=self.max_removals,
        )
        service = self.service()
        summary = service.plan(context, spec)
        if spec.options.mode == "plan":
            return summary
        return service.apply(context, summary, self.failures_location(context))


class ActiveCampaignSyncContactsOperator(_ContactSyncOperator):
    """Create or update any number of contacts, with custom fields, lists and tags; wait for the result.

    Records come from exactly one source: ``contacts`` (a list of dicts, e.g. an upstream task's
    ``.output``), ``source_path`` (CSV or JSON Lines at any ``ObjectStoragePath`` URI, optionally
    ``.gz``) or ``sql`` + ``sql_conn_id`` (any common-sql database). Everything is streamed: memory
    stays flat whatever the size.

    Columns ``email``, ``first_name``, ``last_name`` and ``phone`` are the contact itself; every other
    column is a custom field named by its title, its personalisation tag (``PLAN`` or ``%PLAN%``) or
    its id, case-insensitively. Unknown columns and lists fail the task before anything is written.
    A record without a valid email, or with a value its field cannot hold, or a file row that is not
    valid in ``encoding``, is rejected (row, field, reason) and the others still go.

    Rows with one email are applied in source order, so the last one wins (a value it leaves empty
    keeps an earlier row's): within a batch they are merged into one contact, across batches the
    importer applies batches in order. Each superseded row is counted in ``duplicates`` and listed
    in the failures report with ``stage`` ``duplicate``, but is no failure. An empty source (no
    rows, or a header only) succeeds with ``records`` 0 and a warning.

    Contacts go to the bulk importer in batches of up to 250 contacts and under 400,000 bytes, at
    its 100 requests a minute; a final batch of fewer than ``sync_below`` contacts goes through
    ``contact/sync``. Both paths upsert by email, so re-running the task changes nothing more, and
    neither re-subscribes a contact who unsubscribed from a list.

    :param contacts: Records as a list of dicts (or a JSON string of one). (templated)
    :param source_path: A CSV (with a header) or JSON Lines file; any ``ObjectStoragePath`` URI or
        local path. Empty CSV cells leave the field untouched. (templated)
    :param source_format: ``csv`` or ``jsonl``; by default from the file name.
    :param csv_delimiter: CSV delimiter (default ``,``; ``\\t`` for ``.tsv``).
    :param encoding: The text encoding of ``source_path`` (any Python codec name, e.g. ``latin-1``
        or ``cp1252``); the default ``utf-8`` drops a UTF-8 BOM. A row with a byte that is not valid
        in it is rejected, naming the file, row and byte offset; the other rows still go. (templated)
    :param sql: A query whose rows are the records; or a ``.sql`` file. (templated)
    :param sql_conn_id: The Airflow connection of the database ``sql`` runs on. (templated)
    :param sql_parameters: Query parameters passed to the driver. (templated)
    :param field_map: ``{"source column": "email" | "first_name" | field title | "%PERSTAG%" | field id}``;
        map a column to ``None`` to leave it out. (templated)
    :param subscribe_lists: List names or ids every contact is subscribed to. (templated)
    :param unsubscribe_lists: List names or ids every contact is unsubscribed from. (templated)
    :param tags: Tag names added to every contact (missing tags are created). (templated)
    :param tags_column: A column holding per-record tags (a list, or a string split on ``tag_separator``).
    :param tag_separator: Separator of tag names in ``tags_column`` strings.
    :param exclude_automations: Ask the importer not to start automations for these contacts. Small
        batches then go through the importer too, since ``contact/sync`` has no such switch.
    :param wait_for_completion: Wait until ActiveCampaign has imported every batch and report each
        contact's outcome. Without it the task ends once everything is submitted.
    :param deferrable: Do the final wait in the triggerer instead of a worker slot.
    :param defer_after: In deferrable mode, keep waiting in the worker for this long (seconds or a
        timedelta) before deferring: the imports of a small sync finish there, without a trip
        through the triggerer (and without apache/airflow#72716's spurious retries).
    :param poll_interval: Longest pause, in seconds, between two status checks of a running import.
    :param wait_timeout: How long to wait for ActiveCampaign to finish importing (seconds or timedelta).
    :param max_pending_batches: Batches submitted but not yet confirmed before submitting pauses;
        bounds memory when ActiveCampaign imports more slowly than it accepts batches.
    :param failures_path: Where every rejected or failed record goes (JSON Lines; any
        ``ObjectStoragePath`` URI or local path). Default: a file under the worker's temp directory
        named after the DAG, task and run. Use shared storage with ``deferrable`` if workers do not
        share a disk. (templated)
    :param max_failure_ratio: Fail the task when (failed + rejected) / records exceeds this (default 0.0:
        any failure fails the task, after every other record has been sent).
    :param batch_size: Contacts per bulk import (1-250).
    :param sync_below: Batches with fewer contacts than this use ``contact/sync`` (0 disables it).
    :param progress_every: Log progress every this many batches (and at least every 30 s).

    Deprecated: ``only_changed``, ``mode``, ``state_path``, ``full_every``, ``mirror``,
    ``mirror_tags``, ``mirror_lists``, ``max_removals``, ``plan_path``, ``history_path`` and
    ``changelog_path`` still work (with an ``AirflowProviderDeprecationWarning``) and do what they
    do on :class:`ActiveCampaignAudienceSyncOperator`; use that operator instead.

    Returns ``{"records", "submitted", "succeeded", "failed", "rejected", "duplicates", "batch_ids",
    "failures_path", "warnings"}`` plus ``"failures"`` (every failure inline) when there are at most
    20; ``records`` counts every row read, ``succeeded`` is ``None`` when not waiting, ``warnings``
    repeats what the log warned about the source (empty, duplicate emails).
    """

    template_fields: Sequence[str] = (*_ContactSyncOperator.template_fields, *_AUDIENCE_TEMPLATE_FIELDS)

    def __init__(
        self,
        *,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        defer_after: timedelta | float = DEFAULT_DEFER_AFTER,
        **kwargs: Any,
    ) -> None:
        given = {name: kwargs.pop(name) for name in DEPRECATED_AUDIENCE_PARAMETERS if name in kwargs}
        super().__init__(**kwargs)
        used = sorted(name for name, value in given.items() if value != DEPRECATED_AUDIENCE_PARAMETERS[name])
        if used:
            warnings.warn(
                f"ActiveCampaignSyncContactsOperator({', '.join(used)}) is deprecated: use "
                "ActiveCampaignAudienceSyncOperator, which takes the same parameters "
                "(see docs/operators/audience-sync.md).",
                AirflowProviderDeprecationWarning,
                stacklevel=2,
            )
        settings = {**DEPRECATED_AUDIENCE_PARAMETERS, **given}
        self.audience = audience.AudienceOptions.build(
            only_changed=settings["only_changed"],
            mode=settings["mode"],
            state_path=settings["state_path"],
            full_every=settings["full_every"],
            mirror=settings["mirror"],
            mirror_tags=settings["mirror_tags"],
            mirror_lists=settings["mirror_lists"],
            max_removals=settings["max_removals"],
            wait_for_completion=wait_for_completion,
        )
        self.state_path = settings["state_path"]
        self.plan_path = settings["plan_path"]
        self.history_path = settings["history_path"]
        self.changelog_path = settings["changelog_path"]
        self.max_removals = settings["max_removals"]
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.defer_after = seconds(defer_after)

    def execute(self, context: Context) -> dict[str, Any]:
        if self.audience.enabled:  # the deprecated parameters: what ActiveCampaignAudienceSyncOperator does
            return self.run_audience(context)
        with WriteJournal.for_task(context) as journal:
            outcome = self.service(wait_for_completion=self.wait_for_completion, journal=journal).run(
                self.failures_location(context), defer_after=self.defer_after if self.deferrable else None
            )
        if isinstance(outcome, PendingSync):
            context["ti"].xcom_push(key=DEFERRAL_STATE_XCOM_KEY, value=outcome.state)
            self.defer(
                trigger=ActiveCampaignBulkImportTrigger(
                    batch_ids=outcome.batch_ids,
                    activecampaign_conn_id=self.activecampaign_conn_id,
                    poll_interval=self.poll_interval,
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=self.wait_timeout),
            )
        return outcome  # a PendingSync deferred above

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Merge the imports the trigger waited for into the counts from before the deferral."""
        if event.get("status") != "success":
            raise AirflowException(f"Waiting for the bulk imports failed: {event.get('message')}")
        ti = context["ti"]
        state = ti.xcom_pull(task_ids=ti.task_id, key=DEFERRAL_STATE_XCOM_KEY, map_indexes=ti.map_index)
        if not state:
            raise AirflowException(
                f"The task resumed without the state it saved in XCom {DEFERRAL_STATE_XCOM_KEY!r} "
                "before deferring; re-run it (safe: the importer upserts by email)."
            )
        result = self.service(wait_for_completion=self.wait_for_completion).resume(state, event)
        # The saved rows hold email addresses: keep them in XCom no longer than needed.
        ti.xcom_push(key=DEFERRAL_STATE_XCOM_KEY, value=None)
        return result


class ActiveCampaignAudienceSyncOperator(_ContactSyncOperator):
    """Sync an audience: only the rows that changed, mirrored (with caps), optionally planned for approval.

    The records, columns, lists and tags work exactly as in ``ActiveCampaignSyncContactsOperator``
    (same parameters, same rules: see there). On top, the sync keeps a state at ``state_path``:
    what it last sent and ActiveCampaign confirmed. Each run plans first (every row to send, every
    removal; reads only) and then applies that plan, or with ``mode="plan"`` returns the plan for
    ``ActiveCampaignApplyContactsPlanOperator`` to apply once approved. The state is committed only
    once ActiveCampaign confirmed the imports, so the task always waits for them in the worker. See
    ``docs/operators/audience-sync.md``.

    :param only_changed: Send only rows whose mapped payload changed since ActiveCampaign last
        confirmed them (default); ``False`` sends every row (e.g. a mirror-only sync).
    :param mode: ``sync`` (default: plan, then apply) or ``plan``: write the plan and return it
        without writing to ActiveCampaign.
    :param state_path: Where this sync keeps what it last sent (any ``ObjectStoragePath``; one per
        sync). A missing or damaged file means one full sync. Needed by ``only_changed`` and
        ``mirror``. (templated)
    :param full_every: Resend every row when this much time (a timedelta) or this many runs (an
        int) passed since the last full sync.
    :param mirror: Take ``mirror_tags`` / ``mirror_lists`` (default: ``tags`` / ``subscribe_lists``)
        off contacts this sync sent before that left the source (never deletes, never re-subscribes).
    :param mirror_tags: Tags the mirror removes (names).
    :param mirror_lists: Lists the mirror unsubscribes from (names or ids).
    :param max_removals: Most contacts that may leave in one run: a count, a ratio of the contacts
        synced before, or ``{"count": n, "ratio": r}`` (default ratio 0.1); exceeded fails the run
        before anything is sent or removed. (templated)
    :param plan_path: Where the plan goes (default beside the state). (templated)
    :param history_path: The JSON Lines history, one record per run (default
        ``<state_path>.history.jsonl``). (templated)
    :param changelog_path: One JSON line per row of this run (optional). (templated)
    :param max_failure_ratio: Fail when (failed + rejected + failed removals) / rows exceeds this.

    Returns the plan's summary (``plan_path``, ``plan_digest``, ``counts``, ``sample`` ...) with
    ``mode="plan"``; else the sync's counts with ``counts``, ``removals`` and ``history``.
    """

    template_fields: Sequence[str] = (*_ContactSyncOperator.template_fields, *_AUDIENCE_TEMPLATE_FIELDS)

    def __init__(
        self,
        *,
        only_changed: bool = True,
        mode: str = "sync",
        state_path: str | ObjectStoragePath | None = None,
        full_every: timedelta | int | None = None,
        mirror: bool = False,
        mirror_tags: Sequence[str] | str | None = None,
        mirror_lists: Sequence[str | int] | str | None = None,
        max_removals: Any = None,
        plan_path: str | ObjectStoragePath | None = None,
        history_path: str | ObjectStoragePath | None = None,
        changelog_path: str | ObjectStoragePath | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.audience = audience.AudienceOptions.build(
            only_changed=only_changed,
            mode=mode,
            state_path=state_path,
            full_every=full_every,
            mirror=mirror,
            mirror_tags=mirror_tags,
            mirror_lists=mirror_lists,
            max_removals=max_removals,
            wait_for_completion=True,
        )
        if not self.audience.enabled:
            raise ValueError(
                "Nothing for an audience sync to do: set only_changed, mirror or mode='plan' (or use "
                "ActiveCampaignSyncContactsOperator for a plain sync)."
            )
        self.state_path = state_path
        self.plan_path = plan_path
        self.history_path = history_path
        self.changelog_path = changelog_path
        self.max_removals = max_removals

    def execute(self, context: Context) -> dict[str, Any]:
        return self.run_audience(context)


# --------------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------------


class ActiveCampaignExportContactsOperator(ActiveCampaignBaseOperator):
    """Write the contacts created or updated in a time window to a JSON Lines file.

    By default the window is the run's data interval, its start moved earlier by ``overlap`` so a
    contact updated on a boundary is never missed (consecutive runs then share a few contacts;
    within one file every contact appears once). Contacts are read 100 per request in id order
    (``id_greater``), with their custom fields keyed by field title, and, on request, their list
    memberships and tags.

    :param output_path: Where to write (any ``ObjectStoragePath`` URI or local path). (templated)
    :param updated_after: Start of the window (datetime or ISO string). Default: the data interval's
        start. (templated)
    :param updated_before: End of the window. Default: the data interval's end. (templated)
    :param use_data_interval: Take missing window bounds from the run's data interval. With
        ``False`` and no bounds, every contact (matching the other filters) is exported.
    :param overlap: How much earlier than ``updated_after`` to start (seconds or timedelta).
    :param list_id: Only contacts on this list (name or id). (templated)
    :param tag: Only contacts with this tag (name or id). (templated)
    :param email: Only the contact with this email. (templated)
    :param include_lists: Add ``lists``: ``[{"id", "name", "status"}]``, as read. Whether a list
        change alone moves a contact's ``udate`` (and so brings it into a window) is not
        documented: export ``contact_lists`` to follow memberships.
    :param include_tags: Add ``tags``: tag names, as read (tag changes: export ``contact_tags``).
    :param parallel_reads: Pages read at once, over disjoint id ranges (the account's rate limit
        still applies to the total); more than one keeps slow round trips from limiting the export.

    Returns ``{"path", "count", "updated_after", "updated_before"}``.
    """

    template_fields: Sequence[str] = (
        *ActiveCampaignBaseOperator.template_fields,
        "output_path",
        "updated_after",
        "updated_before",
        "list_id",
        "tag",
        "email",
    )

    def __init__(
        self,
        *,
        output_path: str | ObjectStoragePath,
        updated_after: datetime | str | None = None,
        updated_before: datetime | str | None = None,
        use_data_interval: bool = True,
        overlap: timedelta | float = timedelta(minutes=5),
        list_id: str | int | None = None,
        tag: str | int | None = None,
        email: str | None = None,
        include_lists: bool = False,
        include_tags: bool = False,
        parallel_reads: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if parallel_reads < 1:
            raise ValueError("parallel_reads must be at least 1.")
        self.parallel_reads = parallel_reads
        self.output_path = output_path
        self.updated_after = updated_after
        self.updated_before = updated_before
        self.use_data_interval = use_data_interval
        self.overlap = seconds(overlap)
        if self.overlap < 0:
            raise ValueError("overlap must not be negative.")
        self.list_id = list_id
        self.tag = tag
        self.email = email
        self.include_lists = include_lists
        self.include_tags = include_tags

    def _window(self, context: Context) -> Window:
        """The exact window, its start moved earlier by ``overlap``; bounds read by the one date rule."""
        try:
            after, before = resolve_window(
                context,
                updated_after=self.updated_after,
                updated_before=self.updated_before,
                use_data_interval=self.use_data_interval,
                log=self.log,
            )
        except NoWindowError:
            raise AirflowFailException(
                "This run has no data interval (e.g. a manual run of an unscheduled DAG). Pass "
                "updated_after/updated_before, or use_data_interval=False to export every contact."
            ) from None
        bounds: dict[str, datetime | None] = {}
        for name, value in (("updated_after", after), ("updated_before", before)):
            try:
                bounds[name] = as_utc(value) if value is not None else None
            except (ValueError, TypeError):
                raise AirflowFailException(
                    f"{name}={bounded(value)} is not a date or datetime: pass ISO 8601 ('2024-03-01', "
                    "'2024-03-01T00:00:00+00:00') or a datetime, or leave it empty to use the run's "
                    "data interval."
                ) from None
        start, end = bounds["updated_after"], bounds["updated_before"]
        if start is not None and self.overlap:
            start -= timedelta(seconds=self.overlap)
        if start is not None and end is not None and end < start:
            raise AirflowFailException(
                f"The window ends ({end.isoformat()}) before it starts ({start.isoformat()})."
            )
        return Window(start, end)

    def execute(self, context: Context) -> dict[str, Any]:
        hook = self.hook
        window = self._window(context)
        # The reference declares these filters as dates (SPEC GET /contacts, format: date) and
        # integrators report the time part is not honoured: dates wide enough for any account
        # offset and either comparison, then the exact window is cut on each contact's own udate.
        after, before = api_date_filter(window)
        params: dict[str, Any] = {}
        if after:
            params["filters[updated_after]"] = after
        if before:
            params["filters[updated_before]"] = before
        if self.list_id not in (None, ""):
            wanted = str(self.list_id).strip()
            try:
                params["listid"] = resolve_ids(hook, "lists", key="lists", wanted=[wanted], kind="list")[
                    wanted
                ]
            except ActiveCampaignNotFoundError as error:
                raise AirflowFailException(str(error)) from None
        if self.tag not in (None, ""):
            params["tagid"] = self._tag_id(hook, str(self.tag).strip())
        if self.email:
            params["email"] = str(self.email).strip()
        path = ObjectStoragePath(str(self.output_path))
        if getattr(path, "protocol", "") in ("", "file"):
            path.parent.mkdir(parents=True, exist_ok=True)
        start_text = window.start.isoformat() if window.start else None
        end_text = window.end.isoformat() if window.end else None
        self.log.info(
            "Exporting contacts updated in [%s, %s)%s to %s.",
            start_text or "the beginning",
            end_text or "now",
            "".join(f", {k}={v}" for k, v in params.items()),
            path,
        )
        cut = None if window.is_open else WindowCut(window, "udate", log=self.log)
        if cut is not None and (self.include_lists or self.include_tags):
            self.log.info(
                "Lists and tags are those of the contacts updated in the window; a list or tag "
                "change alone may not move a contact's udate (ActiveCampaign does not say), so "
                "export contact_lists / contact_tags (ActiveCampaignExportOperator) to follow them."
            )
        exporter = ContactExporter(
            hook,
            include_lists=self.include_lists,
            include_tags=self.include_tags,
            parallel=self.parallel_reads,
            logger=self.log,
            keep=cut,
        )
        started = time.monotonic()
        with path.open("w", encoding="utf-8") as handle:
            count = exporter.export(handle, params)
        elapsed = time.monotonic() - started
        if cut is not None:
            self._report_cut(cut)
        self.log.info(
            "Exported %d contacts to %s in %.1f s (%.0f contacts/s).",
            count,
            path,
            elapsed,
            count / max(elapsed, 1e-9),
        )
        return {"path": str(path), "count": count, "updated_after": start_text, "updated_before": end_text}

    def _report_cut(self, cut: WindowCut) -> None:
        self.log.info(
            "Read %d contacts from the day-wide date filter; %d were outside the exact window.",
            cut.read,
            cut.outside,
        )
        if cut.unreadable:
            self.log.warning(
                "%d contacts had a udate that is not a date; they were exported whatever the window.",
                cut.unreadable,
            )
        if cut.filter_ignored:
            self.log.warning(
                "GET /contacts ignored its date filter: its first page held contacts far outside the "
                "window. The window was cut on udate locally (correct, but every contact was read)."
            )

    @staticmethod
    def _tag_id(hook: ActiveCampaignHook, tag: str) -> str:
        found = find_tag_id(hook, tag)
        if found is not None:
            return found
        if tag.isdigit():
            return tag
        raise AirflowFailException(
            f"Unknown tag {tag!r}: no tag has this name. Pass an existing tag's name or id."
        )


# --------------------------------------------------------------------------------------------------
# Plan, then apply
# --------------------------------------------------------------------------------------------------


class ActiveCampaignApplyContactsPlanOperator(ActiveCampaignBaseOperator):
    """Apply exactly the plan a ``mode="plan"`` sync wrote (and someone approved), then commit its state.

    The plan file is checked against the digest the plan task returned, and the sync state against
    the one the plan was made from: a plan edited since, or one made before another run committed,
    is refused with nothing applied. Rows ActiveCampaign did not confirm stay due for the next run.
    See ``docs/operators/audience-sync.md``.

    :param plan: The plan task's return value (``{{ ti.xcom_pull(task_ids='plan') }}`` or
        ``plan_task.output``), or a plan path with ``plan_digest``. (templated)
    :param plan_digest: The plan's SHA-256, when ``plan`` is a path. (templated)
    :param failures_path: Where failed and rejected rows go (JSON Lines). (templated)
    :param max_failure_ratio: Fail when (failed + rejected + failed removals) / rows exceeds this.
    :param poll_interval: Longest pause between two status checks of a running import.
    :param wait_timeout: How long to wait for ActiveCampaign to finish importing.

    Returns the counts sent, confirmed, failed and rejected, the removals made, the history record.
    """

    template_fields: Sequence[str] = (
        *ActiveCampaignBaseOperator.template_fields,
        "plan",
        "plan_digest",
        "failures_path",
    )

    def __init__(
        self,
        *,
        plan: Any,
        plan_digest: str | None = None,
        failures_path: str | ObjectStoragePath | None = None,
        max_failure_ratio: float = 0.0,
        poll_interval: float = 5.0,
        wait_timeout: timedelta | float = timedelta(hours=6),
        max_pending_batches: int = 100,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.plan_digest = plan_digest
        self.failures_path = failures_path
        self.max_failure_ratio = check_failure_ratio(max_failure_ratio)
        self.poll_interval = float(poll_interval)
        self.wait_timeout = seconds(wait_timeout)
        self.max_pending_batches = max_pending_batches

    def execute(self, context: Context) -> dict[str, Any]:
        try:
            return audience.apply_contacts_plan(
                self.hook,
                self.plan,
                context,
                plan_digest=self.plan_digest,
                failures_path=str(self.failures_path or default_failures_path(context)),
                max_failure_ratio=self.max_failure_ratio,
                poll_interval=self.poll_interval,
                wait_timeout=self.wait_timeout,
                max_pending_batches=self.max_pending_batches,
                logger=self.log,
            )
        except PlanMismatchError as error:
            raise AirflowFailException(str(error)) from None


# --------------------------------------------------------------------------------------------------
# Removal
# --------------------------------------------------------------------------------------------------


class _RemovalOperator(ActiveCampaignBaseOperator):
    """Shared by the tag and list removal operators: contacts by email, names resolved first."""

    template_fields: Sequence[str] = (*ActiveCampaignBaseOperator.template_fields, "contacts")
    template_fields_renderers = {"contacts": "json"}
    _what = ""

    def __init__(
        self, *, contacts: Any, dry_run: bool = False, max_failure_ratio: float = 0.0, **kwargs: Any
    ):
        super().__init__(**kwargs)
        self.contacts = contacts
        self.only_find = dry_run
        self.max_failure_ratio = check_failure_ratio(max_failure_ratio)

    def _targets(self, hook: ActiveCampaignHook) -> tuple[dict[str, str], dict[str, str]]:
        raise NotImplementedError

    def execute(self, context: Context) -> dict[str, Any]:
        hook = self.hook
        try:
            parsed = parse_contacts(self.contacts)
            tags, lists = self._targets(hook)
        except (TypeError, ValueError, ActiveCampaignNotFoundError, ActiveCampaignValidationError) as error:
            raise AirflowFailException(str(error)) from None
        emails = [ref.email for ref in parsed.refs if ref.email]
        invalid = list(parsed.invalid) + [
            {
                "contact": ref.key,
                "reason": "give the contact's email address (removal looks contacts up by email)",
            }
            for ref in parsed.refs
            if not ref.email
        ]
        finder = RemovalFinder(hook, tags=tags, lists=lists, logger=self.log)
        removals = list(finder.find(emails))
        self.log.info(
            "%d contacts: %d %s to make (read in %d requests, %s).",
            len(emails),
            len(removals),
            self._what,
            finder.reads,
            finder.strategy or "nothing to read",
        )
        result: dict[str, Any] = {
            "contacts": len(emails),
            "invalid": invalid,
            "planned": len(removals),
            "reads": finder.reads,
            "dry_run": self.only_find,
            "sample": [r.to_json() for r in removals[:20]],
        }
        if self.only_find:
            return result
        counts = RemovalApplier(hook, logger=self.log).apply(removals)
        result.update(counts.to_json())
        problems = counts.failed + len(invalid)
        total = max(len(emails) + len(invalid), 1)
        if problems and problems / total > self.max_failure_ratio:
            summary = failure_ratio_message(
                problems, total, self.max_failure_ratio, what="contacts", happened="failed or were invalid"
            )
            raise AirflowFailException(
                f"{summary}. First: {bounded((counts.failures or invalid)[:5], 2000)}. The others were done."
            )
        return result


class ActiveCampaignRemoveTagsOperator(_RemovalOperator):
    """Take tags (by name) off any number of contacts (by email); idempotent, never deletes a contact.

    Deletes each contactTag join (``DELETE /contactTags/{id}``: the join's id, looked up, not the
    tag's id). A contact without the tag needs no request, so running it again writes nothing.

    :param contacts: Emails, or records with an ``email`` (a list, an upstream XCom). (templated)
    :param tags: Tag names (or ids) to take off. (templated)
    :param dry_run: Only find and return what would be removed.
    :param max_failure_ratio: Fail when failed removals / contacts exceeds this.

    Returns ``{"contacts", "planned", "untagged", "already_done", "failed", "failures", "reads", ...}``.
    """

    template_fields: Sequence[str] = (*_RemovalOperator.template_fields, "tags")
    _what = "tag removals"

    def __init__(self, *, tags: Sequence[str] | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tags = tags

    def _targets(self, hook: ActiveCampaignHook) -> tuple[dict[str, str], dict[str, str]]:
        return resolve_tags(hook, split_names(self.tags)), {}


class ActiveCampaignUnsubscribeFromListsOperator(_RemovalOperator):
    """Unsubscribe any number of contacts (by email) from lists (by name); idempotent.

    Sends ``POST /contactLists`` with status 2 only for contacts still subscribed; never status 1,
    so nobody is re-subscribed, and never deletes a contact.

    :param contacts: Emails, or records with an ``email`` (a list, an upstream XCom). (templated)
    :param lists: List names (or ids). (templated)
    :param dry_run: Only find and return what would be unsubscribed.
    :param max_failure_ratio: Fail when failed unsubscribes / contacts exceeds this.

    Returns ``{"contacts", "planned", "unsubscribed", "already_done", "failed", "failures", "reads", ...}``.
    """

    template_fields: Sequence[str] = (*_RemovalOperator.template_fields, "lists")
    _what = "unsubscribes"

    def __init__(self, *, lists: Sequence[str | int] | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lists = lists

    def _targets(self, hook: ActiveCampaignHook) -> tuple[dict[str, str], dict[str, str]]:
        return {}, resolve_lists(hook, split_names(self.lists))
