"""The FastAPI app that receives ActiveCampaign's webhooks inside Airflow's api-server.

``POST /activecampaign/webhooks/<token>`` (the plugin mounts this app at ``/activecampaign``):

* a token that matches no configured account -> 404 ``{"detail": "Not Found"}``, the answer of
  any unknown path: nothing says the receiver exists.  Tokens are compared in constant time and
  never logged (access logs of the api-server do show paths: see docs/webhooks.md, "Security");
* a body that is not an ActiveCampaign delivery -> 400 with what is wrong; nothing is recorded
  (a body over ``MAX_BODY_BYTES`` is refused while it streams in, chunked or not; a control
  character in a field name or an identifier such as ``contact[email]`` is refused);
* otherwise the event is recorded (``recorder.py``) and only then answered 200.  A repeated
  delivery answers 200 ``{"status": "duplicate"}`` and records nothing.  An event no DAG uses
  answers 200 ``{"status": "no_asset"}`` (never 410: ActiveCampaign would deactivate the webhook).
  Airflow not storing it -> 503.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from airflow_provider_activecampaign.hooks import metrics
from airflow_provider_activecampaign.plugins.config import (
    ApiCredentials,
    SettingsCache,
    max_concurrent_writes,
)
from airflow_provider_activecampaign.plugins.recorder import AssetEventRecorder, RecordError
from airflow_provider_activecampaign.webhooks.events import normalise
from airflow_provider_activecampaign.webhooks.payload import MAX_BODY_BYTES, WebhookPayloadError, parse_form

log = logging.getLogger(__name__)

NOT_FOUND = {"detail": "Not Found"}


async def _read_bounded(request: Request, limit: int) -> bytes | None:
    """The body, or ``None`` as soon as it passes ``limit`` bytes (chunked bodies declare no length).

    Reading stops there: the rest is never buffered (a 200 MB chunked body costs ``limit`` bytes).
    """
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(settings: SettingsCache | None = None) -> FastAPI:
    cache = settings or SettingsCache()

    async def current_settings() -> Any:
        return await asyncio.to_thread(cache.get)

    async def credentials() -> ApiCredentials:
        return (await current_settings()).api

    recorder = AssetEventRecorder(credentials, max_concurrent_writes=max_concurrent_writes())
    app = FastAPI(title="ActiveCampaign webhooks", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.recorder = recorder
    app.state.settings = cache

    @app.post("/webhooks/{token}", include_in_schema=False)
    async def receive(token: str, request: Request) -> JSONResponse:
        settings = await current_settings()
        account = settings.account_for(token)
        if account is None:
            metrics.record_webhook_delivery("refused", "unknown_token")
            return JSONResponse(NOT_FOUND, status_code=404)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            metrics.record_webhook_delivery("refused", "too_large")
            return JSONResponse({"error": "body too large for an ActiveCampaign delivery"}, status_code=400)
        try:
            body = await _read_bounded(request, MAX_BODY_BYTES)
        except ClientDisconnect:
            metrics.record_webhook_delivery("refused", "disconnected")
            return JSONResponse({"error": "the client disconnected"}, status_code=400)
        if body is None:
            return JSONResponse({"error": "body too large for an ActiveCampaign delivery"}, status_code=400)
        try:
            event = normalise(parse_form(body), account.host, default_tz=account.tz)
        except WebhookPayloadError as exc:
            log.info("ActiveCampaign webhook for %s refused: %s", account.host, exc)
            metrics.record_webhook_delivery("refused", "invalid_payload")
            return JSONResponse({"error": str(exc)}, status_code=400)
        try:
            outcome = await app.state.recorder.record(event)
        except RecordError as exc:
            log.error("ActiveCampaign %s event for %s not recorded: %s", event.type, account.host, exc)
            metrics.record_webhook_delivery("failed", "not_recorded")
            return JSONResponse(
                {"error": "the event could not be recorded; try again later"}, status_code=503
            )
        metrics.record_webhook_delivery("recorded", str(outcome.status))
        contact_id = (event.contact or {}).get("id")
        log.info("ActiveCampaign %s event (contact id %s): %s", event.type, contact_id, outcome.status)
        return JSONResponse(
            {"status": outcome.status, "asset": outcome.asset_uri, "event_id": outcome.event_id},
            status_code=200,
        )

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    async def anything_else(path: str) -> JSONResponse:
        return JSONResponse(NOT_FOUND, status_code=404)

    return app
