"""The write journal: intents before sending, outcomes after, the settle rule, unknown, storage."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath
from airflow.sdk.io import attach
from fsspec.implementations.memory import MemoryFileSystem

from airflow_provider_activecampaign.records.journal import (
    Intent,
    Outcome,
    Resolution,
    WriteJournal,
    fingerprint,
    journal_root,
    send_once,
    settle,
    settle_seconds,
    task_scope,
)


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def journal(root: Any, clock: Clock, settle: float = 60.0, scope: str = "dag/run/task") -> WriteJournal:
    return WriteJournal(root, scope, settle=settle, clock=clock)


def test_no_history_means_send(tmp_path: Path) -> None:
    decision = journal(tmp_path, Clock()).resolve("deals", "K1", read_back=lambda intent: None)
    assert decision.resolution is Resolution.SEND
    assert decision.sent == 0


def test_intent_is_on_disk_before_the_write_and_outcome_closes_it(tmp_path: Path) -> None:
    clock = Clock()
    first = journal(tmp_path, clock)
    intent = first.intent("deals", "K1", {"deal": {"title": "x"}}, deadline_seconds=65)
    lines = [json.loads(line) for f in tmp_path.rglob("*.jsonl") for line in f.read_text().splitlines()]
    assert [(r["op"], r["key"], r["deadline"]) for r in lines] == [("intent", "K1", 1_065.0)]
    first.outcome(intent, Outcome.APPLIED, ref=42)
    # A new session (try 2) sees it applied and does not send it again, nor read back.
    second = journal(tmp_path, clock)
    decision = second.resolve("deals", "K1", read_back=lambda intent: pytest.fail("no read-back needed"))
    assert (decision.resolution, decision.ref, decision.sent) == (Resolution.APPLIED, "42", 1)


def test_payload_is_kept_only_as_a_fingerprint(tmp_path: Path) -> None:
    payload = {"webhook": {"url": "https://example.com/hook?token=s3cr3t-token"}}
    journal(tmp_path, Clock()).intent("webhooks", "hook", payload, deadline_seconds=1)
    text = "".join(f.read_text() for f in tmp_path.rglob("*.jsonl"))
    assert "s3cr3t-token" not in text
    assert fingerprint(payload) in text
    assert fingerprint(payload) != fingerprint({"webhook": {"url": "https://example.com/other"}})


def test_killed_try_is_unknown_until_it_settles_then_not_applied(tmp_path: Path) -> None:
    clock = Clock()
    killed = journal(tmp_path, clock, settle=60)
    killed.intent("deals", "K1", {"n": 1}, deadline_seconds=600)  # no outcome: the process died
    clock.now += 5
    retry = journal(tmp_path, clock, settle=60)  # try 2 starts at 1005: the request ended by then
    early = retry.resolve("deals", "K1", read_back=lambda intent: None)
    assert early.resolution is Resolution.UNKNOWN
    assert early.settles_at == 1_065.0
    clock.now = 1_065.0
    late = journal(tmp_path, clock, settle=60).resolve("deals", "K1", read_back=lambda intent: None)
    # retry's session started at 1005 too: settles at 1065 for it; a later session: at its own start.
    assert late.resolution is Resolution.UNKNOWN
    settled = retry.resolve("deals", "K1", read_back=lambda intent: None)
    assert (settled.resolution, settled.sent) == (Resolution.SEND, 1)
    # The not-applied outcome is durable: the next session sends without reading back.
    after = journal(tmp_path, clock).resolve("deals", "K1", read_back=lambda i: pytest.fail("closed"))
    assert after.resolution is Resolution.SEND


def test_a_retry_waits_for_a_killed_tries_write_to_settle_but_not_for_its_own_lost_answers(
    tmp_path: Path,
) -> None:
    """A killed try's write settles at most one settle period after the retry began: waiting for it
    beats failing as unknown (a retry sooner than the settle period would never settle it). This
    try's own lost answers wait only ``max_wait``."""
    clock = Clock()
    journal(tmp_path, clock, settle=60).intent("deals", "K1", {}, deadline_seconds=600)  # killed
    clock.now += 5
    retry = journal(tmp_path, clock, settle=60)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    decision = settle(retry, "deals", "K1", lambda intent: None, sleep=sleep, max_wait=10)
    assert (decision.resolution, slept) == (Resolution.SEND, [60.0])

    own = retry.intent("deals", "K2", {}, deadline_seconds=600)
    retry.outcome(own, Outcome.AMBIGUOUS)
    decision = settle(retry, "deals", "K2", lambda intent: None, sleep=sleep, max_wait=10)
    assert (decision.resolution, slept) == (Resolution.UNKNOWN, [60.0])  # 60 s > max_wait: not waited


def test_send_once_leaves_the_intent_open_when_the_try_dies_waiting_for_the_answer(tmp_path: Path) -> None:
    """Only an answer says "refused"; a task killed or timed out mid-request may have applied it."""

    class TaskTimedOut(BaseException):
        pass

    def send() -> None:
        raise TaskTimedOut

    clock = Clock()
    with pytest.raises(TaskTimedOut):
        send_once(
            journal(tmp_path, clock), "deals", "K1", {}, send, read_back=None, deadline_seconds=1, what="x"
        )
    (intent,) = journal(tmp_path, clock).history("deals", "K1")
    assert intent.outcome is None  # open: the next try reads it back instead of resending


def test_read_back_finding_the_write_closes_it_as_applied(tmp_path: Path) -> None:
    clock = Clock()
    first = journal(tmp_path, clock)
    intent = first.intent("deals", "K1", {"n": 1}, deadline_seconds=10)
    first.outcome(intent, Outcome.AMBIGUOUS, note="HTTP 504")
    seen: list[Intent] = []

    def read_back(intent: Intent) -> str:
        seen.append(intent)
        return "77"

    decision = journal(tmp_path, clock).resolve("deals", "K1", read_back=read_back)
    assert (decision.resolution, decision.ref) == (Resolution.APPLIED, "77")
    assert [i.key for i in seen] == ["K1"]
    assert journal(tmp_path, clock).history("deals", "K1")[0].outcome is Outcome.APPLIED


def test_ambiguous_answer_settles_from_the_moment_it_was_lost(tmp_path: Path) -> None:
    clock = Clock()
    same = journal(tmp_path, clock, settle=3)
    intent = same.intent("deals", "K1", {"n": 1}, deadline_seconds=600)
    clock.now += 2
    same.outcome(intent, Outcome.AMBIGUOUS)
    assert same.resolve("deals", "K1", read_back=lambda i: None).resolution is Resolution.UNKNOWN
    clock.now += 3
    assert same.resolve("deals", "K1", read_back=lambda i: None).resolution is Resolution.SEND


def test_without_read_back_an_open_intent_is_unknown_for_good(tmp_path: Path) -> None:
    clock = Clock()
    journal(tmp_path, clock).intent("events", "row 1", {"e": 1}, deadline_seconds=1)
    clock.now += 10_000
    decision = journal(tmp_path, clock).resolve("events", "row 1")
    assert (decision.resolution, decision.sent) == (Resolution.UNKNOWN, 1)


def test_refused_write_may_be_sent_again_and_counts_sends(tmp_path: Path) -> None:
    clock = Clock()
    first = journal(tmp_path, clock)
    first.outcome(first.intent("events", "row 1", {}, deadline_seconds=1), Outcome.REFUSED)
    decision = journal(tmp_path, clock).resolve("events", "row 1")
    assert (decision.resolution, decision.sent) == (Resolution.SEND, 1)


def test_writers_and_scopes_do_not_see_each_other(tmp_path: Path) -> None:
    clock = Clock()
    journal(tmp_path, clock).intent("events", "K", {}, deadline_seconds=1)
    assert journal(tmp_path, clock).resolve("deals", "K").resolution is Resolution.SEND
    other = journal(tmp_path, clock, scope="dag/run2/task")
    assert other.resolve("events", "K").resolution is Resolution.SEND


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    clock = Clock()
    first = journal(tmp_path, clock)
    first.outcome(first.intent("deals", "A", {}, deadline_seconds=1), Outcome.APPLIED, ref=1)
    segment = next(tmp_path.rglob("*.jsonl"))
    with segment.open("a") as handle:
        handle.write('{"v":1,"op":"intent","id":"x","writer":"deals","ke')
    assert journal(tmp_path, clock).resolve("deals", "A").resolution is Resolution.APPLIED


def test_concurrent_appends_from_threads_keep_every_line_whole(tmp_path: Path) -> None:
    shared = journal(tmp_path, Clock())
    shared.fsync = False

    def write(n: int) -> None:
        for i in range(200):
            shared.outcome(shared.intent("events", f"{n}-{i}", {"i": i}, deadline_seconds=1), Outcome.APPLIED)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    fresh = journal(tmp_path, Clock())
    assert len(fresh.load()) == 800
    assert all(intent.outcome is Outcome.APPLIED for intent in fresh.load().values())


def _write_in_process(root: str, n: int) -> None:
    writer = WriteJournal(root, "dag/run/task", settle=0)
    for i in range(100):
        writer.outcome(writer.intent("events", f"{n}-{i}", {}, deadline_seconds=1), Outcome.APPLIED)
    writer.close()


def test_concurrent_sessions_in_processes_write_their_own_segments(tmp_path: Path) -> None:
    # fork: the children need nothing re-imported (spawn re-imports Airflow: a minute on a busy host)
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_write_in_process, args=(str(tmp_path), n)) for n in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(300)
        assert process.exitcode == 0
    assert len(list(tmp_path.rglob("*.jsonl"))) == 3
    assert len(journal(tmp_path, Clock()).load()) == 300


@pytest.mark.parametrize("uri", ["memory://journal-test/{name}", "file://{tmp}/root"])
def test_any_object_storage_path(tmp_path: Path, uri: str) -> None:
    """``memory://`` stands for an object store (no append: one object per record); ``file://`` appends."""
    attach("memory", fs=MemoryFileSystem())
    root = ObjectStoragePath(uri.format(tmp=tmp_path, name=tmp_path.name))
    clock = Clock()
    first = journal(root, clock)
    applied = first.intent("deals", "A", {}, deadline_seconds=1)
    first.outcome(applied, Outcome.APPLIED, ref="5")
    first.intent("deals", "B", {}, deadline_seconds=1)
    again = journal(root, clock)
    assert again.resolve("deals", "A").ref == "5"
    assert again.resolve("deals", "B", read_back=lambda i: None).resolution is Resolution.UNKNOWN
    assert [i.key for i in again.open_intents("deals")] == ["B"]


def test_scope_is_the_task_instance_of_the_run_and_cannot_escape_the_root() -> None:
    ti = SimpleNamespace(dag_id="d", task_id="t", run_id="manual__2026-01-01T00:00:00+00:00", map_index=-1)
    assert task_scope({"ti": ti}) == "d/manual__2026-01-01T00_00_00+00_00/t"
    mapped = SimpleNamespace(dag_id="..", task_id="../x", run_id="r", map_index=3)
    scope = task_scope({"ti": mapped})
    assert ".." not in scope.split("/")
    assert scope.endswith("/r/_x.3")


def test_settings_come_from_the_airflow_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW__ACTIVECAMPAIGN__WRITE_SETTLE_SECONDS", "7.5")
    monkeypatch.setenv("AIRFLOW__ACTIVECAMPAIGN__WRITE_JOURNAL_PATH", f"file://{tmp_path}/j")
    assert settle_seconds() == 7.5
    assert str(journal_root()).endswith(f"{tmp_path}/j")
    monkeypatch.delenv("AIRFLOW__ACTIVECAMPAIGN__WRITE_JOURNAL_PATH")
    assert str(journal_root()).endswith("activecampaign/journal")
