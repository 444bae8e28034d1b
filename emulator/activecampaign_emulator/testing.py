"""Helpers for tests and benchmarks: start the emulator and drive its control API.

``running_emulator()`` runs it in-process (a uvicorn thread on a free loopback port);
``start_emulator_process()`` runs it as a subprocess, for benchmarks that must not share a
GIL with the client.  Both give you ``.url``, ``.api_key`` and an :class:`EmulatorClient`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from activecampaign_emulator.app import create_app
from activecampaign_emulator.core import DEFAULT_REQUESTS_PER_SECOND, Emulator
from activecampaign_emulator.server import ServerThread, bind, url_of

CONN_TYPE = "activecampaign"


class EmulatorClient:
    """A thin httpx wrapper of the ``/_emulator/`` control endpoints (raises on HTTP errors)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=f"{self.url}/_emulator", timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EmulatorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        response = self._http.request(
            method, path, content=None if body is None else json.dumps(body), params=params
        )
        if response.status_code >= 400:
            raise RuntimeError(
                f"emulator control call {method} {path} failed: {response.status_code} {response.text}"
            )
        return response.json()

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/health")
        return result

    def set_assumed(self, **flags: bool) -> dict[str, bool]:
        """Switch behaviours the reference does not document (``assumed.ASSUMED_BEHAVIOURS``)."""
        result: dict[str, bool] = self._call("POST", "/assumed", flags)["assumed"]
        return result

    def reset(self, seed: Mapping[str, Any] | None = None) -> None:
        """Fresh state from ``seed`` (default: the start seed); clears faults, log, config, clock."""
        self._call("POST", "/reset", None if seed is None else dict(seed))

    def seed(self, seed: Mapping[str, Any]) -> dict[str, list[str]]:
        """Merge records into the running account; returns the ids created per section."""
        created: dict[str, list[str]] = self._call("POST", "/seed", dict(seed))["created"]
        return created

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/state")
        return result

    def contact(self, email: str) -> dict[str, Any] | None:
        """One contact from :meth:`state` by email (case-insensitive), or ``None``."""
        wanted = email.strip().lower()
        return next((c for c in self.state()["contacts"] if c["email"] == wanted), None)

    def requests(self, since: int = 0) -> dict[str, Any]:
        """``{"requests": [...], "counts": {...}, "max_requests_in_any_emulated_second": n}``."""
        result: dict[str, Any] = self._call("GET", "/requests", params={"since": since})
        return result

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def add_fault(
        self,
        method: str,
        path: str,
        kind: str,
        *,
        when: str = "before",
        times: int | None = None,
        probability: float | None = None,
        seed: int | None = None,
        retry_after: int = 1,
        delay: float = 1.0,
    ) -> dict[str, Any]:
        """Add a fault rule (see the ``faults`` module for kinds); returns it with its ``id``.

        ``times`` defaults to 1, or to "no limit" when ``probability`` is given; use
        ``probability=1.0`` for a rule that fires on every matching request.
        """
        rule: dict[str, Any] = {
            "method": method,
            "path": path,
            "kind": kind,
            "when": when,
            "retry_after": retry_after,
            "delay": delay,
        }
        if times is not None:
            rule["times"] = times
        if probability is not None:
            rule["probability"] = probability
            rule["seed"] = seed
        result: dict[str, Any] = self._call("POST", "/faults", rule)["fault"]
        return result

    def add_intermittent_403(
        self,
        path: str = "/api/3/*",
        *,
        method: str = "GET",
        times: int | None = None,
        probability: float | None = None,
        seed: int | None = None,
        when: str = "before",
    ) -> dict[str, Any]:
        """``403 {"message":"Forbidden"}`` on matching requests (fault kind ``http_403``).

        The transient authentication 403 integrators report from live accounts (the Singer tap
        retries it).  Defaults: every ``GET`` under ``/api/3/``, once; pass ``times`` or
        ``probability``/``seed`` exactly as for :meth:`add_fault`.
        """
        return self.add_fault(
            method, path, "http_403", when=when, times=times, probability=probability, seed=seed
        )

    def set_import_reporting(
        self, *, unaccounted_contacts: int | None = None, info_unknown_seconds: float | None = None
    ) -> None:
        """Opt into the importer's reported reporting gaps (seed ``importer`` section).

        ``unaccounted_contacts=N``: the last N contacts of every batch submitted from now on are
        processed as usual (created or updated) but listed in neither ``success`` nor
        ``failure`` of ``GET /import/info``.  ``info_unknown_seconds=S``: for S emulated seconds
        after submission ``GET /import/info`` answers 404 as for an unknown batchId.  ``0``
        turns either off; :meth:`reset` turns both off.
        """
        importer: dict[str, Any] = {}
        if unaccounted_contacts is not None:
            importer["unaccounted_contacts"] = unaccounted_contacts
        if info_unknown_seconds is not None:
            importer["info_unknown_seconds"] = info_unknown_seconds
        if importer:
            self.seed({"importer": importer})

    def set_overlapping_pages(self, enabled: bool = True, *, within_limit: bool = False) -> None:
        """``GET /contacts`` repeats the previous page's last record first (seed ``paging``).

        Applies to ``offset`` paging and to the ``id_greater`` walk; sideloads (``include=``)
        cover the repeated record too.  The repeat comes on top of ``limit``; with
        ``within_limit`` it takes one of the page's ``limit`` places.  :meth:`reset` turns it off.
        """
        self.seed({"paging": {"overlapping_pages": enabled, "overlap_within_limit": within_limit}})

    def faults(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/faults")["faults"]
        return result

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def configure(
        self,
        *,
        speed: float | None = None,
        rate_limit: bool | None = None,
        requests_per_second: int | None = None,
    ) -> dict[str, Any]:
        body = {
            k: v
            for k, v in (
                ("speed", speed),
                ("rate_limit", rate_limit),
                ("requests_per_second", requests_per_second),
            )
            if v is not None
        }
        result: dict[str, Any] = self._call("POST", "/config", body)["config"]
        return result

    def config(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/config")["config"]
        return result

    def advance(self, seconds: float) -> dict[str, Any]:
        """Move emulated time forward (imports and automations progress accordingly)."""
        result: dict[str, Any] = self._call("POST", "/clock/advance", {"seconds": seconds})
        return result

    def clock(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/clock")
        return result

    # -- CRM, event tracking, contact deletion (emulator/crm.py) ------------------------------

    @property
    def event_url(self) -> str:
        """The emulated ``https://trackcmp.net/event``: ``<emulator url>/event``."""
        return f"{self.url}/event"

    def crm(self, *sections: str) -> dict[str, Any]:
        """CRM records (``counts``, ``deals``, ``accounts``, ``account_contacts``, ``pipelines``,
        ``stages``, ``deal_fields``, ``account_fields``, ``notes``, ``deal_tasks``,
        ``ecom_*``, ``counters``); deals and accounts carry custom ``fields`` by label.
        Name ``sections`` to fetch only those."""
        params = {"only": ",".join(sections)} if sections else None
        result: dict[str, Any] = self._call("GET", "/crm", params=params)
        return result

    def deals(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.crm("deals")["deals"]
        return result

    def accounts(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.crm("accounts")["accounts"]
        return result

    def event_tracking(self) -> dict[str, Any]:
        """``{"enabled", "actid", "key", "event_names", "saved", "dropped", "events": [...]}``.

        ``events`` lists every accepted ``POST /event`` with ``saved`` false when tracking was
        disabled (the call "succeeds" but nothing is kept, as on a live account).
        """
        result: dict[str, Any] = self._call("GET", "/event_tracking")
        return result

    def set_event_tracking(
        self,
        enabled: bool | None = None,
        *,
        actid: str | None = None,
        key: str | None = None,
        events: list[str] | None = None,
    ) -> dict[str, Any]:
        """Switch event tracking and set the tracking account id / event key (seed key
        ``event_tracking``); returns :meth:`event_tracking`.  :meth:`reset` restores the seed's."""
        spec: dict[str, Any] = {}
        for name, value in (("enabled", enabled), ("actid", actid), ("key", key), ("events", events)):
            if value is not None:
                spec[name] = value
        self.seed({"event_tracking": spec})
        return self.event_tracking()

    def set_contact_delete_limit(self, monthly_limit: int | None) -> None:
        """Opt-in monthly contact-delete limit: ``DELETE /contacts/{id}`` answers 422 once
        ``monthly_limit`` contacts were deleted this calendar month (``None`` = no limit).
        Deletions already made this month count.  :meth:`reset` turns it off."""
        self.seed({"contact_deletion": {"monthly_limit": monthly_limit}})

    def seed_volume(
        self,
        *,
        contacts: int = 0,
        accounts: int = 0,
        account_contacts: int = 0,
        deals: int = 0,
        notes: int = 0,
    ) -> None:
        """Bulk-generate records fast (benchmarks): 100,000 contacts + 100,000 deals take seconds.

        ``account_contacts`` creates that many new contacts, each linked to an account.
        """
        volume = {
            k: v
            for k, v in (
                ("contacts", contacts),
                ("accounts", accounts),
                ("account_contacts", account_contacts),
                ("deals", deals),
                ("notes", notes),
            )
            if v
        }
        self.seed({"volume": volume})

    def webhooks(self, since: int = 0) -> dict[str, Any]:
        """Registered and deactivated webhooks, deliveries after ``since`` (seq), pending count."""
        result: dict[str, Any] = self._call("GET", "/webhooks", params={"since": since})
        return result

    def drop_webhook_deliveries(self, drop: bool = True) -> None:
        """Record deliveries as ``dropped`` instead of sending them (ActiveCampaign lost them)."""
        self._call("POST", "/webhooks/config", {"drop": drop})

    def wait_for_webhook_deliveries(self, timeout: float = 30.0) -> dict[str, Any]:
        """Wait until no delivery is queued or in flight; return :meth:`webhooks`."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.webhooks()
            if state["pending"] == 0 or time.monotonic() > deadline:
                return state
            time.sleep(0.05)


def connection_json(url: str, api_key: str, **extra: Any) -> str:
    """The ``AIRFLOW_CONN_<ID>`` JSON for an ``activecampaign`` connection to ``url``."""
    return json.dumps({"conn_type": CONN_TYPE, "host": url, "password": api_key, "extra": extra})


@dataclass
class RunningEmulator:
    """A started emulator: where it is, its key, a control client, and (in-process) the object."""

    url: str
    api_key: str
    client: EmulatorClient
    emulator: Emulator | None = None
    #: Speed and account limit last set through :meth:`configure` (for ``connection_json``).
    speed: float = 1.0
    requests_per_second: int = DEFAULT_REQUESTS_PER_SECOND
    extra: dict[str, Any] = field(default_factory=dict)

    def client_requests_per_second(self) -> float | int:
        """The client-side limit that matches the emulator: account limit * speed."""
        value = self.requests_per_second * self.speed
        return int(value) if float(value).is_integer() else value

    def connection_json(self, **extra: Any) -> str:
        """Connection JSON with ``requests_per_second`` matching the emulator's speed."""
        merged: dict[str, Any] = {"requests_per_second": self.client_requests_per_second()}
        merged.update(self.extra)
        merged.update(extra)
        return connection_json(self.url, self.api_key, **merged)

    def configure(
        self,
        *,
        speed: float | None = None,
        rate_limit: bool | None = None,
        requests_per_second: int | None = None,
    ) -> dict[str, Any]:
        config = self.client.configure(
            speed=speed, rate_limit=rate_limit, requests_per_second=requests_per_second
        )
        self.speed = float(config["speed"])
        self.requests_per_second = int(config["requests_per_second"])
        return config


@contextmanager
def running_emulator(
    seed: Mapping[str, Any] | None = None,
    speed: float = 1.0,
    rate_limit: bool = True,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    requests_per_second: int = DEFAULT_REQUESTS_PER_SECOND,
) -> Iterator[RunningEmulator]:
    """Serve an emulator on a free loopback port in a background thread for the block's duration."""
    emu = Emulator(seed, speed=speed, rate_limit=rate_limit, requests_per_second=requests_per_second)
    app = create_app(emu)
    sock = bind(host, port)
    url = url_of(sock)
    thread = ServerThread(app, sock)
    thread.start()
    client = EmulatorClient(url)
    try:
        yield RunningEmulator(url, emu.api_key, client, emu, speed, requests_per_second)
    finally:
        client.close()
        thread.stop()


@dataclass
class EmulatorProcess:
    """An emulator subprocess; use as a context manager or call :meth:`stop`."""

    process: subprocess.Popen[str]
    url: str
    api_key: str
    client: EmulatorClient
    _output: list[str] = field(default_factory=list)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (uvicorn shuts down gracefully), then SIGKILL if it does not exit in time."""
        self.client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_emulator_process(
    seed: Mapping[str, Any] | str | Path | None = None,
    speed: float = 1.0,
    rate_limit: bool = True,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 30.0,
    seed_dir: str | Path | None = None,
) -> EmulatorProcess:
    """Start ``python -m activecampaign_emulator`` and wait until it answers.

    ``seed`` may be a mapping (written to a temporary file in ``seed_dir`` or the system temp
    dir) or a path to a seed file.
    """
    command = [sys.executable, "-m", "activecampaign_emulator", "--host", host]
    command += ["--port", str(port), "--speed", str(speed)]
    if not rate_limit:
        command.append("--no-rate-limit")
    temporary: Path | None = None
    if isinstance(seed, Mapping):
        temporary = _seed_path(seed, seed_dir)
        command += ["--seed", str(temporary)]
    elif seed is not None:
        command += ["--seed", str(seed)]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        if process.stdout is None:  # pragma: no cover - Popen(stdout=PIPE) always sets it
            raise RuntimeError("no stdout pipe")
        url, key, output = _read_banner(process, process.stdout, startup_timeout)
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)  # read at start-up; not needed any more
    client = EmulatorClient(url)
    deadline = time.monotonic() + startup_timeout
    while True:
        try:
            client.health()
            break
        except (httpx.HTTPError, RuntimeError):
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("emulator process did not become ready:\n" + "".join(output)) from None
            time.sleep(0.05)
    return EmulatorProcess(process, url, key, client, output)


def _seed_path(seed: Mapping[str, Any], seed_dir: str | Path | None) -> Path:
    with tempfile.NamedTemporaryFile(
        "w", suffix=".json", prefix="ac-emulator-seed-", dir=seed_dir, delete=False, encoding="utf-8"
    ) as handle:
        json.dump(dict(seed), handle)
    return Path(handle.name)


def _read_banner(
    process: subprocess.Popen[str], stream: IO[str], timeout: float
) -> tuple[str, str, list[str]]:
    """Read the startup banner until the URL and key lines appear (with a deadline)."""
    found: dict[str, str] = {}
    output: list[str] = []
    done = threading.Event()

    def reader() -> None:
        for line in stream:
            output.append(line)
            if "=" in line and line.startswith("ACTIVECAMPAIGN_EMULATOR_"):
                name, _, value = line.strip().partition("=")
                found[name] = value
                if len(found) == 2:
                    done.set()
                    break
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    done.wait(timeout)
    if len(found) != 2:
        process.kill()
        raise RuntimeError("emulator process did not print its URL and key:\n" + "".join(output))

    # Keep draining output so the child never blocks on a full pipe.
    def drain() -> None:
        for line in stream:
            output.append(line)

    threading.Thread(target=drain, daemon=True).start()
    return found["ACTIVECAMPAIGN_EMULATOR_URL"], found["ACTIVECAMPAIGN_EMULATOR_API_KEY"], output
