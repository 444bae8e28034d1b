"""Bulk import endpoints.

SPEC operations: ``POST /import/bulk_import``, ``GET /import/bulk_import``, ``GET /import/info``.
Processing itself (queue, progress, per-contact results) lives in :mod:`.importer`.

Order of checks on ``POST``: payload validation (400 "did not pass validation"), then the
importer's own per-minute limits (400 "Rate limit exceeded."), then queueing.  Only queued
imports count toward the per-minute limits.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from activecampaign_emulator import importer
from activecampaign_emulator.clock import day
from activecampaign_emulator.core import ApiRequest, Emulator
from activecampaign_emulator.ratelimit import SlidingWindowLimiter
from activecampaign_emulator.responses import ApiError
from activecampaign_emulator.state import AccountState

RECENT_DAYS = 7  # "recently completed" = the last 7 days (DOC:bulk-import-status-list)


def _validation_error(reasons: list[Any]) -> ApiError:
    return ApiError(400, {"success": 0, "message": importer.VALIDATION_MESSAGE, "failureReasons": reasons})


def _limiter(state: AccountState, kind: str) -> SlidingWindowLimiter:
    limiter = state.import_limiters.get(kind)
    if limiter is None:
        per_minute = (
            state.settings.import_single_per_minute
            if kind == "single"
            else state.settings.import_multi_per_minute
        )
        limiter = state.import_limiters[kind] = SlidingWindowLimiter(per_minute, 60.0)
    return limiter


def bulk_import(req: ApiRequest) -> Response:
    """SPEC ``POST /import/bulk_import`` → 200 ``{"Success": 1, ...}`` (capital S, as documented)."""
    raw = req.raw_body
    try:
        body = json.loads(raw) if raw.strip() else None
    except (ValueError, UnicodeDecodeError):
        raise _validation_error(["Request body is not valid JSON."]) from None
    reasons = importer.validation_failures(
        body, len(raw), lambda: req.assumed("import_failure_index_zero_based")
    )
    if reasons or not isinstance(body, dict):
        raise _validation_error(reasons)
    state = req.state
    single = len(body["contacts"]) == 1
    decision = _limiter(state, "single" if single else "multi").acquire(req.now)
    if not decision.allowed:
        reason = importer.SINGLE_LIMIT_REASON if single else importer.MULTI_LIMIT_REASON
        state.counters["imports_rate_limited"] += 1
        raise ApiError(400, {"success": 0, "message": "Rate limit exceeded.", "failureReasons": [reason]})
    # Read without marking this answer: the acceptance does not depend on it, only what the batch
    # later writes for a contact that fails (seen through other reads, which cannot be traced back).
    atomic = req.emu.assumed["import_contact_failure_atomic"]
    batch = importer.queue(state, body, raw, req.now, atomic=atomic)
    return req.json_response(
        {
            "Success": 1,
            "queued_contacts": len(batch.rows),
            "batchId": batch.id,
            "message": "Contact import queued",
        }
    )


def unknown_batch(batch_id: str) -> ApiError:
    """404 for a batchId the importer does not know (undocumented: an emulator choice).

    Also the answer while a fresh batch is not yet visible (``importer.info_unknown_seconds``),
    so a client cannot tell "not ready yet" from "never existed".
    """
    return ApiError(404, {"success": 0, "message": f"No import batch found with batchId '{batch_id}'."})


def import_info(req: ApiRequest) -> Response:
    """SPEC ``GET /import/info?batchId=``: progress of one batch.

    ``{"status": false}`` alone while the batch is under ~1 emulated second old (DOC says the
    status "may be" false then; the other keys are undocumented for that case, so we omit them).
    With ``importer.info_unknown_seconds`` set, a batch younger than that answers like an
    unknown one (a reported behaviour, see docs/emulator.md).
    """
    batch_id = req.query.get("batchId")
    if not batch_id:
        raise ApiError(400, {"success": 0, "message": "'batchId' is a required field."})
    batch = req.state.imports.get(batch_id)
    if batch is None or req.now < batch.info_unknown_until:
        raise unknown_batch(batch_id)
    importer.release(req.state, batch, req.now)
    status = batch.status(req.now)
    if status is False:
        return req.json_response({"status": False})
    return req.json_response(
        {"status": status, "success": [str(cid) for cid in batch.success], "failure": list(batch.failure)}
    )


def import_list(req: ApiRequest) -> Response:
    """SPEC ``GET /import/bulk_import``: outstanding and recently completed batches per day."""
    tz = req.ctx.tz
    outstanding: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    completed: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    horizon = req.now - RECENT_DAYS * 86_400
    for batch in req.state.imports.values():
        if batch.status(req.now) == "completed":
            if batch.finish_at >= horizon:
                bucket = completed[day(batch.finish_at, tz)]
            else:
                continue
        else:
            bucket = outstanding[day(batch.submitted_at, tz)]
        bucket[0] += 1
        bucket[1] += len(batch.rows)

    def rows(groups: dict[str, list[int]]) -> list[dict[str, str]]:
        return [
            {"forDate": when, "batches": str(counts[0]), "contacts": str(counts[1])}
            for when, counts in sorted(groups.items())
        ]

    return req.json_response({"outstanding": rows(outstanding), "recentlyCompleted": rows(completed)})


def routes(emu: Emulator) -> list[BaseRoute]:
    return [
        emu.route("/api/3/import/bulk_import", bulk_import, ["POST"]),
        emu.route("/api/3/import/bulk_import", import_list, ["GET"]),
        emu.route("/api/3/import/info", import_info, ["GET"]),
    ]
