"""The e-commerce value rules and the order writer's mapping, on an in-memory store."""

from __future__ import annotations

import itertools
from datetime import date, datetime
from typing import Any

import pytest

from airflow_provider_activecampaign.ecommerce import values
from airflow_provider_activecampaign.ecommerce.customers import EcomCustomerUpserter
from airflow_provider_activecampaign.ecommerce.orders import EcomOrderUpserter
from airflow_provider_activecampaign.exceptions import ActiveCampaignAmbiguousWriteError
from airflow_provider_activecampaign.operators.ecommerce import ActiveCampaignUpsertEcomOrdersOperator
from airflow_provider_activecampaign.records.failures import RecordRejected
from airflow_provider_activecampaign.records.journal import WriteJournal, WriteUnknown


def rejected(call: Any, *args: Any) -> RecordRejected:
    with pytest.raises(RecordRejected) as caught:
        call(*args)
    return caught.value


@pytest.mark.parametrize(
    ("value", "unit", "cents"),
    [
        (4567, "minor", 4567),
        ("4567", "minor", 4567),
        (45.0, "minor", 45),
        ("456.78", "major", 45678),
        (0, "minor", 0),
    ],
)
def test_amounts_are_whole_cents(value: Any, unit: str, cents: int) -> None:
    assert values.cents(value, "totalPrice", unit) == cents


@pytest.mark.parametrize(
    ("value", "unit", "says"),
    [
        (45.67, "minor", "amount_unit='major'"),
        ("1.005", "major", "whole cents"),
        (-1, "minor", "negative"),
        (2**31, "minor", "int32"),
        (True, "minor", "not an amount"),
        ("ten", "minor", "not an amount"),
        (float("nan"), "minor", "not an amount"),
    ],
)
def test_bad_amounts_name_the_field_and_the_fix(value: Any, unit: str, says: str) -> None:
    error = rejected(values.cents, value, "taxAmount", unit)
    assert error.field == "taxAmount"
    assert says in error.reason


def test_dates_get_an_offset_and_garbage_is_refused() -> None:
    assert values.timestamp("2016-09-13T17:41:39-04:00", "d") == "2016-09-13T17:41:39-04:00"
    assert (
        values.timestamp("2019-09-06T2:10:00-05:00", "d") == "2019-09-06T02:10:00-05:00"
    )  # SPEC's one-digit hour
    assert values.timestamp("2024-03-02", "d") == "2024-03-02T00:00:00+00:00"
    assert values.timestamp(datetime(2024, 3, 2, 8, 30), "d") == "2024-03-02T08:30:00+00:00"
    assert values.timestamp(date(2024, 3, 2), "d") == "2024-03-02T00:00:00+00:00"
    assert "ISO 8601" in rejected(values.timestamp, "last Tuesday", "externalCreatedDate").reason
    assert rejected(values.timestamp, "0000-00-00", "externalCreatedDate").field == "externalCreatedDate"


def test_flags_currency_and_external_ids() -> None:
    assert [values.flag(v, "f") for v in (1, "0", True, "yes", "False")] == ["1", "0", "1", "1", "0"]
    assert "not 0 or 1" in rejected(values.flag, "maybe", "acceptsMarketing").reason
    assert values.currency(" usd ") == "USD"
    assert "3-letter" in rejected(values.currency, "dollars").reason
    assert values.external_id(1440117293120) == "1440117293120"
    assert "float" in rejected(values.external_id, 1.44e12).reason
    assert "empty" in rejected(values.external_id, " ").reason


def test_products_from_a_list_or_json_each_checked() -> None:
    line = {
        "externalid": "P1",
        "name": "Pogo",
        "price": "4900",
        "quantity": 2,
        "sku": "POGO-12",
        "category": "",
    }
    assert values.products([line]) == [
        {"externalid": "P1", "name": "Pogo", "price": 4900, "quantity": 2, "sku": "POGO-12"}
    ]
    assert (
        values.products('[{"externalid": 7, "name": "Book", "price": 12.5, "quantity": 1}]', "major")[0][
            "price"
        ]
        == 1250
    )
    assert rejected(values.products, [{**line, "quantity": 1.5}]).field == "orderProducts[0].quantity"
    assert rejected(values.products, [line, {"externalid": "P2", "name": "x", "price": 1}]).field == (
        "orderProducts[1].quantity"
    )
    typo = rejected(values.products, [{**line, "prize": 3}])
    assert (typo.field, "'prize'" in typo.reason) == ("orderProducts[0]", True)
    assert "not JSON" in rejected(values.products, "[{oops").reason
    assert "list of products" in rejected(values.products, {"name": "x"}).reason


class FakeStoreHook:
    """An in-memory store: connection 3, customer c-1, order o-1 with one product."""

    def __init__(self) -> None:
        self.ids = itertools.count(100)
        self.customers = [{"id": "5", "connectionid": "3", "externalid": "c-1", "email": "ann@example.com"}]
        self.orders: list[dict[str, Any]] = [
            {
                "id": "9",
                "connectionid": "3",
                "externalid": "o-1",
                "email": "ann@example.com",
                "totalPrice": 4900,
                "currency": "USD",
                "orderNumber": "A-1",
                "products": [{"externalid": "P1", "name": "Pogo", "price": "4900", "quantity": "1"}],
            }
        ]
        self.calls: list[tuple[str, str, Any]] = []
        self.lose_answers = 0
        #: Whether a write whose answer is lost was applied (found by a read-back) or not (yet).
        self.lost_apply = True

    def paginate(self, endpoint: str, *, key: str, params: Any = None) -> Any:
        params = dict(params or {})
        self.calls.append(("GET", endpoint, params))
        if endpoint == "connections":
            return iter(
                [
                    {"id": "3", "externalid": "shop", "name": "Shop"},
                    {"id": "4", "externalid": "b", "name": "B"},
                ]
            )
        if endpoint.startswith("ecomOrders/"):
            order = next(o for o in self.orders if f"ecomOrders/{o['id']}/" in endpoint + "/")
            return iter(order["products"])
        rows = self.customers if endpoint == "ecomCustomers" else self.orders
        for name in ("externalid", "email", "connectionid"):
            if f"filters[{name}]" in params:
                rows = [r for r in rows if str(r[name]) == str(params[f"filters[{name}]"])]
        return iter([{k: v for k, v in r.items() if k != "products"} for r in rows])

    def post(self, endpoint: str, json: Any = None) -> Any:
        self.calls.append(("POST", endpoint, json))
        body = json["ecomOrder"]
        order = {
            **body,
            "id": str(next(self.ids)),
            "connectionid": str(body["connectionid"]),
            "products": body.get("orderProducts", []),
        }
        self.orders.append(order)
        if self.lose_answers:
            self.lose_answers -= 1
            if not self.lost_apply:
                self.orders.pop()  # not applied (yet): nothing to find
            raise ActiveCampaignAmbiguousWriteError("timed out")
        return {"ecomOrder": {"id": order["id"]}}

    def get(self, endpoint: str, params: Any = None) -> Any:
        self.calls.append(("GET", endpoint, params))
        customer = next(c for c in self.customers if endpoint == f"ecomCustomers/{c['id']}")
        return {"ecomCustomer": {**customer, "acceptsMarketing": "1"}}

    def put(self, endpoint: str, json: Any = None) -> Any:
        self.calls.append(("PUT", endpoint, json))
        order = next((o for o in self.orders if endpoint == f"ecomOrders/{o['id']}"), None)
        if order is not None and "orderProducts" in json["ecomOrder"]:
            order["products"] = [  # replaced, and read back as the API prints them (strings)
                {k: str(v) for k, v in p.items()} for p in json["ecomOrder"]["orderProducts"]
            ]
        return {}

    def request(self, method: str, endpoint: str, *, json: Any = None, idempotent: bool | None = None) -> Any:
        assert (method, idempotent) == ("PUT", False)  # a PUT with products is never resent
        return self.put(endpoint, json)


def order_writer(hook: FakeStoreHook, tmp_path: Any, **options: Any) -> EcomOrderUpserter:
    writer = EcomOrderUpserter(
        hook,  # type: ignore[arg-type]
        "shop",
        journal=WriteJournal(str(tmp_path / "journal"), "scope", settle=0.0),
        deadline_seconds=1.0,
        sleep=lambda seconds: None,
        **options,
    )
    writer.prepare(
        [
            "externalid",
            "email",
            "totalPrice",
            "currency",
            "externalCreatedDate",
            "orderProducts",
            "customer_externalid",
        ]
    )
    return writer


NEW = {
    "externalid": "o-2",
    "email": "ann@example.com",
    "totalPrice": 3000,
    "externalCreatedDate": "2024-03-01T10:00:00Z",
    "customer_externalid": "c-1",
    "orderProducts": [{"externalid": "P2", "name": "Skateboard", "price": 3000, "quantity": 1}],
}


def test_a_new_order_is_posted_historical_with_the_schemas_types(tmp_path: Any) -> None:
    hook = FakeStoreHook()
    writer = order_writer(hook, tmp_path, currency="usd")
    assert writer.upsert(dict(NEW)) == "created"
    [(method, endpoint, body)] = [c for c in hook.calls if c[0] == "POST"]
    assert (method, endpoint) == ("POST", "ecomOrders")
    assert body["ecomOrder"] == {
        "externalid": "o-2",
        "source": 0,
        "email": "ann@example.com",
        "totalPrice": 3000,
        "currency": "USD",
        "externalCreatedDate": "2024-03-01T10:00:00+00:00",
        "orderProducts": [{"externalid": "P2", "name": "Skateboard", "price": 3000, "quantity": 1}],
        "connectionid": 3,
        "customerid": 5,
    }


def test_an_existing_order_is_put_only_when_it_differs(tmp_path: Any) -> None:
    hook = FakeStoreHook()
    writer = order_writer(hook, tmp_path)
    same = {
        "externalid": "o-1",
        "totalPrice": "4900",
        "currency": "usd",
        "orderProducts": [{"externalid": "P1", "name": "Pogo", "price": 4900, "quantity": 1}],
    }
    assert writer.upsert(dict(same)) == "unchanged"
    assert (
        writer.upsert(
            {**same, "orderProducts": [{"externalid": "P1", "name": "Pogo", "price": 4900, "quantity": 2}]}
        )
        == "updated"
    )
    # First with no products (it empties: this account replaces), then with the record's.
    [(_, emptied, cleared), (_, endpoint, body)] = [c for c in hook.calls if c[0] in ("PUT", "POST")]
    assert (emptied, cleared["ecomOrder"]["orderProducts"]) == ("ecomOrders/9", [])
    assert endpoint == "ecomOrders/9"
    assert body["ecomOrder"]["orderProducts"][0]["quantity"] == 2
    assert not {"customerid", "source", "connectionid"} & set(body["ecomOrder"])  # not in PUT's schema
    # Known to replace now: the next change is one PUT.
    assert writer.upsert({**same, "orderProducts": []}) == "updated"
    assert [c[0] for c in hook.calls].count("PUT") == 3


def test_a_resend_refused_as_a_duplicate_is_the_earlier_send_found(tmp_path: Any) -> None:
    """The first POST's answer is lost and a settled read-back does not find it, so it is sent
    again; meanwhile the first one landed, and the account refuses the second as a duplicate."""
    from airflow_provider_activecampaign.exceptions import ActiveCampaignValidationError

    hook = FakeStoreHook()
    hook.lose_answers, hook.lost_apply = 1, False
    landed = {**NEW, "id": "77", "connectionid": "3", "products": NEW["orderProducts"]}
    posted = hook.post

    def post(endpoint: str, json: Any = None) -> Any:
        if [c[0] for c in hook.calls].count("POST") == 0:
            return posted(endpoint, json)
        hook.calls.append(("POST", endpoint, json))
        hook.orders.append(landed)  # the first send, applied late
        duplicate = {"field": "externalid", "title": "exists", "detail": "", "code": "duplicate"}
        raise ActiveCampaignValidationError("HTTP 422", field_errors=[duplicate])

    hook.post = post  # type: ignore[method-assign]
    writer = order_writer(hook, tmp_path, currency="USD")
    assert writer.upsert(dict(NEW)) == "created"
    assert (writer.tally.created, writer.tally.recovered, writer.tally.failed) == (1, 1, 0)
    assert [o["externalid"] for o in hook.orders].count("o-2") == 1
    assert [c[0] for c in hook.calls].count("POST") == 2


def test_a_create_whose_answer_was_lost_is_found_not_resent(tmp_path: Any) -> None:
    hook = FakeStoreHook()
    hook.lose_answers = 1
    writer = order_writer(hook, tmp_path, currency="USD")
    assert writer.upsert(dict(NEW)) == "created"
    assert [c[0] for c in hook.calls].count("POST") == 1
    assert writer.tally.recovered == 1
    assert [o["externalid"] for o in hook.orders].count("o-2") == 1


def test_a_lost_answer_not_found_yet_is_unknown_and_not_resent(tmp_path: Any) -> None:
    hook = FakeStoreHook()
    hook.lose_answers, hook.lost_apply = 1, False
    writer = order_writer(hook, tmp_path, currency="USD")
    writer.journal.settle = 3600.0  # ActiveCampaign may still apply it: not found is not "not applied"
    with pytest.raises(WriteUnknown, match="was sent once"):
        writer.upsert(dict(NEW))
    assert [c[0] for c in hook.calls].count("POST") == 1
    with pytest.raises(WriteUnknown):  # the same record again in this try: still not resent
        writer.upsert(dict(NEW))
    assert [c[0] for c in hook.calls].count("POST") == 1


def test_a_new_order_without_what_post_requires_is_rejected_before_any_write(tmp_path: Any) -> None:
    hook = FakeStoreHook()
    writer = order_writer(hook, tmp_path)
    error = rejected(writer.upsert, {**NEW, "externalid": "o-3"})
    assert (error.field, "POST /ecomOrders requires" in error.reason) == ("currency", True)
    error = rejected(
        writer.upsert, {**NEW, "externalid": "o-3", "currency": "USD", "customer_externalid": "nobody"}
    )
    assert error.field == "customer_externalid"
    assert not [c for c in hook.calls if c[0] != "GET"]


def test_a_customer_is_compared_with_its_single_read_when_the_list_lacks_a_field(tmp_path: Any) -> None:
    hook = FakeStoreHook()  # its listing has no acceptsMarketing, as SPEC's list example
    writer = EcomCustomerUpserter(
        hook,  # type: ignore[arg-type]
        "shop",
        journal=WriteJournal(str(tmp_path / "j"), "s", settle=0.0),
        deadline_seconds=1.0,
    )
    writer.prepare(["externalid", "email", "acceptsMarketing"])
    assert (
        writer.upsert({"externalid": "c-1", "email": "ANN@example.com", "acceptsMarketing": "yes"})
        == "unchanged"
    )
    assert ("GET", "ecomCustomers/5", None) in hook.calls
    assert (
        writer.upsert({"externalid": "c-1", "email": "ann@example.com", "acceptsMarketing": 0}) == "updated"
    )
    assert [c for c in hook.calls if c[0] == "PUT"] == [
        ("PUT", "ecomCustomers/5", {"ecomCustomer": {"acceptsMarketing": "0"}})
    ]


def test_columns_connection_and_source_are_checked_before_writing(tmp_path: Any) -> None:
    hook = FakeStoreHook()
    with pytest.raises(ValueError, match=r"'colour' are not e-commerce order attributes"):
        order_writer(hook, tmp_path).prepare(["externalid", "colour"])
    customers = EcomCustomerUpserter(
        hook,  # type: ignore[arg-type]
        "nowhere",
        journal=WriteJournal(str(tmp_path / "j"), "s", settle=0.0),
        deadline_seconds=1.0,
    )
    with pytest.raises(
        ValueError, match=r"No e-commerce connection 'nowhere'.*Shop \(id 3, externalid shop\)"
    ):
        customers.prepare(["externalid", "email"])
    with pytest.raises(ValueError, match="source must be 0"):
        ActiveCampaignUpsertEcomOrdersOperator(task_id="o", connection="shop", source=2)
    with pytest.raises(ValueError, match="source must be 0"):
        ActiveCampaignUpsertEcomOrdersOperator(task_id="o", connection="shop", source=True)
    assert ActiveCampaignUpsertEcomOrdersOperator(task_id="o", connection="shop").source == 0
