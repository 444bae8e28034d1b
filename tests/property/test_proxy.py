"""The holding proxy does what each mode says: the server applies the write or never sees it."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture

from tests.property.proxy import Fault, HoldingProxy

pytestmark = pytest.mark.integration


@pytest.fixture
def proxy(emulator: EmulatorFixture) -> Iterator[HoldingProxy]:
    emulator.configure(rate_limit=False)
    with HoldingProxy(emulator.url) as holding:
        yield holding


def victim() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def post_tag(proxy: HoldingProxy, emulator: EmulatorFixture, name: str, timeout: float = 5.0) -> int:
    body = {"tag": {"tag": name, "tagType": "contact", "description": ""}}
    with httpx.Client(base_url=proxy.url, headers={"Api-Token": emulator.api_key}, timeout=timeout) as http:
        return http.post("/api/3/tags", json=body).status_code


def tags(emulator: EmulatorFixture) -> list[str]:
    return [t["tag"] for t in emulator.state()["tags"]]


@pytest.mark.parametrize(("mode", "applied"), [("kill_after", True), ("kill_before", False)])
def test_a_kill_at_the_second_write_happens_after_or_before_the_server(
    proxy: HoldingProxy, emulator: EmulatorFixture, mode: str, applied: bool
) -> None:
    process = victim()
    proxy.arm(Fault(mode, 2), process.pid)

    assert post_tag(proxy, emulator, "first") == 201  # write 1: forwarded and answered
    with pytest.raises(httpx.TransportError):
        post_tag(proxy, emulator, "second")  # write 2: the victim is killed, no answer

    assert process.wait(10) == -9
    assert ("second" in tags(emulator)) is applied
    assert "first" in tags(emulator)
    assert proxy.log.fired == f"{mode}@2 POST /api/3/tags"


def test_a_late_write_times_out_and_is_applied_later(proxy: HoldingProxy, emulator: EmulatorFixture) -> None:
    proxy.arm(Fault("late", 1, delay=1.0))

    with pytest.raises(httpx.ReadTimeout):
        post_tag(proxy, emulator, "late", timeout=0.3)
    assert "late" not in tags(emulator)  # not yet

    assert proxy.wait_late_applied(10)
    assert "late" in tags(emulator)
    assert proxy.log.late_applied == 1


def test_a_kill_at_a_read_comes_after_the_server_answered(
    proxy: HoldingProxy, emulator: EmulatorFixture
) -> None:
    process = victim()
    proxy.arm(Fault("kill_read", 1), process.pid)
    with (
        httpx.Client(base_url=proxy.url, headers={"Api-Token": emulator.api_key}, timeout=5) as http,
        pytest.raises(httpx.TransportError),
    ):
        http.get("/api/3/tags")
    assert process.wait(10) == -9
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not emulator.requests()["counts"].get("GET /api/3/tags 200"):
        time.sleep(0.05)
    assert emulator.requests()["counts"].get("GET /api/3/tags 200") == 1
