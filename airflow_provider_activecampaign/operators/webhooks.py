"""Register the account's webhooks, and reconcile the events they missed.

The rules live in :mod:`airflow_provider_activecampaign.webhooks` (registration, reconcile); the
receiver is the plugin in :mod:`airflow_provider_activecampaign.plugins`.  See docs/webhooks.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import AssetAlias, Context
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_activecampaign.operators.base import ActiveCampaignBaseOperator
from airflow_provider_activecampaign.records.journal import WriteJournal, request_deadline_seconds
from airflow_provider_activecampaign.records.names import resolve_ids, split_names
from airflow_provider_activecampaign.records.sideloads import ContactSideloads
from airflow_provider_activecampaign.webhooks import reconcile, registration
from airflow_provider_activecampaign.webhooks.assets import activecampaign_event_asset
from airflow_provider_activecampaign.webhooks.events import SOURCES, account_host, parse_date_time
from airflow_provider_activecampaign.webhooks.payload import WebhookPayloadError

#: The connection extra holding the receiver URL's secret (the plugin reads the same one).
TOKEN_EXTRA = "webhook_token"
RECONCILE_ALIAS = "activecampaign-webhooks-reconcile"
RECONCILED_EVENTS = ("unsubscribe", "contact_tag_added")


def _mask(value: str) -> None:
    from airflow_provider_activecampaign.hooks.transport.redaction import register_secret

    register_secret(value)  # the masker and the transport's redaction rule alike


class ActiveCampaignRegisterWebhooksOperator(ActiveCampaignBaseOperator):
    """Make the account send the chosen events to the receiver; idempotent, recreates deactivated ones.

    The receiver URL is ``<public_base_url>/activecampaign/webhooks/<token>``; the token is read from
    the ActiveCampaign connection's extra ``webhook_token`` at run time and masked, so it appears in
    no template, log line or XCom (the URL is never logged or returned).

    :param public_base_url: Where ActiveCampaign reaches the Airflow api-server, e.g.
        ``https://airflow.example.com`` (https on port 443: ActiveCampaign sends nothing else). (templated)
    :param events: The events of the one webhook named ``webhook_name`` (default unsubscribe, subscribe,
        contact_tag_added, contact_tag_removed, update, deal_update). (templated)
    :param sources: Which sources fire it (default all four: public, admin, api, system).
    :param webhook_name: The webhook's name in the account: the key by which it is found again.
    :param list_id: Only events of this list (list events only; SPEC ``listid``).
    :return: (XCom) ``{"webhooks": {name: id}, "created": [...], "recreated": [...], "updated": [...],
        "kept": [...], "deleted": [...]}``: names and ids, never the URL.
    """

    template_fields: Sequence[str] = (
        *ActiveCampaignBaseOperator.template_fields,
        "public_base_url",
        "events",
        "sources",
        "webhook_name",
    )

    def __init__(
        self,
        *,
        public_base_url: str,
        events: str | Sequence[str] = (
            "unsubscribe",
            "subscribe",
            "contact_tag_added",
            "contact_tag_removed",
            "update",
            "deal_update",
        ),
        sources: str | Sequence[str] = SOURCES,
        webhook_name: str = "airflow",
        list_id: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.public_base_url = public_base_url
        self.events = events
        self.sources = sources
        self.webhook_name = webhook_name
        self.list_id = list_id

    def _token(self) -> str:
        conn = self.hook.get_connection(self.activecampaign_conn_id)
        token = str(conn.extra_dejson.get(TOKEN_EXTRA) or "").strip()
        if len(token) < 16:
            raise AirflowFailException(
                f"connection {self.activecampaign_conn_id!r} has no extra {TOKEN_EXTRA!r} of at least 16 "
                "characters: set one (python -c 'import secrets; print(secrets.token_urlsafe(32))'), "
                "the same the api-server's receiver reads"
            )
        _mask(token)
        return token

    def _id_key(self) -> str:
        return "webhook_id_" + re.sub(r"[^A-Za-z0-9_.-]", "_", str(self.webhook_name))

    def _known_ids(self, context: Context) -> list[str]:
        """The id an earlier run of this task registered: gone now means ActiveCampaign deactivated it."""
        try:
            previous = context["ti"].xcom_pull(
                task_ids=self.task_id, key=self._id_key(), include_prior_dates=True
            )
        except Exception:  # no earlier run, or an XCom backend that cannot look back
            return []
        return [str(previous)] if isinstance(previous, str | int) and str(previous) else []

    def execute(self, context: Context) -> dict[str, Any]:
        token = self._token()
        try:
            url = registration.receiver_url(str(self.public_base_url), token)
            _mask(url)
            spec = registration.WebhookSpec(
                name=str(self.webhook_name),
                url=url,
                events=tuple(split_names(self.events)),
                sources=tuple(split_names(self.sources)),
                listid=self.list_id,
            )
        except ValueError as exc:
            raise AirflowFailException(str(exc)) from None
        with WriteJournal.for_task(context) as journal:
            plan, ids = registration.apply(
                self.hook,
                [spec],
                known_ids=self._known_ids(context),
                journal=journal,
                deadline_seconds=request_deadline_seconds(self.hook),
            )
        context["ti"].xcom_push(key=self._id_key(), value=ids[spec.name])
        report: dict[str, Any] = {"webhooks": ids}
        for kind, label in (
            ("create", "created"),
            ("recreate", "recreated"),
            ("update", "updated"),
            ("keep", "kept"),
        ):
            report[label] = [a.name for a in plan.of(kind)]
        report["deleted"] = [
            f"{a.name} (id {a.webhook_id}: {a.reason})" for a in plan.actions if a.kind.startswith("delete_")
        ]
        for action in plan.actions:
            if action.kind == "create":
                self.log.info(
                    "Webhook %r was not in the account (new, or deactivated by ActiveCampaign after its "
                    "receiver answered 410, or deleted): created as id %s",
                    action.name,
                    ids.get(action.name),
                )
            elif action.kind in ("recreate", "delete_inactive"):
                self.log.warning(
                    "Webhook %r was %s; recreated as id %s", action.name, action.reason, ids.get(action.name)
                )
            else:
                self.log.info("Webhook %r: %s (id %s)", action.name, action.kind, ids.get(action.name))
        return report


class ActiveCampaignReconcileWebhookEventsOperator(ActiveCampaignBaseOperator):
    """Emit, as asset events, the changes of a time window that no webhook delivered.

    Reads unsubscribes from the watched lists and tag additions of the watched tags
    (:mod:`airflow_provider_activecampaign.webhooks.reconcile`), compares them with the events already
    on ``activecampaign://<account_host>/events/<type>`` (from the webhook or an earlier reconcile),
    and adds one event per missed change, in the webhook's own shape with ``"source": "reconcile"``.
    Windows may overlap: nothing is emitted twice.

    :param account_host: The account's API host (``acme.api-us1.com``): names the assets, so it is
        needed when the DAG is parsed; checked against the connection at run time.
    :param lists: Lists (names or ids) whose unsubscribes are reconciled. (templated)
    :param tags: Tags (names or ids) whose additions are reconciled. (templated)
    :param lookback: How far back the window starts when ``since`` is empty (default 2 hours: an
        hourly schedule reads every change twice, which is harmless).
    :param since: Window start, ISO 8601 (default: now - lookback). (templated)
    :param until: Window end, ISO 8601 (default: now). (templated)
    :param tolerance: How far apart a change's time and a received event's ``date_time`` may be
        for the event to cover the change.
    :return: (XCom) ``{"emitted": n, "by_type": {...}, "since": ..., "until": ...}``.
    """

    template_fields: Sequence[str] = (
        *ActiveCampaignBaseOperator.template_fields,
        "lists",
        "tags",
        "since",
        "until",
    )

    def __init__(
        self,
        *,
        account_host: str,
        lists: Sequence[str | int] = (),
        tags: Sequence[str | int] = (),
        lookback: timedelta = timedelta(hours=2),
        since: str = "",
        until: str = "",
        tolerance: timedelta = reconcile.DEFAULT_TOLERANCE,
        **kwargs: Any,
    ) -> None:
        self.account_host = account_host.strip().lower()
        self.assets = {t: activecampaign_event_asset(self.account_host, t) for t in RECONCILED_EVENTS}
        kwargs.setdefault("inlets", list(self.assets.values()))
        kwargs.setdefault("outlets", [AssetAlias(RECONCILE_ALIAS)])
        super().__init__(**kwargs)
        self.lists = lists
        self.tags = tags
        self.lookback = lookback
        self.since = since
        self.until = until
        self.tolerance = tolerance

    def _window(self) -> tuple[datetime, datetime]:
        try:
            until = parse_date_time(str(self.until)) if self.until else datetime.now(UTC)
            since = parse_date_time(str(self.since)) if self.since else until - self.lookback
        except WebhookPayloadError as exc:
            raise AirflowFailException(f"since/until: {exc}") from None
        if since >= until:
            raise AirflowFailException(
                f"since ({since.isoformat()}) must be before until ({until.isoformat()})"
            )
        return since, until

    def execute(self, context: Context) -> dict[str, Any]:
        host = account_host(self.hook.base_url)
        if host != self.account_host:
            raise AirflowFailException(
                f"account_host is {self.account_host!r} but connection {self.activecampaign_conn_id!r} "
                f"points at {host!r}: the events would land on another account's assets"
            )
        since, until = self._window()
        list_ids = self._ids("lists", "lists", self.lists, ("name",), "list")
        tag_ids = self._ids("tags", "tags", self.tags, ("tag",), "tag")
        tag_names = self._tag_names(tag_ids)
        inlet_events = context["inlet_events"]
        after = (since - self.tolerance).isoformat()
        extras: list[Mapping[str, Any]] = []
        for asset in self.assets.values():
            extras.extend(dict(e.extra or {}) for e in inlet_events[asset].after(after))
        received = reconcile.Received(extras, self.tolerance)
        missed = reconcile.missed_events(
            self.hook,
            host,
            since=since,
            until=until,
            list_ids=list_ids,
            tags=tag_names,
            received=received,
            sideloads=ContactSideloads(self.log),
        )
        alias_events = context["outlet_events"][AssetAlias(RECONCILE_ALIAS)]
        by_type: dict[str, int] = {}
        for event in missed:
            alias_events.add(self.assets[event.type], extra=event.extra())
            by_type[event.type] = by_type.get(event.type, 0) + 1
        self.log.info(
            "Reconciled %s .. %s: %d events found in the account that no webhook delivered %s",
            since.isoformat(),
            until.isoformat(),
            len(missed),
            by_type,
        )
        return {
            "emitted": len(missed),
            "by_type": by_type,
            "since": since.isoformat(),
            "until": until.isoformat(),
        }

    def _ids(
        self, endpoint: str, key: str, wanted: Sequence[str | int], name_fields: tuple[str, ...], kind: str
    ) -> list[str]:
        if not wanted:
            return []
        if isinstance(wanted, str | int):
            wanted = [wanted]
        resolved = resolve_ids(
            self.hook, endpoint, key=key, wanted=[str(w) for w in wanted], name_fields=name_fields, kind=kind
        )
        return list(dict.fromkeys(resolved.values()))

    def _tag_names(self, tag_ids: list[str]) -> dict[str, str]:
        return {
            tag_id: str((self.hook.get(f"tags/{tag_id}") or {}).get("tag", {}).get("tag") or tag_id)
            for tag_id in tag_ids
        }
