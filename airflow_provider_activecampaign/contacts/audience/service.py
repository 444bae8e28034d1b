"""The audience sync, end to end: plan a contact sync against its state, apply a plan, commit, record.

What the operators call (they stay thin): :func:`plan_contacts` writes the plan (a dry run by
itself), :func:`apply_contacts_plan` applies exactly a plan file whose digest matches, commits
the state only once ActiveCampaign confirmed every batch, and appends the run to the history.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_activecampaign.contacts.audience.history import (
    Changelog,
    append_history,
    counting_throttled_seconds,
)
from airflow_provider_activecampaign.contacts.audience.mirror import RemovalCap, RemovalCapExceededError
from airflow_provider_activecampaign.contacts.audience.plan import PlanFile, PlanMismatchError, PlanWriter
from airflow_provider_activecampaign.contacts.audience.planner import (
    ContactPlanApplier,
    ContactPlanner,
    Mirror,
    TrackingFailureLog,
)
from airflow_provider_activecampaign.contacts.audience.state import load_state, save_state, state_digest
from airflow_provider_activecampaign.contacts.mapping import ContactBuilder, find_tag_id
from airflow_provider_activecampaign.contacts.removal import resolve_lists
from airflow_provider_activecampaign.contacts.routing import DEFAULT_SYNC_BELOW, BatchRouter
from airflow_provider_activecampaign.contacts.sync import (
    ImportPipeline,
    ProgressReporter,
    SmallBatchWriter,
    SyncTally,
)
from airflow_provider_activecampaign.exceptions import ActiveCampaignError, ActiveCampaignNotFoundError
from airflow_provider_activecampaign.records.journal import WriteJournal
from airflow_provider_activecampaign.records.names import split_names
from airflow_provider_activecampaign.records.paths import safe_path_part as _safe
from airflow_provider_activecampaign.records.ratio import failure_ratio_message

MODES = ("sync", "plan")


def _templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


@dataclass(frozen=True)
class AudienceOptions:
    """The operator's only-changes / mirror / plan options, checked when the DAG is parsed."""

    only_changed: bool = False
    mode: str = "sync"
    full_every: timedelta | int | None = None
    mirror: bool = False
    mirror_tags: Sequence[str] | str | None = None
    mirror_lists: Sequence[str | int] | str | None = None

    @property
    def enabled(self) -> bool:
        return self.only_changed or self.mirror or self.mode == "plan"

    @classmethod
    def build(
        cls,
        *,
        only_changed: bool,
        mode: str,
        state_path: Any,
        full_every: timedelta | int | None,
        mirror: bool,
        mirror_tags: Any,
        mirror_lists: Any,
        max_removals: Any,
        wait_for_completion: bool,
    ) -> AudienceOptions:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}.")
        options = cls(bool(only_changed), mode, full_every, bool(mirror), mirror_tags, mirror_lists)
        if not options.enabled:
            return options
        if (only_changed or mirror) and not state_path:
            raise ValueError(
                "only_changed and mirror need a state_path: where the sync keeps what it last sent "
                "(any ObjectStoragePath URI, one per sync)."
            )
        if not wait_for_completion:
            raise ValueError(
                "only_changed, mirror and mode='plan' need wait_for_completion=True: the state records "
                "a row only once ActiveCampaign confirmed it."
            )
        if not isinstance(full_every, timedelta | None) and (
            isinstance(full_every, bool) or not isinstance(full_every, int) or full_every < 1
        ):
            raise ValueError("full_every must be a timedelta or a number of runs (1 or more).")
        if not _templated(max_removals):
            RemovalCap.parse(max_removals)
        return options


def resolve_mirror(
    hook: Any, options: AudienceOptions, *, tags: Sequence[str], lists: Sequence[str], max_removals: Any
) -> Mirror | None:
    """The tags and lists the mirror takes off departed contacts (by default the sync's own)."""
    if not options.mirror:
        return None
    tag_names = split_names(options.mirror_tags) if options.mirror_tags is not None else list(tags)
    list_names = split_names(options.mirror_lists) if options.mirror_lists is not None else list(lists)
    try:
        cap = RemovalCap.parse(max_removals)
        list_ids = resolve_lists(hook, list_names)
    except (ValueError, ActiveCampaignNotFoundError) as error:
        raise AirflowFailException(str(error)) from None
    tag_ids: dict[str, str] = {}
    for name in tag_names:
        found = find_tag_id(hook, name)
        if found is not None:  # a tag that does not exist yet is on nobody: nothing to take off
            tag_ids[found] = name
    return Mirror(tags=tag_ids, lists=list_ids, cap=cap)


def _run_name(context: Mapping[str, Any]) -> str:
    ti = context["ti"]
    name = f"{_safe(ti.dag_id)}__{_safe(ti.task_id)}__{_safe(ti.run_id)}"
    map_index = getattr(ti, "map_index", -1)
    return f"{name}-{map_index}" if map_index is not None and map_index >= 0 else name


def default_plan_path(context: Mapping[str, Any], state_path: Any) -> str:
    """Beside the state (``<state>.plans/<dag>__<task>__<run>.plan.jsonl.gz``), or in the temp dir."""
    folder = f"{state_path}.plans" if state_path else f"{tempfile.gettempdir()}/airflow-activecampaign/plans"
    return f"{folder}/{_run_name(context)}.plan.jsonl.gz"


def _is_full(loaded: Any, options: AudienceOptions, now: datetime) -> tuple[bool, str]:
    meta = loaded.state.meta
    if loaded.problem:
        return True, f"the state could not be used ({loaded.problem})"
    if not meta.get("last_run_at"):
        return True, "first run: there is no state yet"
    if not options.only_changed:
        return True, "only_changed is off: every row is sent"
    every = options.full_every
    if isinstance(every, timedelta):
        last = meta.get("last_full_at")
        if not last or now - datetime.fromisoformat(last) >= every:
            return True, f"full_every={every}: the last full sync was at {last}"
    elif isinstance(every, int) and int(meta.get("runs_since_full", 0)) + 1 >= every:
        return (
            True,
            f"full_every={every} runs: {meta.get('runs_since_full', 0)} runs since the last full sync",
        )
    return False, "only rows that changed since the last sync"


def plan_contacts(
    hook: Any,
    source: Any,
    builder: ContactBuilder,
    options: AudienceOptions,
    context: Mapping[str, Any],
    *,
    state_path: Any,
    plan_path: Any,
    history_path: Any,
    changelog_path: Any,
    mirror: Mirror | None,
    settings: Mapping[str, Any],
    logger: Any = None,
) -> dict[str, Any]:
    """Write the plan; returns its summary (path, digest, counts, sample) for XCom."""
    log = logger or logging.getLogger(__name__)
    started = time.monotonic()
    now = datetime.now(UTC)
    state_file = ObjectStoragePath(str(state_path)) if state_path else None
    load_started = time.monotonic()
    loaded = load_state(state_file) if state_file is not None else load_state(_Missing())
    load_seconds = time.monotonic() - load_started
    if loaded.problem:
        log.warning("The sync state is not usable, so this run is a full sync: %s", loaded.problem)
    full, full_reason = _is_full(loaded, options, now)
    planner = ContactPlanner(hook, builder, loaded, full=full, mirror=mirror, logger=log)
    path = ObjectStoragePath(str(plan_path or default_plan_path(context, state_path)))
    writer = PlanWriter(path)
    try:
        counts = planner.plan(source, writer)
    except RemovalCapExceededError as error:
        writer.close()
        raise AirflowFailException(str(error)) from None
    except BaseException:
        writer.close()
        raise
    ti = context["ti"]
    header = {
        "sync": "contacts",
        "created_at": now.isoformat(),
        "dag_id": ti.dag_id,
        "run_id": ti.run_id,
        "task_id": ti.task_id,
        "source": source.description,
        "state_path": str(state_file) if state_file is not None else None,
        "state_digest": loaded.digest,
        "state_keys": len(loaded.state),
        "full": full,
        "full_reason": full_reason,
        "counts": counts.to_json(),
        "mirror": None
        if mirror is None
        else {"tags": mirror.tags, "lists": mirror.lists, "max_removals": mirror.cap.to_json()},
        "history_path": str(history_path or (f"{state_file}.history.jsonl" if state_file else "")) or None,
        "changelog_path": str(changelog_path) if changelog_path else None,
        "settings": dict(settings),
        "sample": planner.sample.items,
    }
    digest = writer.finish(header)
    plan_seconds = time.monotonic() - started
    c = counts
    log.info(
        "Plan %s (%s): %d rows; send %d (%d new, %d changed, %d retried, %d resent), %d unchanged, %d "
        "rejected (%d unchanged since rejected); %d left the source: %d untags, %d unsubscribes.",
        path,
        full_reason,
        c.rows,
        c.sends,
        c.creates,
        c.updates,
        c.retries,
        c.resends,
        c.unchanged,
        c.rejected,
        c.rejected_unchanged,
        c.departed,
        c.untags,
        c.unsubscribes,
    )
    return {
        "plan_path": str(path),
        "plan_digest": digest,
        "state_path": header["state_path"],
        "state_digest": loaded.digest,
        "full": full,
        "full_reason": full_reason,
        "counts": counts.to_json(),
        "sample": planner.sample.items,
        "history_path": header["history_path"],
        "plan_seconds": round(plan_seconds, 3),
        "state_load_seconds": round(load_seconds, 3),
        "removal_reads": planner.removal_reads,
    }


class _Missing:
    """Stands for "no state file" when a plan runs without a state_path (a first-sync dry run)."""

    def exists(self) -> bool:
        return False


def plan_reference(plan: Any, plan_digest: str | None = None) -> tuple[str, str]:
    """``(path, digest)`` from a plan task's XCom (a dict, or its JSON) or a path plus ``plan_digest``."""
    if isinstance(plan, str) and plan.strip().startswith("{"):
        import json

        plan = json.loads(plan)
    if isinstance(plan, Mapping):
        path, digest = plan.get("plan_path"), plan_digest or plan.get("plan_digest")
    else:
        path, digest = plan, plan_digest
    if not path or not digest:
        raise AirflowFailException(
            "Apply needs the plan task's result (its XCom: plan_path and plan_digest), or plan_path plus "
            "plan_digest: a plan is applied only when it is the exact file that was planned."
        )
    return str(path), str(digest)


def _journal(context: Mapping[str, Any]) -> WriteJournal:
    """The task's write journal; outside a task (no ``ti``), a throwaway one."""
    if context.get("ti") is not None:
        return WriteJournal.for_task(context)
    return WriteJournal(tempfile.mkdtemp(prefix="ac-journal-"), "apply")


def apply_contacts_plan(
    hook: Any,
    plan: Any,
    context: Mapping[str, Any],
    *,
    failures_path: str,
    plan_digest: str | None = None,
    max_failure_ratio: float = 0.0,
    poll_interval: float = 5.0,
    wait_timeout: float = 6 * 3600.0,
    max_pending_batches: int = 100,
    progress_every: int = 10,
    logger: Any = None,
) -> dict[str, Any]:
    """Apply exactly the plan (digest checked), commit the state, append the history."""
    log = logger or logging.getLogger(__name__)
    path, digest = plan_reference(plan, plan_digest)
    started = time.monotonic()
    failures_file = ObjectStoragePath(str(failures_path))
    with PlanFile(ObjectStoragePath(path), digest) as plan_file:
        header = plan_file.header
        state_file = ObjectStoragePath(header["state_path"]) if header.get("state_path") else None
        if state_file is not None and state_digest(state_file) != header.get("state_digest"):
            raise PlanMismatchError(
                f"The sync state {state_file} changed after this plan was made (another run committed "
                "since). Nothing was applied.",
                hint="Plan again: a plan is only correct against the state it was made from.",
            )
        settings = header.get("settings") or {}
        changelog = Changelog(
            ObjectStoragePath(header["changelog_path"]) if header.get("changelog_path") else None
        )
        tally = SyncTally(total=int(header["counts"]["sends"]))
        with (
            TrackingFailureLog(failures_file) as failures,
            changelog,
            counting_throttled_seconds() as throttle,
            _journal(context) as journal,
        ):
            progress = ProgressReporter(tally, log, failures=failures, every_batches=progress_every)
            pipeline = ImportPipeline(
                hook,
                failures,
                tally,
                progress,
                poll_interval=poll_interval,
                max_pending=max_pending_batches,
                wait_timeout=wait_timeout,
                logger=log,
            )
            small = SmallBatchWriter(
                hook,
                failures,
                tally,
                progress,
                list_names=settings.get("list_names") or {},
                logger=log,
                journal=journal,
            )
            send = BatchRouter(
                pipeline,
                small,
                sync_below=int(settings.get("sync_below", DEFAULT_SYNC_BELOW)),
                exclude_automations=bool(settings.get("exclude_automations")),
            )
            applier = ContactPlanApplier(
                hook,
                plan_file,
                failures,
                send=send,
                drain=pipeline.drain,
                batch_size=int(settings.get("batch_size", 250)),
                changelog=changelog,
                logger=log,
            )
            with pipeline:
                try:
                    outcome = applier.apply()
                except ActiveCampaignError as error:
                    error.amend(
                        "Nothing was recorded in the sync state: the next run sends these rows again "
                        "(safe: the importer and contact/sync upsert by email)."
                    )
                    raise
        commit_seconds = 0.0
        if state_file is not None:
            commit_started = time.monotonic()
            loaded = load_state(state_file)
            meta = dict(loaded.state.meta)
            now = datetime.now(UTC).isoformat()
            meta["last_run_at"] = now
            if header.get("full"):
                meta["last_full_at"] = now
                meta["runs_since_full"] = 0
            else:
                meta["runs_since_full"] = int(meta.get("runs_since_full", 0)) + 1
            meta["last_plan"] = path
            save_state(state_file, loaded.state.evolve(outcome.changes, meta))
            commit_seconds = time.monotonic() - commit_started
    counts = header["counts"]
    removals = outcome.removals
    result: dict[str, Any] = {
        "plan_path": path,
        "plan_digest": digest,
        "full": header.get("full"),
        "records": counts["rows"],
        "counts": counts,
        "submitted": tally.submitted,
        "succeeded": outcome.confirmed,
        "failed": failures.failed,
        "rejected": failures.rejected,
        "rejected_unchanged": counts.get("rejected_unchanged", 0),
        "unchanged": counts.get("unchanged", 0),
        "removals": removals.to_json(),
        "batch_ids": list(tally.batch_ids),
        "failures_path": str(failures_file),
        "state_path": header.get("state_path"),
        "history_path": header.get("history_path"),
    }
    if failures.count <= 20:
        result["failures"] = list(failures.first)
    record = {
        "run_at": datetime.now(UTC).isoformat(),
        "dag_id": header.get("dag_id"),
        "run_id": header.get("run_id"),
        "applied_by": getattr(context.get("ti"), "task_id", None),
        "full": header.get("full"),
        "full_reason": header.get("full_reason"),
        "counts": counts,
        "sent": outcome.sent,
        "confirmed": outcome.confirmed,
        "failed": failures.failed,
        "rejected": failures.rejected,
        "removals": {k: v for k, v in removals.to_json().items() if k != "failures"},
        "batches": tally.batches,
        "small_batches": tally.small_batches,
        "durations": {
            "send_seconds": round(outcome.send_seconds, 3),
            "removal_seconds": round(outcome.removal_seconds, 3),
            "commit_seconds": round(commit_seconds, 3),
            "apply_seconds": round(time.monotonic() - started, 3),
        },
        "throttled_seconds": round(throttle.seconds, 3),
        "plan_path": path,
        "plan_digest": digest,
        "failures_path": str(failures_file),
        "changelog_path": header.get("changelog_path"),
    }
    if header.get("history_path"):
        append_history(ObjectStoragePath(header["history_path"]), record)
    result["history"] = record
    log.info(
        "Applied plan %s: %d sent, %d confirmed, %d failed, %d rejected; %d untagged, %d unsubscribed "
        "(%d already done, %d failed).",
        path,
        outcome.sent,
        outcome.confirmed,
        failures.failed,
        failures.rejected,
        removals.untagged,
        removals.unsubscribed,
        removals.already_done,
        removals.failed,
    )
    problems = failures.count + removals.failed
    total = max(int(counts["rows"]), problems, 1)
    if problems and problems / total > max_failure_ratio:
        summary = failure_ratio_message(problems, total, max_failure_ratio)
        raise AirflowFailException(
            f"{summary}. The confirmed rows are recorded in the sync state; the failed ones are sent "
            f"again next run. Every failure is listed in {failures_file}."
        )
    return result
