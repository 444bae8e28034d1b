"""pytest fixtures for testing DAGs and code against the ActiveCampaign emulator.

Installed with the ``activecampaign-emulator`` distribution, which registers it with pytest through
a ``pytest11`` entry point: no ``pytest_plugins`` line is needed.  Fixtures:

``activecampaign_emulator_server`` (session)
    One in-process emulator (uvicorn thread, free loopback port) for the whole session.
``emulator`` (function)
    The same server, reset for this test: default seed, no faults, empty request log,
    speed 1, rate limit on (5/s).  ``AIRFLOW_CONN_ACTIVECAMPAIGN_DEFAULT`` points at it, with
    ``extra.requests_per_second`` = 5 * speed so the client's limiter matches the server.
    Call ``emulator.configure(speed=50)`` to speed time up; the variable follows.

Checking requests against the official reference (``activecampaign_reference`` in the pytest ini:
the path of ActiveCampaign's OpenAPI document; ``activecampaign_reference_allowlist``: known
deviations with their reasons; ``activecampaign_reference_user_agent``: only requests whose
``User-Agent`` starts with it are checked, e.g. the client under test): every request a test sends
to the emulator is validated at the ``emulator`` fixture's teardown, and a deviation no allowlist
entry covers fails the test.  A test that sends off-reference requests on purpose calls
``emulator.expect_off_reference("why")``.  Needs the ``reference`` extra (openapi-core).

``activecampaign_reference_operations`` (optional): a JSON file listing every (method, path) the
client is known to use (``{"operations": [{"method", "path"}, ...]}``); a test whose requests use
one it does not list fails, so the list (and what is checked per operation) cannot go stale.

``activecampaign_assumed_unrelied`` (optional): names of *assumed* behaviours (``assumed.py``) the
client is declared never to depend on.  A test in which one of the client's requests got an answer
that depended on one of them fails at teardown, so "affects no client code" is checked over the
whole suite instead of argued (the answers are marked by the emulator: ``ApiRequest.assumed``).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from activecampaign_emulator.core import DEFAULT_REQUESTS_PER_SECOND
from activecampaign_emulator.reference import Deviation, ReferenceValidator, load_operations
from activecampaign_emulator.requestlog import ObservedRequest, Reliance
from activecampaign_emulator.testing import EmulatorClient, RunningEmulator, running_emulator

DEFAULT_CONN_ID = "activecampaign_default"
#: Set to a file path to append every unexpected deviation there (JSON Lines) instead of failing.
SURVEY_ENV = "ACTIVECAMPAIGN_REFERENCE_SURVEY"


def conn_env_var(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


class EmulatorFixture:
    """What the ``emulator`` fixture yields: the server plus connection-variable management."""

    def __init__(self, server: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
        self.server = server
        self._monkeypatch = monkeypatch
        self._connections: dict[str, dict[str, Any]] = {}
        self.observed: list[ObservedRequest] = []
        #: Answers this test's checked requests got that depended on an assumed behaviour.
        self.reliances: list[Reliance] = []
        self.off_reference_reason: str | None = None

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def api_key(self) -> str:
        return self.server.api_key

    @property
    def client(self) -> EmulatorClient:
        return self.server.client

    @property
    def speed(self) -> float:
        return self.server.speed

    @property
    def conn_id(self) -> str:
        return DEFAULT_CONN_ID

    def connection_json(self, **extra: Any) -> str:
        return self.server.connection_json(**extra)

    def export_connection(self, conn_id: str = DEFAULT_CONN_ID, **extra: Any) -> str:
        """Set ``AIRFLOW_CONN_<CONN_ID>`` for this test (re-exported when the speed changes)."""
        self._connections[conn_id] = extra
        value = self.server.connection_json(**extra)
        self._monkeypatch.setenv(conn_env_var(conn_id), value)
        return value

    def configure(
        self,
        *,
        speed: float | None = None,
        rate_limit: bool | None = None,
        requests_per_second: int | None = None,
    ) -> dict[str, Any]:
        """Change the emulator's config and keep every exported connection in step."""
        config = self.server.configure(
            speed=speed, rate_limit=rate_limit, requests_per_second=requests_per_second
        )
        for conn_id, extra in self._connections.items():
            self.export_connection(conn_id, **extra)
        return config

    def reset(self, seed: Mapping[str, Any] | None = None) -> None:
        """Reset state (optionally to ``seed``) and the default config; connections follow."""
        self.client.reset(seed)
        self.configure(speed=1.0, rate_limit=True, requests_per_second=DEFAULT_REQUESTS_PER_SECOND)

    def expect_off_reference(self, reason: str) -> None:
        """This test sends requests the reference does not describe on purpose: do not check them."""
        if not reason.strip():
            raise ValueError("say why this test's requests are not checked against the reference")
        self.off_reference_reason = reason

    # Convenience pass-throughs to the control client.
    def state(self) -> dict[str, Any]:
        return self.client.state()

    def contact(self, email: str) -> dict[str, Any] | None:
        return self.client.contact(email)

    def requests(self, since: int = 0) -> dict[str, Any]:
        return self.client.requests(since)

    def seed(self, seed: Mapping[str, Any]) -> dict[str, list[str]]:
        return self.client.seed(seed)

    def add_fault(self, method: str, path: str, kind: str, **options: Any) -> dict[str, Any]:
        return self.client.add_fault(method, path, kind, **options)

    def clear_faults(self) -> None:
        self.client.clear_faults()

    def add_intermittent_403(self, path: str = "/api/3/*", **options: Any) -> dict[str, Any]:
        """See :meth:`EmulatorClient.add_intermittent_403`."""
        return self.client.add_intermittent_403(path, **options)

    def set_import_reporting(
        self, *, unaccounted_contacts: int | None = None, info_unknown_seconds: float | None = None
    ) -> None:
        """See :meth:`EmulatorClient.set_import_reporting`."""
        self.client.set_import_reporting(
            unaccounted_contacts=unaccounted_contacts, info_unknown_seconds=info_unknown_seconds
        )

    def set_overlapping_pages(self, enabled: bool = True, *, within_limit: bool = False) -> None:
        """See :meth:`EmulatorClient.set_overlapping_pages`."""
        self.client.set_overlapping_pages(enabled, within_limit=within_limit)

    def set_assumed(self, **flags: bool) -> dict[str, bool]:
        """See :meth:`EmulatorClient.set_assumed`."""
        return self.client.set_assumed(**flags)

    def advance(self, seconds: float) -> dict[str, Any]:
        return self.client.advance(seconds)

    @property
    def event_url(self) -> str:
        """The emulated event-tracking endpoint (``https://trackcmp.net/event``)."""
        return self.client.event_url

    def crm(self, *sections: str) -> dict[str, Any]:
        """See :meth:`EmulatorClient.crm`."""
        return self.client.crm(*sections)

    def event_tracking(self) -> dict[str, Any]:
        """See :meth:`EmulatorClient.event_tracking`."""
        return self.client.event_tracking()

    def set_event_tracking(self, enabled: bool | None = None, **options: Any) -> dict[str, Any]:
        """See :meth:`EmulatorClient.set_event_tracking`."""
        return self.client.set_event_tracking(enabled, **options)

    def set_contact_delete_limit(self, monthly_limit: int | None) -> None:
        """See :meth:`EmulatorClient.set_contact_delete_limit`."""
        self.client.set_contact_delete_limit(monthly_limit)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "activecampaign_reference",
        "ActiveCampaign's OpenAPI document: every request sent to the emulator is checked against it",
        default="",
    )
    parser.addini(
        "activecampaign_reference_allowlist",
        "JSON file of known deviations from the reference, each with its reason and source",
        default="",
    )
    parser.addini(
        "activecampaign_reference_operations",
        "JSON file of the (method, path) operations the client is known to use; a test using another fails",
        default="",
    )
    parser.addini(
        "activecampaign_assumed_unrelied",
        "assumed emulator behaviours the client must never depend on; a test whose requests do fails",
        type="args",
        default=[],
    )
    parser.addini(
        "activecampaign_reference_user_agent",
        "check only requests whose User-Agent starts with this (empty: every request)",
        default="",
    )


@pytest.fixture(scope="session")
def activecampaign_emulator_server() -> Iterator[RunningEmulator]:
    with running_emulator() as server:
        yield server


@pytest.fixture(scope="session")
def activecampaign_reference(pytestconfig: pytest.Config) -> ReferenceValidator | None:
    """The validator named by the ``activecampaign_reference`` ini option, or ``None`` (no checks)."""
    document = str(pytestconfig.getini("activecampaign_reference") or "")
    if not document:
        return None
    allowlist = str(pytestconfig.getini("activecampaign_reference_allowlist") or "")
    root = Path(str(pytestconfig.rootpath))
    return ReferenceValidator.from_files(root / document, root / allowlist if allowlist else None)


@pytest.fixture(scope="session")
def activecampaign_reference_operations(
    pytestconfig: pytest.Config,
) -> tuple[Path, set[tuple[str, str]]] | None:
    """The ``activecampaign_reference_operations`` file and the operations it lists, or ``None``."""
    listed = str(pytestconfig.getini("activecampaign_reference_operations") or "")
    if not listed:
        return None
    path = Path(str(pytestconfig.rootpath)) / listed
    return path, load_operations(path)


@pytest.fixture
def emulator(
    activecampaign_emulator_server: RunningEmulator,
    activecampaign_reference: ReferenceValidator | None,
    activecampaign_reference_operations: tuple[Path, set[tuple[str, str]]] | None,
    pytestconfig: pytest.Config,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[EmulatorFixture]:
    fixture = EmulatorFixture(activecampaign_emulator_server, monkeypatch)
    fixture.reset()
    fixture.export_connection()
    emu = activecampaign_emulator_server.emulator
    if activecampaign_reference is None or emu is None:
        yield fixture
        return
    agent = str(pytestconfig.getini("activecampaign_reference_user_agent") or "")

    def observe(request: ObservedRequest) -> None:
        if request.headers.get("user-agent", "").startswith(agent):
            fixture.observed.append(request)

    def rely(reliance: Reliance) -> None:
        if reliance.user_agent.startswith(agent):
            fixture.reliances.append(reliance)

    emu.request_observer = observe
    emu.reliance_observer = rely
    try:
        yield fixture
    finally:
        emu.request_observer = None
        emu.reliance_observer = None
    if fixture.off_reference_reason is None:
        deviations = activecampaign_reference.unexpected(fixture.observed)
        survey = os.environ.get(SURVEY_ENV)
        if survey:  # list them all instead of failing (building an allowlist)
            with open(survey, "a", encoding="utf-8") as handle:
                for deviation in deviations:
                    handle.write(json.dumps(dataclasses.asdict(deviation)) + "\n")
            with open(survey + ".operations", "a", encoding="utf-8") as handle:
                for method, template in sorted(activecampaign_reference.operations(fixture.observed)):
                    handle.write(f"{method} {template}\n")
        elif deviations:
            pytest.fail(_report(deviations), pytrace=False)
        elif activecampaign_reference_operations is not None:
            listing, known = activecampaign_reference_operations
            unlisted = sorted(activecampaign_reference.operations(fixture.observed) - known)
            if unlisted:
                pytest.fail(_unlisted_report(unlisted, listing), pytrace=False)
    unrelied = set(pytestconfig.getini("activecampaign_assumed_unrelied"))
    relied = [r for r in fixture.reliances if r.behaviour in unrelied]
    if relied and fixture.off_reference_reason is None:
        pytest.fail(_reliance_report(relied), pytrace=False)


def _report(deviations: list[Deviation]) -> str:
    shown = "\n".join(f"  - {d.describe()}" for d in deviations[:20])
    more = f"\n  ... and {len(deviations) - 20} more" if len(deviations) > 20 else ""
    return (
        f"{len(deviations)} request(s) sent to the emulator deviate from ActiveCampaign's official "
        f"reference:\n{shown}{more}\nFix the request, or, if the live API is known to accept it, add "
        "an entry (method, path, kind, detail, reason, source) to the reference allowlist."
    )


def _unlisted_report(unlisted: list[tuple[str, str]], listing: Path) -> str:
    shown = "\n".join(f"  - {method} {path}" for method, path in unlisted)
    return (
        f"This test used {len(unlisted)} operation(s) that {listing.name} does not list:\n{shown}\n"
        f"Add them to {listing} (a survey run and scripts/reference_operations.py, or by hand), "
        "with a contract test of each one's official example or the reason it is exempt."
    )


def _reliance_report(relied: list[Reliance]) -> str:
    unique = list(dict.fromkeys(r.describe() for r in relied))
    shown = "\n".join(f"  - {line}" for line in unique[:20])
    return (
        f"{len(unique)} answer(s) depended on an assumed behaviour the client is declared never to "
        f"rely on (activecampaign_assumed_unrelied):\n{shown}\nThe reference does not promise it: "
        "make the request explicit (e.g. name the order), or test the client with the behaviour "
        "switched both ways and take it off the list."
    )
