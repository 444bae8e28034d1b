"""Names to ids, one way for every collection: lists, tags, fields, automations, pipelines, stages, users.

One matching rule: a name matches exactly but case-insensitively on any of the collection's name
fields; a value that is an existing object's id matches that object; a name two objects share is
refused (pass the id); an unknown name is refused listing what exists. Nothing is ever guessed:
a digit string is an id only when that id exists.

Two scopes, one rule:

* :func:`resolve_ids` (and :func:`resolve_lists`, :func:`resolve_tags`, :func:`resolve_automation`)
  resolve what a *run* names (the operator's parameters) before anything is written: a typo fails
  the run (``ActiveCampaignNotFoundError`` / ``ActiveCampaignValidationError``), never half of it.
* :class:`NameIndex` resolves what a *record* names (a deal's pipeline, stage, owner, account): a
  name that fits nothing rejects that record only
  (:class:`~airflow_provider_activecampaign.records.failures.RecordRejected`), the others still go.

Tags are looked up with ``GET /tags?search=`` (accounts hold thousands), everything else from one
read of its collection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignNotFoundError,
    ActiveCampaignValidationError,
)
from airflow_provider_activecampaign.records.failures import RecordRejected

if TYPE_CHECKING:
    from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook

#: How many existing names an "unknown name" message lists.
SHOWN_NAMES = 50


def split_names(value: Any, separator: str = ",") -> list[str]:
    """A list of names or ids from a list, one value, or a ``separator``-separated string.

    What a templated parameter renders to (``"a, b"``) and what a DAG writes (``["a", "b"]``, ``12``)
    are read alike; blanks are dropped.
    """
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(separator) if part.strip()]
    if isinstance(value, list | tuple | set | frozenset):
        return [str(item).strip() for item in value if str(item).strip()]
    return [str(value).strip()]


class NameIndex:
    """Objects of one collection by id and by name (exact, case-insensitive, on any of ``name_fields``)."""

    def __init__(self, objects: Iterable[Mapping[str, Any]], name_fields: Sequence[str], kind: str) -> None:
        self.kind = kind
        self.name_fields = tuple(name_fields)
        self.objects = [dict(obj) for obj in objects]
        self.by_id = {str(obj.get("id")): obj for obj in self.objects}
        self.by_name: dict[str, list[dict[str, Any]]] = {}
        for obj in self.objects:
            self._index(obj)

    def _index(self, obj: dict[str, Any]) -> None:
        for name_field in self.name_fields:
            name = obj.get(name_field)
            if name not in (None, ""):
                bucket = self.by_name.setdefault(str(name).strip().lower(), [])
                if all(other.get("id") != obj.get("id") for other in bucket):
                    bucket.append(obj)

    def add(self, obj: Mapping[str, Any]) -> None:
        """Remember an object this run created (so a later record finds it by name)."""
        item = dict(obj)
        self.objects.append(item)
        self.by_id[str(item.get("id"))] = item
        self._index(item)

    def matches(self, name: Any) -> list[dict[str, Any]]:
        """Every object named ``name``, or the object with that id; several means ambiguous."""
        text = str(name).strip()
        found = self.by_name.get(text.lower(), [])
        if found:
            return found
        by_id = self.by_id.get(text)
        return [by_id] if by_id is not None else []

    def existing(self, limit: int = 20) -> str:
        """``'a', 'b' and 3 more``: what the collection holds, for an "unknown name" message."""
        names = sorted({str(obj.get(self.name_fields[0])) for obj in self.objects})
        shown = ", ".join(repr(n) for n in names[:limit]) or "none"
        more = f" and {len(names) - limit} more" if len(names) > limit else ""
        return shown + more

    def _ambiguous(self, text: str, matches: list[dict[str, Any]]) -> str:
        shown = ", ".join(f"{m.get(self.name_fields[0])!r} (id {m.get('id')})" for m in matches[:10])
        return f"{text!r} is ambiguous: {shown}"

    def find(self, name: Any) -> dict[str, Any] | None:
        """The one object named (or with id) ``name``; ``None`` if none; an ambiguous name rejects."""
        text = str(name).strip()
        found = self.matches(text)
        if len(found) > 1:
            raise RecordRejected(self.kind, f"{self._ambiguous(text, found)}; give the id instead")
        return found[0] if found else None

    def get(self, name: Any) -> dict[str, Any]:
        """Like :meth:`find`, but an unknown name is a rejection listing what exists."""
        found = self.find(name)
        if found is None:
            raise RecordRejected(
                self.kind, f"no {self.kind} {str(name).strip()!r}; existing: {self.existing()}"
            )
        return found

    def resolve_all(self, wanted: Iterable[Any]) -> dict[str, str]:
        """``{name: id}`` for a run's names; unknown or ambiguous names fail the run, naming them all."""
        resolved: dict[str, str] = {}
        unknown: list[str] = []
        for item in (str(w).strip() for w in wanted):
            found = self.matches(item)
            if len(found) > 1:
                raise ActiveCampaignValidationError(
                    f"The {self.kind} name {self._ambiguous(item, found)}.",
                    hint=f"Pass the {self.kind} id instead of its name.",
                )
            if found:
                resolved[item] = str(found[0]["id"])
            else:
                unknown.append(item)
        if unknown:
            raise ActiveCampaignNotFoundError(
                f"Unknown {self.kind} {', '.join(repr(u) for u in unknown)}. "
                f"Existing: {self.existing(SHOWN_NAMES)}.",
                hint=f"Fix the {self.kind} name, or create it in ActiveCampaign first.",
            )
        return resolved


def resolve_ids(
    hook: ActiveCampaignHook,
    endpoint: str,
    *,
    key: str,
    wanted: Iterable[str | int],
    name_fields: Sequence[str] = ("name",),
    kind: str | None = None,
) -> dict[str, str]:
    """``{name or id: id}`` of a run's names in one collection, read once; see the module's rule."""
    wanted_list = [str(w).strip() for w in wanted]
    if not wanted_list:
        return {}
    index = NameIndex(hook.paginate(endpoint, key=key), name_fields, kind or endpoint.rstrip("s"))
    return index.resolve_all(wanted_list)


def resolve_lists(hook: ActiveCampaignHook, names: Iterable[str]) -> dict[str, str]:
    """``{list id: name}``, from one read of ``/lists``; unknown names raise before any write."""
    wanted = [str(name).strip() for name in names]
    ids = resolve_ids(hook, "lists", key="lists", wanted=wanted, kind="list")
    return {ids[name]: name for name in wanted}


def resolve_automation(hook: ActiveCampaignHook, automation: str | int) -> str:
    """The automation's id from its id or exact name; unknown or ambiguous names raise, listing candidates."""
    wanted = str(automation).strip()
    return resolve_ids(hook, "automations", key="automations", wanted=[wanted], kind="automation")[wanted]


def find_tag_id(hook: ActiveCampaignHook, name: str) -> str | None:
    """The id of the tag named ``name`` (tag names compare case-insensitively), or ``None``.

    Uses ``GET /tags?search=`` so accounts with thousands of tags are not read whole.
    """
    wanted = name.strip().lower()
    for tag in hook.paginate("tags", key="tags", params={"search": name.strip()}):
        if str(tag.get("tag", "")).strip().lower() == wanted:
            return str(tag["id"])
    return None


def tag_exists(hook: ActiveCampaignHook, tag_id: str) -> bool:
    """Whether ``GET /tags/{id}`` finds the tag (a digit string is an id only if this says so)."""
    try:
        answer = hook.get(f"tags/{tag_id}")
    except ActiveCampaignNotFoundError:
        return False
    return bool((answer or {}).get("tag"))


def resolve_tags(hook: ActiveCampaignHook, names: Iterable[str]) -> dict[str, str]:
    """``{tag id: name}``; a name no tag has raises before anything is written (a typo).

    A digit string is first a tag *name* (tags may be named ``2024``), then an id, and an id only
    when ``GET /tags/{id}`` finds it: an id that does not exist is refused like an unknown name,
    never passed on unchecked.
    """
    resolved: dict[str, str] = {}
    unknown: list[str] = []
    for name in names:
        text = str(name).strip()
        found = find_tag_id(hook, text)
        if found is None and text.isdigit() and tag_exists(hook, text):
            found = text
        if found is None:
            unknown.append(text)
        else:
            resolved[found] = text
    if unknown:
        raise ActiveCampaignNotFoundError(
            f"Unknown tag{'s' if len(unknown) > 1 else ''} {', '.join(repr(n) for n in unknown)}: no tag has "
            "this name (or, for a number, this id), so no contact can have it.",
            hint="Check the spelling (tag names compare case-insensitively) or pass an existing tag's id.",
        )
    return resolved
