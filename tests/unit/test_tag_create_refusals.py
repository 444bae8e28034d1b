"""SmallBatchWriter's tag create with a stand-in hook: a refused create is the tag someone else made.

``POST /tags`` for a name that exists is refused (422, peers survey); its body is not documented
(the emulator's ``duplicate`` is a choice, docs/emulator.md "Create tag"). The writer must not
depend on it: any 400/422, whatever the body, is read back by name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_activecampaign.contacts.sync import TAG_WRITER, SmallBatchWriter
from airflow_provider_activecampaign.exceptions import ActiveCampaignValidationError
from airflow_provider_activecampaign.hooks.transport import TransportSettings, handle_response, prepare_call
from airflow_provider_activecampaign.records.journal import WriteJournal
from tests.helpers.fakes import API_KEY

SETTINGS = TransportSettings(base_url="https://acct.api-us1.com", api_key=API_KEY)


class RacedHook:
    """``GET /tags?search=`` finds nothing until the create; the create is refused as ``status``/``body``
    because another writer made the tag meanwhile (its id 42)."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.text = body if isinstance(body, str) else json.dumps(body)
        self.tags: list[dict[str, Any]] = []
        self.posts = 0

    def paginate(self, endpoint: str, key: str, params: Any = None) -> Iterator[dict[str, Any]]:
        assert (endpoint, key) == ("tags", "tags")
        yield from self.tags

    def request(self, method: str, endpoint: str, json: Any = None, **kwargs: Any) -> Any:
        assert (method, endpoint) == ("POST", "tags")
        self.posts += 1
        self.tags = [{"id": "42", "tag": "VIP"}]
        return handle_response(prepare_call(SETTINGS, method, endpoint), self.status, {}, self.text)


@pytest.mark.parametrize(
    "body",
    [
        {
            "errors": [
                {
                    "title": "Duplicate entry",
                    "code": "duplicate",
                    "source": {"pointer": "/data/attributes/tag"},
                }
            ]
        },
        {"errors": [{"title": "Tag already exists"}]},
        {"message": "A tag with this name exists"},
        {},
        "",
    ],
    ids=["emulator", "no-code", "message", "empty-object", "no-body"],
)
@pytest.mark.parametrize("status", [400, 422])
def test_a_refused_tag_create_is_the_tag_found_whatever_the_body(
    tmp_path: Path, status: int, body: Any
) -> None:
    hook = RacedHook(status, body)
    writer = SmallBatchWriter(
        hook,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]  (failures, tally and progress: only write() uses them)
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        list_names={},
        journal=WriteJournal(str(tmp_path), TAG_WRITER),
    )
    assert writer._tag_id("vip") == "42"
    assert hook.posts == 1


def test_a_refusal_that_leaves_no_tag_is_raised(tmp_path: Path) -> None:
    """Not a duplicate after all (no tag by that name): the refusal is the run's to report."""
    hook = RacedHook(422, {})
    hook.request = lambda *a, **k: handle_response(prepare_call(SETTINGS, "POST", "tags"), 422, {}, "{}")  # type: ignore[method-assign]
    writer = SmallBatchWriter(
        hook,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        list_names={},
        journal=WriteJournal(str(tmp_path), TAG_WRITER),
    )
    with pytest.raises(ActiveCampaignValidationError):
        writer._tag_id("vip")
