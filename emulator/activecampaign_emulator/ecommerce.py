"""E-commerce ("Deep Data" v3): ``/connections``, ``/ecomCustomers``, ``/ecomOrders``,
``/ecomOrderProducts`` and ``/ecomOrders/{id}/orderProducts``.

Records are stored as API-shaped dicts (ids, flags and amounts as SPEC prints them on read);
``createdDate``/``updatedDate``/``tstamp`` follow the emulator clock.  Reference §10: v3 order
writes are discouraged in favour of GraphQL, but reading them is fine; the emulator supports
create/list/get (and update/delete) so tests can build data through the API too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from activecampaign_emulator.clock import iso, parse_timestamp
from activecampaign_emulator.contacts import page_window
from activecampaign_emulator.core import ApiRequest, Emulator
from activecampaign_emulator.crm import CrmBook, crm_book, rng
from activecampaign_emulator.responses import (
    collection,
    field_missing,
    no_result,
    single,
    unprocessable,
)
from activecampaign_emulator.validation import parse_int_id

_ORDER_STATES = (0, 1, 2, 3, 4)
#: Internal keys kept beside the API fields (never rendered).
_CDATE, _UDATE = "_cdate", "_udate"


#: Attributes SPEC prints as numbers in list and create answers but as strings in single reads
#: (``GET /ecomOrders`` vs ``GET /ecomOrders/{id}``; ``POST`` product sideloads vs reads).
_ORDER_NUMBERS = ("totalPrice", "shippingAmount", "taxAmount", "discountAmount", "totalProducts", "state")
_PRODUCT_NUMBERS = ("price", "quantity")
#: SPEC ``PUT /ecomOrders/{id}``'s answer: amounts as numbers, but ``state`` and the product
#: sideloads' ``price``/``quantity`` as strings.
_UPDATED_ORDER_NUMBERS = ("totalPrice", "shippingAmount", "taxAmount", "discountAmount", "totalProducts")


def _public(record: Mapping[str, Any], base: str, numbers: tuple[str, ...] = ()) -> dict[str, Any]:
    body = {k: v for k, v in record.items() if not k.startswith("_")}
    links = body.get("links")
    if isinstance(links, dict):
        body["links"] = {k: f"{base}/{v}" for k, v in links.items()}
    for key in numbers:
        if isinstance(body.get(key), str) and body[key].lstrip("-").isdigit():
            body[key] = int(body[key])
    return body


# -- record builders (shared by the routes and the seed) ------------------------------------------


def add_connection(book: CrmBook, body: dict[str, Any], now: float) -> dict[str, Any]:
    cid = book.next_id("connection") if "id" not in body else book.claim_id("connection", int(body["id"]))
    stamp = _stamp(book, now)
    record = {
        "service": str(body.get("service", "")),
        "externalid": str(body.get("externalid", "")),
        "name": str(body.get("name", "")),
        "isInternal": "0",
        "connectionType": "ecommerce",
        "status": "1",
        "syncStatus": "0",
        "sync_request_time": None,
        "sync_start_time": None,
        "lastSync": None,
        "logoUrl": str(body.get("logoUrl", "")),
        "linkUrl": str(body.get("linkUrl", "")),
        "listId": str(body.get("listId", "0")),
        "cdate": stamp,
        "udate": stamp,
        "credentialExpiration": None,
        "links": {"options": f"connections/{cid}/options", "customers": f"connections/{cid}/customers"},
        "id": str(cid),
        "serviceName": str(body.get("service", "")),
        _CDATE: now,
        _UDATE: now,
    }
    book.connections[cid] = record
    return record


def _stored_email(raw: Any, req: ApiRequest | None = None) -> str:
    """An e-commerce email as stored: lower-cased while ``ecom_email_lowercased`` is on, else as sent.

    Without a request (the seed) it is lower-cased; the switch is consulted (and the answer marked
    as depending on it, ``ApiRequest.assumed``) only when the address has capitals.
    """
    text = str(raw if raw is not None else "").strip()
    if text == text.lower() or req is None or req.assumed("ecom_email_lowercased"):
        return text.lower()
    return text


def add_customer(
    book: CrmBook, body: dict[str, Any], now: float, req: ApiRequest | None = None
) -> dict[str, Any]:
    cid = book.next_id("ecomCustomer") if "id" not in body else book.claim_id("ecomCustomer", int(body["id"]))
    record = {
        "connectionid": str(body.get("connectionid", "0")),
        "externalid": str(body.get("externalid", "")),
        "email": _stored_email(body.get("email", ""), req),
        "totalRevenue": "0",
        "totalOrders": "0",
        "totalProducts": "0",
        "avgRevenuePerOrder": "0",
        "avgProductCategory": "",
        "tstamp": _stamp(book, now),
        "acceptsMarketing": str(body.get("acceptsMarketing", "0")),
        "links": {"connection": f"ecomCustomers/{cid}/connection", "orders": f"ecomCustomers/{cid}/orders"},
        "id": str(cid),
        "connection": str(body.get("connectionid", "0")),
        _CDATE: now,
        _UDATE: now,
    }
    book.ecom_customers[cid] = record
    return record


def add_order(
    book: CrmBook, body: dict[str, Any], now: float, tz: Any, req: ApiRequest | None = None
) -> dict[str, Any]:
    oid = book.next_id("ecomOrder") if "id" not in body else book.claim_id("ecomOrder", int(body["id"]))
    stamp = iso(now, tz)
    products = body.get("orderProducts") or []
    external_created = body.get("externalCreatedDate")
    record: dict[str, Any] = {
        "customerid": str(body.get("customerid", "0")),
        "connectionid": str(body.get("connectionid", "0")),
        "state": str(body.get("state", 1)),
        "source": str(body.get("source", "1")),
        "externalid": None if body.get("externalid") is None else str(body["externalid"]),
        "externalcheckoutid": body.get("externalcheckoutid"),
        "orderNumber": None if body.get("orderNumber") is None else str(body["orderNumber"]),
        "email": _stored_email(body.get("email", ""), req),
        "totalPrice": str(int(body.get("totalPrice", 0))),
        "discountAmount": str(int(body.get("discountAmount", 0))),
        "shippingAmount": str(int(body.get("shippingAmount", 0))),
        "taxAmount": str(int(body.get("taxAmount", 0))),
        "totalProducts": str(len(products)),
        "currency": str(body.get("currency", "USD")),
        "shippingMethod": body.get("shippingMethod"),
        "orderUrl": body.get("orderUrl"),
        "externalCreatedDate": _iso_or_none(external_created, tz),
        "externalUpdatedDate": _iso_or_none(body.get("externalUpdatedDate"), tz),
        "abandonedDate": _iso_or_none(body.get("abandonedDate"), tz),
        "createdDate": stamp,
        "updatedDate": stamp,
        "orderDate": _iso_or_none(external_created, tz),
        "tstamp": stamp,
        "links": {
            name: f"ecomOrders/{oid}/{name}"
            for name in ("connection", "customer", "orderProducts", "orderDiscounts", "orderActivities")
        },
        "id": str(oid),
        "connection": str(body.get("connectionid", "0")),
        "customer": str(body.get("customerid", "0")),
        "orderProducts": [],
        _CDATE: now,
        _UDATE: now,
    }
    book.ecom_orders[oid] = record
    _set_products(book, record, products, now, tz)
    _refresh_customer(book, record["customerid"])
    return record


def _set_products(
    book: CrmBook, order: dict[str, Any], products: list[Any], now: float, tz: Any, *, add: bool = False
) -> None:
    """The order's products become ``products``; with ``add``, they join the ones it has."""
    if not add:
        for pid in order["orderProducts"]:
            book.ecom_products.pop(int(pid), None)
        order["orderProducts"] = []
    stamp = iso(now, tz)
    for item in products:
        pid = book.next_id("ecomOrderProduct")
        book.ecom_products[pid] = {
            "orderid": order["id"],
            "connectionid": order["connectionid"],
            "externalid": str(item.get("externalid", "")),
            "sku": str(item.get("sku", "")),
            "name": str(item.get("name", "")),
            "description": str(item.get("description", "")),
            "price": str(int(item.get("price", 0))),
            "quantity": str(int(item.get("quantity", 1))),
            "category": str(item.get("category", "")),
            "imageUrl": str(item.get("imageUrl", "")),
            "productUrl": str(item.get("productUrl", "")),
            "createdDate": stamp,
            "updatedDate": stamp,
            "tstamp": stamp,
            "links": {"ecomOrder": f"ecomOrderProducts/{pid}/ecomOrder"},
            "id": str(pid),
            "ecomOrder": order["id"],
        }
        order["orderProducts"].append(str(pid))
    order["totalProducts"] = str(len(order["orderProducts"]))


def _refresh_customer(book: CrmBook, customer_ref: str) -> None:
    """Keep ``totalRevenue``/``totalOrders``/... of SPEC ``GET /ecomCustomers`` in step."""
    cid = parse_int_id(customer_ref)
    customer = book.ecom_customers.get(cid or 0)
    if customer is None:
        return
    orders = [o for o in book.ecom_orders.values() if o["customerid"] == customer["id"]]
    revenue = sum(int(o["totalPrice"]) for o in orders)
    customer["totalOrders"] = str(len(orders))
    customer["totalRevenue"] = str(revenue)
    customer["totalProducts"] = str(sum(int(o["totalProducts"]) for o in orders))
    customer["avgRevenuePerOrder"] = str(revenue // len(orders)) if orders else "0"


def _stamp(book: CrmBook, now: float) -> str:
    tz = book.emu.state.settings.tz if book.emu is not None else None
    return iso(now, tz) if tz is not None else str(now)


def _iso_or_none(raw: Any, tz: Any) -> str | None:
    if raw in (None, ""):
        return None
    try:
        return iso(parse_timestamp(str(raw), tz), tz)
    except ValueError:
        return str(raw)


_PRODUCTS = (
    ("Pogo Stick", "Toys", 4900),
    ("Skateboard", "Toys", 3000),
    ("Data Book", "Books", 2500),
    ("Headphones", "Electronics", 7999),
)


def generate(book: CrmBook, spec: dict[str, Any], now: float, tz: Any) -> None:
    """``{"customers": N, "orders": M}``: one store connection (if none), customers, orders."""
    r = rng("ecommerce")
    if not book.connections:
        add_connection(
            book,
            {
                "service": "example",
                "externalid": "examplestore",
                "name": "My Example Store",
                "logoUrl": "https://store.example.com/logo.png",
                "linkUrl": "https://store.example.com",
            },
            now - 90 * 86_400,
        )
    connection = next(iter(book.connections.values()))
    start = len(book.ecom_customers)
    for n in range(int(spec.get("customers", 0))):
        add_customer(
            book,
            {
                "connectionid": connection["id"],
                "externalid": f"cust-{start + n + 1}",
                "email": f"shopper{start + n + 1}@example.com",
                "acceptsMarketing": str(n % 2),
            },
            now - (60 - n % 60) * 86_400,
        )
    customers = list(book.ecom_customers.values())
    orders = int(spec.get("orders", 0))
    for n in range(orders):
        customer = customers[n % len(customers)] if customers else None
        picked = [_PRODUCTS[(n + k) % len(_PRODUCTS)] for k in range(1 + n % 3)]
        products = [
            {
                "externalid": f"PROD-{name[:4].upper()}",
                "name": name,
                "category": category,
                "price": price,
                "quantity": 1 + r.randrange(2),
                "sku": name[:4].upper(),
            }
            for name, category, price in picked
        ]
        total = sum(p["price"] * p["quantity"] for p in products)  # type: ignore[operator]
        when = now - (orders - n) * 86_400 * 30 / max(orders, 1) - 120
        add_order(
            book,
            {
                "externalid": f"order-{n + 1}",
                "source": "0",
                "email": customer["email"] if customer else "shopper@example.com",
                "orderProducts": products,
                "totalPrice": total,
                "currency": "USD",
                "connectionid": connection["id"],
                "customerid": customer["id"] if customer else "0",
                "externalCreatedDate": iso(when, tz),
                "orderNumber": f"EX-{1000 + n}",
            },
            when,
            tz,
        )


# -- routes ---------------------------------------------------------------------------------------


def routes(emu: Emulator) -> list[BaseRoute]:
    book = crm_book(emu)

    def base(req: ApiRequest) -> str:
        return req.ctx.base

    def listing(
        req: ApiRequest, key: str, rows: list[dict[str, Any]], numbers: tuple[str, ...] = ()
    ) -> Response:
        limit, offset = page_window(req)
        return req.json_response(
            collection(
                key, [_public(r, base(req), numbers) for r in rows[offset : offset + limit]], len(rows)
            )
        )

    def filtered(req: ApiRequest, rows: list[dict[str, Any]], names: tuple[str, ...]) -> list[dict[str, Any]]:
        for name in names:
            raw = req.query.get(f"filters[{name}]")
            if raw is not None and raw != "":
                if name == "email":  # case-blind whatever the stored case (ecom_email_lowercased)
                    wanted = raw.strip().lower()
                    rows = [r for r in rows if str(r.get(name) or "").lower() == wanted]
                else:
                    rows = [r for r in rows if str(r.get(name) or "") == raw.strip()]
        return rows

    def refuse_duplicate(
        req: ApiRequest,
        store: dict[int, dict[str, Any]],
        what: str,
        body: dict[str, Any],
        itself: str | None = None,
    ) -> None:
        """422 for a second (connectionid, externalid), unless ``ecom_duplicate_externalid_accepted``."""
        if body.get("externalid") in (None, ""):
            return
        external = str(body["externalid"])
        connection = str(body.get("connectionid", "0"))
        for record in store.values():
            if record["id"] == itself or (record["connectionid"], record["externalid"]) != (
                connection,
                external,
            ):
                continue
            if not req.assumed("ecom_duplicate_externalid_accepted"):
                raise unprocessable(
                    f"An e-commerce {what} with externalid {external} already exists for connection "
                    f"{connection}",
                    "duplicate",
                    "externalid",
                )
            return

    def one(
        store: dict[int, dict[str, Any]], entity: str, req: ApiRequest, name: str = "id"
    ) -> dict[str, Any]:
        record = store.get(req.path_id(name))
        if record is None:
            raise no_result(entity, req.path_params[name])
        return record

    # connections
    def list_connections(req: ApiRequest) -> Response:
        return listing(
            req, "connections", filtered(req, list(book.connections.values()), ("service", "externalid"))
        )

    def create_connection(req: ApiRequest) -> Response:
        body = req.json_object("connection")
        for attr in ("service", "externalid", "name"):
            if not str(body.get(attr) or "").strip():
                raise field_missing(attr)
        duplicate = any(
            c["service"] == str(body["service"]) and c["externalid"] == str(body["externalid"])
            for c in book.connections.values()
        )
        if duplicate:
            raise unprocessable(
                "A connection for this service and externalid already exists", "duplicate", "externalid"
            )
        record = add_connection(book, {k: v for k, v in body.items() if k != "id"}, req.now)
        return req.json_response(single("connection", _public(record, base(req), ("isInternal",))))

    def get_connection(req: ApiRequest) -> Response:
        return req.json_response(
            single("connection", _public(one(book.connections, "Connection", req), base(req)))
        )

    def update_connection(req: ApiRequest) -> Response:
        record = one(book.connections, "Connection", req)
        body = req.json_object("connection")
        for attr in ("service", "externalid", "name", "logoUrl", "linkUrl", "status", "syncStatus", "listId"):
            if attr in body:
                record[attr] = str(body[attr])
        record["udate"] = iso(req.now, req.ctx.tz)
        record[_UDATE] = req.now
        return req.json_response(single("connection", _public(record, base(req))))

    def delete_connection(req: ApiRequest) -> Response:
        del book.connections[int(one(book.connections, "Connection", req)["id"])]
        return req.json_response({})

    # customers
    def list_customers(req: ApiRequest) -> Response:
        rows = filtered(req, list(book.ecom_customers.values()), ("email", "externalid", "connectionid"))
        return listing(req, "ecomCustomers", rows)

    def create_customer(req: ApiRequest) -> Response:
        body = req.json_object("ecomCustomer")
        for attr in ("connectionid", "externalid", "email"):
            if not str(body.get(attr) or "").strip():
                raise field_missing(attr)
        if parse_int_id(body["connectionid"]) not in book.connections:
            raise unprocessable("The connection does not exist", "related_missing", "connectionid")
        refuse_duplicate(req, book.ecom_customers, "customer", body)
        record = add_customer(book, {k: v for k, v in body.items() if k != "id"}, req.now, req)
        shown = {k: record[k] for k in ("connectionid", "externalid", "email", "links", "id", "connection")}
        return req.json_response(single("ecomCustomer", _public(shown, base(req))), 201)

    def get_customer(req: ApiRequest) -> Response:
        return req.json_response(
            single("ecomCustomer", _public(one(book.ecom_customers, "EcomCustomer", req), base(req)))
        )

    def update_customer(req: ApiRequest) -> Response:
        record = one(book.ecom_customers, "EcomCustomer", req)
        body = req.json_object("ecomCustomer")
        refuse_duplicate(
            req,
            book.ecom_customers,
            "customer",
            {"connectionid": record["connectionid"], **body},
            record["id"],
        )
        for attr in ("externalid", "connectionid", "email", "acceptsMarketing"):
            if attr in body:
                record[attr] = _stored_email(body[attr], req) if attr == "email" else str(body[attr])
        record["connection"] = record["connectionid"]
        record["tstamp"] = iso(req.now, req.ctx.tz)
        return req.json_response(single("ecomCustomer", _public(record, base(req))))

    def delete_customer(req: ApiRequest) -> Response:
        del book.ecom_customers[int(one(book.ecom_customers, "EcomCustomer", req)["id"])]
        return req.json_response({})

    # orders
    def list_orders(req: ApiRequest) -> Response:
        rows = filtered(
            req,
            list(book.ecom_orders.values()),
            ("connectionid", "externalid", "externalcheckoutid", "email", "state", "customerid"),
        )
        created = req.query.get("filters[external_created_date]")
        if created:
            rows = [r for r in rows if str(r.get("externalCreatedDate") or "").startswith(created[:10])]
        orders = [(k[7:-1], v) for k, v in req.query.multi_items() if k.startswith("orders[")]
        for name, direction in reversed(orders):
            attr = "externalCreatedDate" if name == "external_created_date" else name
            rows.sort(key=_text_of(attr), reverse=direction.upper() == "DESC")
        return listing(req, "ecomOrders", rows, _ORDER_NUMBERS)

    def create_order(req: ApiRequest) -> Response:
        body = req.json_object("ecomOrder")
        if not body.get("externalid") and not body.get("externalcheckoutid"):
            raise field_missing("externalid")
        for attr in ("email", "connectionid", "customerid", "currency"):
            if body.get(attr) in (None, ""):
                raise field_missing(attr)
        if body.get("source") in (None, ""):
            raise field_missing("source")
        if parse_int_id(body["connectionid"]) not in book.connections:
            raise unprocessable("The connection does not exist", "related_missing", "connectionid")
        if parse_int_id(body["customerid"]) not in book.ecom_customers:
            raise unprocessable("The customer does not exist", "related_missing", "customerid")
        refuse_duplicate(req, book.ecom_orders, "order", body)
        record = add_order(book, {k: v for k, v in body.items() if k != "id"}, req.now, req.ctx.tz, req)
        return req.json_response(_order_answer(req, book, record), 201)

    def get_order(req: ApiRequest) -> Response:
        return req.json_response(
            single("ecomOrder", _public(one(book.ecom_orders, "EcomOrder", req, "ecomOrderId"), base(req)))
        )

    def update_order(req: ApiRequest) -> Response:
        record = one(book.ecom_orders, "EcomOrder", req)
        body = req.json_object("ecomOrder")
        refuse_duplicate(
            req, book.ecom_orders, "order", {"connectionid": record["connectionid"], **body}, record["id"]
        )
        for attr in (
            "externalid",
            "externalcheckoutid",
            "email",
            "currency",
            "orderNumber",
            "shippingMethod",
            "orderUrl",
            "state",
        ):
            if attr in body:
                if attr == "email":
                    record[attr] = _stored_email(body[attr], req)
                else:
                    record[attr] = str(body[attr]) if body[attr] is not None else None
        for attr in ("totalPrice", "shippingAmount", "taxAmount", "discountAmount"):
            if attr in body:
                record[attr] = str(int(body[attr]))
        for attr in ("externalUpdatedDate", "abandonedDate"):
            if attr in body:
                record[attr] = _iso_or_none(body[attr], req.ctx.tz)
        if "orderProducts" in body:
            _set_products(
                book,
                record,
                list(body["orderProducts"] or []),
                req.now,
                req.ctx.tz,
                # Replacing and adding differ only for an order that holds products.
                add=bool(record["orderProducts"]) and not req.assumed("ecom_order_put_replaces_products"),
            )
        record["updatedDate"] = record["tstamp"] = iso(req.now, req.ctx.tz)
        record[_UDATE] = req.now
        _refresh_customer(book, record["customerid"])
        return req.json_response(_order_answer(req, book, record, updated=True))

    def delete_order(req: ApiRequest) -> Response:
        record = one(book.ecom_orders, "EcomOrder", req, "ecomOrderId")
        for pid in record["orderProducts"]:
            book.ecom_products.pop(int(pid), None)
        del book.ecom_orders[int(record["id"])]
        _refresh_customer(book, record["customerid"])
        return req.json_response({})

    def list_products(req: ApiRequest) -> Response:
        return listing(req, "ecomOrderProducts", list(book.ecom_products.values()))

    def order_products(req: ApiRequest) -> Response:
        order = one(book.ecom_orders, "EcomOrder", req)
        rows = [book.ecom_products[int(p)] for p in order["orderProducts"] if int(p) in book.ecom_products]
        return listing(req, "ecomOrderProducts", rows)

    def get_product(req: ApiRequest) -> Response:
        return req.json_response(
            single("ecomOrderProduct", _public(one(book.ecom_products, "EcomOrderProduct", req), base(req)))
        )

    return [
        book.route("/api/3/connections", list_connections, ["GET"]),
        book.route("/api/3/connections", create_connection, ["POST"]),
        book.route("/api/3/connections/{id}", get_connection, ["GET"]),
        book.route("/api/3/connections/{id}", update_connection, ["PUT"]),
        book.route("/api/3/connections/{id}", delete_connection, ["DELETE"]),
        book.route("/api/3/ecomCustomers", list_customers, ["GET"]),
        book.route("/api/3/ecomCustomers", create_customer, ["POST"]),
        book.route("/api/3/ecomCustomers/{id}", get_customer, ["GET"]),
        book.route("/api/3/ecomCustomers/{id}", update_customer, ["PUT"]),
        book.route("/api/3/ecomCustomers/{id}", delete_customer, ["DELETE"]),
        book.route("/api/3/ecomOrders", list_orders, ["GET"]),
        book.route("/api/3/ecomOrders", create_order, ["POST"]),
        book.route("/api/3/ecomOrders/{ecomOrderId}", get_order, ["GET"]),
        book.route("/api/3/ecomOrders/{id}", update_order, ["PUT"]),
        book.route("/api/3/ecomOrders/{ecomOrderId}", delete_order, ["DELETE"]),
        book.route("/api/3/ecomOrders/{id}/orderProducts", order_products, ["GET"]),
        book.route("/api/3/ecomOrderProducts", list_products, ["GET"]),
        book.route("/api/3/ecomOrderProducts/{id}", get_product, ["GET"]),
    ]


def _text_of(attr: str) -> Callable[[dict[str, Any]], str]:
    return lambda record: str(record.get(attr) or "")


def _order_answer(
    req: ApiRequest, book: CrmBook, order: dict[str, Any], *, updated: bool = False
) -> dict[str, Any]:
    """SPEC ``POST /ecomOrders`` 201 body: connection, products and discounts sideloaded; with
    ``updated``, SPEC ``PUT /ecomOrders/{id}``'s 200 body (products and discounts; numbers as it
    prints them)."""
    base = req.ctx.base
    connection = book.connections.get(parse_int_id(order["connectionid"]) or 0)
    customer = book.ecom_customers.get(parse_int_id(order["customerid"]) or 0)
    products = [book.ecom_products[int(p)] for p in order["orderProducts"] if int(p) in book.ecom_products]
    if updated:
        return {
            "ecomOrderProducts": [_public(p, base) for p in products],
            "ecomOrderDiscounts": [],
            "ecomOrder": {**_public(order, base, _UPDATED_ORDER_NUMBERS), "orderDiscounts": []},
        }
    return {
        "connections": [_public(connection, base)] if connection else [],
        "ecomCustomers": [_public(customer, base)] if customer else [],
        "ecomOrderProducts": [_public(p, base, _PRODUCT_NUMBERS) for p in products],
        "ecomOrderDiscounts": [],
        "ecomOrder": {**_public(order, base, _ORDER_NUMBERS), "orderDiscounts": []},
    }
