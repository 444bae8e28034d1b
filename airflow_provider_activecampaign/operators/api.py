"""Call any ActiveCampaign endpoint from a DAG, through the provider's transport.

The answer to "the operator I need doesn't exist": a v3 endpoint (``endpoint="dealStages"``) or a
v1 action (``api_action="campaign_report_totals"``), any method, templated query and body,
optional paging of list endpoints, the result in XCom (small) or in a file. It goes through
:class:`~airflow_provider_activecampaign.hooks.activecampaign.ActiveCampaignHook`, so it is paced
by the account's shared limiter, retries only what is safe to repeat, and never resends a write
that may have been applied. See ``docs/operators/api.md``.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_activecampaign.exceptions import (
    ActiveCampaignAmbiguousWriteError,
    ActiveCampaignValidationError,
)
from airflow_provider_activecampaign.exports.writer import destination, publish
from airflow_provider_activecampaign.hooks.lineage import collect_hook_lineage, file_uri
from airflow_provider_activecampaign.hooks.transport import is_idempotent, is_legacy_read
from airflow_provider_activecampaign.operators.base import ActiveCampaignBaseOperator
from airflow_provider_activecampaign.records.journal import (
    Outcome,
    Resolution,
    WriteJournal,
    fingerprint,
    lost_answer,
    request_deadline_seconds,
    times,
)

#: XCom holds small results; bigger ones belong in ``output_path`` (the metadata DB is not a lake).
DEFAULT_MAX_XCOM_BYTES = 64 * 1024
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
#: The journal's name for this writer.
WRITER = "api"


class ResultTooLargeError(AirflowFailException):
    """A result over ``max_xcom_bytes`` with no ``output_path`` to write it to."""


class ActiveCampaignApiOperator(ActiveCampaignBaseOperator):
    """Call one v3 endpoint or v1 action; return the answer (XCom) or write it to ``output_path``.

    :param endpoint: v3 path relative to ``/api/3`` (``"deals/12"``, ``"dealStages"``). (templated)
    :param api_action: Instead of ``endpoint``: a v1 ``admin/api.php`` action. (templated)
    :param method: HTTP method (default ``GET``). (templated)
    :param query: Query parameters. (templated)
    :param body: v3: the JSON body; v1: the form fields. (templated)
    :param paginate: v3 GET only: read every page (100 per request). ``True`` takes the list key
        from the endpoint's last segment (``dealStages``); a string names it. The result is the
        list of every record.
    :param output_path: Write the result here (JSON; JSON Lines when paginated), atomically, and
        return ``{"path", "count"}`` instead of the result. (templated)
    :param max_xcom_bytes: Largest result returned to XCom. A read over it fails (before reading
        further pages) and says to set ``output_path``; a write that succeeded returns a summary
        instead, since failing it would invite a retry that repeats the write.
    :param idempotent: Whether the call is safe to send twice (default: GET, PUT, DELETE,
        ``contact/sync`` and v1 read actions are). A POST that is not, and that fails after it may
        have reached ActiveCampaign, fails the task without being resent and without task retries.
    """

    template_fields: Sequence[str] = (
        *ActiveCampaignBaseOperator.template_fields,
        "endpoint",
        "api_action",
        "method",
        "query",
        "body",
        "output_path",
    )
    template_fields_renderers = {"query": "json", "body": "json"}

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        api_action: str | None = None,
        method: str = "GET",
        query: Mapping[str, Any] | str | None = None,
        body: Any = None,
        paginate: bool | str = False,
        output_path: str | None = None,
        max_xcom_bytes: int = DEFAULT_MAX_XCOM_BYTES,
        idempotent: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (endpoint is None) == (api_action is None):
            raise ValueError("Pass exactly one of endpoint (v3) or api_action (v1 admin/api.php).")
        if paginate and api_action is not None:
            raise ValueError("paginate works on v3 list endpoints only (v1 pages differ per action).")
        if max_xcom_bytes < 0:
            raise ValueError("max_xcom_bytes must not be negative.")
        self.endpoint = endpoint
        self.api_action = api_action
        self.method = method
        self.query = query
        self.body = body
        self.paginate = paginate
        self.output_path = output_path
        self.max_xcom_bytes = max_xcom_bytes
        self.idempotent = idempotent

    def _query(self) -> dict[str, Any]:
        if self.query in (None, ""):
            return {}
        if not isinstance(self.query, Mapping):
            raise AirflowFailException(f"query must be a mapping of parameters, not {self.query!r}.")
        return dict(self.query)

    def execute(self, context: Context) -> Any:
        method = str(self.method or "GET").upper()
        if method not in METHODS:
            raise AirflowFailException(
                f"Unknown HTTP method {self.method!r}; use one of {', '.join(METHODS)}."
            )
        if self.paginate and method != "GET":
            raise AirflowFailException("paginate reads list endpoints: use it with method GET.")
        what = f"{method} {self.endpoint}" if self.endpoint is not None else f"v1 {self.api_action}"
        if self.paginate:
            try:
                return self._read_pages(str(self.endpoint).strip("/"))
            except ActiveCampaignValidationError as error:
                raise AirflowFailException(str(error)) from None
        journal = None
        if not self._idempotent(method) and "ti" in context:
            # A write that could act twice: through the write journal, so that a retry or a re-run
            # of this task never sends it again after an earlier try sent it (answered or not).
            journal = WriteJournal.for_task(context)
        try:
            with journal or contextlib.nullcontext():
                result = self._write_once(journal, method, what) if journal else self._call(method)
        except ActiveCampaignAmbiguousWriteError as error:
            # A task retry would send the write again: the one thing this must never do blindly.
            raise AirflowFailException(
                f"{error}\n{what} was sent once and may have been applied by ActiveCampaign, so it was not "
                f"resent and the task will not retry ({lost_answer(error)}). Check the account (read the "
                "object back) before running it again."
            ) from None
        except ActiveCampaignValidationError as error:
            raise AirflowFailException(str(error)) from None
        return self._deliver(result, what, is_read=method == "GET")

    def _idempotent(self, method: str) -> bool:
        if self.idempotent is not None:
            return bool(self.idempotent)
        if self.api_action is not None:
            return is_legacy_read(method, str(self.api_action))
        return is_idempotent(method, str(self.endpoint).strip("/"))

    def _write_once(self, journal: WriteJournal, method: str, what: str) -> Any:
        """The call, unless an earlier try of this task instance already sent this same write."""
        key = f"{what} {fingerprint({'query': self._query(), 'body': self.body})}"
        decision = journal.resolve(WRITER, key)
        if decision.resolution is Resolution.APPLIED:
            self.log.info("%s was sent and applied by an earlier try of this task; not sent again.", what)
            return {"sent_by_earlier_try": True, "applied": True, "sent": decision.sent}
        if decision.resolution is Resolution.UNKNOWN:
            raise AirflowFailException(
                f"{what} was sent {times(decision.sent)} by an earlier try of this task, whose answer was "
                "never recorded: it may have been applied, so it was not sent again. Check the account "
                "(read the object back); a new DAG run sends it afresh."
            )
        intent = journal.intent(
            WRITER, key, {"body": self.body}, deadline_seconds=request_deadline_seconds(self.hook)
        )
        try:
            result = self._call(method)
        except ActiveCampaignAmbiguousWriteError:
            journal.outcome(intent, Outcome.AMBIGUOUS)
            raise
        except BaseException:
            journal.outcome(intent, Outcome.REFUSED)
            raise
        journal.outcome(intent, Outcome.APPLIED)
        return result

    def _call(self, method: str) -> Any:
        hook = self.hook
        if self.api_action is not None:
            return hook.legacy_request(
                str(self.api_action),
                params=self._query(),
                data=dict(self.body) if isinstance(self.body, Mapping) else None,
                method=method,
                idempotent=self.idempotent,
            )
        return hook.request(
            method,
            str(self.endpoint).strip("/"),
            params=self._query() or None,
            json=self.body,
            idempotent=self.idempotent,
        )

    def _read_pages(self, endpoint: str) -> Any:
        key = self.paginate if isinstance(self.paginate, str) else endpoint.rsplit("/", 1)[-1]
        hook = self.hook
        if self.output_path:
            target = destination(str(self.output_path))
            count = 0
            with tempfile.TemporaryDirectory(prefix="ac-api-") as folder:
                staged = Path(folder) / "result.jsonl"
                with staged.open("w", encoding="utf-8") as handle:
                    for item in hook.paginate(endpoint, key=key, params=self._query()):
                        handle.write(json.dumps(item, ensure_ascii=False) + "\n")
                        count += 1
                publish(staged, target, fmt="jsonl", columns=[])
            self.log.info("Wrote %d %s records to %s.", count, key, target)
            collect_hook_lineage(hook, outputs=[file_uri(target)])
            return {"path": str(target), "count": count}
        items: list[Any] = []
        size = 2  # "[]"
        for item in hook.paginate(endpoint, key=key, params=self._query()):
            size += len(json.dumps(item, ensure_ascii=False).encode("utf-8")) + 1
            if size > self.max_xcom_bytes:
                raise ResultTooLargeError(
                    f"GET {endpoint} returns more than max_xcom_bytes={self.max_xcom_bytes} bytes (stopped "
                    f"after {len(items)} {key} records). Set output_path to write them to a file, or "
                    "narrow the query."
                )
            items.append(item)
        self.log.info("Read %d %s records from GET %s.", len(items), key, endpoint)
        return items

    def _deliver(self, result: Any, what: str, *, is_read: bool) -> Any:
        text = json.dumps(result, ensure_ascii=False, default=str)
        if self.output_path:
            target = destination(str(self.output_path))
            with tempfile.TemporaryDirectory(prefix="ac-api-") as folder:
                staged = Path(folder) / "result.json"
                staged.write_text(text + "\n", encoding="utf-8")
                publish(staged, target, fmt="jsonl", columns=[])
            collect_hook_lineage(self.hook, outputs=[file_uri(target)])
            return {"path": str(target), "count": len(result) if isinstance(result, list) else 1}
        size = len(text.encode("utf-8"))
        if size <= self.max_xcom_bytes:
            return result
        if is_read:
            raise ResultTooLargeError(
                f"{what} returned {size} bytes, more than max_xcom_bytes={self.max_xcom_bytes}. Set "
                "output_path to write the result to a file, or narrow the query."
            )
        self.log.warning(
            "%s succeeded; its %d-byte answer is over max_xcom_bytes=%d, so XCom gets a summary only "
            "(set output_path to keep the whole answer).",
            what,
            size,
            self.max_xcom_bytes,
        )
        keys = sorted(result) if isinstance(result, dict) else []
        return {"truncated": True, "bytes": size, "keys": keys}
