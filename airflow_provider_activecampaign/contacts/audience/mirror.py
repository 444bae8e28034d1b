"""Mirroring: what a sync takes away from records that left its source, and the cap on it.

A mirror only touches what the sync itself gave: the lists and tags it adds, on records it sent
before (they are in its state). A source that suddenly lost most of its rows (an export that
failed half-way, a wrong date in a path) would otherwise unsubscribe half the audience, so the
number of departed records is checked against ``max_removals`` *before* any removal is made,
and the run fails with nothing removed when it is exceeded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_activecampaign.exceptions import ActiveCampaignError
from airflow_provider_activecampaign.records.ratio import percent

#: Without a ``max_removals``, a mirror removes at most this share of the records it synced before.
DEFAULT_MAX_REMOVAL_RATIO = 0.1


class RemovalCapExceededError(ActiveCampaignError):
    """More records left the source than ``max_removals`` allows; nothing was removed."""


@dataclass(frozen=True)
class RemovalCap:
    """At most ``count`` records, and at most ``ratio`` of those synced before, lose lists and tags."""

    count: int | None = None
    ratio: float | None = DEFAULT_MAX_REMOVAL_RATIO

    @classmethod
    def parse(cls, value: Any) -> RemovalCap:
        """``None`` (the default ratio), an int (a count), a float below 1 (a ratio), or
        ``{"count": n, "ratio": r}`` (both must hold)."""
        if value is None:
            return cls()
        if isinstance(value, RemovalCap):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - {"count", "ratio"}
            if unknown:
                raise ValueError(f"max_removals takes 'count' and 'ratio', not {sorted(unknown)}.")
            count = value.get("count")
            ratio = value.get("ratio")
            cap = cls(int(count) if count is not None else None, float(ratio) if ratio is not None else None)
        elif isinstance(value, bool):
            raise ValueError("max_removals must be a count, a ratio or {'count': n, 'ratio': r}.")
        elif isinstance(value, int):
            cap = cls(value, None)
        elif isinstance(value, float) and 0.0 <= value <= 1.0:
            cap = cls(None, value)
        else:
            raise ValueError(
                f"max_removals must be a count (int), a ratio (float from 0 to 1) or "
                f"{{'count': n, 'ratio': r}}, got {value!r}."
            )
        if cap.count is not None and cap.count < 0:
            raise ValueError("max_removals' count must not be negative.")
        if cap.ratio is not None and not 0.0 <= cap.ratio <= 1.0:
            raise ValueError("max_removals' ratio must be between 0 and 1.")
        return cap

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "ratio": self.ratio}

    def check(self, departed: int, synced_before: int, *, what: str = "contacts") -> None:
        """Raise :class:`RemovalCapExceededError` when ``departed`` records are more than allowed."""
        problems: list[str] = []
        if self.count is not None and departed > self.count:
            problems.append(f"more than max_removals' count of {self.count:,}")
        if self.ratio is not None and synced_before and departed / synced_before > self.ratio:
            problems.append(
                f"{percent(departed / synced_before)} of the {synced_before:,} {what} synced before, "
                f"more than max_removals' ratio of {percent(self.ratio)}"
            )
        if problems:
            raise RemovalCapExceededError(
                f"{departed:,} {what} left the source since the last sync and would lose the sync's lists "
                f"and tags: {' and '.join(problems)}. Nothing was removed or sent.",
                hint="If the source is right (a real clean-up), raise max_removals for one run; if not, fix "
                "the source (an export that failed half-way, a path for the wrong date) and re-run.",
            )
