"""The API user and the account's sender addresses.

SPEC operations: ``GET /users/me``, ``GET /addresses``, ``GET /addresses/{id}``.
Addresses are read-only here: campaigns reference them by id (``addressId``).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from activecampaign_emulator import render
from activecampaign_emulator.contacts import page_window
from activecampaign_emulator.core import ApiRequest, Emulator
from activecampaign_emulator.responses import collection, forbidden, no_result, single


def me(req: ApiRequest) -> Response:
    """SPEC ``GET /users/me``: the user who owns the ``Api-Token`` (the connection test call)."""
    if req.user is None:
        raise forbidden()
    return req.json_response(single("user", render.user(req.ctx, req.user)))


def _address(req: ApiRequest, address: dict[str, Any]) -> dict[str, Any]:
    aid = address["id"]
    body = dict(address)
    body["links"] = {
        name: req.ctx.link(f"addresses/{aid}/{name}") for name in ("addressGroup", "addressList", "forms")
    }
    body["id"] = aid
    return body


def list_addresses(req: ApiRequest) -> Response:
    """SPEC ``GET /addresses``."""
    limit, offset = page_window(req)
    rows = [req.state.addresses[k] for k in sorted(req.state.addresses)]
    page = rows[offset : offset + limit]
    return req.json_response(collection("addresses", [_address(req, a) for a in page], len(rows)))


def get_address(req: ApiRequest) -> Response:
    """SPEC ``GET /addresses/{id}`` (not-found body undocumented: AC's usual message)."""
    address = req.state.addresses.get(req.path_id())
    if address is None:
        raise no_result("Address", req.path_params["id"])
    return req.json_response(single("address", _address(req, address)))


def api_root(req: ApiRequest) -> Response:
    """``GET /api/3/``: 200 for a valid key (*reported*; the body is *assumed*).

    Not an operation of the v3 reference, but tap-activecampaign 1.3.1 checks every key with it
    before it reads anything and treats any other status as fatal, so live accounts answer 200.
    What they answer is not published: an empty object here.
    """
    return req.json_response({})


def routes(emu: Emulator) -> list[BaseRoute]:
    return [
        emu.route("/api/3/", api_root, ["GET"]),
        emu.route("/api/3/users/me", me, ["GET"]),
        emu.route("/api/3/addresses", list_addresses, ["GET"]),
        emu.route("/api/3/addresses/{id}", get_address, ["GET"]),
    ]
