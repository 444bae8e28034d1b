"""A real Airflow api-server and a headless Chromium, for tests that drive the Airflow UI.

The api-server runs as a subprocess in its own ``AIRFLOW_HOME`` with a freshly migrated SQLite
database, the simple auth manager (everyone is an admin) and connection testing enabled. It finds
the provider through its installed entry point, exactly as a user's deployment does.

Chromium is the operating system's package (Debian: ``apt-get install chromium``), driven by the
Playwright Python package (the ``browser`` dependency group: ``pip install --group browser``, pip >= 25.1,
or ``pip install playwright``); Playwright's own browser downloads are not
used. When either is missing, the fixtures try to install it (as root with apt-get, and with pip);
when that is impossible the tests are skipped and say why. Set ``AC_REQUIRE_BROWSER=1`` (CI does)
to turn that skip into a failure, and ``AC_BROWSER_INSTALL=0`` to never install anything.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import httpx
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

#: Flags for a headless Chromium in a container: no sandbox (root), no GPU, and no background
#: traffic to Google (updates, sync, QUIC probes) that could slow a test or leave the machine.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
STARTUP_TIMEOUT = 90.0
UI_TIMEOUT_MS = 15_000


def skip_or_fail(reason: str) -> NoReturn:
    """Skip with ``reason``, or fail when the environment insists on running browser tests."""
    if os.environ.get("AC_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (AC_REQUIRE_BROWSER=1, so this is an error, not a skip)", pytrace=False)
    pytest.skip(reason)


def _install_allowed() -> bool:
    return os.environ.get("AC_BROWSER_INSTALL", "1") != "0"


def _find_chromium() -> str | None:
    configured = os.environ.get("AC_CHROMIUM_PATH")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _install_chromium() -> str:
    """Install Debian's chromium; return what went wrong, or "" when it worked."""
    if not _install_allowed():
        return "installing is disabled (AC_BROWSER_INSTALL=0)"
    if shutil.which("apt-get") is None:
        return "there is no apt-get to install it with"
    if os.geteuid() != 0:
        return "installing it needs root (apt-get install -y chromium)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
    ):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0:
            return f"`{' '.join(command)}` failed: {done.stderr.strip()[-500:]}"
    return ""


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """The system Chromium, installed on first use where that is possible."""
    found = _find_chromium()
    if found is None:
        problem = _install_chromium()
        found = _find_chromium()
        if found is None:
            skip_or_fail(
                f"No Chromium to drive the Airflow UI with, and {problem or 'installing it failed'}."
            )
    return found


@pytest.fixture(scope="session")
def playwright_available() -> None:
    """The Playwright package (the ``browser`` dependency group), pip-installed on first use if missing."""
    if importlib.util.find_spec("playwright") is not None:
        return
    if not _install_allowed():
        skip_or_fail("Playwright is missing: pip install --group browser (pip >= 25.1), or playwright.")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "playwright>=1.45"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    importlib.invalidate_caches()
    if importlib.util.find_spec("playwright") is None:
        skip_or_fail(f"Playwright is missing and pip could not install it: {done.stderr[-500:]}")


@pytest.fixture(scope="module")
def browser(chromium_executable: str, playwright_available: None) -> Iterator[Browser]:
    """A headless Chromium, shared by the tests of a module."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(
                executable_path=chromium_executable, args=list(CHROMIUM_ARGS), headless=True
            )
        except PlaywrightError as error:
            skip_or_fail(f"Chromium at {chromium_executable} cannot start here: {str(error)[:500]}")
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context and tab (no cookies carried over between tests)."""
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT_MS)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
    context.set_default_timeout(UI_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


# --------------------------------------------------------------------------------------------------
# The Airflow api-server
# --------------------------------------------------------------------------------------------------


@dataclass
class AirflowApiServer:
    """A running ``airflow api-server``: where it is and where its home and log are."""

    url: str
    home: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def token(self) -> str:
        """A JWT from the simple auth manager (``GET /auth/token`` works when everyone is admin)."""
        response = httpx.get(f"{self.url}/auth/token", timeout=10)
        response.raise_for_status()
        return str(response.json()["access_token"])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _airflow_env(home: Path, url: str) -> dict[str, str]:
    """The parent's environment minus any Airflow settings, plus an isolated, UI-ready config."""
    from cryptography.fernet import Fernet

    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))
    }
    (home / "dags").mkdir(exist_ok=True)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__API__BASE_URL": url,
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _wait_until_healthy(server: AirflowApiServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"airflow api-server exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            if httpx.get(f"{server.url}/api/v2/monitor/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"airflow api-server did not answer within {timeout:.0f} s:\n{server.log_tail()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (it may fork workers), then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def airflow_api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowApiServer]:
    """``airflow api-server`` on a free loopback port, with a migrated SQLite database of its own."""
    home = tmp_path_factory.mktemp("airflow-api-server-home")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = _airflow_env(home, url)
    migrated = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if migrated.returncode != 0:
        raise RuntimeError(
            f"airflow db migrate failed:\n{migrated.stdout[-2000:]}\n{migrated.stderr[-2000:]}"
        )
    log_path = home / "api-server.log"
    command = [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--workers", "1", "--apps", "core"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = AirflowApiServer(url=url, home=home, log_path=log_path, process=process)
    try:
        _wait_until_healthy(server, STARTUP_TIMEOUT)
        yield server
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def airflow_api(airflow_api_server: AirflowApiServer) -> Iterator[httpx.Client]:
    """An authenticated client of the api-server's REST API (``/api/v2/...``)."""
    headers: dict[str, Any] = {"Authorization": f"Bearer {airflow_api_server.token()}"}
    with httpx.Client(base_url=airflow_api_server.url, headers=headers, timeout=30) as client:
        yield client
