"""One name resolver (records/names.py) against the emulator: digit strings are ids only if they exist."""

from __future__ import annotations

import pytest
from activecampaign_emulator.pytest_plugin import EmulatorFixture

from airflow_provider_activecampaign.exceptions import ActiveCampaignNotFoundError
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.records.names import (
    find_tag_id,
    resolve_ids,
    resolve_lists,
    resolve_tags,
)
from tests.integration.contacts_support import fast_seed, use_emulator

pytestmark = pytest.mark.integration


@pytest.fixture
def hook(emulator: EmulatorFixture) -> ActiveCampaignHook:
    seed = fast_seed()
    seed["contacts"] = [{"id": 1, "email": "ann@example.com", "tags": ["customer", "2024"]}]
    use_emulator(emulator, speed=50, seed=seed)
    return ActiveCampaignHook()


def test_a_tag_id_that_exists_is_taken_and_one_that_does_not_is_refused(hook: ActiveCampaignHook) -> None:
    """Was: ``resolve_tags`` took any digit string as an id, unchecked, and removed nothing."""
    customer = find_tag_id(hook, "Customer")
    assert customer is not None
    assert resolve_tags(hook, [customer]) == {customer: customer}

    with pytest.raises(ActiveCampaignNotFoundError) as refused:
        resolve_tags(hook, ["customer", "999999"])
    assert "Unknown tag '999999'" in str(refused.value)
    assert "or, for a number, this id" in str(refused.value)


def test_a_tag_named_with_digits_is_found_by_its_name_first(hook: ActiveCampaignHook) -> None:
    named = find_tag_id(hook, "2024")
    assert named is not None
    assert resolve_tags(hook, ["2024"]) == {named: "2024"}


def test_lists_by_name_or_id_and_unknown_names_listing_what_exists(hook: ActiveCampaignHook) -> None:
    lists = {str(item["name"]): str(item["id"]) for item in hook.paginate("lists", key="lists")}
    name, list_id = next(iter(lists.items()))
    assert resolve_lists(hook, [name.upper()]) == {list_id: name.upper()}  # names: case-insensitive
    assert resolve_lists(hook, [list_id]) == {list_id: list_id}  # an existing id
    with pytest.raises(ActiveCampaignNotFoundError, match=rf"Unknown list 'Nope'\. Existing: .*{name!r}"):
        resolve_ids(hook, "lists", key="lists", wanted=["Nope"], kind="list")
