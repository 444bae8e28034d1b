"""Helpers for the automation tests: seed the emulator, enrol through the API, read its state."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from activecampaign_emulator.pytest_plugin import EmulatorFixture

from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook

#: Ids of the emulator's default seed (``default_seed.json``): stable, tests may rely on them.
WELCOME_SERIES = "1"  # 300 s, multientry false
RE_ENGAGEMENT = "2"  # 3600 s, multientry true


def seed_contacts(emulator: EmulatorFixture, emails: list[str]) -> dict[str, str]:
    """Create contacts; returns ``{email: contact id}``."""
    created = emulator.seed({"contacts": [{"email": email} for email in emails]})["contacts"]
    return dict(zip(emails, created, strict=True))


def seed_automation(emulator: EmulatorFixture, name: str, duration_seconds: float) -> str:
    """Add an automation that takes ``duration_seconds`` of emulated time; returns its id."""
    created = emulator.seed(
        {
            "automations": [
                {"name": name, "status": 1, "multientry": True, "duration_seconds": duration_seconds}
            ]
        }
    )
    return str(created["automations"][0])


def enrol(contact_id: str, automation_id: str) -> str:
    """Enrol through the API (as another tool would); returns the contactAutomation id."""
    hook = ActiveCampaignHook()
    body = hook.post(
        "contactAutomations", {"contactAutomation": {"contact": contact_id, "automation": automation_id}}
    )
    return str(body["contactAutomation"]["id"])


def enrolment_counts(emulator: EmulatorFixture, automation_id: str) -> dict[str, int]:
    """``{contact id: enrolments ever made}`` in one automation (removed ones included)."""
    counts: Counter[str] = Counter()
    for row in emulator.state()["enrolments"]:
        if row["automation"] == automation_id:
            counts[row["contact"]] += 1
    return dict(counts)


def enrolments(emulator: EmulatorFixture, automation_id: str) -> list[dict[str, Any]]:
    return [row for row in emulator.state()["enrolments"] if row["automation"] == automation_id]


def request_counts(emulator: EmulatorFixture) -> dict[str, int]:
    """``{"POST /api/3/contactAutomations 201": n, ...}`` since the last reset."""
    counts: dict[str, int] = emulator.requests()["counts"]
    return counts


def count(emulator: EmulatorFixture, method: str, template: str, status: int | str | None = None) -> int:
    """Requests to one endpoint (any status unless given; ``"none"`` = no HTTP answer)."""
    total = 0
    for key, value in request_counts(emulator).items():
        key_method, key_template, key_status = key.split(" ")
        if (
            key_method == method
            and key_template == template
            and (status is None or key_status == str(status))
        ):
            total += value
    return total


@contextmanager
def advance_when_polled(
    emulator: EmulatorFixture, seconds: float, *, method: str, template: str, polls: int = 1
) -> Iterator[None]:
    """Move the emulated clock ``seconds`` forward once the code under test has made ``polls``
    requests to ``method template``: "it saw the enrolment running, then time passed", without
    depending on how long Airflow takes to start a task."""
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if count(emulator, method, template) >= polls:
                emulator.advance(seconds)
                return
            stop.wait(0.02)

    watcher = threading.Thread(target=watch, name="advance-when-polled", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join(5)
