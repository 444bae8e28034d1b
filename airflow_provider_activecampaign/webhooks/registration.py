"""Which webhooks the account must hold, and the calls that make it so (idempotent).

A desired webhook is found in the account by its *name* (the operator names them
``airflow:<purpose>``); URL, events, sources and list are then compared and fixed with a PUT.
Rules, in order:

* a desired webhook missing from ``GET /webhooks`` is created.  ActiveCampaign deactivates a
  webhook whose receiver answered 410 and it must be recreated (DOC page/webhooks): whether it
  then disappears from the list or stays listed as inactive is not documented, so both are
  handled — a missing one is recreated, a listed one marked inactive (``state``/``active``
  falsy) is deleted and recreated; both are reported as ``recreated``;
* several webhooks with the same desired name (an earlier run's ambiguous create, or a copy made
  by hand) collapse to the lowest id; the others are deleted;
* webhooks with other names are left alone (they belong to someone else).

Creates go through the write journal when one is given (the operator's, per task instance): the
intent is on storage before ``POST /webhooks``; a create whose answer was lost is read back by name
and sent again only once a read-back after the request's deadline plus ``write_settle_seconds``
finds nothing (ActiveCampaign may apply it seconds later). So running the registration twice, or
retrying it, leaves the same webhooks (and a duplicate that slipped through is collapsed above).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from airflow_provider_activecampaign.records.journal import Intent, WriteJournal, send_once
from airflow_provider_activecampaign.webhooks.events import KNOWN_EVENTS, SOURCES

RECEIVER_PATH = "/activecampaign/webhooks/"
#: The journal's name for webhook creates.
WRITER = "webhooks"
_INACTIVE = {"0", "false", "inactive", "disabled", "deactivated"}


class WebhookApi(Protocol):
    """What registration needs of :class:`~..hooks.activecampaign.ActiveCampaignHook`."""

    def get(self, endpoint: str, params: Any = None) -> Any: ...
    def post(self, endpoint: str, json: Any = None, *, idempotent: bool | None = None) -> Any: ...
    def put(self, endpoint: str, json: Any = None) -> Any: ...
    def delete(self, endpoint: str) -> Any: ...


@dataclass(frozen=True)
class WebhookSpec:
    """A webhook the account must hold."""

    name: str
    url: str = field(repr=False)
    events: tuple[str, ...]
    sources: tuple[str, ...] = SOURCES
    listid: int | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.events) - KNOWN_EVENTS)
        if unknown:
            raise ValueError(
                f"webhook {self.name!r}: unknown events {unknown}; known: {sorted(KNOWN_EVENTS)}"
            )
        bad_sources = sorted(set(self.sources) - set(SOURCES))
        if bad_sources:
            raise ValueError(
                f"webhook {self.name!r}: unknown sources {bad_sources}; use some of {list(SOURCES)}"
            )
        if not self.events:
            raise ValueError(f"webhook {self.name!r}: name at least one event")
        check_webhook_url(self.url, parameter=f"webhook {self.name!r}: url")
        object.__setattr__(self, "events", tuple(sorted(set(self.events))))
        object.__setattr__(self, "sources", tuple(sorted(set(self.sources))))

    def body(self) -> dict[str, Any]:
        webhook: dict[str, Any] = {
            "name": self.name,
            "url": self.url,
            "events": list(self.events),
            "sources": list(self.sources),
        }
        if self.listid is not None:
            webhook["listid"] = self.listid
        return {"webhook": webhook}

    def matches(self, existing: dict[str, Any]) -> bool:
        listid = str(existing.get("listid") or "0")
        return (
            str(existing.get("url") or "") == self.url
            and tuple(sorted(set(existing.get("events") or ()))) == self.events
            and tuple(sorted(set(existing.get("sources") or ()))) == self.sources
            and listid == str(self.listid or 0)
        )


def check_webhook_url(url: str, *, parameter: str = "url") -> None:
    """Refuse a URL ActiveCampaign would never send to (SPEC ``POST /webhooks``), naming ``parameter``.

    SPEC: "for https endpoints, we only can send webhooks on port 443". Whether the live API
    refuses another port or accepts the webhook and never fires it is not documented; either way
    the DAG waiting for its events would never run, so it is refused here, before anything is
    registered. The message shows scheme, host and port only (the path holds the token).
    """
    parts = urlsplit(url.strip())
    shown = f"{parts.scheme}://{parts.netloc}" if parts.netloc else "(no host)"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{parameter} {shown}: a webhook URL must be https://host[:443]/...")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{parameter} {shown}: the port is not a number") from None
    if parts.scheme == "https" and port not in (None, 443):
        raise ValueError(
            f"{parameter} {shown}: ActiveCampaign sends https webhooks only to port 443 (SPEC POST "
            "/webhooks), so this webhook would never fire. Publish the receiver on 443 (a reverse "
            "proxy or load balancer in front of the api-server) and pass that address."
        )


def receiver_url(public_base_url: str, token: str) -> str:
    """``https://airflow.example.com`` + token -> ``https://airflow.example.com/activecampaign/webhooks/<token>``."""
    base = public_base_url.strip().rstrip("/")
    if not base.startswith(("https://", "http://")):
        raise ValueError("public_base_url must start with https:// (the address ActiveCampaign can reach)")
    if not token or len(token) < 16:
        raise ValueError("the webhook token must be at least 16 characters (use secrets.token_urlsafe(32))")
    check_webhook_url(base, parameter="public_base_url")
    return f"{base}{RECEIVER_PATH}{token}"


def is_inactive(existing: dict[str, Any]) -> bool:
    for key in ("state", "active", "status"):
        if key in existing and str(existing[key]).strip().lower() in _INACTIVE:
            return True
    return False


@dataclass
class Action:
    """One decision: ``create`` / ``recreate`` / ``update`` / ``keep`` / ``delete_duplicate``."""

    kind: str
    name: str
    webhook_id: str | None = None
    reason: str = ""


@dataclass
class Plan:
    actions: list[Action] = field(default_factory=list)

    def of(self, kind: str) -> list[Action]:
        return [a for a in self.actions if a.kind == kind]

    @property
    def changes(self) -> int:
        return sum(1 for a in self.actions if a.kind != "keep")


def plan(
    desired: Sequence[WebhookSpec], existing: Iterable[dict[str, Any]], *, known_ids: Iterable[str] = ()
) -> Plan:
    """Compare desired webhooks with the account's; ``known_ids`` are ids an earlier run created
    (a desired webhook whose known id is gone was deactivated or deleted: ``recreate``)."""
    names = [spec.name for spec in desired]
    if len(set(names)) != len(names):
        raise ValueError(f"webhook names must be unique: {names}")
    by_name: dict[str, list[dict[str, Any]]] = {}
    for row in existing:
        by_name.setdefault(str(row.get("name") or ""), []).append(row)
    known = {str(i) for i in known_ids}
    result = Plan()
    for spec in desired:
        rows = sorted(by_name.get(spec.name, []), key=lambda r: int(str(r.get("id") or 0)))
        active = [r for r in rows if not is_inactive(r)]
        for row in rows:
            if is_inactive(row):
                result.actions.append(
                    Action("delete_inactive", spec.name, str(row.get("id")), "ActiveCampaign deactivated it")
                )
        for row in active[1:]:
            result.actions.append(Action("delete_duplicate", spec.name, str(row.get("id")), "same name"))
        if not active:
            if rows or known:
                reason = "deactivated by ActiveCampaign (its receiver answered 410) or deleted"
                result.actions.append(Action("recreate", spec.name, None, reason))
            else:
                result.actions.append(Action("create", spec.name))
            continue
        first = active[0]
        if spec.matches(first):
            result.actions.append(Action("keep", spec.name, str(first.get("id"))))
        else:
            result.actions.append(
                Action("update", spec.name, str(first.get("id")), "url/events/sources/list differ")
            )
    return result


def existing_webhooks(api: WebhookApi) -> list[dict[str, Any]]:
    """Every webhook in the account (``GET /webhooks``, paged)."""
    rows: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = api.get("webhooks", params={"limit": 100, "offset": offset}) or {}
        batch = list(page.get("webhooks") or [])
        rows.extend(batch)
        total = int(str((page.get("meta") or {}).get("total") or len(rows)))
        if not batch or len(rows) >= total:
            return rows
        offset += len(batch)


def apply(
    api: WebhookApi,
    desired: Sequence[WebhookSpec],
    *,
    known_ids: Iterable[str] = (),
    journal: WriteJournal | None = None,
    deadline_seconds: float = 65.0,
) -> tuple[Plan, dict[str, str]]:
    """Make the account hold ``desired``; returns the plan carried out and ``{name: webhook id}``."""
    journal = journal or WriteJournal(tempfile.mkdtemp(prefix="ac-journal-"), WRITER)
    existing = existing_webhooks(api)
    result = plan(desired, existing, known_ids=known_ids)
    specs = {spec.name: spec for spec in desired}
    ids: dict[str, str] = {}
    for action in result.actions:
        spec = specs[action.name]
        if action.kind in ("delete_duplicate", "delete_inactive"):
            api.delete(f"webhooks/{action.webhook_id}")
        elif action.kind in ("create", "recreate"):
            ids[spec.name] = _create(api, spec, journal, deadline_seconds)
        elif action.kind == "update":
            api.put(f"webhooks/{action.webhook_id}", json=spec.body())
            ids[spec.name] = str(action.webhook_id)
        else:
            ids[spec.name] = str(action.webhook_id)
    return result, ids


def _create(api: WebhookApi, spec: WebhookSpec, journal: WriteJournal, deadline_seconds: float) -> str:
    def read_back(intent: Intent) -> str | None:
        found = [
            row
            for row in (api.get("webhooks", params={"filters[name]": spec.name}) or {}).get("webhooks") or []
            if row.get("name") == spec.name and not is_inactive(row)
        ]
        if not found:
            return None
        row = min(found, key=lambda r: int(str(r.get("id") or 0)))
        if not spec.matches(row):
            api.put(f"webhooks/{row['id']}", json=spec.body())
        return str(row["id"])

    sent = send_once(
        journal,
        WRITER,
        spec.name,
        spec.body(),  # kept as a fingerprint only: the URL holds the receiver's token
        lambda: api.post("webhooks", json=spec.body(), idempotent=False),
        read_back=read_back,
        deadline_seconds=deadline_seconds,
        what=f"POST /webhooks for {spec.name!r}",
        ref_of=lambda created: ((created or {}).get("webhook") or {}).get("id"),
    )
    return str(sent.ref)
