"""The one failure-ratio rule of every writer: when too many records were lost, fail without retrying.

Every writer (the contact sync, deals, accounts, events, automation enrolment and removal, tag and
list removal) checks its run the same way, with :func:`enforce_failure_ratio`:

* **Numerator**: the records this run did not write for sure: rejected (never sent: invalid)
  plus failed (sent, and ActiveCampaign refused it), plus unknown where a writer has them.
* **Denominator**: every record the task was given, read from its source or passed in, valid or
  not, each counted once (a duplicate row superseded by a later one is not lost, so counts
  neither above nor below). Never less than the numerator.
* **Rule**: the task fails when the numerator is above zero and ``numerator / denominator`` is
  above ``max_failure_ratio`` (``0`` by default: any lost record fails the task).
* **Exception**: ``AirflowFailException``: by the time the ratio is checked, every outage and
  429 has been waited out (``max_wait``), so what is left is about the records themselves and a
  retry would fail them the same way. The valid records were written; fix the data and re-run.
* **Message**: the counts first, then the ratio and the limit (:func:`failure_ratio_message`), the
  first few failures, and where every one is listed (the failure report's location).
"""

from __future__ import annotations

import math
from decimal import Decimal

from airflow.sdk.exceptions import AirflowFailException


def check_failure_ratio(ratio: float) -> float:
    """Validate a ``max_failure_ratio`` at DAG parse time, so a typo fails before any run."""
    ratio = float(ratio)
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"max_failure_ratio must be between 0.0 and 1.0, got {ratio}.")
    return ratio


def percent(ratio: float, digits: int = 2) -> str:
    """``ratio`` as a percentage with ``digits`` significant digits, never rounded to 0 unless it is 0.

    ``5 / 1_000_000`` is ``0.0005%``, not the ``0.0%`` a fixed ``:.1%`` shows; ``0.25`` is ``25%``.
    """
    value = ratio * 100
    if value == 0 or not math.isfinite(value):
        return f"{value:g}%"
    while True:
        decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
        text = f"{value:.{decimals}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        # 99.9996% is not everything: show the digit that says so.
        if text != "100" or value == 100 or digits >= 17:
            return f"{text}%"
        digits += 1


def _plain(number: float) -> str:
    """A float as written, without an exponent: ``0``, ``0.05``, ``0.000001``."""
    return format(Decimal(repr(float(number))).normalize(), "f")


def failure_ratio_message(
    count: int,
    total: int,
    max_failure_ratio: float,
    *,
    what: str = "records",
    happened: str = "failed or were rejected",
    detail: str = "",
) -> str:
    """``"5 of 1,000,000 records (0.0005%) failed or were rejected, above max_failure_ratio 0 (0%)"``.

    Every message about a failure ratio says it this way: the counts first (a ratio alone hides
    whether 5 or 5,000 records are at stake), then the ratio and the limit with as many digits as
    it takes for them to differ, so a ratio just above its limit never reads as equal to it.
    ``detail`` goes after ``happened``, e.g. ``" (2 failed, 3 rejected)"``.
    """
    ratio = count / total if total else 0.0
    digits = 2
    shown, limit = percent(ratio, digits), percent(max_failure_ratio, digits)
    while shown == limit and ratio != max_failure_ratio and digits < 17:
        digits += 1
        shown, limit = percent(ratio, digits), percent(max_failure_ratio, digits)
    return (
        f"{count:,} of {total:,} {what} ({shown}) {happened}{detail}, above max_failure_ratio "
        f"{_plain(max_failure_ratio)} ({limit})"
    )


def enforce_failure_ratio(
    lost: int,
    total: int,
    max_failure_ratio: float,
    *,
    report: str,
    task: str = "",
    what: str = "records",
    happened: str = "failed or were rejected",
    detail: str = "",
    first: str = "",
    after: str = "",
) -> None:
    """Raise ``AirflowFailException`` when ``lost`` of ``total`` records is above ``max_failure_ratio``.

    ``report`` says where every lost record is listed (a failure report's path, an XCom key);
    ``task`` (e.g. ``"Enrolling in automation 'Welcome'"``) goes first when one operator does several things;
    ``first`` describes the first few; ``after`` says what a re-run does. The rule, its numerator and
    its denominator are the module's.
    """
    if lost <= 0:
        return
    total = max(int(total), int(lost))
    if lost / total <= max_failure_ratio:
        return
    summary = failure_ratio_message(
        lost, total, max_failure_ratio, what=what, happened=happened, detail=detail
    )
    parts = [f"{task}: {summary}." if task else f"{summary}."]
    if first:
        parts.append(f"First: {first}.")
    parts.append(f"Every one is listed in {report}.")
    if after:
        parts.append(after)
    raise AirflowFailException(" ".join(parts))
