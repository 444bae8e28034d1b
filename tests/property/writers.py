"""The registry of writers: every operator that writes to ActiveCampaign, and how to try it.

Each :class:`Writer` says how its task is built (``build``, called inside the DAG of
``tests/property/dags/property_dags.py``, task id ``write``), what account and inputs a point starts
from (``prepare``: resets and seeds the emulator, returns the run's ``conf``), and how the final
state is judged (``check``: duplicates, losses, and whether the task's report is true).

A new operator that can write cannot be added without joining :data:`WRITERS`:
``tests/property/test_registry.py`` fails for any operator class of the provider that is neither
here nor in :data:`READ_ONLY`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.property.harness import Verdict

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator

    from tests.property.harness import Context

ITEMS = 10
SPEED = 50.0


@dataclass(frozen=True)
class Writer:
    name: str
    #: ``module:Class`` of the operator (imported lazily: the registry loads without Airflow).
    operator: str
    build: Callable[[], BaseOperator]
    prepare: Callable[[Context], dict[str, Any]]
    check: Callable[[Context, dict[str, Any], list[dict[str, Any]]], Verdict]
    #: Can the writer read back what it wrote? If not (events), ``unknown`` is an allowed outcome.
    reads_back: bool = True
    timeout: float = 10.0
    extra: Callable[[str], dict[str, Any]] = field(default=lambda proxy_url: {})
    #: Reads to sample for ``kill_read`` (1-based indexes of GET requests in a clean run).
    sample_reads: tuple[int, ...] = (1, 3)

    @property
    def dag_id(self) -> str:
        return f"property_{self.name}"

    def connection_extra(self, proxy_url: str) -> dict[str, Any]:
        return self.extra(proxy_url)


# -- helpers -------------------------------------------------------------------------------------
def reset(ctx: Context, **sections: Any) -> None:
    """The default account plus ``sections``, CRM rebuilt, at ``SPEED``."""
    from activecampaign_emulator.seed import default_seed

    seed = default_seed()
    seed["accounts"] = {"generate": 3}
    seed.update(sections)
    ctx.client.reset(seed)
    ctx.server.configure(speed=SPEED, rate_limit=True)


def report(path: str | Path) -> list[dict[str, Any]]:
    """The lines of a JSON Lines report (empty if the task never wrote one)."""
    file = Path(path)
    if not file.exists():
        return []
    return [json.loads(line) for line in file.read_text().splitlines() if line.strip()]


def tally(found: Iterable[str], expected: Iterable[str]) -> tuple[Counter[str], int, list[str]]:
    """``(counts, duplicates, missing)`` of ``found`` keys against ``expected`` keys."""
    counts = Counter(found)
    wanted = list(expected)
    duplicates = sum(n - 1 for key, n in counts.items() if key in wanted and n > 1)
    missing = [key for key in wanted if counts[key] == 0]
    return counts, duplicates, missing


def judge(
    counts: Mapping[str, int],
    duplicates: int,
    missing: list[str],
    lines: list[dict[str, Any]],
    key_of: Callable[[dict[str, Any]], str | None],
    *,
    unknown_allowed: bool,
) -> Verdict:
    """Duplicates and losses, and the report's truth against what the state shows.

    A line saying an item failed (``rejected``/``failed``) is false if the item is in the state; a
    line saying ``unknown`` is only allowed for writers that cannot read back; an item missing from
    the state and from the report is lost, one missing but reported unknown (where allowed) is not.
    """
    verdict = Verdict(duplicates=duplicates)
    reported: dict[str, str] = {}
    for line in lines:
        key = key_of(line)
        stage = str(line.get("stage"))
        if key is None:
            continue
        reported[key] = stage
        if stage == "unknown" and not unknown_allowed:
            verdict.report_problems.append(f"{key}: reported unknown by a writer that can read back")
        elif stage in ("rejected", "failed") and counts.get(key, 0) > 0:
            verdict.report_problems.append(f"{key}: reported {stage} but it was applied")
    for key in missing:
        if unknown_allowed and reported.get(key) == "unknown":
            continue
        verdict.lost += 1
        if key not in reported:
            verdict.report_problems.append(f"{key}: not applied and not in the report")
    return verdict


def from_conf(key: str) -> str:
    return "{{ dag_run.conf['" + key + "'] }}"


# -- events ----------------------------------------------------------------------------------------
ACTID = "650123456"
EVENT_KEY = "c0ffee5eed0e1ec7ab1e7a3c4d5e6f708192a3b4"
PEOPLE = [f"p{i}@example.com" for i in range(ITEMS)]


def _events_build() -> BaseOperator:
    from airflow_provider_activecampaign.operators.events import ActiveCampaignTrackEventsOperator

    return ActiveCampaignTrackEventsOperator(
        task_id="write", events=from_conf("events"), failures_path=from_conf("failures_path")
    )


def _events_prepare(ctx: Context) -> dict[str, Any]:
    reset(
        ctx,
        contacts=[{"email": e} for e in PEOPLE],
        event_tracking={"enabled": True, "actid": ACTID, "key": EVENT_KEY, "events": ["trial_started"]},
    )
    events = [{"email": PEOPLE[i], "event": "trial_started", "eventdata": {"n": i}} for i in range(ITEMS)]
    return {"events": events, "failures_path": str(ctx.workdir / "failures.jsonl")}


def _events_check(ctx: Context, conf: dict[str, Any], tries: list[dict[str, Any]]) -> Verdict:
    saved = [e for e in ctx.client.event_tracking()["events"] if e.get("saved")]
    found = [str(json.loads(e["eventdata"])["n"]) for e in saved]
    counts, dup, missing = tally(found, [str(i) for i in range(ITEMS)])
    return judge(
        counts,
        dup,
        missing,
        report(conf["failures_path"]),
        lambda line: str(int(line["row"]) - 1) if "row" in line else None,
        unknown_allowed=True,
    )


# -- deals -----------------------------------------------------------------------------------------
def _deals_build() -> BaseOperator:
    from airflow_provider_activecampaign.operators.deals import ActiveCampaignSyncDealsOperator

    return ActiveCampaignSyncDealsOperator(
        task_id="write",
        deals=from_conf("deals"),
        key_field="External key",
        pipeline="Sales",
        failures_path=from_conf("failures_path"),
    )


def _deals_prepare(ctx: Context) -> dict[str, Any]:
    reset(ctx)
    deals = [
        {"external_id": f"inv-{i}", "title": f"Invoice {i}", "value": 1000 + i, "stage": "Qualified", "account": "Acme Inc 1"}
        for i in range(ITEMS)
    ]
    return {"deals": deals, "failures_path": str(ctx.workdir / "failures.jsonl")}


def _deals_check(ctx: Context, conf: dict[str, Any], tries: list[dict[str, Any]]) -> Verdict:
    found = [str((d.get("fields") or {}).get("External key")) for d in ctx.client.deals()]
    counts, dup, missing = tally(found, [f"inv-{i}" for i in range(ITEMS)])
    return judge(
        counts,
        dup,
        missing,
        report(conf["failures_path"]),
        lambda line: str(line.get("key") or (line.get("record") or {}).get("external_id") or "") or None,
        unknown_allowed=False,
    )


WRITERS: dict[str, Writer] = {
    w.name: w
    for w in [
        Writer(
            "events",
            "airflow_provider_activecampaign.operators.events:ActiveCampaignTrackEventsOperator",
            _events_build,
            _events_prepare,
            _events_check,
            reads_back=False,
            extra=lambda proxy_url: {
                "event_tracking_actid": ACTID,
                "event_tracking_secret": EVENT_KEY,
                "event_tracking_url": proxy_url + "/event",
            },
        ),
        Writer(
            "deals",
            "airflow_provider_activecampaign.operators.deals:ActiveCampaignSyncDealsOperator",
            _deals_build,
            _deals_prepare,
            _deals_check,
        ),
    ]
}

#: Operators that never write to ActiveCampaign (exports, webhook-event reconciliation, sensors).
READ_ONLY: frozenset[str] = frozenset(
    {
        "airflow_provider_activecampaign.operators.export:ActiveCampaignExportOperator",
        "airflow_provider_activecampaign.operators.contacts:ActiveCampaignExportContactsOperator",
        "airflow_provider_activecampaign.operators.webhooks:ActiveCampaignReconcileWebhookEventsOperator",
    }
)
