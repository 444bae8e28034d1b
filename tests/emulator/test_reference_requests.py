"""The request check against ActiveCampaign's official OpenAPI document (the emulator plugin's).

The suite runs with it on (``activecampaign_reference`` in pyproject.toml): every request the
provider sends to the emulator in any test is validated at the ``emulator`` fixture's teardown.
These tests prove that it fails a test that sends a request the reference does not describe, that
an allowlisted deviation passes, and that the shipped document is the reference, repaired only as
recorded.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from activecampaign_emulator.reference import (
    BODY,
    PATH_NOT_FOUND,
    UNDECLARED_PARAMETER,
    AllowedDeviation,
    ReferenceValidator,
    load_allowlist,
)
from activecampaign_emulator.requestlog import ObservedRequest

pytest_plugins = ("pytester",)

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "reference"
DOCUMENT = REFERENCE / "activecampaign-v3.openapi.json"
ALLOWLIST = REFERENCE / "allowlist.json"
AGENT = {"user-agent": "airflow-provider-activecampaign/0 (test)", "api-token": "k"}


@pytest.fixture(scope="module")
def validator() -> ReferenceValidator:
    return ReferenceValidator.from_files(DOCUMENT, ALLOWLIST)


def request(method: str, path: str, query: str = "", body: Any = None) -> ObservedRequest:
    headers = dict(AGENT)
    raw = b""
    if body is not None:
        headers["content-type"] = "application/json"
        raw = json.dumps(body).encode()
    return ObservedRequest(method, path, query, headers, raw)


def test_a_test_sending_a_request_the_reference_lacks_fails(pytester: pytest.Pytester) -> None:
    """Also: a test using an operation the operations list lacks fails (the list cannot go stale)."""
    listed = {"operations": [{"method": "GET", "path": "/api/3/contacts"}]}
    (pytester.path / "operations.json").write_text(json.dumps(listed))
    pytester.makeini(
        "[pytest]\n"
        f"activecampaign_reference = {DOCUMENT}\n"
        f"activecampaign_reference_allowlist = {ALLOWLIST}\n"
        "activecampaign_reference_user_agent = airflow-provider-activecampaign/\n"
        "activecampaign_reference_operations = operations.json\n"
    )
    pytester.makepyfile(
        """
        import httpx

        HEADERS = {"User-Agent": "airflow-provider-activecampaign/0 (test)"}

        def call(emulator, method, path, **kwargs):
            headers = {**HEADERS, "Api-Token": emulator.api_key}
            return httpx.request(method, emulator.url + path, headers=headers, timeout=10, **kwargs)

        def test_in_the_reference(emulator):
            assert call(emulator, "GET", "/api/3/contacts", params={"limit": 5}).status_code == 200

        def test_not_in_the_reference(emulator):
            call(emulator, "POST", "/api/3/contactz", json={"contact": {}})

        def test_a_body_the_reference_refuses(emulator):
            call(emulator, "POST", "/api/3/contact/sync", json={"contact": {"firstName": "No email"}})

        def test_not_checked_when_said_why(emulator):
            emulator.expect_off_reference("the emulator's own 404 is under test")
            assert call(emulator, "GET", "/api/3/contactz").status_code == 404

        def test_other_clients_are_not_checked(emulator):
            httpx.get(emulator.url + "/api/3/contactz", headers={"Api-Token": emulator.api_key})

        def test_an_operation_the_list_lacks(emulator):
            assert call(emulator, "GET", "/api/3/contacts/1/contactTags").status_code == 404
            assert call(emulator, "GET", "/api/3/users/me").status_code == 200
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=6, errors=3)
    result.stdout.fnmatch_lines(
        [
            "*POST /api/3/contactz: path_not_found*",
            "*POST /api/3/contact/sync (/api/3/contact/sync): body: contact: 'email' is a required property*",
            "*2 operation(s) that operations.json does not list:*",
            "*- GET /api/3/contacts/{id}/contactTags*",
            "*- GET /api/3/users/me*",
        ],
        consecutive=False,
    )
    assert "GET /api/3/contacts:" not in result.stdout.str()


def test_the_deviations_are_named_by_kind(validator: ReferenceValidator) -> None:
    kinds = {
        (d.kind, d.detail)
        for d in validator.check(
            request("GET", "/api/3/deals", "filters%5Bupdated_since%5D=2024-01-01&limit=100")
        )
    }
    assert (
        UNDECLARED_PARAMETER,
        "query parameter 'filters[updated_since]' is not declared by the reference",
    ) in kinds
    assert validator.check(request("DELETE", "/api/3/nowhere/1"))[0].kind == PATH_NOT_FOUND
    (body,) = validator.check(
        request(
            "POST",
            "/api/3/import/bulk_import",
            body={"contacts": [{"email": "a@example.com", "fields": [{"id": "x", "value": "1"}]}]},
        )
    )
    assert (body.kind, body.detail) == (BODY, "contacts/0/fields/0/id: 'x' is not of type 'integer'")


def test_only_what_the_allowlist_names_is_forgiven(validator: ReferenceValidator) -> None:
    listid = request(
        "POST",
        "/api/3/import/bulk_import",
        body={"contacts": [{"email": "a@example.com", "subscribe": [{"listid": 1}]}]},
    )
    assert validator.check(listid)  # a deviation ...
    assert validator.unexpected([listid]) == []  # ... the allowlist explains
    typo = request("GET", "/api/3/deals", "limit=100&filters%5Bupdated_since%5D=2024-01-01")
    assert [d.detail for d in validator.unexpected([typo])] == [
        "query parameter 'filters[updated_since]' is not declared by the reference"
    ]


def test_every_allowlist_entry_names_its_reason_and_source() -> None:
    entries = load_allowlist(ALLOWLIST)
    assert entries
    for entry in entries:
        assert isinstance(entry, AllowedDeviation)
        assert len(entry.reason) > 30
        # A public source by its key (README): the reference, its docs, v1, or a named project.
        assert re.search(r"\b(SPEC|DOC:|V1:)|tap-activecampaign", entry.source), entry
    with pytest.raises(ValueError, match="lacks reason, source"):
        AllowedDeviation.from_json({"method": "GET", "path": "/x", "kind": PATH_NOT_FOUND})


def test_the_shipped_document_is_valid_openapi_and_repaired_only_as_recorded() -> None:
    from openapi_spec_validator import validate

    document = json.loads(DOCUMENT.read_text())
    validate(document)  # raises on any error
    repairs = json.loads((REFERENCE / "repairs.json").read_text())["repairs"]
    assert len(repairs) == 15
    for repair in repairs:
        *parents, key = [p.replace("~1", "/").replace("~0", "~") for p in repair["pointer"].split("/")[1:]]
        node: Any = document
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if repair.get("removed"):
            assert key not in node, repair["pointer"]
        else:
            assert node[key] == repair["now"], repair["pointer"]


def test_a_client_relying_on_an_unrelied_assumed_behaviour_fails(pytester: pytest.Pytester) -> None:
    """``activecampaign_assumed_unrelied``: "affects no operator" is checked over the suite, not argued.

    The provider's suite lists the default contact order and the unknown-order refusal there
    (pyproject.toml); every answer the emulator shapes by one of them is marked.
    """
    pytester.makeini(
        "[pytest]\n"
        f"activecampaign_reference = {DOCUMENT}\n"
        f"activecampaign_reference_allowlist = {ALLOWLIST}\n"
        "activecampaign_reference_user_agent = airflow-provider-activecampaign/\n"
        "activecampaign_assumed_unrelied = contacts_default_order_newest_first\n"
        "    contacts_unsupported_order_refused\n"
    )
    pytester.makepyfile(
        """
        import httpx

        HEADERS = {"User-Agent": "airflow-provider-activecampaign/0 (test)"}

        def contacts(emulator, headers=HEADERS, **params):
            emulator.seed({"contacts": [{"email": f"c{i}@example.com"} for i in range(3)]})
            headers = {**headers, "Api-Token": emulator.api_key}
            answer = httpx.get(emulator.url + "/api/3/contacts", headers=headers, params=params, timeout=10)
            return answer.json().get("contacts", [])

        def test_the_order_named(emulator):
            assert len(contacts(emulator, **{"orders[id]": "ASC", "limit": 5})) > 1

        def test_one_contact_asked_for(emulator):
            assert len(contacts(emulator, email="nobody@example.com")) == 0

        def test_the_default_order_relied_on(emulator):
            assert len(contacts(emulator, limit=5)) > 1

        def test_an_unknown_order_sent(emulator):
            contacts(emulator, **{"orders[score]": "asc"})

        def test_another_client_may(emulator):
            assert len(contacts(emulator, headers={}, limit=5)) > 1
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=5, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*GET /api/3/contacts?limit=5 relied on 'contacts_default_order_newest_first'*",
            "*GET /api/3/contacts?orders%5Bscore%5D=asc relied on 'contacts_unsupported_order_refused'*",
        ],
        consecutive=False,
    )


def test_the_reference_check_refuses_any_other_filter_on_the_records_list(
    validator: ReferenceValidator,
) -> None:
    """docs/emulator.md, "List records": the emulator ignores filters other than the relationship
    one and ``filters[externalId][eq]``; that affects no operator because the only other filter a
    provider request may send there is ``filters[externalId][eq]`` (its own switch): any other one
    is a parameter the reference does not declare, which fails the test that sent it."""
    path = "/api/3/customObjects/records/4d3a3d0c-2e3a-4a7c-9a51-2a2f3b1f3e6a"
    allowed = request("GET", path, "filters%5BexternalId%5D%5Beq%5D=sub-1&limit=100")
    assert validator.unexpected([allowed]) == []
    for other in (
        "filters%5Bslug%5D%5Beq%5D=x",
        "filters%5BcreatedTimestamp%5D%5Bgt%5D=2024-01-01",
        "filters%5BexternalId%5D=sub-1",
        "orders%5BcreatedTimestamp%5D=ASC",
    ):
        refused = validator.unexpected([request("GET", path, other + "&limit=100")])
        assert [d.kind for d in refused] == [UNDECLARED_PARAMETER], other
