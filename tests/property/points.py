"""Which points run: the CI sample, the wide sample (every writer x every mode) or every point."""

from __future__ import annotations

from tests.property.harness import LATE_DELAYS, Point
from tests.property.writers import WRITERS, Writer

#: CI: every writer killed once after an applied write; kills before forwarding, late applies
#: (each delay once) and kills at reads on a few writers, so every mode is covered in ~3 minutes.
_CI_EXTRA = [
    Point("events", "late", 1, 10.0),
    Point("deals", "late", 1, 3.0),
    Point("accounts", "late", 2, 0.5),
    Point("events", "kill_before", 2),
    Point("erasure", "kill_before", 1),
    Point("enrol", "kill_before", 1),
    Point("contacts_import", "kill_read", 2),
    Point("campaign", "kill_read", 3),
]


def sample_points() -> list[Point]:
    """The CI sample: every writer, every mode, every late delay."""
    points = [
        Point(name, "kill_after", 2 if number % 2 and WRITERS[name].min_writes > 1 else 1)
        for number, name in enumerate(WRITERS)
    ]
    return points + _CI_EXTRA


def wide_points() -> list[Point]:
    """Every writer in every mode (one index each; late delays rotated): the ``slow`` tests."""
    points: list[Point] = []
    for number, name in enumerate(WRITERS):
        points.append(Point(name, "kill_after", 1))
        points.append(Point(name, "kill_before", 1))
        points.append(Point(name, "late", 1, LATE_DELAYS[number % len(LATE_DELAYS)]))
        if WRITERS[name].sample_reads:
            points.append(Point(name, "kill_read", WRITERS[name].sample_reads[0]))
    return points


def all_points(writer: Writer, writes: int, reads: int) -> list[Point]:
    """Every write killed after applying and before forwarding, late applies, sampled reads."""
    points = [
        Point(writer.name, mode, i) for i in range(1, writes + 1) for mode in ("kill_after", "kill_before")
    ]
    late_at = sorted({1, max(1, writes // 2), writes})
    points += [Point(writer.name, "late", i, d) for i in late_at for d in LATE_DELAYS]
    points += [Point(writer.name, "kill_read", i) for i in writer.sample_reads if i <= reads]
    return points
