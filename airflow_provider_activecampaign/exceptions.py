"""Typed errors that carry what ActiveCampaign support asks for.

Every error raised by the hooks names the HTTP method, the full URL (never the key), the request
body (trimmed, secrets removed), what we expected and what came back, so that a failed 3 a.m. run
can be diagnosed, or forwarded to ActiveCampaign support, from the task log alone.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException


class ActiveCampaignError(AirflowException):
    """Base class of every error this provider raises about ActiveCampaign."""

    #: Whether repeating the same call can succeed without changing anything (set by the transport).
    retryable: bool = False

    def __init__(
        self,
        summary: str,
        *,
        method: str | None = None,
        url: str | None = None,
        status: int | None = None,
        request_body: str | None = None,
        response_body: str | None = None,
        expected: str | None = None,
        hint: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.summary = summary
        self.method = method
        self.url = url
        self.status = status
        self.request_body = request_body
        self.response_body = response_body
        self.expected = expected
        self.hint = hint
        self.retry_after = retry_after
        super().__init__(self._render())

    def _render(self) -> str:
        lines = [self.summary]
        if self.method or self.url:
            lines.append(f"  request:  {self.method or '?'} {self.url or '?'}")
        if self.request_body:
            lines.append(f"  body:     {self.request_body}")
        if self.expected:
            lines.append(f"  expected: {self.expected}")
        if self.status is not None:
            lines.append(f"  got:      HTTP {self.status} {self.response_body or ''}".rstrip())
        elif self.response_body:
            lines.append(f"  got:      no HTTP answer: {self.response_body}")
        if self.hint:
            lines.append(f"  what to do: {self.hint}")
        return "\n".join(lines)

    def amend(self, note: str) -> None:
        """Add ``note`` to the summary (and to ``str(self)``), e.g. how long the call was retried."""
        summary = self.summary.rstrip()
        self.summary = f"{summary}{'' if summary.endswith(('.', '!', '?')) else '.'} {note}"
        self.args = (self._render(),)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the keyword attributes when Airflow pickles/copies the exception.
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[ActiveCampaignError], state: dict[str, Any]) -> ActiveCampaignError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, error._render())
    return error


class ActiveCampaignConfigError(ActiveCampaignError):
    """The connection is unusable as configured (bad URL, missing key, redirect to another host)."""


class ActiveCampaignAuthError(ActiveCampaignError):
    """ActiveCampaign refused the API key (HTTP 403 ``Forbidden``) or the account (HTTP 402).

    ``transient`` is set for a 403 to a read with a key that worked shortly before: ActiveCampaign
    answers some reads that way for a moment, so the transport tries them again a few times.
    """

    transient: bool = False


class ActiveCampaignNotFoundError(ActiveCampaignError):
    """The object does not exist (HTTP 404, or one of the API's ``No Result found`` 403s)."""


class ActiveCampaignValidationError(ActiveCampaignError):
    """ActiveCampaign rejected the request's content (HTTP 400/406/422, or a legacy ``result_code`` 0).

    ``field_errors`` lists the API's per-field errors as ``{"field", "title", "detail", "code"}``
    (``field`` is the JSON pointer's last part, or ``None``).
    """

    def __init__(self, summary: str, *, field_errors: list[dict[str, Any]] | None = None, **kwargs: Any):
        self.field_errors = field_errors or []
        super().__init__(summary, **kwargs)


class ActiveCampaignRateLimitError(ActiveCampaignError):
    """Over the account's 5 requests/s (HTTP 429) or the bulk importer's per-minute limit (HTTP 400).

    The server did not act on the request, so it is always safe to send it again after waiting.
    """

    retryable = True


class ActiveCampaignServerError(ActiveCampaignError):
    """ActiveCampaign failed (HTTP 5xx, or a body that is not the JSON the API documents)."""


class ActiveCampaignConnectionError(ActiveCampaignError):
    """The request did not get an HTTP answer: DNS failure, refused connection, timeout, dropped socket."""


class ActiveCampaignAmbiguousWriteError(ActiveCampaignError):
    """A write may or may not have been applied: it failed after reaching the server.

    Raised instead of resending a non-idempotent POST. The caller must read back (look for the
    object it tried to create) before trying again, so nothing is created, enrolled or sent twice.
    """


class ActiveCampaignUnsafeEndpointError(ActiveCampaignConfigError, AirflowFailException, ValueError):
    """An endpoint that would leave ``/api/3/`` (or v1's ``admin/api.php``) was refused before sending.

    Dot segments (``..``, ``%2e%2e``), encoded slashes (``%2f``), absolute URLs and ``//host`` are
    refused: the request never leaves the machine. Retrying cannot help, so Airflow does not retry
    it (an :class:`~airflow.sdk.exceptions.AirflowFailException`); it is also a ``ValueError``, as
    an absolute URL always was.
    """
