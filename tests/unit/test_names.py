"""The one name matcher (records/names.py NameIndex): the rules every run and record name obeys.

The hook used to carry a second matcher (``ActiveCampaignHook.resolve_ids``); its callers now use
``records.names.resolve_ids``, so these rules hold for lists, tags, automations and webhook filters alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignNotFoundError,
    ActiveCampaignValidationError,
)
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.records.failures import RecordRejected
from airflow_provider_activecampaign.records.names import NameIndex, resolve_ids

LISTS = [
    {"id": "1", "name": "Newsletter"},
    {"id": "2", "name": "Customers"},
    {"id": "7", "name": "2"},  # a list named like another list's id
]


class CollectionHook:
    """Only ``paginate``: the one call the resolver makes, counted so "read once" can be checked."""

    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.objects = objects
        self.reads: list[str] = []

    def paginate(self, endpoint: str, *, key: str, params: Any = None) -> Iterator[dict[str, Any]]:
        self.reads.append(endpoint)
        return iter(self.objects)


def lists_index() -> NameIndex:
    return NameIndex(LISTS, ("name",), "list")


def test_a_name_matches_exactly_ignoring_case_and_surrounding_blanks() -> None:
    index = lists_index()
    assert index.resolve_all(["newsletter", " CUSTOMERS "]) == {"newsletter": "1", "CUSTOMERS": "2"}
    with pytest.raises(ActiveCampaignNotFoundError, match="Unknown list 'News'"):
        index.resolve_all(["News"])  # a prefix is not the name


def test_a_digit_string_is_a_name_first_then_an_id_only_if_that_id_exists() -> None:
    index = lists_index()
    assert index.resolve_all(["2"]) == {"2": "7"}  # the list *named* "2", not list id 2
    assert index.resolve_all(["1"]) == {"1": "1"}  # no list is named "1": the existing id
    with pytest.raises(ActiveCampaignNotFoundError, match="Unknown list '99'"):
        index.resolve_all(["99"])  # never passed on unchecked


def test_unknown_names_are_reported_together_with_what_exists_and_what_to_do() -> None:
    with pytest.raises(ActiveCampaignNotFoundError) as refused:
        lists_index().resolve_all(["Newsleter", "Newsletter", "Custmers"])
    message = str(refused.value)
    assert "Unknown list 'Newsleter', 'Custmers'." in message
    assert "Existing: '2', 'Customers', 'Newsletter'." in message
    assert "create it in ActiveCampaign first" in message


def test_a_name_two_objects_share_is_refused_naming_both_ids() -> None:
    tags = NameIndex([{"id": "1", "tag": "VIP"}, {"id": "2", "tag": "vip"}], ("tag",), "tag")
    with pytest.raises(
        ActiveCampaignValidationError, match=r"'VIP' is ambiguous: 'VIP' \(id 1\), 'vip' \(id 2\)"
    ):
        tags.resolve_all(["VIP"])


def test_a_records_unknown_name_rejects_that_record_only() -> None:
    index = lists_index()
    assert index.get("customers")["id"] == "2"
    with pytest.raises(RecordRejected, match="no list 'Custmers'; existing: '2', 'Customers', 'Newsletter'"):
        index.get("Custmers")
    assert index.find("Custmers") is None


def test_resolve_ids_reads_the_collection_once_and_nothing_for_no_names() -> None:
    hook = CollectionHook(LISTS)
    assert resolve_ids(hook, "lists", key="lists", wanted=["Newsletter", "customers"]) == {  # type: ignore[arg-type]
        "Newsletter": "1",
        "customers": "2",
    }
    assert resolve_ids(hook, "lists", key="lists", wanted=[]) == {}  # type: ignore[arg-type]
    assert hook.reads == ["lists"]


def test_the_hook_has_no_matcher_of_its_own() -> None:
    """Names are matched on the records floor only; two matchers once disagreed (issue 20)."""
    assert not hasattr(ActiveCampaignHook, "resolve_ids")
