"""Enroller and Remover against a mocked hook: every branch of "never twice"."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_mock import MockerFixture

from airflow_provider_activecampaign.automations.enrolments import Enroller, Remover
from airflow_provider_activecampaign.contacts.refs import parse_contacts
from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignAmbiguousWriteError,
    ActiveCampaignAuthError,
    ActiveCampaignNotFoundError,
    ActiveCampaignServerError,
    ActiveCampaignValidationError,
)
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.records.journal import WriteJournal

AUTOMATION = "7"


def row(
    ident: str, status: str = "1", completed: int = 0, adddate: str = "2024-05-01T10:00:00+00:00"
) -> dict[str, Any]:
    return {
        "id": ident,
        "automation": AUTOMATION,
        "status": status,
        "completed": completed,
        "adddate": adddate,
    }


def ambiguous() -> ActiveCampaignAmbiguousWriteError:
    return ActiveCampaignAmbiguousWriteError("The connection failed after POST was sent", method="POST")


class Account:
    """Scripted answers: ``reads[contact]`` is a list of successive enrolment lists (the last repeats)."""

    def __init__(self, mocker: MockerFixture) -> None:
        self.reads: dict[str, list[Any]] = {}  # pages (lists of rows) or exceptions
        self.posts: list[Callable[[], Any]] = []
        self.emails: dict[str, str] = {}
        self.hook = mocker.create_autospec(ActiveCampaignHook, instance=True)
        self.hook.get.side_effect = self._get
        self.hook.post.side_effect = self._post
        self.hook.get_contact_by_email.side_effect = lambda email: (
            {"id": self.emails[email]} if email in self.emails else None
        )

    def _get(self, endpoint: str, params: Any = None) -> Any:
        contact = endpoint.split("/")[1]
        if contact not in self.reads:
            raise ActiveCampaignNotFoundError(f"No Result found for Subscriber with id {contact}")
        pages = self.reads[contact]
        page = pages.pop(0) if len(pages) > 1 else pages[0]
        if isinstance(page, Exception):
            raise page
        return {"contactAutomations": page}

    def _post(self, endpoint: str, json: Any = None, **kwargs: Any) -> Any:
        answer = self.posts.pop(0)()
        return answer

    @property
    def post_count(self) -> int:
        return sum(1 for call in self.hook.post.call_args_list if call.args[0] == "contactAutomations")


def created(ident: str) -> Callable[[], Any]:
    return lambda: {"contactAutomation": {"id": ident, "status": 1}}


def raising(error: Exception) -> Callable[[], Any]:
    def answer() -> Any:
        raise error

    return answer


@pytest.fixture
def account(mocker: MockerFixture) -> Account:
    return Account(mocker)


def enroller(account: Account, **options: Any) -> Enroller:
    return Enroller(account.hook, AUTOMATION, read_back_delay=0, max_workers=1, **options)


def test_a_new_contact_is_enrolled(account: Account) -> None:
    account.reads["1"] = [[]]
    account.posts = [created("100")]

    report = enroller(account).run(parse_contacts(["1"]))

    assert report.as_result() == {
        "enrolled": {"1": "100"},
        "skipped_already_active": [],
        "skipped_previously_enrolled": [],
        "not_found": [],
        "failed": [],
    }
    account.hook.post.assert_called_once_with(
        "contactAutomations", {"contactAutomation": {"contact": "1", "automation": AUTOMATION}}
    )


def test_a_running_contact_is_skipped_unless_reentry_is_allowed(account: Account) -> None:
    account.reads["1"] = [[row("50"), row("60", status="2", completed=1)]]
    report = enroller(account).run(parse_contacts(["1"]))
    assert report.skipped_already_active == ["1"]
    assert report.active_ids == {"1": "50"}
    assert report.ids_to_wait_for() == ["50"]
    assert account.post_count == 0

    account.posts = [created("101")]
    report = enroller(account, allow_reentry=True).run(parse_contacts(["1"]))
    assert report.enrolled == {"1": "101"}


def test_skip_completed_skips_anyone_ever_enrolled_with_the_same_single_read(account: Account) -> None:
    account.reads["1"] = [[row("10", "2", 1)]]  # completed
    account.reads["2"] = [[row("20", "2", 0)]]  # exited early
    account.reads["3"] = [[row("30", "2", 1), row("31")]]  # completed once, running again now
    account.reads["4"] = [[{**row("40", "2", 1), "automation": "99"}]]  # another automation only
    account.reads["5"] = [[]]  # never enrolled
    account.posts = [created("104"), created("105")]

    report = enroller(account, skip_completed=True).run(parse_contacts(["1", "2", "3", "4", "5"]))

    assert report.as_result() == {
        "enrolled": {"4": "104", "5": "105"},
        "skipped_already_active": ["3"],
        "skipped_previously_enrolled": ["1", "2"],
        "not_found": [],
        "failed": [],
    }
    assert report.ids_to_wait_for() == ["104", "105", "31"]  # finished enrolments: nothing to wait for
    assert account.post_count == 2
    assert account.hook.get.call_count == 5  # one read per contact, as without the option


def test_without_skip_completed_a_finished_contact_is_enrolled_again(account: Account) -> None:
    account.reads["1"] = [[row("10", "2", 1)]]
    account.posts = [created("11")]

    report = enroller(account).run(parse_contacts(["1"]))

    assert report.enrolled == {"1": "11"}
    assert report.skipped_previously_enrolled == []


def test_skip_completed_still_reports_an_earlier_tries_enrolment_as_enrolled(account: Account) -> None:
    since = datetime(2024, 5, 1, 9, 55, tzinfo=UTC)
    account.reads["1"] = [[row("40", "2", 1, "2024-04-01T10:00:00+00:00"), row("41", "2", 1)]]
    account.reads["2"] = [[row("42", "2", 1, "2024-04-01T10:00:00+00:00")]]  # before this run

    report = enroller(account, skip_completed=True, earlier_tries_since=since).run(parse_contacts(["1", "2"]))

    assert report.enrolled == {"1": "41"}
    assert report.from_earlier_tries == ["1"]
    assert report.skipped_previously_enrolled == ["2"]
    assert account.post_count == 0


def test_skip_completed_and_allow_reentry_are_refused_together(account: Account) -> None:
    with pytest.raises(ValueError, match=r"allow_reentry=True and skip_completed=True contradict"):
        enroller(account, skip_completed=True, allow_reentry=True)


def test_enrolments_in_other_automations_do_not_count(account: Account) -> None:
    account.reads["1"] = [[{**row("50"), "automation": "99"}]]
    account.posts = [created("101")]

    assert enroller(account).run(parse_contacts(["1"])).enrolled == {"1": "101"}


@pytest.mark.parametrize("allow_reentry", [False, True])
def test_a_later_try_reports_what_an_earlier_try_enrolled_and_sends_nothing(
    account: Account, allow_reentry: bool
) -> None:
    since = datetime(2024, 5, 1, 9, 55, tzinfo=UTC)
    account.reads["1"] = [
        [row("40", "2", 1, "2024-04-01T10:00:00+00:00"), row("41", "2", 1, "2024-05-01T10:00:00+00:00")]
    ]
    account.reads["2"] = [[row("42", "2", 1, "2024-04-01T10:00:00+00:00")]]  # before this run: a re-entry
    account.posts = [created("43")]

    report = enroller(account, earlier_tries_since=since, allow_reentry=allow_reentry).run(
        parse_contacts(["1", "2"])
    )

    assert report.enrolled == {"1": "41", "2": "43"}
    assert report.from_earlier_tries == ["1"]
    assert account.post_count == 1


def test_an_ambiguous_post_found_on_read_back_is_not_sent_again(account: Account) -> None:
    account.reads["1"] = [[row("40", "2", 1)], [row("40", "2", 1), row("41")]]
    account.posts = [raising(ambiguous())]

    report = enroller(account).run(parse_contacts(["1"]))

    assert report.enrolled == {"1": "41"}
    assert account.post_count == 1


class FakeTime:
    """The journal's clock and the enroller's sleep: sleeping moves the clock, nothing waits."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def journaled(
    account: Account, root: Path, fake: FakeTime, *, settle: float = 30.0, **options: Any
) -> Enroller:
    """An enroller on a journal at ``root`` (one per try: each is a new session of the same scope)."""
    journal = WriteJournal(root, "dag/run/add", settle=settle, clock=fake)
    options.setdefault("read_back_delay", settle)
    return Enroller(account.hook, AUTOMATION, max_workers=1, journal=journal, sleep=fake.sleep, **options)


def test_an_ambiguous_post_found_on_the_second_read_back_is_not_sent_again(
    account: Account, tmp_path: Path
) -> None:
    fake = FakeTime()
    account.reads["1"] = [[], [], [row("41")]]
    account.posts = [raising(ambiguous())]

    report = journaled(account, tmp_path, fake).run(parse_contacts(["1"]))

    assert report.enrolled == {"1": "41"}
    assert account.post_count == 1
    assert fake.slept == [30.0]  # not found at once: waited until it settled, then found


def test_an_ambiguous_post_not_applied_is_sent_once_more_only_after_it_settled(
    account: Account, tmp_path: Path
) -> None:
    fake = FakeTime()
    account.reads["1"] = [[]]
    account.posts = [raising(ambiguous()), created("42")]

    report = journaled(account, tmp_path, fake).run(parse_contacts(["1"]))

    assert report.enrolled == {"1": "42"}
    assert account.post_count == 2
    assert fake.slept == [30.0]  # the resend waited for the settle period after the lost answer
    assert account.hook.get.call_count == 3  # before, at once after, and after it settled


def test_an_ambiguous_post_that_cannot_settle_in_time_is_unknown_and_not_resent(
    account: Account, tmp_path: Path
) -> None:
    fake = FakeTime()
    account.reads["1"] = [[]]
    account.posts = [raising(ambiguous())]

    report = journaled(account, tmp_path, fake, settle=60.0, read_back_delay=5.0).run(parse_contacts(["1"]))

    assert report.enrolled == {}
    assert account.post_count == 1
    assert fake.slept == []  # 60 s to settle is more than read_back_delay: no waiting, no resend
    (failure,) = report.failed
    assert failure["reason"].startswith("unknown: the enrolment was sent once")
    assert "not sent again" in failure["reason"]


def test_a_retry_after_a_kill_waits_for_the_post_to_settle_and_finds_it_applied_late(
    account: Account, tmp_path: Path
) -> None:
    """Try 1 was killed after the POST left (its intent is on the journal, no outcome) and
    ActiveCampaign applies it only after try 2's first read. Try 2 must not send it on that read:
    it waits until the POST settled, reads again and finds it (a resend would enrol twice)."""
    fake = FakeTime(now=datetime.now(UTC).timestamp())
    WriteJournal(tmp_path, "dag/run/add", settle=30.0, clock=fake).intent(
        "automation_enrolments", f"{AUTOMATION}:1", {}, deadline_seconds=65
    )
    fake.now += 5  # try 2 starts 5 s later
    applied_late = datetime.now(UTC).isoformat(timespec="seconds")
    account.reads["1"] = [[], [row("72", adddate=applied_late)]]
    account.posts = []

    report = journaled(account, tmp_path, fake, read_back_delay=1.0).run(parse_contacts(["1"]))

    assert account.post_count == 0
    assert report.enrolled == {"1": "72"}
    assert report.from_earlier_tries == ["1"]
    # An earlier try's write is waited for even beyond read_back_delay: it settles within one
    # settle period of this try's start, and reporting it unknown would cost a whole retry.
    assert fake.slept == [30.0]


def test_a_retry_after_a_kill_finds_the_late_enrolment_and_sends_nothing(
    account: Account, tmp_path: Path
) -> None:
    fake = FakeTime(now=datetime.now(UTC).timestamp())
    WriteJournal(tmp_path, "dag/run/add", settle=30.0, clock=fake).intent(
        "automation_enrolments", f"{AUTOMATION}:1", {}, deadline_seconds=65
    )
    fake.now += 5
    applied_late = datetime.now(UTC).isoformat(timespec="seconds")
    account.reads["1"] = [[row("70", adddate=applied_late)]]

    report = journaled(account, tmp_path, fake).run(parse_contacts(["1"]))

    assert report.enrolled == {"1": "70"}
    assert report.from_earlier_tries == ["1"]
    assert account.post_count == 0


def test_a_retry_after_a_kill_sends_once_the_post_settled_not_applied(
    account: Account, tmp_path: Path
) -> None:
    fake = FakeTime()
    WriteJournal(tmp_path, "dag/run/add", settle=30.0, clock=fake).intent(
        "automation_enrolments", f"{AUTOMATION}:1", {}, deadline_seconds=65
    )
    fake.now += 5
    account.reads["1"] = [[]]
    account.posts = [created("71")]

    report = journaled(account, tmp_path, fake).run(parse_contacts(["1"]))

    assert report.enrolled == {"1": "71"}
    assert account.post_count == 1
    assert fake.slept == [30.0]  # settled 30 s after try 2 began (the killed try had ended by then)


def test_two_ambiguous_failures_are_reported_never_sent_a_third_time(account: Account) -> None:
    account.reads["1"] = [[]]
    account.posts = [raising(ambiguous()), raising(ambiguous())]

    report = enroller(account).run(parse_contacts(["1"]))

    assert report.enrolled == {}
    assert report.failed[0]["contact"] == "1"
    assert "sent twice in this try" in report.failed[0]["reason"]
    assert account.post_count == 2


def test_a_refused_post_is_a_failure_with_the_reason(account: Account) -> None:
    account.reads["1"] = [[]]
    account.posts = [
        raising(
            ActiveCampaignValidationError(
                "ActiveCampaign rejected POST: Could not create SubscriberSeries", status=403
            )
        )
    ]

    report = enroller(account).run(parse_contacts(["1"]))

    assert report.failed == [
        {
            "contact": "1",
            "reason": "ActiveCampaign refused the enrolment: ActiveCampaign rejected POST: Could not create "
            "SubscriberSeries (HTTP 403)",
        }
    ]


def test_missing_contacts_and_unreadable_ones(account: Account) -> None:
    account.reads["2"] = [ActiveCampaignServerError("ActiveCampaign failed", status=503)]

    report = enroller(account).run(parse_contacts(["1", "2", "ghost@example.com"]))

    assert report.not_found == ["1", "ghost@example.com"]
    assert report.failed == [
        {
            "contact": "2",
            "reason": "could not read the contact's enrolments: ActiveCampaign failed (HTTP 503)",
        }
    ]
    assert account.post_count == 0


def test_a_rejected_key_stops_the_task(account: Account) -> None:
    account.reads["1"] = [ActiveCampaignAuthError("ActiveCampaign refused GET", status=403)]
    account.reads["2"] = [[]]

    with pytest.raises(ActiveCampaignAuthError):
        Enroller(account.hook, AUTOMATION, max_workers=2).run(parse_contacts(["1", "2"]))


def test_an_email_and_an_id_of_the_same_contact_enrol_once(account: Account) -> None:
    account.emails["ann@example.com"] = "5"
    account.reads["5"] = [[]]
    account.posts = [created("77")]

    report = enroller(account).run(parse_contacts(["ann@example.com", "5"]))

    assert report.enrolled == {"ann@example.com": "77", "5": "77"}
    assert account.post_count == 1


def test_create_missing_upserts_the_contact_first(account: Account) -> None:
    account.reads["9"] = [[]]
    account.posts = [created("78")]
    sync = {"contact": {"id": "9", "email": "new@example.com"}}
    original = account.hook.post.side_effect
    account.hook.post.side_effect = lambda endpoint, json=None, **kw: (
        sync if endpoint == "contact/sync" else original(endpoint, json)
    )

    report = enroller(account, create_missing=True).run(parse_contacts(["new@example.com"]))

    assert report.enrolled == {"new@example.com": "78"}
    assert report.created_contacts == ["new@example.com"]
    account.hook.post.assert_any_call("contact/sync", {"contact": {"email": "new@example.com"}})


# -- Remover ---------------------------------------------------------------------------------------


def test_remover_deletes_running_enrolments_and_tolerates_vanished_ones(account: Account) -> None:
    account.reads["1"] = [[row("10"), row("11"), row("12", "2", 1)]]
    account.reads["2"] = [[row("20", "2", 1)]]
    account.hook.delete.side_effect = [
        {},
        ActiveCampaignNotFoundError("No Result found for SubscriberSeries with id 11", status=403),
    ]

    report = Remover(account.hook, AUTOMATION, max_workers=1).run(parse_contacts(["1", "2", "3"]))

    assert report.as_result() == {
        "removed": {"1": ["10", "11"]},
        "not_enrolled": ["2"],
        "not_found": ["3"],
        "failed": [],
    }
    assert [call.args[0] for call in account.hook.delete.call_args_list] == [
        "contactAutomations/10",
        "contactAutomations/11",
    ]


def test_remover_reports_a_failed_delete_and_can_include_completed(account: Account) -> None:
    account.reads["1"] = [[row("10"), row("12", "2", 1)]]
    account.hook.delete.side_effect = [{}, ActiveCampaignServerError("ActiveCampaign failed", status=500)]

    report = Remover(account.hook, AUTOMATION, include_completed=True, max_workers=1).run(
        parse_contacts(["1"])
    )

    assert report.removed == {"1": ["10"]}
    assert report.failed == [
        {"contact": "1", "reason": "could not remove enrolment 12: ActiveCampaign failed (HTTP 500)"}
    ]


def test_first_try_with_reentry_posts_without_reading(account: Account) -> None:
    account.reads["1"] = [[row("50")]]
    account.posts = [created("101")]

    report = enroller(account, allow_reentry=True).run(parse_contacts(["1"]))

    assert report.enrolled == {"1": "101"}
    account.hook.get.assert_not_called()


def test_without_a_prior_read_an_ambiguous_post_is_recognised_by_its_start_time(account: Account) -> None:
    """No read before the POST: after an ambiguous failure, only an enrolment that started since the
    enroller began counts as ours; an older one (here from April) does not."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    account.reads["1"] = [[row("40", adddate="2024-04-01T10:00:00+00:00"), row("41", adddate=now)]]
    account.reads["2"] = [[row("42", adddate="2024-04-01T10:00:00+00:00")]]
    account.posts = [raising(ambiguous()), raising(ambiguous()), created("43")]

    report = enroller(account, allow_reentry=True).run(parse_contacts(["1", "2"]))

    assert report.enrolled == {"1": "41", "2": "43"}
    assert account.post_count == 3  # contact 2's POST was sent again only after two reads found nothing


def test_a_lookup_that_keeps_failing_fails_that_contact_only(account: Account) -> None:
    account.emails["ann@example.com"] = "5"
    account.reads["5"] = [[]]
    account.posts = [created("77")]
    lookup = account.hook.get_contact_by_email.side_effect
    account.hook.get_contact_by_email.side_effect = lambda email: (
        lookup(email)
        if email == "ann@example.com"
        else _raise(ActiveCampaignServerError("ActiveCampaign failed", status=502))
    )

    report = enroller(account).run(parse_contacts(["bob@example.com", "ann@example.com"]))

    assert report.enrolled == {"ann@example.com": "77"}
    assert report.failed == [
        {
            "contact": "bob@example.com",
            "reason": "could not look the contact up: ActiveCampaign failed (HTTP 502)",
        }
    ]


def _raise(error: Exception) -> Any:
    raise error


# -- re-adding a running contact: the reference does not say (§6, could-not-confirm #7) -------------


def test_a_reentry_refused_while_the_contact_runs_is_reported_as_already_active(account: Account) -> None:
    """Refused (the documented 403): the contact is running, where the caller wants it."""
    account.reads["1"] = [[row("50")]]
    account.reads["2"] = [[]]
    refusal = ActiveCampaignValidationError(
        "ActiveCampaign rejected POST: Could not create SubscriberSeries", status=403
    )
    account.posts = [raising(refusal), created("101")]

    report = enroller(account, allow_reentry=True).run(parse_contacts(["1", "2"]))

    assert report.as_result() == {
        "enrolled": {"2": "101"},
        "skipped_already_active": ["1"],
        "skipped_previously_enrolled": [],
        "not_found": [],
        "failed": [],
    }
    assert report.ids_to_wait_for() == ["101", "50"]
    assert account.post_count == 2


def test_a_reentry_that_is_ignored_reports_the_running_enrolment(account: Account) -> None:
    """Ignored (the third reading): the answer carries the running enrolment, reported as enrolled."""
    account.reads["1"] = [[row("50")]]
    account.posts = [created("50")]

    report = enroller(account, allow_reentry=True).run(parse_contacts(["1"]))

    assert report.enrolled == {"1": "50"}
    assert report.failed == []
    assert account.post_count == 1
