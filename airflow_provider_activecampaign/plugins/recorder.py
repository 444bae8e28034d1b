"""Record a normalised webhook event as an Airflow asset event, through Airflow's public REST API.

``POST /api/v2/assets/events`` (``asset_id`` + ``extra``) is the interface Airflow documents for
events that come from outside a task; the receiver runs inside the api-server, so the call goes to
the server's own address (no database table is written by this provider).  Per event:

1. the asset's id, found once by URI (``GET /api/v2/assets?uri_pattern=``) and cached; an asset
   no DAG uses does not exist in Airflow: the event is acknowledged and not recorded;
2. de-duplication on the event's ``delivery_key``: keys of events this process recorded, plus the
   keys of the asset's events of the last :data:`WARM_WINDOW` read once per asset (a restart does
   not forget recent deliveries); concurrent repeats of one delivery wait for the first;
3. the event, answered 2xx only after Airflow stored it.  A failed write is read back (by its
   ``delivery_key``) before it is sent again, :data:`WRITE_ATTEMPTS` times in all; then
   :class:`RecordError` (the receiver answers 503: ActiveCampaign does not retry, reconcile covers
   the gap).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from airflow_provider_activecampaign.plugins.config import ApiCredentials
from airflow_provider_activecampaign.webhooks.events import WebhookEvent

log = logging.getLogger(__name__)

WARM_WINDOW = timedelta(hours=24)
MAX_REMEMBERED = 200_000
MISSING_ASSET_TTL = 30.0
API_TIMEOUT = 30.0
#: Tries of one asset-event write (each failed one read back before the next): 0.5 s, 1 s apart.
WRITE_ATTEMPTS = 3
#: Asset events written at once by one api-server worker (``[activecampaign]
#: webhook_max_concurrent_writes``): a burst of deliveries queues here instead of contending for the
#: metadata database. SQLite has one writer and the scheduler and dag-processor fail when they wait
#: too long for it, so the default is 1; PostgreSQL deployments may raise it.
DEFAULT_MAX_CONCURRENT_WRITES = 1


class RecordError(RuntimeError):
    """Airflow did not store the event (the message is safe to log: no token, no payload)."""


@dataclass(frozen=True)
class Outcome:
    status: str  # recorded | duplicate | no_asset
    asset_uri: str
    event_id: int | None = None


class AssetEventRecorder:
    """One per receiver app; safe under concurrent requests of one event loop."""

    def __init__(
        self,
        credentials: Callable[[], Awaitable[ApiCredentials]],
        max_concurrent_writes: int = DEFAULT_MAX_CONCURRENT_WRITES,
    ) -> None:
        self._credentials = credentials
        self._max_writes = max(1, max_concurrent_writes)
        self._writes = asyncio.Semaphore(self._max_writes)
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._token: str | None = None
        self._token_lock = asyncio.Lock()
        self._asset_ids: dict[str, int] = {}
        self._missing: dict[str, float] = {}
        self._warmed: set[int] = set()
        self._seen: OrderedDict[str, int | None] = OrderedDict()
        self._inflight: dict[str, asyncio.Future[Outcome]] = {}
        self._warm_lock = asyncio.Lock()

    # -- public -----------------------------------------------------------------------------

    async def record(self, event: WebhookEvent) -> Outcome:
        key = event.delivery_key
        if key in self._seen:
            return Outcome("duplicate", event.asset_uri, self._seen[key])
        running = self._inflight.get(key)
        if running is not None:
            first = await asyncio.shield(running)
            return (
                Outcome("duplicate", first.asset_uri, first.event_id) if first.status == "recorded" else first
            )
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            outcome = await self._record(event)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waited
            raise
        finally:
            self._inflight.pop(key, None)
        future.set_result(outcome)
        return outcome

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- steps ------------------------------------------------------------------------------

    async def _record(self, event: WebhookEvent) -> Outcome:
        uri = event.asset_uri
        asset_id = await self._asset_id(uri)
        if asset_id is None:
            return Outcome("no_asset", uri)
        await self._warm(asset_id)
        if event.delivery_key in self._seen:
            return Outcome("duplicate", uri, self._seen[event.delivery_key])
        started = datetime.now(UTC)
        async with self._writes:
            body = None
            for attempt in range(WRITE_ATTEMPTS):
                try:
                    body = await self._post_event(asset_id, event)
                    break
                except RecordError:
                    if attempt == WRITE_ATTEMPTS - 1:
                        raise
                # The write may have been applied (a timeout) or not (a locked database): read back
                # before sending it again, so that it is never recorded twice.
                await asyncio.sleep(0.5 * 2**attempt)
                body = await self._find(asset_id, event.delivery_key, since=started - timedelta(seconds=5))
                if body is not None:
                    break
        event_id = body.get("id") if isinstance(body, dict) else None
        self._remember(event.delivery_key, event_id if isinstance(event_id, int) else None)
        return Outcome("recorded", uri, event_id if isinstance(event_id, int) else None)

    async def _post_event(self, asset_id: int, event: WebhookEvent) -> Any:
        return await self._call(
            "POST", "/api/v2/assets/events", json={"asset_id": asset_id, "extra": event.extra()}
        )

    async def _find(self, asset_id: int, key: str, *, since: datetime) -> dict[str, Any] | None:
        """The asset's event recorded since ``since`` whose ``extra.delivery_key`` is ``key``, if any."""
        body = await self._call(
            "GET",
            "/api/v2/assets/events",
            params={
                "asset_id": asset_id,
                "timestamp_gte": since.isoformat(),
                "limit": 100,
                "order_by": "-timestamp",
            },
        )
        for row in body.get("asset_events") or []:
            if (row.get("extra") or {}).get("delivery_key") == key:
                return dict(row)
        return None

    async def _asset_id(self, uri: str) -> int | None:
        if uri in self._asset_ids:
            return self._asset_ids[uri]
        missing_since = self._missing.get(uri)
        if missing_since is not None and time.monotonic() - missing_since < MISSING_ASSET_TTL:
            return None
        body = await self._call("GET", "/api/v2/assets", params={"uri_pattern": uri, "limit": 100})
        for asset in body.get("assets") or []:
            if asset.get("uri") == uri:
                self._asset_ids[uri] = int(asset["id"])
                self._missing.pop(uri, None)
                return self._asset_ids[uri]
        self._missing[uri] = time.monotonic()
        log.warning("ActiveCampaign webhook for %s: no DAG uses this asset; the event is not recorded", uri)
        return None

    async def _warm(self, asset_id: int) -> None:
        if asset_id in self._warmed:
            return
        async with self._warm_lock:
            if asset_id not in self._warmed:
                await self._load_recent_keys(asset_id)

    async def _load_recent_keys(self, asset_id: int) -> None:
        since = (datetime.now(UTC) - WARM_WINDOW).isoformat()
        offset = 0
        while True:
            body = await self._call(
                "GET",
                "/api/v2/assets/events",
                params={"asset_id": asset_id, "timestamp_gte": since, "limit": 100, "offset": offset},
            )
            events = body.get("asset_events") or []
            for row in events:
                key = (row.get("extra") or {}).get("delivery_key")
                if isinstance(key, str):
                    self._remember(key, row.get("id"))
            offset += len(events)
            if not events or offset >= int(body.get("total_entries") or 0):
                break
        self._warmed.add(asset_id)

    def _remember(self, key: str, event_id: int | None) -> None:
        self._seen[key] = event_id
        self._seen.move_to_end(key)
        while len(self._seen) > MAX_REMEMBERED:
            self._seen.popitem(last=False)

    # -- HTTP -------------------------------------------------------------------------------

    async def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            creds = await self._credentials()
            self._client = httpx.AsyncClient(
                base_url=creds.base_url,
                timeout=API_TIMEOUT,
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            )
            self._client_loop = loop
            self._token_lock = asyncio.Lock()
            self._writes = asyncio.Semaphore(self._max_writes)
            self._warm_lock = asyncio.Lock()
        return self._client

    async def _bearer(self, client: httpx.AsyncClient, stale: str | None = None) -> str:
        async with self._token_lock:
            if self._token is not None and self._token != stale:
                return self._token
            creds = await self._credentials()
            if creds.username:
                response = await client.post(
                    "/auth/token", json={"username": creds.username, "password": creds.password or ""}
                )
            else:
                response = await client.get("/auth/token")
            if response.status_code >= 300:
                raise RecordError(
                    f"Airflow refused a token for the webhook receiver (HTTP {response.status_code})"
                )
            self._token = str(response.json()["access_token"])
            return self._token

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        client = await self._http()
        token = await self._bearer(client)
        try:
            response = await client.request(
                method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
            )
            if response.status_code in (401, 403):
                token = await self._bearer(client, stale=token)
                response = await client.request(
                    method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
                )
        except httpx.HTTPError as exc:
            raise RecordError(f"{method} {path} to Airflow's API failed: {type(exc).__name__}") from exc
        if response.status_code >= 300:
            raise RecordError(f"{method} {path} to Airflow's API answered HTTP {response.status_code}")
        return response.json()
