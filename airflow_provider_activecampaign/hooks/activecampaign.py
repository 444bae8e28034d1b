"""The ActiveCampaign hook: the one place operators and sensors talk to the API through."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import Any

import requests
import tenacity
from airflow.sdk import BaseHook

from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignError,
    ActiveCampaignNotFoundError,
)
from airflow_provider_activecampaign.hooks.lineage import collection_of, resource_uri
from airflow_provider_activecampaign.hooks.ratelimit import redis_url_from_connection
from airflow_provider_activecampaign.hooks.transport import (
    Call,
    FailureKind,
    RetryPolicy,
    TransportSettings,
    build_headers,
    connection_extra,
    handle_response,
    name_connection,
    prepare_call,
    prepare_legacy_call,
    prepare_tracking_call,
    transport_error,
)
from airflow_provider_activecampaign.hooks.transport.redaction import register_secret

PAGE_SIZE = 100


#: Write endpoints whose first path segment is not the collection they change.
_WRITTEN_COLLECTIONS = {"contact": "contacts", "import": "contacts"}


class ActiveCampaignConnectionHook(BaseHook):
    """What the sync and async hooks share: the connection they read and how they name themselves."""

    conn_name_attr = "activecampaign_conn_id"
    default_conn_name = "activecampaign_default"
    conn_type = "activecampaign"
    hook_name = "ActiveCampaign"

    def __init__(self, activecampaign_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activecampaign_conn_id = activecampaign_conn_id

    def __repr__(self) -> str:
        return f"{type(self).__name__}(activecampaign_conn_id={self.activecampaign_conn_id!r})"


class ActiveCampaignHook(ActiveCampaignConnectionHook):
    """Talk to one ActiveCampaign account: paced, retried where safe, with errors that explain themselves.

    The connection holds the API URL (``host``) and the API key (``password``); extras tune
    ``timeout``, ``requests_per_second``, ``imports_per_minute`` and ``max_retries``. Nothing is read
    or sent until the first call, so creating a hook in DAG code costs nothing.

    :param activecampaign_conn_id: The Airflow connection to use.
    """

    # ----------------------------------------------------------------------------------------------
    # Connection
    # ----------------------------------------------------------------------------------------------

    @cached_property
    def settings(self) -> TransportSettings:
        """The validated connection settings (fetched once, the key registered with the masker)."""
        settings = settings_of(self.activecampaign_conn_id, self.get_connection(self.activecampaign_conn_id))
        for secret in settings.secrets:  # the key, the tracking key, webhook tokens, sensitive extras
            _mask(secret)
        backend_conn_id = settings.rate_limit_backend_connection
        if backend_conn_id is not None:
            settings = with_backend_url(settings, self.get_connection(backend_conn_id), backend_conn_id)
        mask_backend_secret(settings)
        return settings

    @property
    def base_url(self) -> str:
        """``https://<account>.api-us1.com``: the account's address, no path."""
        return self.settings.base_url

    def get_conn(self) -> requests.Session:
        """The HTTP session, with the key header set, redirects off and a connection pool."""
        return self._session

    @cached_property
    def _session(self) -> requests.Session:
        session = requests.Session()
        session.headers.update(build_headers(self.settings.api_key))
        # Never follow redirects: requests would forward our Api-Token header to any host.
        session.max_redirects = 0
        session.trust_env = True
        return session

    # ----------------------------------------------------------------------------------------------
    # Calls
    # ----------------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
        max_retries: int | None = None,
    ) -> Any:
        """Call a v3 endpoint (relative to ``/api/3``) and return its decoded JSON body.

        Waits for the account's rate limit, retries 429s and, for calls that are safe to repeat,
        5xx answers and network failures. A non-idempotent POST that fails after reaching the
        server raises :class:`~airflow_provider_activecampaign.exceptions.ActiveCampaignAmbiguousWriteError`.

        :param idempotent: Override whether this call is safe to send twice (default: GET, PUT,
            DELETE and ``contact/sync`` are; other POSTs are not).
        :param max_retries: Override the connection's ``max_retries`` for this call.
        """
        call = prepare_call(self.settings, method, endpoint, params=params, json=json, idempotent=idempotent)
        result = self._run(call, max_retries)
        if method.upper() != "GET":  # answered: the write happened
            self._collect_lineage(endpoint, written=True)
        return result

    def limiters(self, method: str, endpoint: str) -> list[Any]:
        """The rate limiters a call to ``endpoint`` passes (the account's; the importer's for imports).

        For code that paces itself around them (the bulk-import pipeline polls in the gaps the
        importer's limit leaves) without preparing a whole call.
        """
        return list(prepare_call(self.settings, method, endpoint).limiters)

    def get(self, endpoint: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", endpoint, params=params)

    def post(self, endpoint: str, json: Any = None, *, idempotent: bool | None = None) -> Any:
        return self.request("POST", endpoint, json=json, idempotent=idempotent)

    def put(self, endpoint: str, json: Any = None) -> Any:
        return self.request("PUT", endpoint, json=json)

    def delete(self, endpoint: str) -> Any:
        return self.request("DELETE", endpoint)

    def legacy_request(
        self,
        api_action: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        method: str = "GET",
        idempotent: bool | None = None,
    ) -> Any:
        """Call a v1 ``/admin/api.php`` action (form-encoded, JSON output, key in the header).

        Some things, such as creating and sending a campaign in one call, exist only in v1. A
        ``result_code`` of 0 raises a validation error with the API's ``result_message``.

        :param idempotent: Whether the call is safe to send twice. By default only GETs of read
            actions (``*_view``, ``*_list``, ``*_report*``, ``user_me``) are: v1 sends mail with
            a GET (``campaign_send``), so those fail with an ambiguous-write error instead of
            being resent.
        """
        call = prepare_legacy_call(
            self.settings, api_action, method=method, params=params, data=data, idempotent=idempotent
        )
        return self._run(call, None)

    def track_event(self, form: Mapping[str, Any]) -> Any:
        """Post one event to event tracking (``event``, ``eventdata``, ``visit``), paced like every call.

        ``actid`` and the event key come from the connection; the API key is not sent to the
        tracking host. Not idempotent: only a 429 or a refused connection is retried, anything that
        may have been recorded raises
        :class:`~airflow_provider_activecampaign.exceptions.ActiveCampaignAmbiguousWriteError`.
        """
        return self._run(prepare_tracking_call(self.settings, form), None)

    def _run(self, call: Call, max_retries: int | None) -> Any:
        settings = self.settings
        if max_retries is not None:
            settings = _with_retries(settings, max_retries)
        policy = RetryPolicy(settings, self.log)
        try:
            for attempt in tenacity.Retrying(**policy.kwargs()):
                with attempt:
                    return self._send(call)
        except ActiveCampaignError as error:
            policy.explain(error)
            name_connection(error, self.activecampaign_conn_id)
            raise
        raise AssertionError("unreachable")  # pragma: no cover - tenacity reraises

    def _send(self, call: Call) -> Any:
        wait = call.reserve()
        try:
            while wait > 0:
                time.sleep(wait)
                wait = call.confirm()  # the window as it is now, not as it was when booked
        except BaseException:
            call.cancel()
            raise
        timeout = self.settings.timeout
        answered = False
        call.sent()
        try:
            response = self._session.request(
                call.method,
                call.url,
                headers=call.headers,
                params=call.params,
                json=call.json,
                data=call.form,
                timeout=(min(timeout, 10.0), timeout),
                allow_redirects=False,
            )
        except requests.exceptions.TooManyRedirects as error:
            # max_redirects=0 makes requests raise on any 3xx even with allow_redirects=False; the
            # 3xx answer rides on the error, and the transport turns it into a "redirect refused".
            if error.response is None:
                raise transport_error(call, FailureKind.MAYBE_APPLIED, error) from None
            response = error.response
        except requests.exceptions.RequestException as error:
            raise transport_error(call, _failure_kind(error), error) from None
        else:
            answered = True
        finally:
            call.settle(answered)  # the server counted this request no later than now
        return handle_response(call, response.status_code, response.headers, response.text)

    # ----------------------------------------------------------------------------------------------
    # Reading collections
    # ----------------------------------------------------------------------------------------------

    def paginate(
        self, endpoint: str, *, key: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield every object of a collection, 100 per request.

        ``/contacts`` is walked by ``id_greater`` in id order, which stays fast on accounts with
        millions of contacts (large offsets do not); other collections by ``offset`` until
        ``meta.total`` (a string in this API) is reached.
        """
        for page in self.iter_pages(endpoint, key=key, params=params):
            yield from page.get(key) or []

    def iter_pages(
        self, endpoint: str, *, key: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield every page of a collection as the API returned it, sideloads included.

        Same walk as :meth:`paginate`; use it when a page carries more than ``key`` (for example
        ``GET /contacts?include=fieldValues`` sideloads the page's field values).
        """
        query = dict(params or {})
        query["limit"] = PAGE_SIZE
        by_id = endpoint.strip("/") == "contacts"
        if by_id:
            query["orders[id]"] = "ASC"
            query.setdefault("id_greater", 0)
        else:
            query.setdefault("offset", 0)
        seen = 0
        while True:
            page = self.get(endpoint, params=query)
            if not isinstance(page, dict) or key not in page:
                # A wrong key would otherwise read as an empty collection: data silently missing.
                found = sorted(page) if isinstance(page, dict) else type(page).__name__
                raise ValueError(f"GET {endpoint} answered without a {key!r} list (it has {found}).")
            items = page.get(key) or []
            if not seen:
                self._collect_lineage(endpoint)
            yield page
            seen += len(items)
            if len(items) < PAGE_SIZE:
                return
            if by_id:
                query["id_greater"] = max(int(item["id"]) for item in items)
            else:
                total = _meta_total(page)
                if total is not None and seen >= total:
                    return
                query["offset"] = int(query["offset"]) + len(items)

    def _collect_lineage(self, endpoint: str, *, written: bool = False) -> None:
        """Tell Airflow's hook-lineage collector this hook read (or wrote) a collection.

        The asset is ``activecampaign://<host>/<collection>``, the collection as the v3 API names it
        (``POST /contact/sync`` and ``POST /import/bulk_import`` write ``contacts``). The URI scheme
        is registered in ``get_provider_info()`` (``asset-uris``); nothing is sent for lineage, and a
        lineage problem never fails the call.
        """
        try:
            from airflow.sdk.lineage import get_hook_lineage_collector

            collection = collection_of(endpoint)
            if written:
                collection = _WRITTEN_COLLECTIONS.get(collection, collection)
            uri = resource_uri(self.base_url, collection)
            collector = get_hook_lineage_collector()
            if written:
                collector.add_output_asset(context=self, uri=uri)
            else:
                collector.add_input_asset(context=self, uri=uri)
        except Exception as error:  # lineage must never cost the data
            self.log.debug("Hook lineage not recorded for %s: %s", endpoint, error)

    # ----------------------------------------------------------------------------------------------
    # Conveniences
    # ----------------------------------------------------------------------------------------------

    def get_user(self) -> dict[str, Any]:
        """The API user the key belongs to (``GET /users/me``)."""
        return dict(self.get("users/me")["user"])

    def get_contact_by_email(self, email: str) -> dict[str, Any] | None:
        """The contact with this email address, or ``None``. Emails match case-insensitively."""
        wanted = email.strip().lower()
        contacts = self.get("contacts", params={"email": wanted}).get("contacts") or []
        for contact in contacts:
            if str(contact.get("email", "")).lower() == wanted:
                return dict(contact)
        return None

    def test_connection(self) -> tuple[bool, str]:
        """Check the URL and key with ``GET /users/me``; never raises (Airflow's Test button)."""
        try:
            settings = self.settings
            user = self.request("GET", "users/me", max_retries=1)["user"]
        except ActiveCampaignError as error:
            return False, _connection_test_failure(error)
        except Exception as error:
            return False, f"Connection test failed: {type(error).__name__}: {error}"
        who = user.get("username") or user.get("email") or f"user {user.get('id')}"
        email = f" ({user['email']})" if user.get("email") and user.get("email") != who else ""
        return True, f"Connected to {settings.base_url} as {who}{email}."


def _connection_test_failure(error: ActiveCampaignError) -> str:
    """One readable sentence for the UI's Test button: what failed, why, and what to do."""
    parts = [error.summary.rstrip(".") + "."]
    if error.status is None and error.response_body:
        parts.append(f"Reason: {error.response_body}.")  # no HTTP answer: DNS, refused, timeout
    hint = error.hint
    if isinstance(error, ActiveCampaignNotFoundError):
        hint = (
            "The API URL does not lead to the ActiveCampaign API; copy it from ActiveCampaign "
            "Settings → Developer (https://<account>.api-us1.com)."
        )
    if hint:
        parts.append(hint)
    return " ".join(parts)


def _meta_total(page: Mapping[str, Any]) -> int | None:
    try:
        return int((page.get("meta") or {}).get("total"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


_NOT_SENT_MARKERS = ("NewConnectionError", "NameResolutionError", "Connection refused", "Failed to resolve")


def _failure_kind(error: requests.exceptions.RequestException) -> FailureKind:
    """Whether a failed request can have reached the server."""
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return FailureKind.NOT_SENT
    if isinstance(error, requests.exceptions.ConnectionError) and not isinstance(
        error, requests.exceptions.ReadTimeout
    ):
        text = repr(error)
        if any(marker in text for marker in _NOT_SENT_MARKERS):
            return FailureKind.NOT_SENT
    return FailureKind.MAYBE_APPLIED


def _with_retries(settings: TransportSettings, max_retries: int) -> TransportSettings:
    from dataclasses import replace

    return replace(settings, max_retries=max_retries)


def settings_of(conn_id: str, conn: Any) -> TransportSettings:
    """The validated settings of an ActiveCampaign connection (sync and async hooks alike).

    Errors about the connection end with its id, so a 3 a.m. failure says which one to fix.
    """
    try:
        return TransportSettings.from_connection_fields(
            host=conn.host,
            port=conn.port,
            password=conn.password,
            extra=connection_extra(conn.extra, conn_id),
        )
    except ActiveCampaignError as error:
        name_connection(error, conn_id)
        raise


def with_backend_url(settings: TransportSettings, conn: Any, conn_id: str) -> TransportSettings:
    """``settings`` with its rate-limit backend's Airflow connection replaced by that Redis's URL."""
    from dataclasses import replace

    url = redis_url_from_connection(
        host=conn.host,
        port=conn.port,
        login=conn.login,
        password=conn.password,
        extra=connection_extra(conn.extra, conn_id),
    )
    return replace(settings, rate_limit_backend=url)


def mask_backend_secret(settings: TransportSettings) -> None:
    """Register the rate-limit backend's password (if its URL has one) with the secret masker."""
    _mask(settings.rate_limit_backend_password)


def _mask(secret: str | None) -> None:
    """Register a secret with Airflow's secret masker, in and out of a task, and with the redaction rule."""
    register_secret(secret)
