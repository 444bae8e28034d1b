"""Shared set-up for the contact integration tests: emulator speed, seeds, running an operator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from activecampaign_emulator.pytest_plugin import EmulatorFixture
from activecampaign_emulator.seed import default_seed


def fast_seed(contacts_per_second: float = 5_000, **importer: Any) -> dict[str, Any]:
    """The default account with a fast importer (the speed AC imports at is not documented)."""
    seed = default_seed()
    seed["importer"] = {**seed["importer"], "contacts_per_second": contacts_per_second, **importer}
    return seed


def use_emulator(
    emulator: EmulatorFixture, *, speed: float, seed: dict[str, Any] | None = None, **extra: Any
) -> None:
    """Reset to ``seed`` at ``speed``; the connection's limits match the emulator's (5/s, 100/min)."""
    if seed is not None:
        emulator.reset(seed)
    emulator.configure(speed=speed)
    emulator.export_connection(imports_per_minute=100 * speed, **extra)


class FakeTI:
    """The few task-instance attributes the sync operator reads when run outside a DAG."""

    dag_id = "tests"
    task_id = "sync"
    run_id = "manual__2024-01-01T00:00:00+00:00"
    map_index = -1
    try_number = 1


def run_operator(operator: Any) -> Any:
    return operator.execute({"ti": FakeTI()})


def contacts(count: int, start: int = 0, **values: Any) -> list[dict[str, Any]]:
    return [
        {"email": f"user{i}@example.com", "first_name": f"User{i}", **values}
        for i in range(start, start + count)
    ]


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    import json

    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def api_counts(emulator: EmulatorFixture) -> dict[str, int]:
    """``{"POST /api/3/import/bulk_import 200": n, ...}`` from the emulator's request log."""
    counts: dict[str, int] = emulator.requests()["counts"]
    return counts


def writes(emulator: EmulatorFixture) -> int:
    """How many requests could have changed the account (every non-GET API call)."""
    return sum(n for key, n in api_counts(emulator).items() if not key.startswith("GET "))


def run_sync(tmp_path: Any, **options: Any) -> dict[str, Any]:
    """Run ``ActiveCampaignSyncContactsOperator`` outside a DAG, its failures report in ``tmp_path``."""
    from airflow_provider_activecampaign.operators.contacts import ActiveCampaignSyncContactsOperator

    options.setdefault("failures_path", str(tmp_path / "failures.jsonl"))
    options.setdefault("poll_interval", 0.2)
    result: dict[str, Any] = run_operator(ActiveCampaignSyncContactsOperator(task_id="sync", **options))
    return result


def run_audience_sync(tmp_path: Any, **options: Any) -> dict[str, Any]:
    """Run ``ActiveCampaignAudienceSyncOperator`` outside a DAG, its failures report in ``tmp_path``."""
    from airflow_provider_activecampaign.operators.contacts import ActiveCampaignAudienceSyncOperator

    options.setdefault("failures_path", str(tmp_path / "failures.jsonl"))
    options.setdefault("poll_interval", 0.2)
    result: dict[str, Any] = run_operator(ActiveCampaignAudienceSyncOperator(task_id="sync", **options))
    return result
