"""Control routes for CRM state (``/_emulator/crm``, ``/_emulator/event_tracking``).

``GET /_emulator/state`` only carries CRM counts (it is read often); these return the records.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from activecampaign_emulator import crm_seed
from activecampaign_emulator.core import Emulator
from activecampaign_emulator.crm import crm_book
from activecampaign_emulator.responses import json_response


def routes(emu: Emulator) -> list[BaseRoute]:
    book = crm_book(emu)

    async def crm(request: Request) -> Response:
        """Full CRM records; ``?only=deals,accounts`` limits the sections returned."""
        with emu.lock:
            book.materialize()
            body = {"counts": book.counts(), **crm_seed.describe(book, emu.state.settings.tz)}
        only = request.query_params.get("only")
        if only:
            wanted = {part.strip() for part in only.split(",")}
            body = {k: v for k, v in body.items() if k in wanted}
        return json_response(body)

    async def event_tracking(request: Request) -> Response:
        with emu.lock:
            return json_response(book.tracking_snapshot(emu.state.settings.tz))

    return [
        Route("/_emulator/crm", crm, methods=["GET"]),
        Route("/_emulator/event_tracking", event_tracking, methods=["GET"]),
    ]
