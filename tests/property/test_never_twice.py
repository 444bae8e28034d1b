"""Every writer SIGKILLed at a write (after the server applied it, or before it was forwarded), at a
read, or with a write applied late; retried as Airflow does; judged from the emulator's final state.

Invariants: no item applied twice, none lost after the last run, the task's report true. A failing
cell names the writer, the point and what broke; the try logs are in the test's tmp_path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.property.conftest import Rig
from tests.property.harness import Point, run_point
from tests.property.points import sample_points, wide_points
from tests.property.writers import WRITERS

pytestmark = pytest.mark.integration


def check_point(rig: Rig, point: Point, tmp_path: Path) -> None:
    cell = run_point(rig.server, rig.proxy, rig.processes, WRITERS[point.writer], point, tmp_path)
    assert cell.fired, f"{point.slug}: the fault never fired (the writer made fewer requests): {cell.line()}"
    assert cell.tries[0]["state"] != "timeout", cell.line()
    verdict = cell.verdict
    assert (verdict.duplicates, verdict.lost, verdict.report_problems) == (0, 0, []), cell.line()


@pytest.mark.parametrize("point", sample_points(), ids=lambda p: p.slug)
def test_sample_point_never_twice_never_lost(property_rig: Rig, point: Point, tmp_path: Path) -> None:
    check_point(property_rig, point, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("point", wide_points(), ids=lambda p: p.slug)
def test_wide_point_never_twice_never_lost(property_rig: Rig, point: Point, tmp_path: Path) -> None:
    check_point(property_rig, point, tmp_path)


@pytest.mark.parametrize("name", list(WRITERS))
def test_writer_without_faults_applies_everything_once(property_rig: Rig, name: str, tmp_path: Path) -> None:
    """The baseline each point is judged against: a clean run is complete, single and true."""
    cell = run_point(
        property_rig.server,
        property_rig.proxy,
        property_rig.processes,
        WRITERS[name],
        Point(name, "clean"),
        tmp_path,
    )
    assert cell.tries[0]["state"] == "success", cell.line()
    assert (cell.verdict.duplicates, cell.verdict.lost, cell.verdict.report_problems) == (0, 0, []), (
        cell.line()
    )
    assert cell.writes_seen >= 1, f"{name} wrote nothing through the proxy"
