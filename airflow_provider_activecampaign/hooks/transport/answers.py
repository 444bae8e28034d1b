"""Answers -> errors: what an HTTP answer (or the lack of one) means, as a result or a typed error."""

from __future__ import annotations

import json as jsonlib
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignAmbiguousWriteError,
    ActiveCampaignAuthError,
    ActiveCampaignConfigError,
    ActiveCampaignConnectionError,
    ActiveCampaignError,
    ActiveCampaignNotFoundError,
    ActiveCampaignRateLimitError,
    ActiveCampaignServerError,
    ActiveCampaignValidationError,
)
from airflow_provider_activecampaign.hooks import metrics
from airflow_provider_activecampaign.hooks.transport.calls import Call, FailureKind
from airflow_provider_activecampaign.hooks.transport.redaction import BODY_LIMIT, trim

#: Longest wait we accept from a ``Retry-After`` header before trying again anyway.
MAX_RETRY_AFTER = 120.0
#: How much of the API's error message the one-line summary repeats (the full body follows it).
SUMMARY_MESSAGE_LIMIT = 300

#: When each key (by a hash of API URL and key) last got a 2xx answer in this process.
_KEY_WORKED: dict[str, float] = {}
#: A read answered 403 this soon after the key worked counts as ActiveCampaign's transient 403.
TRANSIENT_FORBIDDEN_WINDOW = 3600.0
#: How often such a read is tried again before the 403 counts as an auth error.
TRANSIENT_FORBIDDEN_RETRIES = 3


def _parse_json(text: str) -> Any:
    try:
        return jsonlib.loads(text) if text.strip() else {}
    except ValueError:
        return None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` in seconds (capped at :data:`MAX_RETRY_AFTER`), or ``None`` when unreadable.

    RFC 9110 §10.2.3 allows delay-seconds or an HTTP date; ActiveCampaign sends seconds, proxies and
    load balancers in front of it may send the date. A date in the past means "now".
    """
    value = (headers.get("Retry-After") or headers.get("retry-after") or "").strip()
    if not value:
        return None
    seconds: float | None
    try:
        seconds = float(value)
    except ValueError:
        seconds = _seconds_until_http_date(value)
    return None if seconds is None else max(0.0, min(seconds, MAX_RETRY_AFTER))


def _seconds_until_http_date(value: str) -> float | None:
    """Seconds from now until an HTTP date (IMF-fixdate, or the obsolete RFC 850 and asctime forms)."""
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # asctime has no zone; HTTP dates are always GMT
        moment = moment.replace(tzinfo=UTC)
    return (moment - datetime.now(UTC)).total_seconds()


def _field_errors(body: Any) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    if not isinstance(body, Mapping):
        return errors
    for item in body.get("errors") or []:
        if isinstance(item, Mapping):
            pointer = (
                (item.get("source") or {}).get("pointer") if isinstance(item.get("source"), Mapping) else None
            )
            errors.append(
                {
                    "field": pointer.rsplit("/", 1)[-1] if pointer else None,
                    "title": item.get("title"),
                    "detail": item.get("detail"),
                    "code": item.get("code"),
                }
            )
        else:
            errors.append({"field": None, "title": str(item), "detail": None, "code": None})
    for reason in body.get("failureReasons") or []:
        if isinstance(reason, Mapping):
            errors.append(
                {
                    "field": None,
                    "title": reason.get("failureReason"),
                    "detail": None,
                    "code": None,
                    "contact_index": reason.get("contact"),
                }
            )
        else:
            errors.append({"field": None, "title": str(reason), "detail": None, "code": None})
    return errors


def api_message(body: Any) -> str | None:
    """The human message of any documented error body shape."""
    if not isinstance(body, Mapping):
        return None
    if isinstance(body.get("message"), str):
        return body["message"]
    parts = []
    for item in _field_errors(body):
        text = " ".join(str(p) for p in (item.get("title"), item.get("detail")) if p)
        if item.get("field"):
            text = f"{item['field']}: {text}"
        if text:
            parts.append(text)
    return "; ".join(parts) or None


def handle_response(call: Call, status: int, headers: Mapping[str, str], text: str) -> Any:
    """Return the decoded body of a successful answer, or raise the right typed error."""
    metrics.record_request(call.method, status)
    body = _parse_json(text)
    if 200 <= status < 300 and body is not None and not _legacy_refusal(call, body):
        _KEY_WORKED[call.key] = time.monotonic()
        return body  # the common case: none of an error's fields (redacted body, URL) is built
    common: dict[str, Any] = {
        "method": call.method,
        "url": call.display_url,
        "status": status,
        "request_body": call.display_body,
        "response_body": call.scrub(trim(text, BODY_LIMIT)) if text else "",
        "expected": call.expected,
    }
    if not 200 <= status < 300 and text:
        scrubbed = call.scrub(text)
        if scrubbed != text:
            body = _parse_json(scrubbed)  # an error that echoes a secret quotes "***" instead
    where = f"{call.method} {call.display_url}"
    if 300 <= status < 400:
        location = headers.get("Location") or headers.get("location") or ""
        target = urlsplit(urljoin(call.url, location))
        raise ActiveCampaignConfigError(
            f"ActiveCampaign answered {where} with a redirect to "
            f"{call.scrub(f'{target.scheme}://{target.netloc}')}; "
            "it was not followed, so the API key was not sent there.",
            hint="Update the connection's API URL to the address shown in ActiveCampaign "
            "Settings → Developer.",
            **common,
        )
    if 200 <= status < 300:
        if body is None:
            raise ActiveCampaignServerError(
                f"ActiveCampaign answered {where} with a body that is not JSON.",
                hint="Check that the API URL points at the API (Settings → Developer), not a web page.",
                **common,
            )
        if _legacy_refusal(call, body):
            result_message = trim(str(body.get("result_message") or "result_code 0"), SUMMARY_MESSAGE_LIMIT)
            raise ActiveCampaignValidationError(
                f"ActiveCampaign refused {call.endpoint[len('legacy:') :]}: {call.scrub(result_message)}",
                **common,
            )
        return body
    message = api_message(body)
    message = trim(message, SUMMARY_MESSAGE_LIMIT) if message else message
    detail = f": {message}" if message else ""
    if status == 429:
        metrics.record_rate_limited(call.method)
        error: ActiveCampaignError = ActiveCampaignRateLimitError(
            f"ActiveCampaign rate limit hit on {where}{detail}",
            retry_after=_retry_after(headers),
            hint="Something else uses this account's 5 requests/s too: another integration, or Airflow "
            "hosts that do not share one rate-limit backend. Point [activecampaign] rate_limit_backend "
            "of every worker and triggerer at one Redis, and lower budget_share to leave room for "
            "other integrations (see the deployment guide). The call waits and retries until max_wait.",
            **common,
        )
        # Every caller on this host backs off for a full window, not only this one; without a
        # Retry-After header that window is also the wait before this call's next attempt. A 429 is
        # the account's per-second limit (limiters_for puts its limiter first), not the importer's
        # per-minute one: saturating that would stall every bulk import for a minute.
        if call.limiters:
            call.limiters[0].saturate()
        return _raise(error)
    if status == 400 and message and "rate limit" in message.lower():
        metrics.record_rate_limited(call.method)
        for limiter in call.limiters:
            limiter.saturate()
        return _raise(
            ActiveCampaignRateLimitError(
                f"ActiveCampaign's bulk importer is over its per-minute limit on {where}{detail}",
                hint="The provider waits for a free slot and retries; lower imports_per_minute in the "
                "connection if other tools import into this account too.",
                **common,
            )
        )
    not_found = (message or "").lower().startswith("no result found")
    if status == 404 or not_found:
        return _raise(ActiveCampaignNotFoundError(f"Not found: {where}{detail}", **common))
    permission = status == 403 and not _refusal_403(message)
    if status in {401, 402} or permission:
        hint = (
            "The ActiveCampaign account has a payment issue (HTTP 402)."
            if status == 402
            else "Check the connection's API Key and API URL (both from Settings → Developer). A key "
            "stops working when it is reset or its user is deleted; a user without the permission "
            "gets 403 for that kind of object."
        )
        auth = ActiveCampaignAuthError(f"ActiveCampaign refused {where}{detail}", hint=hint, **common)
        worked = _KEY_WORKED.get(call.key)
        if status == 403 and _is_transient_forbidden(call, body, worked):
            # ActiveCampaign answers some reads with a passing 403 (integrators retry them): a key
            # that worked a moment ago gets a few more tries before this counts as refused.
            auth.retryable = True
            auth.transient = True
        return _raise(auth)
    if 400 <= status < 500:
        return _raise(
            ActiveCampaignValidationError(
                f"ActiveCampaign rejected {where}{detail}", field_errors=_field_errors(body), **common
            )
        )
    if status >= 500:
        return _raise(_server_or_ambiguous(call, f"ActiveCampaign failed on {where} (HTTP {status})", common))
    return _raise(ActiveCampaignError(f"Unexpected HTTP {status} from {where}{detail}", **common))


def _refusal_403(message: str | None) -> bool:
    """A 403 that refuses this request, not the key: ``Could not create …`` (SPEC
    ``POST /contactAutomations``) or one that says a limit was reached (the monthly contact-delete
    limit's answer is undocumented: a 403 is as plausible as the 422 the emulator sends). Such a
    403 is a validation error, so the caller handles the refusal instead of stopping on a bad key.
    """
    text = (message or "").lower()
    return "could not create" in text or ("limit" in text and "reached" in text)


def _is_transient_forbidden(call: Call, body: Any, worked: float | None) -> bool:
    """A bare ``403 Forbidden`` on a read, with a key that got an answer within the last hour."""
    bare = not isinstance(body, Mapping) or not body.get("errors")  # "no permission" bodies are not
    recent = worked is not None and time.monotonic() - worked <= TRANSIENT_FORBIDDEN_WINDOW
    return bare and recent and call.idempotent and call.method == "GET"


def _legacy_refusal(call: Call, body: Any) -> bool:
    """A v1 answer with HTTP 200 that says ``result_code: 0`` (the action was refused)."""
    return (
        call.endpoint.startswith("legacy:")
        and isinstance(body, Mapping)
        and str(body.get("result_code", "1")) in {"0", "False", "false"}
    )


def _server_or_ambiguous(call: Call, summary: str, common: dict[str, Any]) -> ActiveCampaignError:
    if call.idempotent:
        error: ActiveCampaignError = ActiveCampaignServerError(summary, **common)
        error.retryable = True
        return error
    return ActiveCampaignAmbiguousWriteError(
        f"{summary}. The write may have been applied, so it was not sent again.",
        hint="Read back before retrying (the provider's operators do this themselves).",
        **common,
    )


def _raise(error: ActiveCampaignError) -> Any:
    raise error


def transport_error(call: Call, kind: FailureKind, reason: BaseException | str) -> ActiveCampaignError:
    """The error for a call that got no HTTP answer; retryable only when that cannot duplicate a write."""
    metrics.record_request(call.method, None)
    reason_text = reason if isinstance(reason, str) else f"{type(reason).__name__}: {reason}"
    common: dict[str, Any] = {
        "method": call.method,
        "url": call.display_url,
        "request_body": call.display_body,
        "expected": call.expected,
        "response_body": call.scrub(trim(reason_text, 500)),
    }
    where = f"{call.method} {call.display_url}"
    if kind is FailureKind.NOT_SENT or call.idempotent:
        error = ActiveCampaignConnectionError(
            f"No answer from ActiveCampaign for {where}",
            hint="Check the API URL, DNS and network access from the worker; raise the connection's "
            "timeout if the account is slow.",
            **common,
        )
        error.retryable = True
        return error
    return ActiveCampaignAmbiguousWriteError(
        f"The connection failed after {where} was sent; the write may have been applied, "
        "so it was not sent again.",
        hint="Read back before retrying (the provider's operators do this themselves).",
        **common,
    )
