"""Fault injection: make chosen requests fail the way real networks and servers fail.

A rule matches on method and path, then fires for the next ``times`` matching requests, or
with ``probability`` (reproducibly, from its own ``seed``).  ``when`` says whether the fault
hits *before* the emulator acts on the request (nothing changed server-side: a safe retry) or
*after* it (the write is applied, yet the client sees a failure: the "ambiguous write" that
reliability tests need).

Kinds:

``http_500`` / ``http_502`` / ``http_503``
    A JSON error body with that status.
``http_403``
    ``403 {"message":"Forbidden"}``, the body AC answers a bad key with: the intermittent
    authentication 403s that the Singer tap retries (reported on live accounts, not documented).
``html_502``
    A load balancer's HTML "502 Bad Gateway" page (clients must not assume JSON).
``http_429``
    ``429`` with ``Retry-After: <retry_after>`` (real seconds, as sent).
``slow``
    Wait ``delay`` real seconds, then answer normally.  ``before``: if the client gives up
    during the delay the request is never applied.  ``after``: the request is applied first.
``drop``
    Close the TCP connection without any HTTP response.
``late``
    Hold the request ``delay`` real seconds whatever the client does, then apply it, and answer
    if the client is still there. With a client timeout shorter than ``delay``, the client sees a
    timeout and the write is applied ``delay - timeout`` seconds after it gave up: a *reported*
    ActiveCampaign behaviour (a timed-out write applied seconds later; issue 21), not documented.
    ``when`` does not matter.

``path`` matches the route template (``/api/3/contacts/{id}``) or the concrete path
(``/api/3/contacts/12``); a trailing ``*`` makes it a prefix (``/api/3/contact*``).
"""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import dataclass, field
from typing import Any

KINDS = frozenset(
    {"http_403", "http_500", "http_502", "http_503", "html_502", "http_429", "slow", "drop", "late"}
)
WHEN = frozenset({"before", "after"})

HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_JSON_BODIES = {
    # Same body as a bad Api-Token (responses.forbidden): the client cannot tell them apart.
    "http_403": (403, {"message": "Forbidden"}),
    "http_500": (500, {"message": "Internal Server Error"}),
    "http_502": (502, {"message": "Bad Gateway"}),
    "http_503": (503, {"message": "Service Unavailable"}),
    "http_429": (429, {"message": "Too Many Requests"}),
}


class FaultRuleError(ValueError):
    """A fault rule that cannot be applied; the control API answers 400 with its text."""


@dataclass(slots=True)
class FaultRule:
    id: int
    kind: str
    path: str
    method: str = "*"
    when: str = "before"
    times: int | None = 1
    probability: float | None = None
    seed: int | None = None
    retry_after: int = 1
    delay: float = 1.0
    fired: int = 0
    matched: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    @classmethod
    def from_json(cls, ident: int, data: dict[str, Any]) -> FaultRule:
        """Validate a control-API rule; unknown keys are errors so typos do not go unnoticed."""
        allowed = {"kind", "path", "method", "when", "times", "probability", "seed", "retry_after", "delay"}
        unknown = set(data) - allowed
        if unknown:
            raise FaultRuleError(f"unknown fault keys: {sorted(unknown)}")
        kind = data.get("kind")
        if kind not in KINDS:
            raise FaultRuleError(f"kind must be one of {sorted(KINDS)}")
        path = data.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise FaultRuleError("path must be an absolute path such as /api/3/contact/sync")
        when = data.get("when", "before")
        if when not in WHEN:
            raise FaultRuleError("when must be 'before' or 'after'")
        probability = data.get("probability")
        times = data.get("times", None if probability is not None else 1)
        if times is not None and (not isinstance(times, int) or times < 1):
            raise FaultRuleError("times must be a positive integer or null")
        if probability is not None and not (isinstance(probability, int | float) and 0 <= probability <= 1):
            raise FaultRuleError("probability must be between 0 and 1")
        delay = float(data.get("delay", 1.0))
        if delay < 0:
            raise FaultRuleError("delay must be >= 0")
        rule = cls(
            id=ident,
            kind=kind,
            path=path,
            method=str(data.get("method", "*")).upper(),
            when=when,
            times=times,
            probability=None if probability is None else float(probability),
            seed=data.get("seed"),
            retry_after=int(data.get("retry_after", 1)),
            delay=delay,
        )
        rule._rng = random.Random(rule.seed)
        return rule

    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def matches(self, method: str, path: str, template: str) -> bool:
        if self.method not in ("*", method):
            return False
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return self.path in (path, template)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "method": self.method,
            "path": self.path,
            "when": self.when,
            "times": self.times,
            "probability": self.probability,
            "seed": self.seed,
            "retry_after": self.retry_after,
            "delay": self.delay,
            "matched": self.matched,
            "fired": self.fired,
            "exhausted": self.exhausted(),
        }

    def response(self) -> tuple[int, bytes, str, dict[str, str]]:
        """(status, body, media type, headers) for the HTTP-answer kinds."""
        if self.kind == "html_502":
            return 502, HTML_502.encode(), "text/html", {}
        status, body = _JSON_BODIES[self.kind]
        headers = {"Retry-After": str(self.retry_after)} if self.kind == "http_429" else {}
        return status, json.dumps(body).encode(), "application/json", headers


class FaultBook:
    """The active rules, checked in the order they were added; the first that fires wins."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)

    def add(self, data: dict[str, Any]) -> FaultRule:
        rule = FaultRule.from_json(next(self._ids), data)
        self._rules.append(rule)
        return rule

    def remove(self, ident: int) -> bool:
        before = len(self._rules)
        self._rules = [r for r in self._rules if r.id != ident]
        return len(self._rules) != before

    def clear(self) -> None:
        self._rules.clear()

    def rules(self) -> list[FaultRule]:
        return list(self._rules)

    def take(self, method: str, path: str, template: str) -> FaultRule | None:
        """The rule that fires for this request, if any (consumes one of its ``times``)."""
        if not self._rules:
            return None
        for rule in self._rules:
            if rule.exhausted() or not rule.matches(method, path, template):
                continue
            rule.matched += 1
            if rule.probability is not None and rule._rng.random() >= rule.probability:
                continue
            rule.fired += 1
            return rule
        return None
