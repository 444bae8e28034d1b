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
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from activecampaign_emulator.core import DEFAULT_REQUESTS_PER_SECOND
from activecampaign_emulator.testing import EmulatorClient, RunningEmulator, running_emulator

DEFAULT_CONN_ID = "activecampaign_default"


def conn_env_var(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


class EmulatorFixture:
    """What the ``emulator`` fixture yields: the server plus connection-variable management."""

    def __init__(self, server: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
        self.server = server
        self._monkeypatch = monkeypatch
        self._connections: dict[str, dict[str, Any]] = {}

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

    def set_overlapping_pages(self, enabled: bool = True) -> None:
        """See :meth:`EmulatorClient.set_overlapping_pages`."""
        self.client.set_overlapping_pages(enabled)

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


@pytest.fixture(scope="session")
def activecampaign_emulator_server() -> Iterator[RunningEmulator]:
    with running_emulator() as server:
        yield server


@pytest.fixture
def emulator(
    activecampaign_emulator_server: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> EmulatorFixture:
    fixture = EmulatorFixture(activecampaign_emulator_server, monkeypatch)
    fixture.reset()
    fixture.export_connection()
    return fixture
