"""The emulator's answers against the reference, for every operation the provider uses.

``tests/emulator/test_emulator_contract.py`` (and the per-resource contract tests beside it) check
each answer's status, key names and JSON types against the official example of its operation
(``tests/fixtures/ac_examples``: ids and ``meta.total`` as strings where the examples have
strings). This module closes the loop:

* every (method, path) the provider sends during the suite (``provider_operations.json``, listed
  by the reference check's survey mode) has an official example that a contract test reads (a
  file of ``ac_examples`` or an example quoted in the test, marked ``SPEC <METHOD> <path>``), or
  is exempt with its reason (v1, event tracking, operations whose reference has no example), or
  is a catalog collection checked by ``test_emulator_catalog.py`` against its source;
* with the *assumed* ``meta.total`` switched off, the custom-field lists have exactly the
  reference's top-level keys: no ``meta``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from activecampaign_emulator.catalog import CATALOG
from activecampaign_emulator.pytest_plugin import EmulatorFixture

from tests.emulator.conftest import load_example

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXAMPLES = FIXTURES / "ac_examples"
OPERATIONS = FIXTURES / "reference" / "provider_operations.json"
TESTS = Path(__file__).resolve().parent


def examples_by_operation() -> dict[tuple[str, str], list[str]]:
    found: dict[tuple[str, str], list[str]] = {}
    for path in sorted(EXAMPLES.glob("*.json")):
        source = str(json.loads(path.read_text("utf-8")).get("_source", ""))
        match = re.match(r"SPEC (\w+) (\S+)", source)
        if match:
            found.setdefault((match.group(1), match.group(2)), []).append(path.stem)
    return found


def test_every_operation_the_provider_uses_has_its_answer_checked() -> None:
    data = json.loads(OPERATIONS.read_text("utf-8"))
    examples = examples_by_operation()
    contract_sources = "\n".join(p.read_text("utf-8") for p in TESTS.glob("test_*.py"))
    unchecked: list[str] = []
    for entry in data["operations"]:
        key = (entry["method"], entry["path"])
        if entry.get("exempt"):
            assert len(entry["exempt"]) > 20, f"{key}: say why it is exempt"
            continue
        names = examples.get(key, [])
        used = [name for name in names if f'"{name}"' in contract_sources]
        # Or an example quoted verbatim in the test that checks it ("SPEC GET /api/3/campaigns/{id}").
        inline = f"SPEC {key[0]} {key[1]}" in contract_sources
        # Or a read-only collection of the catalog, whose answers test_emulator_catalog.py checks
        # against their source's records (SPEC list example or tap-activecampaign's schema).
        catalogued = key[0] == "GET" and key[1].removeprefix("/api/3/") in CATALOG
        if not used and not inline and not catalogued:
            unchecked.append(f"{key[0]} {key[1]} (examples: {names or 'none'})")
    assert unchecked == [], (
        "operations the provider uses whose answer no contract test checks:\n" + "\n".join(unchecked)
    )


CUSTOM_FIELD_LISTS = [
    ("dealCustomFieldData", "deal_field_data_list"),
    ("accountCustomFieldData", "account_field_data_list"),
    ("dealCustomFieldMeta", "deal_field_meta_list"),
    ("accountCustomFieldMeta", "account_field_meta_list"),
]


@pytest.mark.parametrize(("endpoint", "example"), CUSTOM_FIELD_LISTS)
@pytest.mark.parametrize("meta_total", [True, False], ids=["assumed-on", "reference-only"])
def test_custom_field_lists_have_the_references_shape(
    api: httpx.Client, emulator: EmulatorFixture, endpoint: str, example: str, meta_total: bool
) -> None:
    emulator.set_assumed(custom_field_meta_total=meta_total)
    official = load_example(example)
    answer = api.get(endpoint, params={"limit": 100})
    assert answer.status_code == official["status"]
    body: dict[str, Any] = answer.json()
    rows, example_rows = body[endpoint], official["body"][endpoint]
    assert rows, "the default seed holds some"
    # Key names of every row (types are the contract tests' job, with the example's own values).
    assert [sorted(set(example_rows[0]) - set(row)) for row in rows] == [[]] * len(rows)
    assert all(isinstance(row["id"], str) for row in rows)
    if meta_total:  # assumed: a string count of the whole list, like every other v3 list
        assert isinstance(body["meta"]["total"], str)
        assert int(body["meta"]["total"]) >= len(rows)
    else:
        assert set(body) == set(official["body"])  # exactly the reference's keys: no meta
