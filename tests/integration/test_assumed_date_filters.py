"""Incremental exports over consecutive windows, with the date filters strict or inclusive.

``GET /contacts`` says only "updated after"/"before" a date (SPEC, ``format: date``): whether a
contact stamped at the day's start passes is *assumed* (switch ``date_filters_strict``: on, strict
``>``/``<``; off, inclusive ``>=``/``<=``). ``GET /deals`` says "greater than or equal to" and
"less than" (not switched). The filter's date counts from the account's own midnight, which the API
does not tell us, so the exports send a wider range and cut each window exactly on the record's
own update time (``exports/windows.py``).

Windows here end at UTC midnights, at the account's midnights and at hours in between; records
are stamped on every boundary, a second either side of it, and at the account's midnights. Each
must land in exactly the window holding it, whatever the mode and the account's offset (the
extremes, +14:00 and -12:00, and a half-hour one).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture
from activecampaign_emulator.seed import default_seed

from airflow_provider_activecampaign.hooks import transport
from airflow_provider_activecampaign.operators.contacts import ActiveCampaignExportContactsOperator
from airflow_provider_activecampaign.operators.export import ActiveCampaignExportOperator
from tests.integration.contacts_support import read_jsonl, use_emulator

pytestmark = pytest.mark.integration

STRICTNESS = pytest.mark.parametrize("strict", [True, False], ids=["strict", "inclusive"])
#: The account offsets: the earliest and latest midnights on Earth, and a half-hour one.
ZONES = pytest.mark.parametrize("zone", ["+14:00", "-12:00", "+05:30"])
SECOND = timedelta(seconds=1)
START = datetime(2024, 3, 1, tzinfo=UTC)
#: Consecutive windows: UTC midnights, an hourly-style end late in the UTC day (when, east of
#: UTC, the account's next day has long begun), a midday one.
BOUNDARIES = [
    START,
    START + timedelta(hours=10),
    START + timedelta(hours=21, minutes=30),
    START + timedelta(days=1),
    START + timedelta(days=1, hours=12),
    START + timedelta(days=2),
]
WINDOWS = list(itertools.pairwise(BOUNDARIES))


@pytest.fixture(autouse=True)
def _fresh_limiters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "_LIMITERS", {})


def offset_of(zone: str) -> timezone:
    sign = -1 if zone.startswith("-") else 1
    hours, minutes = zone[1:].split(":")
    return timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))


def edge_moments(zone: str) -> list[tuple[datetime, int | None]]:
    """Every boundary and account midnight, a second either side; each with its window (or None)."""
    local = offset_of(zone)
    midnights = [
        datetime(START.year, START.month, START.day, tzinfo=local) + timedelta(days=n) for n in range(-1, 4)
    ]
    moments: set[datetime] = set()
    for edge in [*BOUNDARIES, *midnights]:
        moments |= {edge - SECOND, edge, edge + SECOND}
    moments |= {start + (end - start) / 2 for start, end in WINDOWS}

    def window_of(moment: datetime) -> int | None:
        found = [n for n, (start, end) in enumerate(WINDOWS) if start <= moment < end]
        return found[0] if found else None

    return [(moment.astimezone(UTC), window_of(moment)) for moment in sorted(moments)]


def seed_account(emulator: EmulatorFixture, zone: str, strict: bool) -> list[tuple[str, int | None]]:
    """The default account at offset ``zone``, with a contact and a deal at each edge moment."""
    seed = default_seed()
    seed["account"]["timezone"] = zone
    use_emulator(emulator, speed=20, seed=seed)
    emulator.set_assumed(date_filters_strict=strict)
    moments = edge_moments(zone)
    emulator.seed(
        {
            "contacts": [
                {"email": f"edge{n}@example.com", "cdate": moment.isoformat()}
                for n, (moment, _) in enumerate(moments)
            ],
            "deals": [
                {
                    "title": f"edge{n}",
                    "pipeline": 1,
                    "cdate": (moment - timedelta(days=30)).isoformat(),
                    "mdate": moment.isoformat(),
                }
                for n, (moment, _) in enumerate(moments)
            ],
        }
    )
    assert sum(1 for _, window in moments if window is None) >= 4  # some fall outside every window
    return [(f"edge{n}", window) for n, (_, window) in enumerate(moments)]


def context(start: datetime, end: datetime) -> Any:
    return {"data_interval_start": start, "data_interval_end": end}


def assert_each_record_in_its_window(
    exported: list[list[str]], records: list[tuple[str, int | None]]
) -> None:
    for index, names in enumerate(exported):
        assert sorted(names) == sorted(name for name, window in records if window == index), WINDOWS[index]
    every = [name for names in exported for name in names]
    assert len(every) == len(set(every)), "a record was exported twice"
    assert sorted(every) == sorted(name for name, window in records if window is not None)


@STRICTNESS
@ZONES
def test_the_contacts_export_puts_each_contact_in_exactly_one_window(
    emulator: EmulatorFixture, tmp_path: Path, strict: bool, zone: str
) -> None:
    records = seed_account(emulator, zone, strict)
    exported = []
    for n, (start, end) in enumerate(WINDOWS):
        operator = ActiveCampaignExportContactsOperator(
            task_id="export", output_path=str(tmp_path / f"contacts-{n}.jsonl"), overlap=0
        )
        result = operator.execute(context(start, end))
        rows = read_jsonl(result["path"])
        assert result["count"] == len(rows)
        exported.append([row["email"].split("@")[0] for row in rows if row["email"].startswith("edge")])
    assert_each_record_in_its_window(exported, records)


@STRICTNESS
@ZONES
def test_the_export_operator_puts_each_contact_in_exactly_one_window(
    emulator: EmulatorFixture, tmp_path: Path, strict: bool, zone: str
) -> None:
    records = seed_account(emulator, zone, strict)
    exported = []
    for n, (start, end) in enumerate(WINDOWS):
        operator = ActiveCampaignExportOperator(
            task_id="export", resource="contacts", output_path=str(tmp_path / f"contacts-{n}.jsonl")
        )
        result = operator.execute(context(start, end))
        assert result["mode"] == "api"
        assert result["filter_ignored"] is False
        rows = read_jsonl(result["path"])
        exported.append([row["email"].split("@")[0] for row in rows if row["email"].startswith("edge")])
    assert_each_record_in_its_window(exported, records)


@ZONES
def test_the_export_operator_puts_each_deal_in_exactly_one_window(
    emulator: EmulatorFixture, tmp_path: Path, zone: str
) -> None:
    """Deals' filters are not assumed (SPEC: "greater than or equal to", "less than"); offsets matter."""
    records = seed_account(emulator, zone, strict=True)
    exported = []
    for n, (start, end) in enumerate(WINDOWS):
        operator = ActiveCampaignExportOperator(
            task_id="export", resource="deals", output_path=str(tmp_path / f"deals-{n}.jsonl")
        )
        result = operator.execute(context(start, end))
        assert result["mode"] == "api"
        assert result["filter_ignored"] is False  # the widest filter lets nothing "far outside" through
        rows = read_jsonl(result["path"])
        exported.append([row["title"] for row in rows if row["title"].startswith("edge")])
    assert_each_record_in_its_window(exported, records)
