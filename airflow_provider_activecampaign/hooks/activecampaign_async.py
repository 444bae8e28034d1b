"""The async counterpart of the hook, for triggers running in the triggerer's event loop.

It shares every rule (URL, headers, rate limit, retries, errors) with the sync hook through
:mod:`airflow_provider_activecampaign.hooks.transport`; only the HTTP client (httpx) differs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx
import tenacity

from airflow_provider_activecampaign.exceptions import ActiveCampaignError
from airflow_provider_activecampaign.hooks.activecampaign import (
    ActiveCampaignConnectionHook,
    settings_of,
    with_backend_url,
)
from airflow_provider_activecampaign.hooks.transport import (
    Call,
    FailureKind,
    RetryPolicy,
    TransportSettings,
    build_headers,
    handle_response,
    name_connection,
    prepare_call,
    transport_error,
)
from airflow_provider_activecampaign.hooks.transport.redaction import aregister_secret


class ActiveCampaignAsyncHook(ActiveCampaignConnectionHook):
    """Async calls to one ActiveCampaign account; use as ``async with ActiveCampaignAsyncHook(...) as hook``.

    The connection is resolved without blocking the event loop (``get_async_connection``), and the
    key is registered with the secret masker asynchronously.
    """

    def __init__(
        self, activecampaign_conn_id: str = ActiveCampaignConnectionHook.default_conn_name, **kwargs: Any
    ) -> None:
        super().__init__(activecampaign_conn_id, **kwargs)
        self._settings: TransportSettings | None = None
        self._client: httpx.AsyncClient | None = None

    async def get_settings(self) -> TransportSettings:
        """The validated connection settings, fetched once per hook."""
        if self._settings is None:
            from airflow.providers.common.compat.connection import get_async_connection

            conn = await get_async_connection(self.activecampaign_conn_id, hook=self)
            settings = settings_of(self.activecampaign_conn_id, conn)
            for secret in settings.secrets:  # the key, the tracking key, webhook tokens, sensitive extras
                await aregister_secret(secret)
            backend_conn_id = settings.rate_limit_backend_connection
            if backend_conn_id is not None:
                redis_conn = await get_async_connection(backend_conn_id, hook=self)
                settings = with_backend_url(settings, redis_conn, backend_conn_id)
            await aregister_secret(settings.rate_limit_backend_password)
            self._settings = settings
        return self._settings

    async def __aenter__(self) -> ActiveCampaignAsyncHook:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _get_client(self) -> httpx.AsyncClient:
        if self._client is None:
            settings = await self.get_settings()
            self._client = httpx.AsyncClient(
                headers=build_headers(settings.api_key),
                timeout=httpx.Timeout(settings.timeout, connect=min(settings.timeout, 10.0)),
                follow_redirects=False,  # the Api-Token header must never reach another host
            )
        return self._client

    async def request(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Call a v3 endpoint and return its decoded JSON body; same rules as the sync hook."""
        settings = await self.get_settings()
        call = await asyncio.to_thread(
            prepare_call, settings, method, endpoint, params=params, json=json, idempotent=idempotent
        )
        policy = RetryPolicy(settings, self.log)
        try:
            async for attempt in tenacity.AsyncRetrying(**policy.kwargs()):
                with attempt:
                    return await self._send(call)
        except ActiveCampaignError as error:
            policy.explain(error)
            name_connection(error, self.activecampaign_conn_id)
            raise
        raise AssertionError("unreachable")  # pragma: no cover - tenacity reraises

    async def get(self, endpoint: str, params: Mapping[str, Any] | None = None) -> Any:
        return await self.request("GET", endpoint, params=params)

    async def _send(self, call: Call) -> Any:
        # The limiter may lock a file or ask Redis: never on the triggerer's event loop itself.
        wait = await asyncio.to_thread(call.reserve)
        try:
            while wait > 0:
                await asyncio.sleep(wait)
                wait = await asyncio.to_thread(call.confirm)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(call.cancel))
            raise
        client = await self._get_client()
        answered = False
        call.sent()
        try:
            response = await client.request(
                call.method, call.url, params=call.params, json=call.json, data=call.form
            )
            answered = True
        except httpx.HTTPError as error:
            raise transport_error(call, _failure_kind(error), error) from None
        finally:
            await asyncio.to_thread(call.settle, answered)  # counted no later than now
        return handle_response(call, response.status_code, response.headers, response.text)


def _failure_kind(error: httpx.HTTPError) -> FailureKind:
    """Whether a failed request can have reached the server."""
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return FailureKind.NOT_SENT
    return FailureKind.MAYBE_APPLIED


async def _mask_secret(secret: str) -> None:
    """Airflow 3.3's ``amask_secret`` (no deadlock beside a message already in flight to the
    supervisor); Airflow 3.2 has only ``mask_secret``, which is safe in async code there."""
    try:
        from airflow.sdk.log import amask_secret
    except ImportError:  # Airflow 3.2
        from airflow.sdk.log import mask_secret

        mask_secret(secret)
        return
    await amask_secret(secret)
