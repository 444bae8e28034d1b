"""Events on the emulator's tracking endpoint: each recorded once; tracking off refused, nothing claimed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture

from tests.helpers.pacing import throttled
from tests.integration.writes_support import fresh_crm

pytestmark = pytest.mark.integration

ACTID = "650123456"
EVENT_KEY = "c0ffee5eed0e1ec7ab1e7a3c4d5e6f708192a3b4"
PEOPLE = [f"fan{i}@example.com" for i in range(10)]


def tracking(emulator: EmulatorFixture, *, enabled: bool) -> EmulatorFixture:
    fresh_crm(
        emulator,
        contacts=[{"email": e} for e in PEOPLE],
        event_tracking={"enabled": enabled, "actid": ACTID, "key": EVENT_KEY, "events": ["trial_started"]},
    )
    emulator.configure(speed=100, rate_limit=True)
    emulator.export_connection(
        event_tracking_actid=ACTID,
        event_tracking_secret=EVENT_KEY,
        event_tracking_url=emulator.url + "/event",
    )
    return emulator


def events(count: int) -> list[dict[str, Any]]:
    return [
        {
            "email": PEOPLE[i % len(PEOPLE)],
            "event": "invoice_paid" if i % 2 else "trial_started",
            "eventdata": {"n": i},
        }
        for i in range(count)
    ]


def recorded(emulator: EmulatorFixture) -> list[dict[str, Any]]:
    saved: list[dict[str, Any]] = [e for e in emulator.state()["event_tracking"]["events"] if e.get("saved")]
    return saved


def test_a_thousand_events_each_recorded_once(
    emulator: EmulatorFixture, run_dag: Any, tmp_path: Path
) -> None:
    tracking(emulator, enabled=True)
    # Throttled posts were not recorded and are resent; the lost answer may have been: it is not.
    emulator.add_fault("POST", "/event", "http_429", times=3, retry_after=0)
    emulator.add_fault("POST", "/event", "http_500", when="after", times=1)
    conf = {
        "events": events(1000),
        "failures_path": str(tmp_path / "failures.jsonl"),
        "max_failure_ratio": 0.01,
    }

    dagrun = run_dag("writes_events", conf=conf)

    assert run_dag.task_states(dagrun) == {"events": "success"}
    result = run_dag.xcom(dagrun, "events")
    assert (result["sent"], result["unknown"], result["failed"], result["rejected"]) == (999, 1, 0, 0)
    saved = recorded(emulator)
    assert len(saved) == 1000  # the unknown one was recorded once (applied before the 500)
    assert len({json.loads(e["eventdata"])["n"] for e in saved}) == 1000  # none twice
    counts: dict[str, int] = emulator.requests()["counts"]
    assert counts.get("POST /event 429") == 3
    assert throttled(counts) == 3  # only the injected ones
    (unknown,) = [json.loads(line) for line in (tmp_path / "failures.jsonl").read_text().splitlines()]
    assert unknown["stage"] == "unknown"
    assert "not resent" in unknown["reason"]
    assert EVENT_KEY not in (tmp_path / "failures.jsonl").read_text()
    assert EVENT_KEY not in json.dumps(result)
    assert emulator.api_key not in json.dumps(emulator.requests()["requests"][-5:])


def test_a_retry_does_not_send_the_events_again(emulator: EmulatorFixture, tmp_path: Path) -> None:
    from airflow_provider_activecampaign.operators.events import ActiveCampaignTrackEventsOperator
    from tests.integration.contacts_support import run_operator

    tracking(emulator, enabled=True)

    def attempt() -> dict[str, Any]:
        return run_operator(
            ActiveCampaignTrackEventsOperator(
                task_id="events", events=events(20), failures_path=str(tmp_path / "failures.jsonl")
            )
        )

    first = attempt()
    again = attempt()  # a retry (or re-run) of the same task: same rows, same ledger

    assert (first["sent"], first["skipped_already_sent"]) == (20, 0)
    assert (again["sent"], again["skipped_already_sent"]) == (0, 20)
    assert len(recorded(emulator)) == 20
    counts: dict[str, int] = emulator.requests()["counts"]
    assert counts["POST /event 200"] == 20


def test_tracking_switched_off_fails_clearly_and_claims_nothing(
    emulator: EmulatorFixture, run_dag: Any, tmp_path: Path
) -> None:
    tracking(emulator, enabled=False)
    conf = {"events": events(5), "failures_path": str(tmp_path / "failures.jsonl")}

    dagrun = run_dag("writes_events", conf=conf)

    assert run_dag.task_states(dagrun) == {"events": "failed"}
    with pytest.raises(LookupError):
        run_dag.xcom(dagrun, "events")  # nothing claimed
    counts: dict[str, int] = emulator.requests()["counts"]
    assert not any(line.startswith("POST /event") for line in counts)
    assert counts.get("GET /api/3/eventTracking 200", 0) >= 1
    assert emulator.state()["event_tracking"]["events"] == []


KILLED_TRY = """
import os, sys
from airflow_provider_activecampaign.operators.events import ActiveCampaignTrackEventsOperator
from tests.integration.contacts_support import run_operator
events = [{"email": "fan0@example.com", "event": "trial_started", "eventdata": {"n": i}} for i in range(3)]
run_operator(ActiveCampaignTrackEventsOperator(task_id="events", events=events, failures_path=sys.argv[1]))
"""


def test_a_try_killed_after_its_event_applied_does_not_make_the_retry_send_it_again(
    emulator: EmulatorFixture, tmp_path: Path
) -> None:
    """SIGKILL while the first event's answer is held (applied by the server), then try 2."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from airflow_provider_activecampaign.operators.events import ActiveCampaignTrackEventsOperator
    from tests.integration.contacts_support import read_jsonl, run_operator

    tracking(emulator, enabled=True)
    emulator.add_fault("POST", "/event", "slow", when="after", delay=120, times=1)  # applied, answer held
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_TRY, str(tmp_path / "try1.jsonl")], cwd=root, env=dict(os.environ)
    )
    try:
        deadline = time.monotonic() + 120
        while not recorded(emulator) and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.05)
        assert len(recorded(emulator)) == 1, "the first event was not applied in time"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    emulator.clear_faults()

    retry = run_operator(
        ActiveCampaignTrackEventsOperator(
            task_id="events",
            events=[{"email": PEOPLE[0], "event": "trial_started", "eventdata": {"n": i}} for i in range(3)],
            failures_path=str(tmp_path / "try2.jsonl"),
            max_failure_ratio=1,
        )
    )

    saved = [json.loads(e["eventdata"])["n"] for e in recorded(emulator)]
    assert sorted(saved) == [0, 1, 2]  # each recorded once: the held one was not sent again
    assert (retry["skipped_already_sent"], retry["unknown"], retry["sent"]) == (0, 1, 2)
    (unknown,) = read_jsonl(tmp_path / "try2.jsonl")
    assert (unknown["stage"], unknown["row"], unknown["sent"]) == ("unknown", 1, 1)
    assert "sent once by an earlier try" in unknown["reason"]


def test_an_event_answered_503_is_reported_as_answered_503_and_sent_once(
    emulator: EmulatorFixture, tmp_path: Path
) -> None:
    from airflow_provider_activecampaign.operators.events import ActiveCampaignTrackEventsOperator
    from tests.integration.contacts_support import read_jsonl, run_operator

    tracking(emulator, enabled=True)
    emulator.add_fault("POST", "/event", "http_503", times=1)  # before: not recorded, but who knows

    result = run_operator(
        ActiveCampaignTrackEventsOperator(
            task_id="events", events=events(3), failures_path=str(tmp_path / "f.jsonl"), max_failure_ratio=1
        )
    )

    assert (result["sent"], result["unknown"]) == (2, 1)
    (line,) = read_jsonl(tmp_path / "f.jsonl")
    assert line["stage"] == "unknown"
    assert line["sent"] == 1
    assert "sent once; ActiveCampaign answered HTTP 503" in line["reason"]
    assert "answer was lost" not in line["reason"]
    assert emulator.requests()["counts"].get("POST /event 503") == 1


def test_nan_and_infinity_in_event_data_reject_their_row_and_the_others_go(
    emulator: EmulatorFixture, tmp_path: Path
) -> None:
    from airflow_provider_activecampaign.operators.events import ActiveCampaignTrackEventsOperator
    from tests.integration.contacts_support import read_jsonl, run_operator

    tracking(emulator, enabled=True)
    rows = [
        {"email": PEOPLE[0], "event": "trial_started", "eventdata": {"n": 1}},
        {"email": PEOPLE[1], "event": "trial_started", "eventdata": {"score": float("nan")}},
        {"email": PEOPLE[2], "event": "trial_started", "eventdata": {"score": float("inf")}},
    ]

    result = run_operator(
        ActiveCampaignTrackEventsOperator(
            task_id="events", events=rows, failures_path=str(tmp_path / "f.jsonl"), max_failure_ratio=1
        )
    )

    assert (result["sent"], result["rejected"]) == (1, 2)
    lines = read_jsonl(tmp_path / "f.jsonl")
    assert [(line["row"], line["field"]) for line in lines] == [(2, "eventdata"), (3, "eventdata")]
    assert all("NaN" in line["reason"] for line in lines)
    assert [e["eventdata"] for e in recorded(emulator)] == ['{"n": 1}']
