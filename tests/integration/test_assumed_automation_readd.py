"""The enrolment operator whether ActiveCampaign enrols a running contact again or refuses to.

What ``POST /contactAutomations`` does for a contact already running through the automation is not
in the reference (§6, could-not-confirm #7: "duplicates, is ignored or errors"). The emulator
assumes the worst case, a second enrolment (switch ``contact_automation_readd_duplicates``, on);
off, it refuses with the one refusal the reference documents, 403 ``Could not create
SubscriberSeries``. The operator must never enrol twice on its own account in either world, and
with ``allow_reentry`` must report a refused re-entry as what it is (the contact is running), not
as a failure. (Ignored, the third reading, answers with the running enrolment: reported enrolled
with that id, ``tests/unit/test_automations_enroller.py``.)
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers.automations import RE_ENGAGEMENT, count, enrol, enrolment_counts, seed_contacts

pytestmark = pytest.mark.integration

POSTS = ("POST", "/api/3/contactAutomations")
MODES = pytest.mark.parametrize("duplicates", [True, False], ids=["re-add-duplicates", "re-add-refused"])


@pytest.fixture
def fast(emulator: Any) -> Any:
    emulator.configure(speed=20)
    return emulator


def _run(run_dag: Any, dag_id: str, contacts: Any) -> tuple[Any, dict[str, str]]:
    dagrun = run_dag(dag_id, conf={"automation": "Re-engagement", "contacts": contacts})
    return dagrun, run_dag.task_states(dagrun)


@MODES
def test_a_second_run_never_posts_for_a_running_contact(fast: Any, run_dag: Any, duplicates: bool) -> None:
    fast.set_assumed(contact_automation_readd_duplicates=duplicates)
    ids = seed_contacts(fast, ["ann@example.com", "bob@example.com"])
    enrol(ids["ann@example.com"], RE_ENGAGEMENT)  # another tool enrolled Ann earlier

    first, _ = _run(run_dag, "automations_add", ["ann@example.com", "bob@example.com"])
    second, states = _run(run_dag, "automations_add", ["ann@example.com", "bob@example.com"])

    assert states["add"] == "success"
    assert run_dag.xcom(first, "add")["skipped_already_active"] == ["ann@example.com"]
    assert run_dag.xcom(second, "add")["skipped_already_active"] == ["ann@example.com", "bob@example.com"]
    assert count(fast, *POSTS) == 2  # Ann's by the other tool, Bob's once
    assert count(fast, *POSTS, status=403) == 0
    assert enrolment_counts(fast, RE_ENGAGEMENT) == dict.fromkeys(ids.values(), 1)


@MODES
def test_allow_reentry_enrols_again_or_reports_the_refusal_as_running(
    fast: Any, run_dag: Any, duplicates: bool
) -> None:
    fast.set_assumed(contact_automation_readd_duplicates=duplicates)
    ids = seed_contacts(fast, ["ann@example.com", "bob@example.com"])
    ann = ids["ann@example.com"]
    running = enrol(ann, RE_ENGAGEMENT)

    dagrun, states = _run(run_dag, "automations_add_reentry", ["ann@example.com", "bob@example.com"])

    assert states["add"] == "success"
    result = run_dag.xcom(dagrun, "add")
    assert result["failed"] == []
    if duplicates:
        assert list(result["enrolled"]) == ["ann@example.com", "bob@example.com"]
        assert result["enrolled"]["ann@example.com"] != running
        assert enrolment_counts(fast, RE_ENGAGEMENT) == {ann: 2, ids["bob@example.com"]: 1}
    else:
        # Refused: Ann is where the caller wanted her (running), reported with the skipped.
        assert list(result["enrolled"]) == ["bob@example.com"]
        assert result["skipped_already_active"] == ["ann@example.com"]
        assert count(fast, *POSTS, status=403) == 1
        assert enrolment_counts(fast, RE_ENGAGEMENT) == dict.fromkeys(ids.values(), 1)


@MODES
def test_a_lost_answer_to_a_reentry_is_read_back_never_enrolled_a_third_time(
    fast: Any, run_dag: Any, monkeypatch: pytest.MonkeyPatch, duplicates: bool
) -> None:
    """Ann runs already; the re-entry POST's answer is lost after the emulator handled it.

    Duplicating, it made her second enrolment: read back by its start time, not sent again.
    Refusing, it made nothing, and her running enrolment started moments ago: a first try with
    ``allow_reentry`` reads nothing before its POST, so the read-back (by start time, within the
    clock margin) cannot tell that enrolment from one the lost POST made, and reports it as hers.
    Either way she runs through the automation once per POST that was applied, and nothing is
    sent again.
    """
    monkeypatch.setenv("AIRFLOW__ACTIVECAMPAIGN__WRITE_SETTLE_SECONDS", "0.15")
    fast.set_assumed(contact_automation_readd_duplicates=duplicates)
    ids = seed_contacts(fast, ["ann@example.com"])
    ann = ids["ann@example.com"]
    running = enrol(ann, RE_ENGAGEMENT)
    fast.add_fault("POST", "/api/3/contactAutomations", "drop", when="after", times=1)

    dagrun, states = _run(run_dag, "automations_add_reentry", ["ann@example.com"])

    assert states["add"] == "success"
    result = run_dag.xcom(dagrun, "add")
    assert result["failed"] == []
    if duplicates:
        assert list(result["enrolled"]) == ["ann@example.com"]
        assert enrolment_counts(fast, RE_ENGAGEMENT) == {ann: 2}
        assert count(fast, *POSTS) == 2  # the other tool's and the lost one, never resent
        assert result["enrolled"]["ann@example.com"] != running
    else:
        assert result["enrolled"] == {"ann@example.com": running}
        assert enrolment_counts(fast, RE_ENGAGEMENT) == {ann: 1}
        assert count(fast, *POSTS) == 2  # the other tool's and the lost (refused) one, never resent
