"""Which points run: every one (the script) or the CI sample (every writer, every mode)."""

from __future__ import annotations

from tests.property.harness import LATE_DELAYS, Point
from tests.property.writers import WRITERS, Writer

#: The CI sample: per writer one kill after an applied write, one kill before forwarding and one
#: late apply, rotated across writers so every mode and late delay is covered; kills at reads for a
#: few writers. Indexes are small: every writer makes at least two writes with ``ITEMS`` inputs.
_SAMPLE_LATE = {"events": 10.0, "deals": 3.0}


def sample_points() -> list[Point]:
    points: list[Point] = []
    for number, name in enumerate(WRITERS):
        points.append(Point(name, "kill_after", 2 if number % 2 else 1))
        points.append(Point(name, "kill_before", 1 if number % 2 else 2))
        delay = _SAMPLE_LATE.get(name, LATE_DELAYS[number % len(LATE_DELAYS)])
        points.append(Point(name, "late", 1, delay))
        if number % 3 == 0:
            points.append(Point(name, "kill_read", WRITERS[name].sample_reads[0]))
    return points


def all_points(writer: Writer, writes: int, reads: int) -> list[Point]:
    """Every write killed after applying and before forwarding, late applies, sampled reads."""
    points = [Point(writer.name, mode, i) for i in range(1, writes + 1) for mode in ("kill_after", "kill_before")]
    late_at = sorted({1, max(1, writes // 2), writes})
    points += [Point(writer.name, "late", i, d) for i in late_at for d in LATE_DELAYS]
    points += [Point(writer.name, "kill_read", i) for i in writer.sample_reads if i <= reads]
    return points
