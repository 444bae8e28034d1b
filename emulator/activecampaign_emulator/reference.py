"""Checking the requests a client sent against ActiveCampaign's official OpenAPI document.

The emulator was written beside the client, so a request both get wrong passes every test. This
module asks the official reference instead, through ``openapi-core`` (a maintained OpenAPI 3.1
request validator; install the ``reference`` extra): the method and path must exist, the
parameters must match their declared schemas, and a JSON body must match its schema where the
reference gives one. A query parameter the operation does not declare is a deviation too (the
live API ignores unknown filters silently, so a typo there exports everything).

A deviation the project knows about (a v1 ``/admin/api.php`` call, behaviour reported live but
missing from the reference) is named in an allowlist with its reason and source; everything
else is reported. The pytest plugin runs this on every request of every test (see
:mod:`activecampaign_emulator.pytest_plugin`).
"""

from __future__ import annotations

import fnmatch
import json
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from activecampaign_emulator.requestlog import ObservedRequest

#: Where the reference's server puts the v3 API (``https://{account}.api-us1.com/api/3``).
API_PREFIX = "/api/3"
_HOST = "https://account.api-us1.com"

#: Deviation kinds, most basic first.
PATH_NOT_FOUND = "path_not_found"
OPERATION_NOT_FOUND = "operation_not_found"
PARAMETERS = "parameters"
UNDECLARED_PARAMETER = "undeclared_parameter"
BODY = "body"
SECURITY = "security"
KINDS = (PATH_NOT_FOUND, OPERATION_NOT_FOUND, PARAMETERS, UNDECLARED_PARAMETER, BODY, SECURITY)


@dataclass(frozen=True)
class Deviation:
    """One way a request differs from the reference."""

    method: str
    path: str
    #: The reference's path template (``/api/3/contacts/{id}``) when the path was found.
    template: str | None
    kind: str
    detail: str

    def describe(self) -> str:
        where = f"{self.method} {self.path}" + (f" ({self.template})" if self.template else "")
        return f"{where}: {self.kind}: {self.detail}"


@dataclass(frozen=True)
class AllowedDeviation:
    """A known deviation: ``method`` + ``path`` (fnmatch pattern on the request's path) + ``kind``.

    ``detail`` (optional) must occur in the deviation's detail, e.g. the undeclared parameter's name.
    """

    method: str
    path: str
    kind: str
    reason: str
    source: str
    detail: str = ""

    def covers(self, deviation: Deviation) -> bool:
        return (
            self.method in ("*", deviation.method)
            and fnmatch.fnmatchcase(deviation.path, self.path)
            and self.kind == deviation.kind
            and self.detail in deviation.detail
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AllowedDeviation:
        missing = [key for key in ("method", "path", "kind", "reason", "source") if not data.get(key)]
        if missing:
            raise ValueError(f"allowlist entry {dict(data)!r} lacks {', '.join(missing)}")
        if data["kind"] not in KINDS:
            raise ValueError(f"allowlist entry {dict(data)!r}: kind must be one of {', '.join(KINDS)}")
        return cls(
            method=str(data["method"]).upper(),
            path=str(data["path"]),
            kind=str(data["kind"]),
            reason=str(data["reason"]),
            source=str(data["source"]),
            detail=str(data.get("detail") or ""),
        )


def _body_errors() -> tuple[type[BaseException], ...]:
    from openapi_core.validation.request import exceptions as request_errors

    return (request_errors.RequestBodyValidationError, request_errors.MissingRequestBodyError)


def load_allowlist(path: str | Path) -> list[AllowedDeviation]:
    """``{"allowed": [{"method", "path", "kind", "reason", "source", "detail"?}, ...]}``."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [AllowedDeviation.from_json(entry) for entry in data.get("allowed", [])]


class ReferenceValidator:
    """Validates observed requests against one OpenAPI document (loaded lazily, once)."""

    def __init__(self, document: Mapping[str, Any], allowlist: Sequence[AllowedDeviation] = ()) -> None:
        self._document = document
        self.allowlist = list(allowlist)
        self._lock = threading.Lock()

    @classmethod
    def from_files(cls, document: str | Path, allowlist: str | Path | None = None) -> ReferenceValidator:
        loaded = json.loads(Path(document).read_text(encoding="utf-8"))
        return cls(loaded, load_allowlist(allowlist) if allowlist else ())

    @cached_property
    def _api(self) -> Any:
        try:
            from openapi_core import OpenAPI
            from openapi_core.configurations import Config
        except ImportError as exc:  # pragma: no cover - the extra names it
            raise RuntimeError(
                "checking requests against the reference needs openapi-core: "
                "pip install 'activecampaign-emulator[reference]'"
            ) from exc
        # The document is validated once by its own test; skipping it here saves seconds per session.
        return OpenAPI.from_dict(dict(self._document), config=Config(spec_validator_cls=None))

    @cached_property
    def _declared_query(self) -> dict[tuple[str, str], frozenset[str]]:
        """``(method, template) -> names of its declared query parameters``."""
        declared: dict[tuple[str, str], frozenset[str]] = {}
        for template, item in self._document.get("paths", {}).items():
            shared = [p for p in item.get("parameters", []) if isinstance(p, dict)]
            for method, operation in item.items():
                if not isinstance(operation, dict) or method == "parameters":
                    continue
                params = [*shared, *(p for p in operation.get("parameters", []) if isinstance(p, dict))]
                declared[(method.upper(), API_PREFIX + template)] = frozenset(
                    str(p.get("name")) for p in params if p.get("in") == "query"
                )
        return declared

    @cached_property
    def _finder(self) -> Any:
        from openapi_core.templating.paths.finders import APICallPathFinder

        return APICallPathFinder(self._api.spec)

    def check(self, request: ObservedRequest) -> list[Deviation]:
        """Every deviation of ``request`` from the reference (allowlisted ones included)."""
        key = (request.method, request.path, _paging_class(request.query), _header_key(request), request.body)
        cached = self._checked.get(key)
        if cached is None:
            cached = self._checked[key] = self._check(request)
        return cached

    @cached_property
    def _checked(self) -> dict[tuple[Any, ...], list[Deviation]]:
        return {}

    def _check(self, request: ObservedRequest) -> list[Deviation]:
        from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
        from openapi_core.testing import MockRequest
        from openapi_core.validation.request import exceptions as request_errors
        from werkzeug.datastructures import ImmutableMultiDict

        method = request.method.upper()
        pairs = parse_qsl(request.query, keep_blank_values=True)
        headers = {k: v for k, v in request.headers.items() if k != "content-type"}
        mock = MockRequest(
            _HOST,
            method.lower(),
            request.path,
            headers=headers,
            data=request.body or None,
            content_type=request.headers.get("content-type", "application/json").split(";")[0].strip(),
        )
        # Every value of a repeated parameter (MockRequest's ``args`` takes a dict).
        mock.parameters.query = ImmutableMultiDict(pairs)
        with self._lock:  # openapi-core's caches are not documented as thread-safe
            try:
                found = self._finder.find(method.lower(), _HOST + request.path)
            except PathNotFound as exc:
                return [Deviation(method, request.path, None, PATH_NOT_FOUND, str(exc))]
            except OperationNotFound as exc:
                return [Deviation(method, request.path, None, OPERATION_NOT_FOUND, str(exc))]
            template = API_PREFIX + str(found.path_result.pattern)
            self._templates[(method, request.path)] = template
            # Validation only: unmarshalling a 250-contact body costs 30 times as much.
            errors = list(self._api.request_validator.iter_errors(mock))
        deviations: list[Deviation] = []
        for error in errors:
            kind = (
                SECURITY
                if isinstance(error, request_errors.SecurityValidationError)
                else BODY
                if isinstance(error, _body_errors())
                else PARAMETERS
            )
            for detail in _details(error):
                deviations.append(Deviation(method, request.path, template, kind, detail))
        declared = self._declared_query.get((method, template), frozenset())
        for name in sorted({name for name, _ in pairs} - declared):
            deviations.append(
                Deviation(
                    method,
                    request.path,
                    template,
                    UNDECLARED_PARAMETER,
                    f"query parameter {name!r} is not declared by the reference",
                )
            )
        return deviations

    def operations(self, requests: Iterable[ObservedRequest]) -> set[tuple[str, str]]:
        """``(method, reference template or path)`` of each request: which operations were used.

        A path the reference does not have keeps its own spelling with numeric segments as
        ``{id}`` (``/api/3/contacts/{id}/contactTags``), so one operation is one entry.
        """
        used: set[tuple[str, str]] = set()
        for request in requests:
            method = request.method.upper()
            key = (method, request.path)
            operation = self._operation_of.get(key)
            if operation is None:
                deviations = self.check(request)
                template = next((d.template for d in deviations if d.template), None)
                if template is None and not any(
                    d.kind in (PATH_NOT_FOUND, OPERATION_NOT_FOUND) for d in deviations
                ):
                    template = self._template_of(request)
                operation = self._operation_of[key] = (
                    method,
                    template or _NUMERIC.sub("/{id}", request.path),
                )
            used.add(operation)
        return used

    @cached_property
    def _operation_of(self) -> dict[tuple[str, str], tuple[str, str]]:
        return {}

    @cached_property
    def _templates(self) -> dict[tuple[str, str], str]:
        """``(method, path) -> reference template``, as the check found it (no second lookup)."""
        return {}

    def _template_of(self, request: ObservedRequest) -> str | None:
        known = self._templates.get((request.method.upper(), request.path))
        if known is not None:
            return known
        with self._lock:
            try:
                found = self._finder.find(request.method.lower(), _HOST + request.path)
            except Exception:
                return None
        return API_PREFIX + str(found.path_result.pattern)

    def unexpected(self, requests: Iterable[ObservedRequest]) -> list[Deviation]:
        """The deviations no allowlist entry covers, once each."""
        found: dict[str, Deviation] = {}
        for request in requests:
            for deviation in self.check(request):
                if not any(entry.covers(deviation) for entry in self.allowlist):
                    found.setdefault(deviation.describe(), deviation)
        return list(found.values())


#: Paging parameters the reference declares as plain ``integer``/``int32`` wherever it declares them
#: (no minimum, maximum or enum): any 1-9 digit value validates alike, so one check stands for all.
_PAGING = frozenset({"limit", "offset", "id_greater", "id_less"})
_SMALL_INT = re.compile(r"\d{1,9}")
#: A numeric path segment (an id) of a path the reference does not have.
_NUMERIC = re.compile(r"(?<!/api)/\d+(?=/|$)")


def load_operations(path: str | Path) -> set[tuple[str, str]]:
    """The ``(method, path)`` pairs of a ``provider_operations.json`` (``{"operations": [...]}``)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {(str(entry["method"]).upper(), str(entry["path"])) for entry in data.get("operations", [])}


def _paging_class(query: str) -> tuple[tuple[str, str], ...]:
    """The query with paging values reduced to their class: a walk of 1,000 pages is checked once."""
    return tuple(
        (name, "<int>" if name in _PAGING and _SMALL_INT.fullmatch(value) else value)
        for name, value in parse_qsl(query, keep_blank_values=True)
    )


def _header_key(request: ObservedRequest) -> tuple[tuple[str, str], ...]:
    """Only the headers validation reads (the key, the body's type): not the varying ones."""
    return tuple((k, v) for k, v in sorted(request.headers.items()) if k in ("api-token", "content-type"))


def _details(error: BaseException) -> list[str]:
    """One line per schema error (``contacts/0/subscribe/0/listid: 1 is not of type 'string'``).

    openapi-core wraps jsonschema's errors (``schema_errors``) in its own; each is reported with
    its place in the body or parameter, so an allowlist entry can name exactly one of them.
    """
    cause: BaseException | None = error
    while cause is not None:
        nested = getattr(cause, "schema_errors", None)
        if nested:
            prefix = f"{getattr(error, 'name', '')}: " if getattr(error, "name", None) else ""
            return [
                f"{prefix}{'/'.join(str(p) for p in getattr(e, 'absolute_path', ())) or '(root)'}: "
                f"{getattr(e, 'message', e)}"
                for e in nested
            ]
        cause = cause.__cause__ or cause.__context__
    return [str(error)]
