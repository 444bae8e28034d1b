"""Accounts (companies) and their contacts: ``/accounts``, ``/accounts/bulk_delete``,
``/accountContacts`` and ``/contacts/{id}/accountContacts``.

SPEC behaviours: account names are unique (422 ``duplicate``: "An account named "X" already
exists. Please choose a new name."); a contact belongs to at most one account (422
``field_invalid``: "This contact is already associated with an account. We currently do not
support contacts on multiple accounts.").  Moving a contact is an explicit
``PUT /accountContacts/{id}`` (or delete + create).  Name comparison is case-insensitive: an
inference from AC's MySQL collation, noted in docs/emulator.md.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from activecampaign_emulator.contacts import page_window
from activecampaign_emulator.core import ApiRequest, Emulator
from activecampaign_emulator.crm import Account, AccountContact, CrmBook, crm_book
from activecampaign_emulator.crm_fields import (
    FieldKind,
    check_inline_fields,
    write_inline_fields,
)
from activecampaign_emulator.render import Ctx
from activecampaign_emulator.responses import (
    ApiError,
    collection,
    no_result,
    single,
    unprocessable,
)
from activecampaign_emulator.validation import parse_int_id

_ACCOUNT_FIELDS = FieldKind("account")


def render_account(
    ctx: Ctx,
    book: CrmBook,
    a: Account,
    *,
    counts: bool | None = None,
    links: bool = True,
    tallies: tuple[Counter[int], Counter[int]] | None = None,
) -> dict[str, Any]:
    """SPEC ``GET /accounts`` object; ``counts``: add contactCount/dealCount (``None``: leave out).

    ``tallies`` = (contacts per account, deals per account), computed once per page.
    """
    body: dict[str, Any] = {
        "name": a.name,
        "accountUrl": a.url,
        "createdTimestamp": ctx.iso(a.cdate),
        "updatedTimestamp": ctx.iso(a.udate),
    }
    if counts is not None:
        if counts:
            contact_tally, deal_tally = tallies or account_tallies(book)
            contacts, deals = contact_tally[a.id], deal_tally[a.id]
        else:
            contacts = deals = 0  # SPEC: "will not be counted and be simply displayed as 0"
        body["contactCount"] = str(contacts)
        body["dealCount"] = str(deals)
    body["links"] = (
        {
            name: ctx.link(f"accounts/{a.id}/{name}")
            for name in ("notes", "accountCustomFieldData", "accountContacts")
        }
        if links
        else []
    )
    body["id"] = str(a.id)
    return body


def account_tallies(book: CrmBook) -> tuple[Counter[int], Counter[int]]:
    """Contacts and deals per account (one pass over each, not one per account)."""
    contacts: Counter[int] = Counter(ac.account_id for ac in book.visible_account_contacts())
    deals: Counter[int] = Counter(d.account_id for d in book.deals.values() if d.account_id is not None)
    return contacts, deals


def render_account_contact(ctx: Ctx, ac: AccountContact, *, numeric: bool = False) -> dict[str, Any]:
    """SPEC ``GET /accountContacts`` object (``numeric``: the create answer's number refs)."""
    return {
        "account": ac.account_id if numeric else str(ac.account_id),
        "contact": ac.contact_id if numeric else str(ac.contact_id),
        "jobTitle": ac.job_title,
        "createdTimestamp": ctx.iso(ac.cdate),
        "updatedTimestamp": ctx.iso(ac.udate),
        "links": {
            "account": ctx.link(f"accountContacts/{ac.id}/account"),
            "contact": ctx.link(f"accountContacts/{ac.id}/contact"),
        },
        "id": str(ac.id),
    }


def _name_taken(req: ApiRequest, book: CrmBook, name: str, own_id: int | None = None) -> Account | None:
    """Another account already holding ``name``: the same spelling, or another case of it.

    SPEC ``POST /accounts`` shows the 422 for an existing name but not whether ``Acme`` and ``ACME``
    are the same name: case-blind is *assumed* (switch ``account_names_case_insensitive``; off,
    only the exact spelling is taken). The switch is read only when another case of the name exists.
    """
    others = [a for a in book.accounts_named(name) if a.id != own_id]
    exact = next((a for a in others if a.name.strip() == name.strip()), None)
    if exact is not None or not others:
        return exact
    return others[0] if req.assumed("account_names_case_insensitive") else None


def duplicate_name(name: str) -> ApiError:
    """SPEC ``POST /accounts`` 422 "Alredy Existing" body, verbatim."""
    return unprocessable(
        f'An account named "{name}" already exists. Please choose a new name.', "duplicate", "name"
    )


def _missing(attribute: str) -> ApiError:
    """SPEC ``POST /accountContacts`` 422 "Missing Data" wording (``account``; ``contact`` by analogy)."""
    return unprocessable(f"The {attribute} attribute was not provided", "field_missing", attribute)


def already_associated() -> ApiError:
    """SPEC ``POST /accountContacts`` 422 "Alredy Existing" body, verbatim."""
    return unprocessable(
        "This contact is already associated with an account. We currently do not support contacts on "
        "multiple accounts.",
        "field_invalid",
        "account,contact",
    )


def routes(emu: Emulator) -> list[BaseRoute]:
    book = crm_book(emu)

    def account_or_404(req: ApiRequest) -> Account:
        account = book.accounts.get(req.path_id())
        if account is None:
            raise no_result("CustomerAccount", req.path_params["id"])
        return account

    def association_or_404(req: ApiRequest) -> AccountContact:
        ac = book.account_contacts.get(req.path_id())
        if ac is None or not book.contact_exists(ac.contact_id):
            raise no_result("CustomerAccountSubscriber", req.path_params["id"])
        return ac

    def fields_echo(a: Account) -> list[dict[str, Any]]:
        data = book.fields["account"].data
        return [_ACCOUNT_FIELDS.inline(a.id, data[d]) for d in a.fields.values() if d in data]

    def write_answer(req: ApiRequest, a: Account) -> dict[str, Any]:
        body = render_account(req.ctx, book, a, links=False)
        body.pop("id")
        body["fields"] = fields_echo(a)
        body["id"] = str(a.id)
        return single("account", body)

    def list_accounts(req: ApiRequest) -> Response:
        limit, offset = page_window(req)
        rows: list[Account] = list(book.accounts.values())
        term = req.query.get("search")
        if term:
            rows = [a for a in rows if term.lower() in a.name.lower()]
        counts = (req.query.get("count_deals") or "").lower() in ("true", "1")
        chosen = rows[offset : offset + limit]
        tallies = account_tallies(book) if counts else None
        return req.json_response(
            collection(
                "accounts",
                [render_account(req.ctx, book, a, counts=counts, tallies=tallies) for a in chosen],
                len(rows),
            )
        )

    def get_account(req: ApiRequest) -> Response:
        account = account_or_404(req)
        body = render_account(req.ctx, book, account, links=False)
        return req.json_response(single("account", body))

    def create_account(req: ApiRequest) -> Response:
        body = req.json_object("account")
        name = str(body.get("name") or "").strip()
        if not name:
            raise unprocessable("The account name was not provided.", "field_missing", "name")
        if _name_taken(req, book, name) is not None:
            book.count("account_duplicate_create_attempts")
            raise duplicate_name(name)
        owner = parse_int_id(body.get("owner", 1)) or 1
        checked = check_inline_fields(book, "account", body.get("fields"))
        account = book.add_account(name, _url(body.get("accountUrl")), owner, req.now)
        write_inline_fields(book, "account", account.id, checked, req.now)
        book.count("accounts_created")
        return req.json_response(write_answer(req, account), 201)

    def update_account(req: ApiRequest) -> Response:
        account = account_or_404(req)
        body = req.json_object("account")
        changed = False
        if "name" in body:
            name = str(body.get("name") or "").strip()
            if not name:
                raise unprocessable("The account name was not provided.", "field_missing", "name")
            if _name_taken(req, book, name, account.id) is not None:
                raise duplicate_name(name)
            if name != account.name:
                book.rename_account(account, name)
                changed = True
        checked = check_inline_fields(book, "account", body.get("fields"))
        if "accountUrl" in body and _url(body["accountUrl"]) != account.url:
            account.url = _url(body["accountUrl"])
            changed = True
        if "owner" in body and parse_int_id(body["owner"]) not in (None, account.owner_id):
            account.owner_id = parse_int_id(body["owner"]) or account.owner_id
            changed = True
        _, fields_changed = write_inline_fields(book, "account", account.id, checked, req.now)
        if changed or fields_changed:
            account.udate = req.now
        book.count("accounts_updated")
        return req.json_response(write_answer(req, account))

    def delete_account(req: ApiRequest) -> Response:
        book.delete_account(account_or_404(req))
        book.count("accounts_deleted")
        return req.json_response({})

    def bulk_delete(req: ApiRequest) -> Response:
        """SPEC ``DELETE /accounts/bulk_delete?ids[]=1&ids[]=2`` → ``{"meta":{"success":true}}``."""
        raw = req.query.getlist("ids[]") + req.query.getlist("[]ids") + req.query.getlist("ids")
        ids = [parse_int_id(part) for value in raw for part in value.split(",")]
        for aid in ids:
            account = book.accounts.get(aid or 0)
            if account is not None:
                book.delete_account(account)
                book.count("accounts_deleted")
        return req.json_response({"meta": {"success": True}})

    def account_contacts_link(req: ApiRequest) -> Response:
        """``GET /accounts/{id}/accountContacts`` (the account's ``links`` entry)."""
        account = account_or_404(req)
        rows = [ac for ac in book.visible_account_contacts() if ac.account_id == account.id]
        return req.json_response(
            collection("accountContacts", [render_account_contact(req.ctx, ac) for ac in rows], len(rows))
        )

    # -- associations -----------------------------------------------------------------------

    def list_associations(req: ApiRequest) -> Response:
        limit, offset = page_window(req)
        rows = list(book.visible_account_contacts())
        contact = req.query.get("filters[contact]")
        if contact:
            cid = parse_int_id(contact) or 0
            rows = [ac for ac in rows if ac.contact_id == cid]
        account = req.query.get("filters[account]")
        if account:
            aid = parse_int_id(account) or 0
            rows = [ac for ac in rows if ac.account_id == aid]
        chosen = rows[offset : offset + limit]
        return req.json_response(
            collection("accountContacts", [render_account_contact(req.ctx, ac) for ac in chosen], len(rows))
        )

    def create_association(req: ApiRequest) -> Response:
        body = req.json_object("accountContact")
        for attribute in ("account", "contact"):
            if body.get(attribute) in (None, ""):
                raise _missing(attribute)
        account_id = parse_int_id(body["account"]) or 0
        if account_id not in book.accounts:
            raise unprocessable("The account does not exist", "related_missing", "account")
        contact_id = parse_int_id(body["contact"]) or 0
        if contact_id not in req.state.contacts:
            raise unprocessable("The contact does not exist", "related_missing", "contact")
        if book.account_of_contact(contact_id) is not None:
            book.count("account_contact_conflicts")
            raise already_associated()
        ac = book.link_contact(account_id, contact_id, str(body.get("jobTitle") or ""), req.now)
        book.count("account_contacts_created")
        return req.json_response(
            single("accountContact", render_account_contact(req.ctx, ac, numeric=True)), 201
        )

    def get_association(req: ApiRequest) -> Response:
        return req.json_response(
            single("accountContact", render_account_contact(req.ctx, association_or_404(req)))
        )

    def update_association(req: ApiRequest) -> Response:
        """``PUT /accountContacts/{id}``: job title, or move the contact to another ``account``."""
        ac = association_or_404(req)
        body = req.json_object("accountContact")
        account_id = contact_id = None
        if body.get("account") not in (None, ""):
            account_id = parse_int_id(body["account"]) or 0
            if account_id not in book.accounts:
                raise unprocessable("The account does not exist", "related_missing", "account")
        if body.get("contact") not in (None, ""):
            contact_id = parse_int_id(body["contact"]) or 0
            if contact_id not in req.state.contacts:
                raise unprocessable("The contact does not exist", "related_missing", "contact")
            other = book.account_of_contact(contact_id)
            if other is not None and other.id != ac.id:
                raise already_associated()
        changed = (account_id not in (None, ac.account_id)) or (contact_id not in (None, ac.contact_id))
        book.move_contact(ac, account_id, contact_id)
        if "jobTitle" in body and str(body["jobTitle"] or "") != ac.job_title:
            ac.job_title = str(body["jobTitle"] or "")
            changed = True
        if changed:
            ac.udate = req.now
            book.count("account_contacts_updated")
        return req.json_response(single("accountContact", render_account_contact(req.ctx, ac)))

    def delete_association(req: ApiRequest) -> Response:
        book.unlink_contact(association_or_404(req))
        book.count("account_contacts_deleted")
        return req.json_response({})

    def contact_associations(req: ApiRequest) -> Response:
        """SPEC ``GET /contacts/{id}/accountContacts``."""
        cid = req.path_id()
        if cid not in req.state.contacts:
            raise no_result("Subscriber", req.path_params["id"])
        ac = book.account_of_contact(cid)
        return req.json_response(
            {"accountContacts": [] if ac is None else [render_account_contact(req.ctx, ac)]}
        )

    return [
        book.route("/api/3/accounts", list_accounts, ["GET"]),
        book.route("/api/3/accounts", create_account, ["POST"]),
        book.route("/api/3/accounts/bulk_delete", bulk_delete, ["DELETE"]),
        book.route("/api/3/accounts/{id}", get_account, ["GET"]),
        book.route("/api/3/accounts/{id}", update_account, ["PUT"]),
        book.route("/api/3/accounts/{id}", delete_account, ["DELETE"]),
        book.route("/api/3/accounts/{id}/accountContacts", account_contacts_link, ["GET"]),
        book.route("/api/3/accountContacts", list_associations, ["GET"]),
        book.route("/api/3/accountContacts", create_association, ["POST"]),
        book.route("/api/3/accountContacts/{id}", get_association, ["GET"]),
        book.route("/api/3/accountContacts/{id}", update_association, ["PUT"]),
        book.route("/api/3/accountContacts/{id}", delete_association, ["DELETE"]),
        book.route("/api/3/contacts/{id}/accountContacts", contact_associations, ["GET"]),
    ]


def _url(raw: Any) -> str | None:
    return None if raw in (None, "") else str(raw)
