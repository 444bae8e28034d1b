"""Notes and deal tasks: ``/notes`` (+ deal, account and contact notes), ``/dealTasks``,
``/dealTasktypes``.

SPEC labels its ``GET /dealTasks``, ``GET /dealTasks/{id}`` and ``PUT /dealTasks/{id}`` examples
with status 201 (apparently copied from the create page); the emulator answers those with 200
like every other read and update, and keeps 201 for ``POST``.

SPEC shapes: ``GET /notes`` objects with ``owner: {type, id}``; ``POST /notes`` → 201;
``POST /deals/{id}/notes`` → 201 with the deal sideloaded (``deals``); unknown note on
read/update/delete → **403** ``{"message":"No Result found for Note with id N"}`` (SPEC
``DELETE /notes/{id}``).  ``GET /dealTasks`` filters: ``reltype``, ``relid``, ``status``,
``d_tasktypeid``, ``userid``, ``assignee_userid``, ``outcome_id``, ``due_after``,
``due_before``, ``duedate_range`` (``YYYY-MM-DD+YYYY-MM-DD``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from activecampaign_emulator import render
from activecampaign_emulator.accounts import render_account
from activecampaign_emulator.clock import parse_timestamp
from activecampaign_emulator.contacts import page_window
from activecampaign_emulator.core import ApiRequest, Emulator
from activecampaign_emulator.crm import (
    NOTE_RELTYPES,
    CrmBook,
    DealTask,
    Note,
    TaskType,
    crm_book,
)
from activecampaign_emulator.deals import render_deal
from activecampaign_emulator.render import Ctx
from activecampaign_emulator.responses import (
    bad_request,
    collection,
    field_invalid,
    field_missing,
    no_result,
    single,
    unprocessable,
)
from activecampaign_emulator.validation import parse_int_id

_TASK_RELTYPES = {"deal": "Deal", "contact": "Subscriber"}
_TASK_OWNER = {"Deal": "deal", "Subscriber": "contact"}


def render_note(ctx: Ctx, n: Note) -> dict[str, Any]:
    """SPEC ``GET /notes`` object."""
    links = ("activities", "user", "mentions", "notes", "owner")
    return {
        "relid": str(n.relid),
        "reltype": n.reltype,
        "userid": str(n.user_id),
        "is_draft": "0",
        "cdate": ctx.iso(n.cdate),
        "mdate": ctx.iso(n.mdate),
        "note": n.note,
        "links": {name: ctx.link(f"notes/{n.id}/{name}") for name in links},
        "id": str(n.id),
        "user": str(n.user_id),
        "owner": {"type": NOTE_RELTYPES.get(n.reltype, n.reltype.lower()), "id": str(n.relid)},
    }


def render_task(ctx: Ctx, t: DealTask) -> dict[str, Any]:
    """SPEC ``GET /dealTasks`` object (``status`` a number, as in that example)."""
    links = (
        "activities",
        "automation",
        "dealTasktype",
        "doneAutomation",
        "notes",
        "owner",
        "taskNotifications",
        "user",
        "assignee",
    )
    return {
        "id": str(t.id),
        "duedate": ctx.iso(t.duedate),
        "edate": ctx.iso(t.edate),
        "status": t.status,
        "title": t.title,
        "note": t.note,
        "relid": str(t.relid),
        "reltype": t.reltype,
        "dealTasktype": str(t.tasktype_id),
        "cdate": ctx.iso(t.cdate),
        "udate": ctx.iso(t.udate),
        "automation": None,
        "doneAutomation": None,
        "user": str(t.user_id),
        "assignee": str(t.assignee_id),
        "owner": {"type": _TASK_OWNER.get(t.reltype, t.reltype.lower()), "id": str(t.relid)},
        "outcomeId": t.outcome_id,
        "outcomeInfo": t.outcome_info,
        "links": {name: ctx.link(f"dealTasks/{t.id}/{name}") for name in links},
    }


def render_task_type(ctx: Ctx, t: TaskType) -> dict[str, Any]:
    return {
        "cdate": ctx.iso(t.cdate),
        "defduration": "0",
        "id": str(t.id),
        "links": [],
        "status": str(t.status),
        "title": t.title,
        "udate": ctx.iso(t.udate),
    }


def _relation_exists(req: ApiRequest, book: CrmBook, reltype: str, relid: int) -> bool:
    if reltype == "Deal":
        return relid in book.deals
    if reltype == "Subscriber":
        return relid in req.state.contacts
    if reltype == "CustomerAccount":
        return relid in book.accounts
    if reltype == "DealTask":
        return relid in book.tasks
    return True  # Activity: not emulated, any id is accepted


def routes(emu: Emulator) -> list[BaseRoute]:
    book = crm_book(emu)

    def note_or_403(req: ApiRequest, name: str = "id") -> Note:
        note = book.notes.get(req.path_id(name))
        if note is None:
            raise no_result("Note", req.path_params[name], status=403)
        return note

    def new_note(req: ApiRequest, text: str, reltype: str, relid: int) -> Note:
        nid = book.next_id("note")
        user = req.user.id if req.user is not None else min(req.state.users)
        note = Note(nid, text, reltype, relid, user, req.now, req.now)
        book.notes[nid] = note
        book.count("notes_created")
        return note

    def note_text(body: dict[str, Any]) -> str:
        text = body.get("note")
        if not isinstance(text, str) or not text.strip():
            raise field_missing("note")
        return text

    def list_notes(req: ApiRequest) -> Response:
        limit, offset = page_window(req)
        rows = list(book.notes.values())
        return req.json_response(
            collection("notes", [render_note(req.ctx, n) for n in rows[offset : offset + limit]], len(rows))
        )

    def create_note(req: ApiRequest) -> Response:
        body = req.json_object("note")
        text = note_text(body)
        reltype = str(body.get("reltype") or "")
        if reltype not in NOTE_RELTYPES:
            raise field_invalid("reltype", f"reltype must be one of {', '.join(NOTE_RELTYPES)}")
        relid = parse_int_id(body.get("relid"))
        if relid is None:
            raise field_missing("relid")
        if not _relation_exists(req, book, reltype, relid):
            raise unprocessable(f"No {reltype} with id {relid}", "related_missing", "relid")
        note = new_note(req, text, reltype, relid)
        extra: dict[str, Any] = {}
        if reltype == "Subscriber":
            extra["contacts"] = [render.contact(req.ctx, req.state.contacts[relid])]
        body = render_note(req.ctx, note)
        body["relid"] = note.relid  # SPEC POST /notes echoes the number it was sent
        body["owner"] = {"type": body["owner"]["type"], "id": note.relid}
        return req.json_response(single("note", body, **extra), 201)

    def get_note(req: ApiRequest) -> Response:
        return req.json_response(single("note", render_note(req.ctx, note_or_403(req))))

    def update_note(req: ApiRequest) -> Response:
        note = note_or_403(req)
        body = req.json_object("note")
        text = note_text(body)
        if text != note.note:
            note.note = text
            note.mdate = req.now
        return req.json_response(single("note", render_note(req.ctx, note)))

    def delete_note(req: ApiRequest) -> Response:
        del book.notes[note_or_403(req).id]
        return req.json_response({})

    def owned_notes(
        reltype: str, exists: Callable[[ApiRequest, int], bool], entity: str
    ) -> Callable[[ApiRequest], Response]:
        def handler(req: ApiRequest) -> Response:
            relid = req.path_id()
            if not exists(req, relid):
                raise no_result(entity, req.path_params["id"])
            rows = [n for n in book.notes.values() if n.reltype == reltype and n.relid == relid]
            return req.json_response(collection("notes", [render_note(req.ctx, n) for n in rows], len(rows)))

        handler.__name__ = f"{reltype.lower()}_notes"
        return handler

    def owner_note_writer(reltype: str, create: bool) -> Callable[[ApiRequest], Response]:
        """``POST/PUT /deals/{id}/notes[/{noteId}]`` and the ``/accounts`` twins (parent sideloaded)."""

        def handler(req: ApiRequest) -> Response:
            relid = req.path_id()
            if reltype == "Deal":
                parent = book.deals.get(relid)
                entity = "Deal"
            else:
                parent = book.accounts.get(relid)  # type: ignore[assignment]
                entity = "CustomerAccount"
            if parent is None:
                raise no_result(entity, req.path_params["id"])
            text = note_text(req.json_object("note"))
            if create:
                note = new_note(req, text, reltype, relid)
            else:
                note = note_or_403(req, "noteId" if reltype == "Deal" else "noteid")
                if note.note != text:
                    note.note = text
                    note.mdate = req.now
            side: dict[str, Any]
            if reltype == "Deal":
                side = {"deals": [render_deal(req.ctx, book.deals[relid])]}
            else:
                side = {"accounts": [render_account(req.ctx, book, book.accounts[relid])]}
            return req.json_response(
                single("note", render_note(req.ctx, note), **side), 201 if create else 200
            )

        handler.__name__ = f"{'create' if create else 'update'}_{reltype.lower()}_note"
        return handler

    # -- tasks ------------------------------------------------------------------------------

    def task_or_404(req: ApiRequest) -> DealTask:
        task = book.tasks.get(req.path_id())
        if task is None:
            raise no_result("DealTask", req.path_params["id"])
        return task

    def when(raw: Any, name: str, req: ApiRequest) -> float:
        try:
            return parse_timestamp(str(raw), req.ctx.tz)
        except ValueError as exc:
            raise field_invalid(name, f"{name} must be an ISO-8601 date or datetime") from exc

    def list_tasks(req: ApiRequest) -> Response:
        limit, offset = page_window(req)
        q = req.query
        tests: list[Callable[[DealTask], bool]] = []
        for param, attr in (
            ("filters[relid]", "relid"),
            ("filters[status]", "status"),
            ("filters[d_tasktypeid]", "tasktype_id"),
            ("filters[userid]", "user_id"),
            ("filters[assignee_userid]", "assignee_id"),
            ("filters[outcome_id]", "outcome_id"),
        ):
            raw = q.get(param)
            if raw not in (None, ""):
                if not str(raw).isdigit():
                    raise bad_request(f"{param} must be an integer")
                tests.append(_equals(attr, int(str(raw))))
        reltype = q.get("filters[reltype]")
        if reltype:
            wanted = _TASK_RELTYPES.get(reltype.lower(), reltype)
            tests.append(lambda t: t.reltype.lower() == wanted.lower())
        for param in ("filters[title]", "filters[note]"):
            raw = q.get(param)
            if raw:
                attr = param[8:-1]
                tests.append(_contains(attr, raw))
        # SPEC: "due after"/"due before" a date; strict or inclusive is assumed (date_filters_strict).
        after = q.get("filters[due_after]")
        before = q.get("filters[due_before]") or q.get("Fitlers[due_before]")
        strict = bool(after or before) and req.assumed("date_filters_strict")
        if after:
            bound = when(after, "due_after", req)
            tests.append((lambda t: t.duedate > bound) if strict else (lambda t: t.duedate >= bound))
        if before:
            bound_before = when(before, "due_before", req)
            tests.append(
                (lambda t: t.duedate < bound_before) if strict else (lambda t: t.duedate <= bound_before)
            )
        span = q.get("filters[duedate_range]")
        if span:
            tests.append(_range_test(span, req))
        rows = [t for t in book.tasks.values() if all(test(t) for test in tests)]
        chosen = rows[offset : offset + limit]
        return req.json_response(
            collection("dealTasks", [render_task(req.ctx, t) for t in chosen], len(rows))
        )

    def create_task(req: ApiRequest) -> Response:
        body = req.json_object("dealTask")
        for attr in ("relid", "duedate", "dealTasktype"):
            if body.get(attr) in (None, ""):
                raise field_missing(attr)
        owner_type = str(body.get("ownerType") or "deal").lower()
        if owner_type not in _TASK_RELTYPES:
            raise field_invalid("ownerType", "ownerType must be 'deal' or 'contact'")
        reltype = _TASK_RELTYPES[owner_type]
        relid = parse_int_id(body["relid"]) or 0
        if not _relation_exists(req, book, reltype, relid):
            raise unprocessable(f"No {owner_type} with id {body['relid']}", "related_missing", "relid")
        tasktype = parse_int_id(body["dealTasktype"]) or 0
        if tasktype not in book.task_types:
            raise unprocessable("The task type does not exist", "related_missing", "dealTasktype")
        due = when(body["duedate"], "duedate", req)
        edate = when(body["edate"], "edate", req) if body.get("edate") else due + 900
        user = req.user.id if req.user is not None else min(req.state.users)
        tid = book.next_id("dealTask")
        task = DealTask(
            tid,
            body.get("title"),
            str(body.get("note") or ""),
            reltype,
            relid,
            tasktype,
            due,
            edate,
            int(body.get("status") or 0),
            user,
            parse_int_id(body.get("assignee")) or user,
            req.now,
            req.now,
        )
        book.tasks[tid] = task
        book.count("deal_tasks_created")
        return req.json_response(single("dealTask", render_task(req.ctx, task)), 201)

    def get_task(req: ApiRequest) -> Response:
        return req.json_response(single("dealTask", render_task(req.ctx, task_or_404(req))))

    def update_task(req: ApiRequest) -> Response:
        task = task_or_404(req)
        body = req.json_object("dealTask")
        before = render_task(req.ctx, task)
        for attr, key in (("title", "title"), ("note", "note"), ("outcome_info", "outcomeInfo")):
            if key in body:
                setattr(task, attr, body[key])
        for attr, key in (
            ("status", "status"),
            ("assignee_id", "assignee"),
            ("tasktype_id", "dealTasktype"),
            ("outcome_id", "outcomeId"),
        ):
            if body.get(key) not in (None, ""):
                setattr(task, attr, int(body[key]))
        if body.get("duedate"):
            task.duedate = when(body["duedate"], "duedate", req)
        if body.get("edate"):
            task.edate = when(body["edate"], "edate", req)
        if render_task(req.ctx, task) != before:
            task.udate = req.now
        return req.json_response(single("dealTask", render_task(req.ctx, task)))

    def delete_task(req: ApiRequest) -> Response:
        del book.tasks[task_or_404(req).id]
        return req.json_response({})

    def list_task_types(req: ApiRequest) -> Response:
        limit, offset = page_window(req)
        rows = list(book.task_types.values())
        return req.json_response(
            collection(
                "dealTasktypes",
                [render_task_type(req.ctx, t) for t in rows[offset : offset + limit]],
                len(rows),
            )
        )

    def get_task_type(req: ApiRequest) -> Response:
        task_type = book.task_types.get(req.path_id())
        if task_type is None:
            raise no_result("DealTasktype", req.path_params["id"])
        return req.json_response(single("dealTasktype", render_task_type(req.ctx, task_type)))

    def deal_tasks(req: ApiRequest) -> Response:
        """``GET /deals/{id}/tasks`` (the deal's ``links`` entry)."""
        relid = req.path_id()
        if relid not in book.deals:
            raise no_result("Deal", req.path_params["id"])
        rows = [t for t in book.tasks.values() if t.reltype == "Deal" and t.relid == relid]
        return req.json_response(collection("dealTasks", [render_task(req.ctx, t) for t in rows], len(rows)))

    return [
        book.route("/api/3/notes", list_notes, ["GET"]),
        book.route("/api/3/notes", create_note, ["POST"]),
        book.route("/api/3/notes/{id}", get_note, ["GET"]),
        book.route("/api/3/notes/{id}", update_note, ["PUT"]),
        book.route("/api/3/notes/{id}", delete_note, ["DELETE"]),
        book.route(
            "/api/3/deals/{id}/notes", owned_notes("Deal", lambda r, i: i in book.deals, "Deal"), ["GET"]
        ),
        book.route("/api/3/deals/{id}/notes", owner_note_writer("Deal", True), ["POST"]),
        book.route("/api/3/deals/{id}/notes/{noteId}", owner_note_writer("Deal", False), ["PUT"]),
        book.route("/api/3/deals/{id}/tasks", deal_tasks, ["GET"]),
        book.route(
            "/api/3/accounts/{id}/notes",
            owned_notes("CustomerAccount", lambda r, i: i in book.accounts, "CustomerAccount"),
            ["GET"],
        ),
        book.route("/api/3/accounts/{id}/notes", owner_note_writer("CustomerAccount", True), ["POST"]),
        book.route(
            "/api/3/accounts/{id}/notes/{noteid}", owner_note_writer("CustomerAccount", False), ["PUT"]
        ),
        book.route(
            "/api/3/contacts/{id}/notes",
            owned_notes("Subscriber", lambda r, i: i in r.state.contacts, "Subscriber"),
            ["GET"],
        ),
        book.route("/api/3/dealTasks", list_tasks, ["GET"]),
        book.route("/api/3/dealTasks", create_task, ["POST"]),
        book.route("/api/3/dealTasks/{id}", get_task, ["GET"]),
        book.route("/api/3/dealTasks/{id}", update_task, ["PUT"]),
        book.route("/api/3/dealTasks/{id}", delete_task, ["DELETE"]),
        book.route("/api/3/dealTasktypes", list_task_types, ["GET"]),
        book.route("/api/3/dealTasktypes/{id}", get_task_type, ["GET"]),
    ]


def _equals(attr: str, value: int) -> Callable[[DealTask], bool]:
    return lambda t: getattr(t, attr) == value


def _contains(attr: str, needle: str) -> Callable[[DealTask], bool]:
    return lambda t: needle.lower() in str(getattr(t, attr) or "").lower()


def _range_test(span: str, req: ApiRequest) -> Callable[[DealTask], bool]:
    now = req.now
    if span == "overdue":
        return lambda t: t.status == 0 and t.duedate < now
    if span in ("upcoming", "scheduled"):
        return lambda t: t.duedate >= now
    start_text, _, end_text = span.replace(" ", "+").partition("+")
    try:
        start = parse_timestamp(start_text, req.ctx.tz)
        end = parse_timestamp(end_text, req.ctx.tz) + 86_400
    except ValueError as exc:
        raise bad_request(
            "filters[duedate_range] must be YYYY-MM-DD+YYYY-MM-DD, upcoming, scheduled or overdue"
        ) from exc
    return lambda t: start <= t.duedate < end
