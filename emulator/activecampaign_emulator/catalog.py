"""Read-only collections served from their published examples: forms, scores, goals, SMS, …

Exports read these collections and nothing writes them, so the emulator needs only their shape and
enough records to page through. ``catalog.json`` (built by ``scripts/build_emulator_catalog.py``)
holds, for each collection, its list key, whether its list answer carries ``meta``, the records and
their source: the official reference's list example where the reference has one (SPEC), otherwise
one record made from tap-activecampaign 1.3.1's schema of that stream (*reported*: the tap reads the
collection from live accounts).

The seed key ``catalog`` says how many records each collection holds (``{"forms": 250}``); records
beyond the example's are copies with ids counting up and update times an hour apart, so windowed
exports and paging can be tested. ``GET /<collection>`` pages by ``limit``/``offset`` in id order;
``GET /<collection>/{id}`` answers one record or the documented 404.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from activecampaign_emulator.contacts import page_window
from activecampaign_emulator.core import ApiRequest, BaseExtension, Emulator
from activecampaign_emulator.responses import no_result
from activecampaign_emulator.seed import SeedError

#: Record fields that carry a time and move with the copy number (only where the example has them).
_TIME_FIELDS = (
    "cdate",
    "mdate",
    "udate",
    "sdate",
    "ldate",
    "tstamp",
    "created_date",
    "updated_date",
    "created_timestamp",
    "updated_timestamp",
    "createdTimestamp",
    "updatedTimestamp",
)
#: The first copy's time; later copies are an hour apart.
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
#: The most records a collection may be seeded with (a 1,000,000-record benchmark fits).
MAX_RECORDS = 2_000_000


def load_catalog() -> dict[str, dict[str, Any]]:
    """The collections of ``catalog.json``, by endpoint."""
    text = resources.files("activecampaign_emulator").joinpath("catalog.json").read_text(encoding="utf-8")
    catalog: dict[str, dict[str, Any]] = json.loads(text)
    return catalog


CATALOG = load_catalog()


def _record(template: Mapping[str, Any], number: int) -> dict[str, Any]:
    record = copy.deepcopy(dict(template))
    record["id"] = str(number)
    moment = (_EPOCH + timedelta(hours=number)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    for name in _TIME_FIELDS:
        if record.get(name):
            record[name] = moment
    links = record.get("links")
    if isinstance(links, dict):
        record["links"] = {name: f"/api/3/{name}/{number}" for name in links}
    return record


class Catalog(BaseExtension):
    """The records of every catalog collection, generated on first read and dropped on reset."""

    seed_keys = frozenset({"catalog"})

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._records: dict[str, list[dict[str, Any]]] = {}

    def reset(self, emu: Emulator, seed: Mapping[str, Any]) -> None:
        self.counts = {endpoint: len(entry["records"]) for endpoint, entry in CATALOG.items()}
        self._records = {}
        self.merge_seed(emu, seed)

    def merge_seed(self, emu: Emulator, seed: Mapping[str, Any]) -> None:
        wanted = seed.get("catalog") or {}
        if not isinstance(wanted, Mapping):
            raise SeedError("catalog must be an object of collection -> record count")
        for endpoint, count in wanted.items():
            if endpoint not in CATALOG:
                raise SeedError(
                    f"catalog: unknown collection {endpoint!r}; known: {', '.join(sorted(CATALOG))}"
                )
            if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_RECORDS:
                raise SeedError(f"catalog.{endpoint} must be a record count from 0 to {MAX_RECORDS}")
            self.counts[endpoint] = count
            self._records.pop(endpoint, None)

    def snapshot(self, emu: Emulator) -> dict[str, Any]:
        return {"catalog_counts": dict(self.counts)}

    def records(self, endpoint: str) -> list[dict[str, Any]]:
        """The collection's records in id order (made once per reset or seed)."""
        rows = self._records.get(endpoint)
        if rows is None:
            templates = CATALOG[endpoint]["records"]
            count = self.counts.get(endpoint, len(templates))
            rows = [_record(templates[(n - 1) % len(templates)], n) for n in range(1, count + 1)]
            self._records[endpoint] = rows
        return rows


def catalog_of(emu: Emulator) -> Catalog:
    """The emulator's :class:`Catalog`, registered on first use."""
    for extension in emu.extensions:
        if isinstance(extension, Catalog):
            return extension
    catalog = Catalog()
    emu.add_extension(catalog)
    return catalog


def routes(emu: Emulator) -> list[BaseRoute]:
    catalog = catalog_of(emu)
    result: list[BaseRoute] = []
    for endpoint, entry in CATALOG.items():
        result.append(emu.route(f"/api/3/{endpoint}", _lister(catalog, endpoint, entry), ["GET"]))
        result.append(emu.route(f"/api/3/{endpoint}/{{id}}", _getter(catalog, endpoint, entry), ["GET"]))
    return result


def _lister(catalog: Catalog, endpoint: str, entry: Mapping[str, Any]) -> Any:
    key, with_meta = entry["key"], bool(entry["meta"])

    def list_records(req: ApiRequest) -> Response:
        limit, offset = page_window(req)
        rows = catalog.records(endpoint)
        body: dict[str, Any] = {key: rows[offset : offset + limit]}
        if with_meta:
            body["meta"] = {"total": str(len(rows))}
        return req.json_response(body)

    list_records.__doc__ = f"``GET /{endpoint}`` ({entry['source']})."
    return list_records


def _getter(catalog: Catalog, endpoint: str, entry: Mapping[str, Any]) -> Any:
    singular = entry["key"][:-1] if entry["key"].endswith("s") else entry["key"]

    def get_record(req: ApiRequest) -> Response:
        ident = str(req.request.path_params["id"])
        rows = catalog.records(endpoint)
        if ident.isdigit() and 1 <= int(ident) <= len(rows):
            return req.json_response({singular: rows[int(ident) - 1]})
        raise no_result(singular[:1].upper() + singular[1:], ident)

    get_record.__doc__ = f"``GET /{endpoint}/{{id}}`` ({entry['source']})."
    return get_record
