"""The accounts upsert by name, whether ActiveCampaign compares account names case-blind or not.

SPEC ``POST /accounts`` shows a 422 for a name that exists but not whether ``Acme`` and ``ACME`` are
the same name: case-blind is *assumed* (switch ``account_names_case_insensitive``). The writer
matches names case-blind itself, so a record in another case updates the account either way; where
the account holds both spellings (possible only when names compare exactly), the record is refused
naming both, and the other records still go.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture

from airflow_provider_activecampaign.exceptions import ActiveCampaignValidationError
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.operators.accounts import ActiveCampaignSyncAccountsOperator
from tests.integration.contacts_support import run_operator
from tests.integration.writes_support import fresh_crm

pytestmark = pytest.mark.integration

MODES = pytest.mark.parametrize("case_blind", [True, False], ids=["case-blind", "exact"])


def _sync(tmp_path: Path, name: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    return run_operator(
        ActiveCampaignSyncAccountsOperator(
            task_id=name, accounts=records, failures_path=str(tmp_path / f"{name}.jsonl"), max_failure_ratio=1
        )
    )


def _named(spelling: str) -> list[tuple[str, str]]:
    """``(id, name)`` of every account named ``spelling`` in any case, through the API."""
    hook = ActiveCampaignHook()
    return sorted(
        (str(a["id"]), a["name"])
        for a in hook.paginate("accounts", key="accounts", params={"search": spelling})
        if a["name"].lower() == spelling.lower()
    )


@MODES
def test_a_record_in_another_case_updates_the_account_it_names(
    emulator: EmulatorFixture, tmp_path: Path, case_blind: bool
) -> None:
    fresh_crm(emulator)
    emulator.configure(speed=50)
    emulator.set_assumed(account_names_case_insensitive=case_blind)
    acme = ActiveCampaignHook().post("accounts", json={"account": {"name": "Zeta Acme"}})["account"]

    first = _sync(tmp_path, "first", [{"name": "ZETA ACME", "url": "https://acme.example"}])
    again = _sync(tmp_path, "again", [{"name": "ZETA ACME", "url": "https://acme.example"}])

    assert (first["created"], first["updated"], first["rejected"], first["failed"]) == (0, 1, 0, 0)
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 1)
    # One account, the same one, now spelled as the record spells it.
    assert _named("zeta acme") == [(str(acme["id"]), "ZETA ACME")]
    assert emulator.state()["counters"].get("account_duplicate_create_attempts", 0) == 0


@MODES
def test_two_spellings_held_by_the_account_are_refused_by_name_and_the_rest_go(
    emulator: EmulatorFixture, tmp_path: Path, case_blind: bool
) -> None:
    fresh_crm(emulator)
    emulator.configure(speed=50)
    emulator.set_assumed(account_names_case_insensitive=case_blind)
    hook = ActiveCampaignHook()
    hook.post("accounts", json={"account": {"name": "Zeta Beta"}})
    if case_blind:  # the same name, compared case-blind
        with pytest.raises(ActiveCampaignValidationError) as refused:
            hook.post("accounts", json={"account": {"name": "ZETA BETA"}})
        assert [e.get("code") for e in refused.value.field_errors] == ["duplicate"]
    else:
        hook.post("accounts", json={"account": {"name": "ZETA BETA"}})
    held = _named("zeta beta")
    assert len(held) == (1 if case_blind else 2)

    result = _sync(
        tmp_path,
        "sync",
        [{"name": "zeta beta", "url": "https://beta.example"}, {"name": "Zeta Gamma"}],
    )

    assert result["created"] == 1  # Zeta Gamma goes either way
    assert len(_named("zeta gamma")) == 1
    if case_blind:
        assert (result["updated"], result["rejected"]) == (1, 0)
        assert _named("zeta beta") == [(held[0][0], "zeta beta")]
        return
    # Names compared exactly: the record cannot say which account it means; nothing is renamed.
    assert (result["updated"], result["rejected"]) == (0, 1)
    assert _named("zeta beta") == held
    (line,) = [json.loads(text) for text in (tmp_path / "sync.jsonl").read_text().splitlines()]
    assert (line["row"], line["field"]) == (1, "name")
    assert "'Zeta Beta'" in line["reason"]
    assert "'ZETA BETA'" in line["reason"]
    assert "key_field" in line["reason"]
