"""Deals CRM: pipelines (``/dealGroups``), stages (``/dealStages``), deals, the users who own
them (``/users``) and a contact's deals.

Every deal create/update/delete goes through :func:`create_deal`, :func:`update_deal` and
:func:`delete_deal`, which call :func:`on_deal_change` last: that is the hook point for
webhooks (``deal_add``/``deal_update``) or any other reaction to a deal write.

Shapes are SPEC's (``GET /deals`` for reads, ``POST /deals`` for write answers, which use numbers
where reads use strings).  ``GET /deals`` lists in id order (SPEC gives no default order;
id order makes ``offset`` paging stable) with ``meta.total`` a *number* and ``meta.currencies``,
exactly as its example.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from activecampaign_emulator import render, webhooks
from activecampaign_emulator.clock import parse_timestamp
from activecampaign_emulator.contacts import page_window
from activecampaign_emulator.core import ApiRequest, Emulator
from activecampaign_emulator.crm import (
    DEAL_STATUSES,
    CrmBook,
    Deal,
    Pipeline,
    Stage,
    crm_book,
    page,
)
from activecampaign_emulator.crm_fields import (
    FieldKind,
    check_inline_fields,
    write_inline_fields,
)
from activecampaign_emulator.render import Ctx
from activecampaign_emulator.responses import (
    ApiError,
    bad_request,
    collection,
    field_missing,
    no_result,
    single,
    unprocessable,
)
from activecampaign_emulator.state import User
from activecampaign_emulator.validation import parse_int_id

_DEAL_LINKS = (
    "dealActivities",
    "contact",
    "contactDeals",
    "group",
    "nextTask",
    "notes",
    "account",
    "customerAccount",
    "organization",
    "owner",
    "scoreValues",
    "stage",
    "tasks",
    "dealCustomFieldData",
)
_DEAL_FIELDS = FieldKind("deal")


# -- hook point ---------------------------------------------------------------------------------


def on_deal_change(req: ApiRequest, event: str, deal: Deal) -> None:
    """Called after every API write of a deal: ``event`` is ``add``, ``update`` or ``delete``.

    The emulator itself only counts them; webhook firing (``deal_add``, ``deal_update``) plugs in
    here.
    """
    crm_book(req.emu).count(f"deals_{event}")
    if event in ("add", "update"):
        webhooks.fire(req, f"deal_{event}", webhooks.deal_fields(req, deal))


# -- rendering ----------------------------------------------------------------------------------


def _ref(value: int | None) -> str | None:
    return None if value is None else str(value)


def render_deal(ctx: Ctx, deal: Deal, *, write: bool = False) -> dict[str, Any]:
    """SPEC ``GET /deals`` object (``write=False``) or ``POST/PUT /deals`` ``deal`` object."""
    did = str(deal.id)
    links = {name: ctx.link(f"deals/{did}/{name}") for name in _DEAL_LINKS}
    if write:
        return {
            "description": deal.description,
            "currency": deal.currency,
            "percent": deal.percent,
            "status": deal.status,
            "title": deal.title,
            "value": deal.value,
            "organization": deal.account_id,
            "contact": deal.contact_id,
            "group": str(deal.group_id),
            "owner": str(deal.owner_id),
            "stage": str(deal.stage_id),
            "cdate": ctx.iso(deal.cdate),
            "mdate": ctx.iso(deal.mdate),
            "nextdate": None,
            "hash": deal.hash,
            "winProbability": None,
            "winProbabilityMdate": None,
            "links": links,
            "id": did,
            "isDisabled": False,
            "account": deal.account_id,
            "customerAccount": deal.account_id,
        }
    return {
        "hash": deal.hash,
        "owner": str(deal.owner_id),
        "contact": _ref(deal.contact_id),
        "organization": _ref(deal.account_id),
        "group": str(deal.group_id),
        "stage": str(deal.stage_id),
        "title": deal.title,
        "description": deal.description,
        "percent": "0" if deal.percent is None else str(deal.percent),
        "cdate": ctx.iso(deal.cdate),
        "mdate": ctx.iso(deal.mdate),
        "nextdate": None,
        "nexttaskid": None,
        "nextTask": None,
        "value": str(deal.value),
        "currency": deal.currency,
        "winProbability": _win_probability(deal),
        "winProbabilityMdate": ctx.iso(deal.mdate),
        "status": str(deal.status),
        "activitycount": str(deal.activitycount),
        "nextdealid": did,
        "edate": None,
        "links": links,
        "id": did,
        "isDisabled": False,
        "account": _ref(deal.account_id),
        "customerAccount": _ref(deal.account_id),
    }


def _win_probability(deal: Deal) -> int:
    """A number, as SPEC's read example shows (44); won 100, lost 0, open by stage position."""
    if deal.status == 1:
        return 100
    if deal.status == 2:
        return 0
    return min(90, 10 + 15 * (deal.stage_id % 5))


def render_stage(ctx: Ctx, stage: Stage, *, numeric: bool = False) -> dict[str, Any]:
    """SPEC ``GET /dealStages`` object; ``numeric=True``: the create/update answer's ``order``/``width``."""
    regions = {f"cardRegion{i}": v for i, v in enumerate(stage.card_regions, start=1)}
    return {
        **regions,
        "cdate": ctx.iso(stage.cdate),
        "color": stage.color,
        "dealOrder": stage.deal_order,
        "group": str(stage.group_id),
        "id": str(stage.id),
        "links": {"group": ctx.link(f"dealStages/{stage.id}/group")},
        "order": stage.order if numeric else str(stage.order),
        "title": stage.title,
        "udate": ctx.iso(stage.udate),
        "width": stage.width if numeric else str(stage.width),
    }


def render_pipeline(ctx: Ctx, p: Pipeline, *, numeric: bool = False) -> dict[str, Any]:
    """SPEC ``GET /dealGroups`` object (flags as strings); create/update answers use numbers."""

    def flag(v: int) -> int | str:
        return v if numeric else str(v)

    body: dict[str, Any] = {
        "allgroups": flag(p.allgroups),
        "allusers": flag(p.allusers),
        "autoassign": flag(p.autoassign),
        "cdate": ctx.iso(p.cdate),
        "currency": p.currency,
        "id": str(p.id),
        "links": {
            name: ctx.link(f"dealGroups/{p.id}/{name}")
            for name in ("dealGroupGroups", "dealGroupUsers", "stages")
        },
        "stages": [str(s) for s in p.stage_ids],
        "title": p.title,
        "udate": ctx.iso(p.udate),
    }
    if numeric:
        body["dealGroupGroups"] = []
        body["dealGroupUsers"] = [str(u) for u in p.users]
    return body


def _user_body(ctx: Ctx, u: User) -> dict[str, Any]:
    return render.user(ctx, u)


# -- pipelines ----------------------------------------------------------------------------------


def _pipeline_or_404(book: CrmBook, req: ApiRequest) -> Pipeline:
    pipeline = book.pipelines.get(req.path_id())
    if pipeline is None:
        raise no_result("DealGroup", req.path_params["id"])
    return pipeline


def _stage_or_404(book: CrmBook, req: ApiRequest) -> Stage:
    stage = book.stages.get(req.path_id())
    if stage is None:
        raise no_result("DealStage", req.path_params["id"])
    return stage


def _deal_or_404(book: CrmBook, req: ApiRequest) -> Deal:
    deal = book.deals.get(req.path_id())
    if deal is None:
        raise no_result("Deal", req.path_params["id"])
    return deal


def _pipeline_answer(req: ApiRequest, book: CrmBook, p: Pipeline, *, numeric: bool) -> dict[str, Any]:
    stages = [render_stage(req.ctx, book.stages[s]) for s in p.stage_ids if s in book.stages]
    body: dict[str, Any] = {"dealGroup": render_pipeline(req.ctx, p, numeric=numeric)}
    if numeric:
        body["dealGroupGroups"] = []
        body["dealGroupUsers"] = [
            {
                "cdate": None,
                "dealGroup": str(p.id),
                "id": str(u),
                "links": {
                    "dealGroup": req.ctx.link(f"dealGroupUsers/{u}/dealGroup"),
                    "user": req.ctx.link(f"dealGroupUsers/{u}/user"),
                },
                "user": str(u),
            }
            for u in p.users
        ]
    body["dealStages"] = stages
    return body


def _pipeline_attrs(req: ApiRequest, p: Pipeline, body: dict[str, Any]) -> None:
    if "title" in body:
        p.title = str(body["title"])
    if "currency" in body:
        p.currency = str(body["currency"]).lower()
    for attr in ("allgroups", "allusers", "autoassign"):
        if attr in body:
            setattr(p, attr, int(body[attr]))
    if "users" in body:
        p.users = [u for u in (parse_int_id(x) for x in body["users"] or []) if u is not None]
    p.udate = req.now


def routes(emu: Emulator) -> list[BaseRoute]:
    book = crm_book(emu)

    def list_pipelines(req: ApiRequest) -> Response:
        limit, offset = page_window(req)
        rows = list(book.pipelines.values())
        title = req.query.get("filters[title]")
        if title:
            rows = [p for p in rows if title.lower() in p.title.lower()]
        if req.query.get("filters[have_stages]") == "1":
            rows = [p for p in rows if p.stage_ids]
        order = (req.query.get("orders[title]") or "").upper()
        if order in ("ASC", "DESC"):
            rows.sort(key=lambda p: p.title.lower(), reverse=order == "DESC")
        if (req.query.get("orders[popular]") or "").upper() in ("ASC", "DESC"):
            counts = {p.id: 0 for p in rows}
            for deal in book.deals.values():
                if deal.group_id in counts:
                    counts[deal.group_id] += 1
            rows.sort(
                key=lambda p: (counts[p.id], p.cdate), reverse=req.query["orders[popular]"].upper() == "DESC"
            )
        chosen = rows[offset : offset + limit]
        stages = [
            render_stage(req.ctx, book.stages[s]) for p in chosen for s in p.stage_ids if s in book.stages
        ]
        body = collection("dealGroups", [render_pipeline(req.ctx, p) for p in chosen], len(rows))
        return req.json_response(
            {"dealGroups": body["dealGroups"], "dealStages": stages, "meta": body["meta"]}
        )

    def create_pipeline(req: ApiRequest) -> Response:
        body = req.json_object("dealGroup")
        for attr in ("title", "currency"):
            if not str(body.get(attr) or "").strip():
                raise field_missing(attr)
        p = book.add_pipeline(str(body["title"]), str(body["currency"]), req.now)
        _pipeline_attrs(req, p, body)
        for title in ("To Contact", "In Contact", "Follow Up"):  # SPEC example: 3 default stages
            book.add_stage(p, title, req.now)
        book.count("pipelines_created")
        return req.json_response(_pipeline_answer(req, book, p, numeric=True))

    def get_pipeline(req: ApiRequest) -> Response:
        return req.json_response(_pipeline_answer(req, book, _pipeline_or_404(book, req), numeric=False))

    def update_pipeline(req: ApiRequest) -> Response:
        p = _pipeline_or_404(book, req)
        _pipeline_attrs(req, p, req.json_object("dealGroup"))
        answer = _pipeline_answer(req, book, p, numeric=True)
        answer["dealGroup"].pop("stages", None)  # the SPEC update answer has no stages
        answer.pop("dealStages", None)
        return req.json_response(answer)

    def delete_pipeline(req: ApiRequest) -> Response:
        book.delete_pipeline(_pipeline_or_404(book, req))
        return req.json_response({})

    # -- stages -----------------------------------------------------------------------------

    def list_stages(req: ApiRequest) -> Response:
        limit, offset = page_window(req)
        rows = list(book.stages.values())
        title = req.query.get("filters[title]")
        if title:
            rows = [s for s in rows if title.lower() in s.title.lower()]
        group = req.query.get("filters[d_groupid]") or req.query.get("filters[group]")
        if group:
            gid = parse_int_id(group) or 0
            rows = [s for s in rows if s.group_id == gid]
        order = (req.query.get("orders[title]") or "").upper()
        if order in ("ASC", "DESC"):
            rows.sort(key=lambda s: s.title.lower(), reverse=order == "DESC")
        chosen = rows[offset : offset + limit]
        return req.json_response(
            collection("dealStages", [render_stage(req.ctx, s) for s in chosen], len(rows))
        )

    def create_stage(req: ApiRequest) -> Response:
        body = req.json_object("dealStage")
        if not str(body.get("title") or "").strip():
            raise field_missing("title")
        gid = parse_int_id(body.get("group"))
        pipeline = book.pipelines.get(gid or 0)
        if pipeline is None:
            raise unprocessable("The pipeline does not exist", "related_missing", "group")
        order = parse_int_id(body.get("order"))
        stage = book.add_stage(pipeline, str(body["title"]), req.now, order)
        _stage_attrs(stage, body)
        return req.json_response(single("dealStage", render_stage(req.ctx, stage, numeric=True)))

    def get_stage(req: ApiRequest) -> Response:
        return req.json_response(single("dealStage", render_stage(req.ctx, _stage_or_404(book, req))))

    def update_stage(req: ApiRequest) -> Response:
        stage = _stage_or_404(book, req)
        body = req.json_object("dealStage")
        if "title" in body:
            stage.title = str(body["title"])
        if "order" in body and parse_int_id(body["order"]) is not None:
            stage.order = int(body["order"])
        _stage_attrs(stage, body)
        stage.udate = req.now
        return req.json_response(single("dealStage", render_stage(req.ctx, stage, numeric=True)))

    def delete_stage(req: ApiRequest) -> Response:
        book.delete_stage(_stage_or_404(book, req))
        return req.json_response({})

    def move_stage_deals(req: ApiRequest) -> Response:
        """SPEC ``PUT /dealStages/{id}/deals``: every deal of this stage moves to ``deal.stage``."""
        source = _stage_or_404(book, req)
        target = book.stages.get(parse_int_id(req.json_object("deal").get("stage")) or 0)
        if target is None or target.group_id != source.group_id:
            raise ApiError(
                422,
                {
                    "errors": [
                        {
                            "detail": "Target stage does not belong to same pipeline",
                            "source": {"pointer": "/data/attributes/stage"},
                            "status": 422,
                            "title": "Invalid attribute",
                        }
                    ]
                },
            )
        moved = [d for d in book.deals.values() if d.stage_id == source.id]
        for deal in moved:
            deal.stage_id = target.id
            book.touch_deal(deal, req.now)
            on_deal_change(req, "update", deal)
        return req.json_response({"deals": [render_deal(req.ctx, d) for d in moved]})

    # -- deals ------------------------------------------------------------------------------

    def list_deals(req: ApiRequest) -> Response:
        limit, offset = page_window(req)
        ids, currencies = _filtered_deals(req, book)
        chosen = [book.deals[i] for i in page(ids, offset, limit)]
        return req.json_response(
            {
                "deals": [render_deal(req.ctx, d) for d in chosen],
                "meta": {"currencies": currencies, "total": len(ids)},
            }
        )

    def get_deal(req: ApiRequest) -> Response:
        return req.json_response(single("deal", render_deal(req.ctx, _deal_or_404(book, req))))

    def post_deal(req: ApiRequest) -> Response:
        deal, fields = create_deal(req, book, req.json_object("deal"))
        return req.json_response(_write_answer(req, book, deal, fields), 201)

    def put_deal(req: ApiRequest) -> Response:
        deal = _deal_or_404(book, req)
        fields = update_deal(req, book, deal, req.json_object("deal"))
        return req.json_response(_write_answer(req, book, deal, fields))

    def remove_deal(req: ApiRequest) -> Response:
        delete_deal(req, book, _deal_or_404(book, req))
        return req.json_response({})

    def bulk_owner(req: ApiRequest) -> Response:
        """SPEC ``PATCH /deals/bulkUpdate``: owners only; ``success``/``nochange``/``failed``."""
        items = req.json().get("deals") if isinstance(req.json(), dict) else None
        if not isinstance(items, list):
            raise bad_request('body must be {"deals": [{"id", "ownerId"}]}')
        for item in items:
            if item.get("ownerId") in (None, ""):
                raise ApiError(
                    422,
                    {
                        "errors": [
                            {"status": 422, "title": f"ownerId is required for a deal '{item.get('id')}'."}
                        ]
                    },
                )
            if parse_int_id(item["ownerId"]) not in req.state.users:
                raise ApiError(
                    422,
                    {
                        "errors": [
                            {
                                "status": 422,
                                "title": f"Owner(user) with id '{item['ownerId']}' was not found "
                                f"for a deal '{item.get('id')}'.",
                            }
                        ]
                    },
                )
        result: dict[str, list[str]] = {"success": [], "nochange": [], "failed": []}
        for item in items:
            deal = book.deals.get(parse_int_id(item.get("id")) or 0)
            if deal is None:
                result["failed"].append(str(item.get("id")))
                continue
            owner = int(item["ownerId"])
            if deal.owner_id == owner:
                result["nochange"].append(str(deal.id))
                continue
            deal.owner_id = owner
            book.touch_deal(deal, req.now)
            on_deal_change(req, "update", deal)
            result["success"].append(str(deal.id))
        return req.json_response(result)

    def contact_deals(req: ApiRequest) -> Response:
        """SPEC ``GET /contacts/{id}/deals``."""
        cid = req.path_id()
        if cid not in req.state.contacts:
            raise no_result("Subscriber", req.path_params["id"])
        return req.json_response(
            {"deals": [render_deal(req.ctx, d) for d in book.deals.values() if d.contact_id == cid]}
        )

    # -- users ------------------------------------------------------------------------------

    def list_users(req: ApiRequest) -> Response:
        limit, offset = page_window(req)
        rows = [req.state.users[k] for k in sorted(req.state.users)]
        return req.json_response(
            collection("users", [_user_body(req.ctx, u) for u in rows[offset : offset + limit]], len(rows))
        )

    def get_user(req: ApiRequest) -> Response:
        user = req.state.users.get(req.path_id())
        if user is None:
            raise no_result("User", req.path_params["id"])
        return req.json_response(single("user", _user_body(req.ctx, user)))

    def user_by(attr: str) -> Callable[[ApiRequest], Response]:
        def handler(req: ApiRequest) -> Response:
            wanted = str(req.path_params[attr]).strip().lower()
            user = next((u for u in req.state.users.values() if getattr(u, attr).lower() == wanted), None)
            if user is None:
                raise no_result("User", req.path_params[attr])
            return req.json_response(single("user", _user_body(req.ctx, user)))

        handler.__name__ = f"user_by_{attr}"
        return handler

    return [
        book.route("/api/3/dealGroups", list_pipelines, ["GET"]),
        book.route("/api/3/dealGroups", create_pipeline, ["POST"]),
        book.route("/api/3/dealGroups/{id}", get_pipeline, ["GET"]),
        book.route("/api/3/dealGroups/{id}", update_pipeline, ["PUT"]),
        book.route("/api/3/dealGroups/{id}", delete_pipeline, ["DELETE"]),
        book.route("/api/3/dealStages", list_stages, ["GET"]),
        book.route("/api/3/dealStages", create_stage, ["POST"]),
        book.route("/api/3/dealStages/{id}", get_stage, ["GET"]),
        book.route("/api/3/dealStages/{id}", update_stage, ["PUT"]),
        book.route("/api/3/dealStages/{id}", delete_stage, ["DELETE"]),
        book.route("/api/3/dealStages/{id}/deals", move_stage_deals, ["PUT"]),
        book.route("/api/3/deals", list_deals, ["GET"]),
        book.route("/api/3/deals", post_deal, ["POST"]),
        book.route("/api/3/deals/bulkUpdate", bulk_owner, ["PATCH"]),
        book.route("/api/3/deals/{id}", get_deal, ["GET"]),
        book.route("/api/3/deals/{id}", put_deal, ["PUT"]),
        book.route("/api/3/deals/{id}", remove_deal, ["DELETE"]),
        book.route("/api/3/contacts/{id}/deals", contact_deals, ["GET"]),
        book.route("/api/3/users", list_users, ["GET"]),
        book.route("/api/3/users/email/{email}", user_by("email"), ["GET"]),
        book.route("/api/3/users/username/{username}", user_by("username"), ["GET"]),
        book.route("/api/3/users/{id}", get_user, ["GET"]),
    ]


def _stage_attrs(stage: Stage, body: dict[str, Any]) -> None:
    if "color" in body:
        stage.color = str(body["color"])
    if "dealOrder" in body:
        stage.deal_order = str(body["dealOrder"])
    if "width" in body and parse_int_id(body["width"]) is not None:
        stage.width = int(body["width"])
    regions = list(stage.card_regions)
    for i in range(5):
        key = f"cardRegion{i + 1}"
        if key in body:
            regions[i] = str(body[key])
    stage.card_regions = (regions[0], regions[1], regions[2], regions[3], regions[4])


# -- deal writes: the single place each kind of deal change happens ------------------------------


def _resolve_stage(book: CrmBook, body: dict[str, Any], current: Deal | None) -> tuple[int, int]:
    """(pipeline id, stage id) from ``group``/``stage`` as SPEC describes them."""
    group_raw, stage_raw = body.get("group"), body.get("stage")
    gid = parse_int_id(group_raw) if group_raw not in (None, "") else None
    sid = parse_int_id(stage_raw) if stage_raw not in (None, "", "0", 0) else None
    if group_raw not in (None, "") and (gid is None or gid not in book.pipelines):
        raise unprocessable("The pipeline does not exist", "related_missing", "group")
    if stage_raw not in (None, "", "0", 0) and (sid is None or sid not in book.stages):
        raise unprocessable("The stage does not exist", "related_missing", "stage")
    if sid is not None:
        stage = book.stages[sid]
        if gid is not None and stage.group_id != gid:
            raise unprocessable("Stage does not belong to the pipeline", "field_invalid", "stage")
        return stage.group_id, sid
    if gid is not None:
        if current is not None and book.stages[current.stage_id].group_id == gid:
            return gid, current.stage_id
        stage_ids = book.pipelines[gid].stage_ids
        if not stage_ids:
            raise unprocessable("The pipeline has no stages", "field_invalid", "group")
        first = min(stage_ids, key=lambda s: (book.stages[s].order, s))
        return gid, first
    if current is not None:
        return current.group_id, current.stage_id
    raise field_missing("stage")


def _money(body: dict[str, Any], current: Deal | None) -> int:
    if "value" not in body or body["value"] in (None, ""):
        if current is not None:
            return current.value
        raise field_missing("value")
    raw = body["value"]
    valid = (isinstance(raw, int) and raw >= 0) or (isinstance(raw, str) and raw.strip().isdigit())
    if isinstance(raw, bool) or not valid:
        raise unprocessable("Deal value must be an integer number of cents >= 0", "field_invalid", "value")
    return int(raw)


def _refs(
    req: ApiRequest, book: CrmBook, body: dict[str, Any], current: Deal | None
) -> tuple[int | None, int | None]:
    contact_id = current.contact_id if current else None
    account_id = current.account_id if current else None
    if "contact" in body:
        raw = body["contact"]
        contact_id = parse_int_id(raw) if raw not in (None, "") else None
        if raw not in (None, "") and (contact_id is None or contact_id not in req.state.contacts):
            raise unprocessable("The contact does not exist", "related_missing", "contact")
    if "account" in body:
        raw = body["account"]
        account_id = parse_int_id(raw) if raw not in (None, "") else None
        if raw not in (None, "") and (account_id is None or account_id not in book.accounts):
            raise unprocessable("The account does not exist", "related_missing", "account")
    if contact_id is None and account_id is None:
        raise field_missing("contact")
    return contact_id, account_id


def _owner(
    req: ApiRequest, book: CrmBook, body: dict[str, Any], pipeline: Pipeline, current: Deal | None
) -> int:
    raw = body.get("owner")
    if raw not in (None, ""):
        owner = parse_int_id(raw)
        if owner is None or owner not in req.state.users:
            raise unprocessable("The owner does not exist", "related_missing", "owner")
        return owner
    if current is not None:
        return current.owner_id
    if pipeline.autoassign == 0:
        raise field_missing("owner")  # SPEC: required if the pipeline's auto-assign is disabled
    candidates = [u for u in pipeline.users if u in req.state.users] or sorted(req.state.users)
    book.count("autoassign_round")
    return candidates[book.counters["autoassign_round"] % len(candidates)]


def _status(body: dict[str, Any], current: Deal | None) -> int:
    if "status" not in body or body["status"] in (None, ""):
        return current.status if current else 0
    status = parse_int_id(body["status"]) if body["status"] not in (0, "0") else 0
    if status not in DEAL_STATUSES:
        raise unprocessable("Deal status must be 0 (open), 1 (won) or 2 (lost)", "field_invalid", "status")
    return status


def _currency(body: dict[str, Any], pipeline: Pipeline, current: Deal | None) -> str:
    raw = body.get("currency")
    if raw in (None, ""):
        return current.currency if current else pipeline.currency
    text = str(raw).strip()
    if len(text) != 3 or not text.isalpha():
        raise unprocessable("Currency must be a 3-letter ISO code", "field_invalid", "currency")
    return text.lower()


def create_deal(req: ApiRequest, book: CrmBook, body: dict[str, Any]) -> tuple[Deal, list[dict[str, Any]]]:
    """``POST /deals``: validate everything, then store; returns the deal and its ``fields`` echo."""
    if not str(body.get("title") or "").strip():
        raise field_missing("title")
    value = _money(body, None)
    contact_id, account_id = _refs(req, book, body, None)
    group_id, stage_id = _resolve_stage(book, body, None)
    pipeline = book.pipelines[group_id]
    owner = _owner(req, book, body, pipeline, None)
    status = _status(body, None)
    currency = _currency(body, pipeline, None)
    checked = check_inline_fields(book, "deal", body.get("fields"))
    percent = parse_int_id(body.get("percent")) if body.get("percent") not in (None, "") else None
    deal = Deal(
        book.next_id("deal"),
        str(body["title"]),
        str(body.get("description") or ""),
        value,
        currency,
        group_id,
        stage_id,
        owner,
        contact_id,
        account_id,
        status,
        percent,
        req.now,
        req.now,
    )
    book.store_deal(deal)
    rows, _ = write_inline_fields(book, "deal", deal.id, checked, req.now)
    on_deal_change(req, "add", deal)
    return deal, [_DEAL_FIELDS.inline(deal.id, d) for d in rows]


def update_deal(req: ApiRequest, book: CrmBook, deal: Deal, body: dict[str, Any]) -> list[dict[str, Any]]:
    """``PUT /deals/{id}``: partial update; ``mdate`` moves only when something changed."""
    if "title" in body and not str(body.get("title") or "").strip():
        raise field_missing("title")
    value = _money(body, deal)
    contact_id, account_id = _refs(req, book, body, deal)
    group_id, stage_id = _resolve_stage(book, body, deal)
    pipeline = book.pipelines[group_id]
    owner = _owner(req, book, body, pipeline, deal)
    status = _status(body, deal)
    currency = _currency(body, pipeline, deal)
    checked = check_inline_fields(book, "deal", body.get("fields"))
    new = {
        "title": str(body.get("title", deal.title)),
        "description": str(body.get("description", deal.description) or ""),
        "value": value,
        "currency": currency,
        "group_id": group_id,
        "stage_id": stage_id,
        "owner_id": owner,
        "contact_id": contact_id,
        "account_id": account_id,
        "status": status,
    }
    if "percent" in body:
        new["percent"] = parse_int_id(body["percent"]) if body["percent"] not in (None, "") else None
    changed = False
    for attr, value_new in new.items():
        if getattr(deal, attr) != value_new:
            setattr(deal, attr, value_new)
            changed = True
    rows, fields_changed = write_inline_fields(book, "deal", deal.id, checked, req.now)
    if changed or fields_changed:
        book.touch_deal(deal, req.now)
    on_deal_change(req, "update", deal)
    return [_DEAL_FIELDS.inline(deal.id, d) for d in rows]


def delete_deal(req: ApiRequest, book: CrmBook, deal: Deal) -> None:
    """``DELETE /deals/{id}``: permanent (reference §10); its custom field values go with it."""
    book.delete_deal(deal)
    on_deal_change(req, "delete", deal)


def _write_answer(req: ApiRequest, book: CrmBook, deal: Deal, fields: list[dict[str, Any]]) -> dict[str, Any]:
    """SPEC ``POST /deals`` 201 body: sideloaded ``contacts`` and ``dealStages`` around ``deal``."""
    contact = req.state.contacts.get(deal.contact_id) if deal.contact_id is not None else None
    body: dict[str, Any] = {"contacts": [render.contact(req.ctx, contact)] if contact is not None else []}
    rendered = render_deal(req.ctx, deal, write=True)
    rendered_fields = fields
    rendered["fields"] = rendered_fields
    # keep SPEC's key order: ... links, fields, id, isDisabled, account, customerAccount
    ordered = {
        k: rendered[k]
        for k in rendered
        if k not in ("fields", "id", "isDisabled", "account", "customerAccount")
    }
    for key in ("fields", "id", "isDisabled", "account", "customerAccount"):
        ordered[key] = rendered[key]
    body["deal"] = ordered
    body["dealStages"] = [render_stage(req.ctx, book.stages[deal.stage_id])]
    return body


# -- GET /deals filters -------------------------------------------------------------------------


def _day_start(req: ApiRequest, param: str) -> int | None:
    """The account-local midnight of a ``filters[...]`` date.

    SPEC documents these as dates; integrators report that a time part is not honoured
    (reference §10, "filters[updated_after] takes a date, not a timestamp"), so the emulator
    keeps only the date: clients must overlap windows by a day and filter exactly themselves.
    """
    raw = req.query.get(param)
    if not raw:
        return None
    try:
        ts = parse_timestamp(raw, req.ctx.tz)
    except ValueError as exc:
        raise bad_request(f"{param} must be a date (YYYY-MM-DD)") from exc
    local = datetime.fromtimestamp(ts, req.ctx.tz)
    return int(datetime(local.year, local.month, local.day, tzinfo=req.ctx.tz).timestamp())


_ORDERS: dict[str, Callable[[Deal], Any]] = {
    "title": lambda d: (d.title.lower(), d.id),
    "value": lambda d: (d.value, d.id),
    "cdate": lambda d: (d.cdate, d.id),
}


def _filtered_deals(req: ApiRequest, book: CrmBook) -> tuple[list[int], dict[str, Any]]:
    """Deal ids matching the query (id order unless ``orders[...]``), cached for paging.

    Id order without ``orders[...]`` is *assumed* (switch ``deals_default_order_by_id``; off:
    newest first, cdate then id, descending): SPEC ``GET /deals`` names no default order.
    """
    q = req.query
    key = tuple(sorted((k, v) for k, v in q.multi_items() if k not in ("limit", "offset")))
    tests: list[Callable[[Deal], bool]] = []

    def int_filter(*names: str) -> int | None:
        for name in names:
            raw = q.get(name)
            if raw not in (None, ""):
                try:
                    return int(str(raw))
                except ValueError as exc:
                    raise bad_request(f"{name} must be an integer") from exc
        return None

    stage = int_filter("filters[stage]", "filters[d_stageid]")
    if stage is not None:
        tests.append(lambda d: d.stage_id == stage)
    group = int_filter("filters[group]", "filters[d_groupid]")
    if group is not None:
        tests.append(lambda d: d.group_id == group)
    status = int_filter("filters[status]")
    if status is not None:
        tests.append(lambda d: d.status == status)
    owner = int_filter("filters[owner]")
    if owner is not None:
        tests.append(lambda d: d.owner_id == owner)
    organization = int_filter("filters[organization]")
    if organization is not None:
        tests.append(lambda d: d.account_id == organization)
    minimum = int_filter("filters[minimum_value]")
    if minimum is not None:
        tests.append(lambda d: d.value >= minimum * 100)  # SPEC: "in USD with dollar portion"
    maximum = int_filter("filters[maximum_value]")
    if maximum is not None:
        tests.append(lambda d: d.value <= maximum * 100)
    title = q.get("filters[title]")
    if title:
        tests.append(lambda d: title.lower() in d.title.lower())
    search = q.get("filters[search]")
    if search:
        field = q.get("filters[search_field]") or "title"
        tests.append(_search_test(req, book, field, search.lower()))
    tag = q.get("filters[tag]")
    if tag:
        tests.append(_tag_test(req, tag))
    for param, attr, after in (
        ("filters[created_after]", "cdate", True),
        ("filters[created_before]", "cdate", False),
        ("filters[updated_after]", "mdate", True),
        ("filters[updated_before]", "mdate", False),
    ):
        bound = _day_start(req, param)
        if bound is not None:
            tests.append(_time_test(attr, bound, after))
    orders = [(k[7:-1], v) for k, v in q.multi_items() if k.startswith("orders[")]
    for name, _ in orders:
        if name not in _ORDERS and name not in ("contact_name", "contact_orgname", "next-action"):
            raise bad_request(f"unsupported order {name!r}")

    def compute() -> tuple[list[int], dict[str, Any]]:
        rows: Iterable[Deal] = book.deals.values()
        if tests:
            rows = [d for d in rows if all(t(d) for t in tests)]
        if orders:
            listed = list(rows)
            for name, direction in reversed(orders):
                listed.sort(key=_ORDERS.get(name, _by_id), reverse=direction.strip().upper() == "DESC")
            rows = listed
        ids = [d.id for d in rows]
        return ids, _currency_totals(book, ids)

    ids, currencies = book.cached(("deals", *key), compute)
    if not orders and len(ids) > 1 and not req.assumed("deals_default_order_by_id"):
        # The reference names no default order; off, the other plausible one: newest first.
        ids = sorted(ids, key=lambda i: (book.deals[i].cdate, i), reverse=True)
    return ids, currencies


def _by_id(deal: Deal) -> Any:
    return deal.id


def _currency_totals(book: CrmBook, ids: list[int]) -> dict[str, Any]:
    """``meta.currencies`` of SPEC ``GET /deals``: count and value sum per currency."""
    totals: dict[str, list[int]] = {}
    for i in ids:
        deal = book.deals[i]
        entry = totals.setdefault(deal.currency.upper(), [0, 0])
        entry[0] += 1
        entry[1] += deal.value
    return {
        cur: {"currency": cur, "total": str(n), "value": str(v)} for cur, (n, v) in sorted(totals.items())
    }


def _time_test(attr: str, bound: int, after: bool) -> Callable[[Deal], bool]:
    """SPEC: ``*_after`` is "greater than or equal to", ``*_before`` "less than" the date."""
    if after:
        return lambda d: int(getattr(d, attr)) >= bound
    return lambda d: int(getattr(d, attr)) < bound


def _search_test(req: ApiRequest, book: CrmBook, field: str, needle: str) -> Callable[[Deal], bool]:
    if field in ("contact", "contact_name"):
        contacts = req.state.contacts

        def by_contact(d: Deal) -> bool:
            c = contacts.get(d.contact_id) if d.contact_id is not None else None
            return c is not None and (
                needle in c.email.lower() or needle in f"{c.first_name} {c.last_name}".lower()
            )

        return by_contact
    if field in ("account", "org", "organization", "account_name"):
        return lambda d: d.account_id in book.accounts and needle in book.accounts[d.account_id].name.lower()
    return lambda d: needle in d.title.lower()


def _tag_test(req: ApiRequest, tag: str) -> Callable[[Deal], bool]:
    tag_obj = req.state.tags.get(parse_int_id(tag) or 0) or req.state.tag_by_name(tag)
    tag_id = tag_obj.id if tag_obj is not None else -1
    contacts = req.state.contacts
    return lambda d: d.contact_id in contacts and tag_id in contacts[d.contact_id].tags
