"""The pacing rule the tests hold the client to, read from the emulator's request log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: ActiveCampaign's limit: requests per second per account.
LIMIT = 5


def throttled(counts: Mapping[str, int]) -> int:
    """How many answers in the emulator's request counts (``"METHOD /path status": n``) were a 429."""
    return sum(n for key, n in counts.items() if key.endswith(" 429"))


def without_throttled(counts: Mapping[str, int]) -> dict[str, int]:
    """The request counts without the 429s: what was answered (a 429 is not applied, and is sent again)."""
    return {key: n for key, n in counts.items() if not key.endswith(" 429")}


def assert_paced_to_the_limit(log: Mapping[str, Any]) -> None:
    """At most 1 request in 100 (and at least 1 allowed) met a 429, and arrivals kept to the limit.

    Tests run the emulator's clock 10-400x faster than real time, so an emulated second is 2.5-100 ms
    of a busy host's time: a scheduling pause can bunch a request onto the wire. A 429 it provokes
    is waited out (the caller's results show every record applied once), and the arrival counts one
    more in its window. A limiter one request a second too fast throttles about 1 request in 6, and
    a missing limiter most of them, so this still catches a pacing bug.
    """
    total = sum(log["counts"].values())
    met = throttled(log["counts"])
    assert met <= max(1, total // 100), log["counts"]
    assert log["max_requests_in_any_emulated_second"] <= LIMIT + met, log
