"""The control API, the Python helpers, the pytest fixture, the CLI and the extension hook."""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from activecampaign_emulator import app as app_module
from activecampaign_emulator.core import ApiRequest, BaseExtension, Emulator
from activecampaign_emulator.pytest_plugin import EmulatorFixture
from activecampaign_emulator.server import ServerThread, bind, url_of
from activecampaign_emulator.testing import running_emulator, start_emulator_process
from starlette.responses import Response


def test_reset_restores_the_default_account(api: httpx.Client, emulator: EmulatorFixture) -> None:
    api.post("contact/sync", json={"contact": {"email": "x@example.com"}})
    emulator.add_fault("GET", "/api/3/users/me", "http_500")
    emulator.client.reset()
    state = emulator.state()
    assert state["contacts"] == []
    assert [lst["name"] for lst in state["lists"]] == ["Newsletter", "Customers", "Product updates"]
    assert {f["type"] for f in state["fields"]} >= {
        "text",
        "date",
        "datetime",
        "dropdown",
        "listbox",
        "number",
    }
    assert [a["name"] for a in state["automations"]] == ["Welcome series", "Re-engagement", "Legacy drip"]
    assert emulator.client.faults() == []
    assert emulator.requests()["requests"] == []


def test_reset_with_a_custom_seed(emulator: EmulatorFixture) -> None:
    seed = {
        "account": {"timezone": "+02:00", "start_time": "2024-03-01T09:00:00+02:00"},
        "api_keys": ["custom-key"],
        "lists": [{"id": 7, "name": "Only list"}],
        "contacts": [{"email": "seeded@example.com", "lists": [7], "tags": ["imported"]}],
    }
    emulator.reset(seed)
    me = httpx.get(f"{emulator.url}/api/3/users/me", headers={"Api-Token": "custom-key"})
    assert me.status_code == 200
    state = emulator.state()
    assert state["now"].startswith("2024-03-01T09:00")
    assert state["now"].endswith("+02:00")
    contact = state["contacts"][0]
    assert (contact["lists"]["7"]["status"], contact["tags"]) == (1, ["imported"])
    assert contact["counters"] == {}  # seeded history is not client activity
    bad = httpx.post(f"{emulator.url}/_emulator/reset", json={"lists": "not a list", "api_keys": ["k"]})
    assert bad.status_code == 400
    typo = httpx.post(f"{emulator.url}/_emulator/reset", json={"api_keys": ["k"], "contcts": []})
    assert typo.status_code == 400
    assert "contcts" in typo.json()["error"]


def test_seed_merges_and_reports_ids(api: httpx.Client, emulator: EmulatorFixture) -> None:
    created = emulator.seed(
        {
            "lists": [{"name": "Partners"}],
            "fields": [{"title": "Shoe size", "type": "number"}],
            "tags": ["partner"],
            "automations": [{"name": "Partner onboarding", "duration_seconds": 10, "multientry": 1}],
        }
    )
    assert created == {"lists": ["4"], "fields": ["8"], "tags": ["4"], "automations": ["4"]}
    assert api.get("fields/8").json()["field"]["perstag"] == "SHOE_SIZE"


def test_state_reports_everything_needed_for_nothing_twice(
    api: httpx.Client, emulator: EmulatorFixture
) -> None:
    cid = api.post(
        "contact/sync",
        json={"contact": {"email": "s@example.com", "fieldValues": [{"field": 4, "value": "Pro"}]}},
    ).json()["contact"]["id"]
    api.post("contactTags", json={"contactTag": {"contact": cid, "tag": 2}})
    api.post("contactTags", json={"contactTag": {"contact": cid, "tag": 2}})
    api.post("contactLists", json={"contactList": {"list": 2, "contact": cid, "status": 1}})
    contact = emulator.contact("s@example.com")
    assert contact is not None
    assert contact["fields"] == {"4": "Pro"}
    assert contact["tags"] == ["vip"]
    assert contact["tag_add_requests"] == {"vip": 2}  # one row, two requests: visible
    assert contact["lists"]["2"]["subscribes"] == 1
    assert contact["counters"] == {
        "field_writes": 1,
        "changes": 1,
        "sync_requests": 1,
        "tag_adds": 1,
        "tag_repeats": 1,
        "list_changes": 1,
        "list_requests": 1,
    }


def test_request_log(api: httpx.Client, emulator: EmulatorFixture) -> None:
    api.get("contacts/12", params={"x": "1"})
    api.get("users/me")
    log = emulator.requests()
    first = log["requests"][0]
    assert (first["method"], first["path"], first["template"], first["query"], first["status"]) == (
        "GET",
        "/api/3/contacts/12",
        "/api/3/contacts/{id}",
        "x=1",
        404,
    )
    assert first["emulated_time"].endswith("-05:00")
    assert first["real_time"] > 0
    assert log["counts"] == {"GET /api/3/contacts/{id} 404": 1, "GET /api/3/users/me 200": 1}
    assert [r["seq"] for r in emulator.requests(since=first["seq"])["requests"]] == [first["seq"] + 1]
    emulator.client.clear_requests()
    assert emulator.requests()["counts"] == {}


def test_unknown_paths_and_methods(api: httpx.Client) -> None:
    assert api.get("nothing/here").status_code == 404
    assert api.patch("contacts/1").status_code == 405


def test_config_and_clock(emulator: EmulatorFixture) -> None:
    config = emulator.configure(speed=50, rate_limit=False, requests_per_second=7)
    assert config == {"speed": 50.0, "rate_limit": False, "requests_per_second": 7}
    connection = json.loads(os.environ["AIRFLOW_CONN_ACTIVECAMPAIGN_DEFAULT"])
    assert connection["extra"]["requests_per_second"] == 350
    before = emulator.client.clock()["emulated_epoch"]
    after = emulator.advance(3600)["emulated_epoch"]
    assert after - before >= 3600
    bad = httpx.post(f"{emulator.url}/_emulator/config", json={"speed": 0})
    assert bad.status_code == 400
    assert httpx.post(f"{emulator.url}/_emulator/clock/advance", json={"seconds": -1}).status_code == 400


def test_fixture_exports_the_connection(emulator: EmulatorFixture) -> None:
    connection = json.loads(os.environ["AIRFLOW_CONN_ACTIVECAMPAIGN_DEFAULT"])
    assert connection == {
        "conn_type": "activecampaign",
        "host": emulator.url,
        "password": emulator.api_key,
        "extra": {"requests_per_second": 5},
    }
    emulator.export_connection("ac_other", timeout=3)
    emulator.configure(speed=2)
    other = json.loads(os.environ["AIRFLOW_CONN_AC_OTHER"])
    assert other["extra"] == {"requests_per_second": 10, "timeout": 3}


def test_running_emulator_in_process() -> None:
    with running_emulator(speed=10, rate_limit=False) as server:
        assert server.emulator is not None
        response = httpx.get(f"{server.url}/api/3/users/me", headers={"Api-Token": server.api_key})
        assert response.status_code == 200
        assert server.client.config()["speed"] == 10
        assert json.loads(server.connection_json(timeout=5))["extra"] == {
            "requests_per_second": 50,
            "timeout": 5,
        }


def test_emulator_subprocess_starts_and_stops(tmp_path: Path) -> None:
    seed = {"api_keys": ["process-key"], "lists": [{"name": "Solo"}]}
    with start_emulator_process(seed, speed=2, rate_limit=False, seed_dir=tmp_path) as server:
        assert server.api_key == "process-key"
        lists = httpx.get(f"{server.url}/api/3/lists", headers={"Api-Token": "process-key"}).json()
        assert [lst["name"] for lst in lists["lists"]] == ["Solo"]
        assert list(tmp_path.iterdir()) == []  # the temporary seed file is gone
    assert server.process.returncode is not None


class _Counter(BaseExtension):
    """A stand-in for the campaigns module's state."""

    seed_keys = frozenset({"widgets"})

    def __init__(self) -> None:
        self.widgets: list[str] = []
        self.resets = 0

    def reset(self, emu: Emulator, seed: Mapping[str, Any]) -> None:
        self.widgets = list(seed.get("widgets", []))
        self.resets += 1

    def snapshot(self, emu: Emulator) -> dict[str, Any]:
        return {"widgets": list(self.widgets)}


def test_extension_plugs_into_state_reset_and_routes() -> None:
    emu = Emulator()
    extension = _Counter()
    emu.add_extension(extension)

    def count(req: ApiRequest) -> Response:
        extension.widgets.append(str(req.json().get("name")))
        return req.json_response({"widgets": len(extension.widgets)}, 201)

    app = app_module.create_app(emu)
    app._dispatcher = app_module._Dispatcher([emu.route("/api/3/widgets", count, ["POST"])])
    sock = bind()
    thread = ServerThread(app, sock)
    thread.start()
    try:
        url = url_of(sock)
        created = httpx.post(f"{url}/api/3/widgets", json={"name": "w"}, headers={"Api-Token": emu.api_key})
        assert created.status_code == 201
        assert httpx.get(f"{url}/_emulator/state").json()["widgets"] == ["w"]
        seed = {"api_keys": ["k"], "widgets": ["seeded"]}
        assert httpx.post(f"{url}/_emulator/reset", json=seed).status_code == 200
        assert httpx.get(f"{url}/_emulator/state").json()["widgets"] == ["seeded"]
        assert extension.resets == 2
    finally:
        thread.stop()


def test_optional_route_modules(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "fake_campaigns_mod.py").write_text(
        textwrap.dedent(
            """
            from activecampaign_emulator.core import ApiRequest

            def _hello(req: ApiRequest):
                return req.json_response({"hello": True})

            def routes(emu):
                return [emu.route("/api/3/campaigns", _hello, ["GET"])]
            """
        )
    )
    (tmp_path / "broken_campaigns_mod.py").write_text("import a_dependency_that_is_missing_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(app_module, "OPTIONAL_ROUTE_MODULES", ("fake_campaigns_mod", "absent_campaigns_mod"))
    app = app_module.create_app(Emulator())
    assert (
        app._dispatcher.resolve(
            {"type": "http", "path": "/api/3/campaigns", "method": "GET", "root_path": ""}
        )[0]
        is not None
    )
    monkeypatch.setattr(app_module, "OPTIONAL_ROUTE_MODULES", ("broken_campaigns_mod",))
    with pytest.raises(ModuleNotFoundError):
        app_module.create_app(Emulator())
