"""Response envelopes and the exact error bodies ActiveCampaign documents.

Handlers ``raise`` an :class:`ApiError` instead of returning error responses, so the happy path
reads top to bottom and every error body is built in one place, with its source noted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.responses import Response

JSON_MEDIA_TYPE = "application/json"


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """Compact JSON, like AC's PHP backend (no spaces, UTF-8 kept as is)."""
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(content, status_code=status, headers=dict(headers or {}), media_type=JSON_MEDIA_TYPE)


class ApiError(Exception):
    """An HTTP error answer; raised by handlers, rendered by the endpoint wrapper."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}: {body!r}")
        self.status = status
        self.body = body
        self.headers = dict(headers or {})

    def response(self) -> Response:
        return json_response(self.body, self.status, self.headers)


# ---------------------------------------------------------------------------------------------
# Envelopes (reference §9: singular key for one object, plural key + meta for collections)
# ---------------------------------------------------------------------------------------------


def single(key: str, obj: Mapping[str, Any], **sideloads: Any) -> dict[str, Any]:
    """``{"<key>": {...}}`` with sideloaded parents first, as AC's create responses order them."""
    body: dict[str, Any] = dict(sideloads)
    body[key] = obj
    return body


def collection(key: str, items: Sequence[Mapping[str, Any]], total: int, **extra_meta: Any) -> dict[str, Any]:
    """``{"<key>": [...], "meta": {"total": "N"}}``; AC sends ``total`` as a *string*."""
    meta: dict[str, Any] = {"total": str(total)}
    meta.update(extra_meta)
    return {key: list(items), "meta": meta}


# ---------------------------------------------------------------------------------------------
# Error bodies
# ---------------------------------------------------------------------------------------------


def forbidden() -> ApiError:
    """Bad or missing ``Api-Token`` (reference §1; SPEC uses the same body on /fields)."""
    return ApiError(403, {"message": "Forbidden"})


def no_result(entity: str, ident: object, status: int = 404, *, lower: bool = False) -> ApiError:
    """AC's ``No Result found for <InternalEntity> with id N`` (status 403 on some endpoints).

    ``lower=True`` gives the ``No result found for contact with id 1`` spelling that
    SPEC ``DELETE /contacts/{id}`` shows.
    """
    if lower:
        return ApiError(status, {"message": f"No result found for {entity} with id {ident}"})
    return ApiError(status, {"message": f"No Result found for {entity} with id {ident}"})


def unprocessable(
    title: str, code: str, pointer: str | None = None, detail: str = "", status: int = 422
) -> ApiError:
    """The v3 422 envelope ``{"errors":[{title, detail, code, source.pointer}]}`` (reference §9)."""
    error: dict[str, Any] = {"title": title, "detail": detail, "code": code}
    if pointer is not None:
        error["source"] = {"pointer": f"/data/attributes/{pointer}"}
    return ApiError(status, {"errors": [error]})


def field_missing(attribute: str) -> ApiError:
    return unprocessable(f"The {attribute} field is required", "field_missing", attribute)


def field_invalid(attribute: str, detail: str = "") -> ApiError:
    return unprocessable(f"The {attribute} field is invalid", "field_invalid", attribute, detail)


def bad_request(message: str) -> ApiError:
    """Malformed requests; SPEC documents most 400s only as ``{}``, so we add a message."""
    return ApiError(400, {"message": message})


def method_not_allowed() -> ApiError:
    return ApiError(405, {"message": "Method Not Allowed"})


def route_not_found() -> ApiError:
    return ApiError(404, {"message": "Not Found"})
