"""The ``/_emulator/`` control API: reset, seed, inspect, inject faults, set speed, move time.

Never under ``/api/3``, never authenticated, rate limited, faulted or logged: these calls are
the test harness talking to the emulator, not a client talking to ActiveCampaign.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from activecampaign_emulator import render
from activecampaign_emulator.assumed import ASSUMED_BEHAVIOURS
from activecampaign_emulator.clock import iso
from activecampaign_emulator.core import Emulator
from activecampaign_emulator.faults import FaultRuleError
from activecampaign_emulator.responses import json_response
from activecampaign_emulator.seed import SeedError
from activecampaign_emulator.state import AccountState, Contact, Enrolment


def _error(message: str, status: int = 400) -> Response:
    return json_response({"error": message}, status)


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"body is not valid JSON: {exc}") from exc


def _enrolment_status(enrolment: Enrolment) -> str:
    if enrolment.removed:
        return "removed"
    return "completed" if enrolment.is_complete() else "active"


def _contact_snapshot(state: AccountState, contact: Contact, tz: timezone) -> dict[str, Any]:
    fields = {str(fid): value.value for fid, value in sorted(contact.field_values.items())}
    by_perstag = {
        state.fields[fid].perstag: value.value
        for fid, value in sorted(contact.field_values.items())
        if fid in state.fields
    }
    return {
        "id": str(contact.id),
        "email": contact.email,
        "firstName": contact.first_name,
        "lastName": contact.last_name,
        "phone": contact.phone,
        "cdate": iso(contact.cdate, tz),
        "udate": iso(contact.udate, tz),
        "fields": fields,
        "fields_by_perstag": by_perstag,
        "field_value_writes": {str(fid): value.writes for fid, value in sorted(contact.field_values.items())},
        "lists": {
            str(lid): {
                "list": state.lists[lid].name if lid in state.lists else None,
                "status": m.status,
                "subscribes": m.subscribes,
                "unsubscribes": m.unsubscribes,
                "sourceid": m.sourceid,
                "sdate": iso(m.sdate, tz),
                "udate": iso(m.udate, tz),
            }
            for lid, m in sorted(contact.lists.items())
        },
        "tags": sorted(state.tags[tid].tag for tid in contact.tags if tid in state.tags),
        "tag_add_requests": {
            state.tags[tid].tag: ct.add_requests for tid, ct in contact.tags.items() if tid in state.tags
        },
        "automations": [
            {
                "id": str(e.id),
                "automation": str(e.automation_id),
                "status": _enrolment_status(e),
                "source": e.source,
            }
            for e in (state.enrolments[eid] for eid in contact.enrolment_ids)
        ],
        "import_batches": list(contact.import_batches),
        "counters": dict(sorted(contact.counters.items())),
    }


def snapshot(emu: Emulator) -> dict[str, Any]:
    """Everything a test may want to assert on, in plain JSON (ids as strings)."""
    with emu.lock:
        now = emu.clock.now()
        emu.tick(now)
        state = emu.state
        tz = state.settings.tz
        payload_counts = Counter(b.payload_sha256 for b in state.imports.values())
        enrolment_counts = Counter(f"{e.contact_id}:{e.automation_id}" for e in state.enrolments.values())
        ctx = render.Ctx("", tz, now)
        body: dict[str, Any] = {
            "now": iso(now, tz),
            "emulated_epoch": now,
            "config": emu.config.to_json(),
            "counters": {
                k: v for k, v in sorted(state.counters.items()) if not k.startswith("import_payload:")
            },
            "contacts": [
                _contact_snapshot(state, c, tz) for c in sorted(state.contacts.values(), key=lambda c: c.id)
            ],
            "deleted_contacts": [
                {"id": str(k), "email": v} for k, v in sorted(state.deleted_contacts.items())
            ],
            "lists": [
                {
                    "id": str(lst.id),
                    "name": lst.name,
                    "subscribed": sum(
                        1 for c in state.contacts.values() if (m := c.lists.get(lst.id)) and m.status == 1
                    ),
                    "unsubscribed": sum(
                        1 for c in state.contacts.values() if (m := c.lists.get(lst.id)) and m.status == 2
                    ),
                }
                for lst in sorted(state.lists.values(), key=lambda x: x.id)
            ],
            "tags": [
                {
                    "id": str(t.id),
                    "tag": t.tag,
                    "contacts": sum(1 for c in state.contacts.values() if t.id in c.tags),
                }
                for t in sorted(state.tags.values(), key=lambda x: x.id)
            ],
            "fields": [
                {
                    "id": str(f.id),
                    "title": f.title,
                    "type": f.type,
                    "perstag": f.perstag,
                    "options": [state.field_options[o].value for o in f.option_ids],
                }
                for f in sorted(state.fields.values(), key=lambda x: x.id)
            ],
            "automations": [
                {
                    "id": str(a.id),
                    "name": a.name,
                    "multientry": a.multientry,
                    "duration_seconds": a.duration,
                    "complete_after_first_poll": a.complete_after_first_poll,
                    "entered": a.entered,
                    "exited": a.exited,
                }
                for a in sorted(state.automations.values(), key=lambda x: x.id)
            ],
            "enrolments": [
                {
                    "id": str(e.id),
                    "contact": str(e.contact_id),
                    "automation": str(e.automation_id),
                    "status": _enrolment_status(e),
                    "source": e.source,
                    "adddate": iso(e.adddate, tz),
                    # None while held until its first read (complete_after_first_poll)
                    "complete_at": None if e.complete_at == math.inf else iso(e.complete_at, tz),
                    "remdate": ctx.iso(e.remdate),
                }
                for e in sorted(state.enrolments.values(), key=lambda x: x.id)
            ],
            "enrolment_counts": dict(sorted(enrolment_counts.items())),
            "imports": [
                {
                    "batchId": b.id,
                    "status": b.status(now),
                    "submitted": iso(b.submitted_at, tz),
                    # None while held until its first poll (importer.start_after_first_poll)
                    "start": None if b.start_at == math.inf else iso(b.start_at, tz),
                    "finish": None if b.finish_at == math.inf else iso(b.finish_at, tz),
                    "queued_contacts": len(b.rows),
                    "processed": b.processed,
                    "success": [str(c) for c in b.success],
                    "failure": list(b.failure),
                    "failure_reasons": list(b.failure_reasons),
                    # importer.unaccounted_contacts: processed, but absent from /import/info
                    "unreported": list(b.unreported),
                    # importer.info_unknown_seconds: /import/info knows the batch from then on
                    "info_visible_from": iso(max(b.info_unknown_until, b.submitted_at), tz),
                    "payload_sha256": b.payload_sha256,
                    "same_payload_submissions": payload_counts[b.payload_sha256],
                    "byte_size": b.byte_size,
                    "callback": b.callback,
                }
                for b in state.imports.values()
            ],
            "messages": [state.messages[k] for k in sorted(state.messages)],
            "addresses": [state.addresses[k] for k in sorted(state.addresses)],
        }
        for extension in emu.extensions:
            body.update(extension.snapshot(emu))
        return body


def routes(emu: Emulator) -> list[BaseRoute]:
    async def health(request: Request) -> Response:
        return json_response({"status": "ok", "api_key": emu.api_key})

    async def reset(request: Request) -> Response:
        try:
            body = await _body(request)
            if body is not None and not isinstance(body, dict):
                return _error("reset takes an optional seed object")
            emu.reset(body)
        except (ValueError, SeedError) as exc:
            return _error(str(exc))
        return json_response({"reset": True, "api_key": emu.api_key})

    async def merge_seed(request: Request) -> Response:
        try:
            body = await _body(request)
            if not isinstance(body, dict):
                return _error("seed takes a seed object")
            created = emu.merge_seed(body)
        except (ValueError, SeedError) as exc:
            return _error(str(exc))
        return json_response({"created": created})

    async def state(request: Request) -> Response:
        return json_response(snapshot(emu))

    async def get_requests(request: Request) -> Response:
        since = int(request.query_params.get("since", 0))
        with emu.lock:
            tz = emu.state.settings.tz
            entries = [e.to_json(tz) for e in emu.requests.entries() if e.seq > since]
            return json_response(
                {
                    "requests": entries,
                    "counts": emu.requests.counts(),
                    "max_requests_in_any_emulated_second": emu.requests.max_in_window(1.0),
                }
            )

    async def clear_requests(request: Request) -> Response:
        with emu.lock:
            emu.requests.clear()
        return json_response({})

    async def list_faults(request: Request) -> Response:
        with emu.lock:
            return json_response({"faults": [r.to_json() for r in emu.faults.rules()]})

    async def add_fault(request: Request) -> Response:
        try:
            body = await _body(request)
            if not isinstance(body, dict):
                return _error("a fault rule is a JSON object")
            with emu.lock:
                rule = emu.faults.add(body)
        except (ValueError, FaultRuleError) as exc:
            return _error(str(exc))
        return json_response({"fault": rule.to_json()}, 201)

    async def clear_faults(request: Request) -> Response:
        with emu.lock:
            emu.faults.clear()
        return json_response({})

    async def remove_fault(request: Request) -> Response:
        raw = str(request.path_params["id"])
        with emu.lock:
            removed = raw.isdigit() and emu.faults.remove(int(raw))
        return json_response({}) if removed else _error(f"no fault rule {raw}", 404)

    async def get_config(request: Request) -> Response:
        return json_response({"config": emu.config.to_json()})

    async def set_config(request: Request) -> Response:
        try:
            body = await _body(request)
            if not isinstance(body, dict):
                return _error("config takes an object")
            unknown = set(body) - {"speed", "rate_limit", "requests_per_second"}
            if unknown:
                return _error(f"unknown config keys: {sorted(unknown)}")
            config = emu.configure(
                speed=None if body.get("speed") is None else float(body["speed"]),
                rate_limit=body.get("rate_limit"),
                requests_per_second=None
                if body.get("requests_per_second") is None
                else int(body["requests_per_second"]),
            )
        except (TypeError, ValueError) as exc:
            return _error(str(exc))
        return json_response({"config": config.to_json()})

    async def get_assumed(request: Request) -> Response:
        with emu.lock:
            return json_response({"assumed": dict(emu.assumed), "described": ASSUMED_BEHAVIOURS})

    async def set_assumed(request: Request) -> Response:
        try:
            body = await _body(request)
        except (TypeError, ValueError) as exc:
            return _error(str(exc))
        if not isinstance(body, dict) or not all(isinstance(v, bool) for v in body.values()):
            return _error("assumed takes an object of name -> true/false")
        unknown = set(body) - set(ASSUMED_BEHAVIOURS)
        if unknown:
            return _error(
                f"unknown assumed behaviours: {sorted(unknown)}; known: {sorted(ASSUMED_BEHAVIOURS)}"
            )
        with emu.lock:
            emu.assumed.update(body)
            emu.state.keep_email_case = not emu.assumed["contact_email_lowercased"]
            emu.state.memberships_move_udate = not emu.assumed["contact_udate_ignores_list_and_tag_changes"]
            return json_response({"assumed": dict(emu.assumed)})

    async def get_clock(request: Request) -> Response:
        with emu.lock:
            now = emu.clock.now()
            return json_response(
                {"now": iso(now, emu.state.settings.tz), "emulated_epoch": now, "speed": emu.clock.speed}
            )

    async def advance(request: Request) -> Response:
        try:
            body = await _body(request)
            seconds = float((body or {}).get("seconds", 0))
            now = emu.advance(seconds)
        except (AttributeError, TypeError, ValueError) as exc:
            return _error(str(exc))
        return json_response({"now": iso(now, emu.state.settings.tz), "emulated_epoch": now})

    return [
        Route("/_emulator/health", health, methods=["GET"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
        Route("/_emulator/seed", merge_seed, methods=["POST"]),
        Route("/_emulator/state", state, methods=["GET"]),
        Route("/_emulator/requests", get_requests, methods=["GET"]),
        Route("/_emulator/requests", clear_requests, methods=["DELETE"]),
        Route("/_emulator/faults", list_faults, methods=["GET"]),
        Route("/_emulator/faults", add_fault, methods=["POST"]),
        Route("/_emulator/faults", clear_faults, methods=["DELETE"]),
        Route("/_emulator/faults/{id}", remove_fault, methods=["DELETE"]),
        Route("/_emulator/config", get_config, methods=["GET"]),
        Route("/_emulator/config", set_config, methods=["POST"]),
        Route("/_emulator/assumed", get_assumed, methods=["GET"]),
        Route("/_emulator/assumed", set_assumed, methods=["POST"]),
        Route("/_emulator/clock", get_clock, methods=["GET"]),
        Route("/_emulator/clock/advance", advance, methods=["POST"]),
    ]
