"""E-commerce orders (with their products) upserted by ``externalid``, never created twice.

Each record is looked up by ``filters[externalid]`` + ``filters[connectionid]``
(``GET /ecomOrders``). Not found: ``POST /ecomOrders`` through the write journal
(``records/journal.py``), so a retry, a re-run, or a create that times out and applies seconds
later is found by the same lookup and never sent again. Found: the order and its products
(``GET /ecomOrders/{id}/orderProducts``) are compared with the record; only a difference is
written, with ``PUT /ecomOrders/{id}`` (the fields of its request schema, products included: a PUT
is safe to resend). An order is never duplicated.

``source`` is 0 (historical) unless the operator says 1: the reference's ``POST /ecomOrders``
says only ``source=1`` orders appear on the e-commerce dashboard and start "Makes a purchase" and
abandoned-cart automations, so a backfill from a warehouse must not fire them by default.
Abandoned carts (``externalcheckoutid`` + ``abandonedDate``) and ``orderDiscounts`` are not
written here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from airflow_provider_activecampaign.ecommerce import values
from airflow_provider_activecampaign.ecommerce.store import close_found
from airflow_provider_activecampaign.ecommerce.writer import StoreWriter
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.records.dates import UnparseableDateError, parse_ac_datetime
from airflow_provider_activecampaign.records.emails import email_key
from airflow_provider_activecampaign.records.failures import RecordRejected
from airflow_provider_activecampaign.records.journal import WriteJournal

#: The journal's name for order creates.
WRITER = "ecom_orders"
SOURCES = (0, 1)
AMOUNTS = ("totalPrice", "shippingAmount", "taxAmount", "discountAmount")
TEXTS = ("orderNumber", "orderUrl", "shippingMethod")
#: Columns the order writer takes: the request schemas' names, plus how the customer is found.
ORDER_COLUMNS = (
    "externalid",
    "email",
    *AMOUNTS,
    "currency",
    "externalCreatedDate",
    "externalUpdatedDate",
    *TEXTS,
    "orderProducts",
    "customerid",
    "customer_externalid",
)
#: What a new order needs (``POST /ecomOrders`` required fields the writer does not fill itself).
CREATE_REQUIRES = ("email", "totalPrice", "currency", "externalCreatedDate")


class EcomOrderUpserter(StoreWriter):
    """One run's order writes into one store connection (id, ``externalid`` or name).

    :param source: 0 historical (default, no automation fires), 1 real time (fires "Makes a purchase").
    :param currency: The currency of records without a ``currency`` column value.
    :param amount_unit: ``minor`` (default: cents, as the API), or ``major`` (456.78, converted exactly).
    """

    writer = WRITER
    collection = "ecomOrders"
    item = "ecomOrder"
    noun = "Order"

    def __init__(
        self,
        hook: ActiveCampaignHook,
        connection: Any,
        *,
        journal: WriteJournal,
        deadline_seconds: float,
        source: int = 0,
        currency: str | None = None,
        amount_unit: str = "minor",
        logger: Any = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if isinstance(source, bool) or source not in SOURCES:
            raise ValueError(
                f"source must be 0 (historical: no automation fires) or 1 (real time: fires 'Makes a "
                f"purchase' automations), got {source!r}"
            )
        if amount_unit not in values.AMOUNT_UNITS:
            raise ValueError(f"amount_unit must be one of {values.AMOUNT_UNITS}, got {amount_unit!r}")
        try:
            self.default_currency = values.currency(currency) if currency else None
        except RecordRejected as error:
            raise ValueError(f"currency: {error.reason}") from None
        super().__init__(
            hook, connection, journal=journal, deadline_seconds=deadline_seconds, logger=logger, sleep=sleep
        )
        self.source = int(source)
        self.amount_unit = amount_unit

    def prepare(self, columns: list[str]) -> None:
        """Check the columns and find the connection; refuses before anything is written."""
        unknown = [c for c in columns if c not in ORDER_COLUMNS]
        if unknown:
            raise ValueError(
                f"Columns {', '.join(map(repr, unknown))} are not e-commerce order attributes "
                f"({', '.join(ORDER_COLUMNS)}); rename them with field_map, or map them to None to drop them."
            )
        if "externalid" not in columns:
            raise ValueError(
                "The source has no 'externalid' column: every order needs its id in the store "
                "(orders are upserted by it)."
            )
        connection = self.open_store()
        self.log.info(
            "E-commerce orders into connection %s (%s), source %d (%s).",
            self.connection_id,
            connection.get("name"),
            self.source,
            "real time: fires purchase automations" if self.source else "historical: fires no automation",
        )

    # -- one record ----------------------------------------------------------------------------------

    def upsert(self, record: dict[str, Any]) -> str:
        """Create or update one order; returns ``created``, ``updated`` or ``unchanged``."""
        assert self.store is not None, "prepare() first"
        external = values.external_id(record.get("externalid"))
        wanted = self._desired(record)
        key = f"{self.connection_id}:{external}"
        existing = self.store.order(external)
        if existing is not None:
            close_found(self.journal, WRITER, key, str(existing["id"]))
            return self._update(existing, external, wanted)
        return self._create(key, external, wanted, record)

    def _desired(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record's order attributes, each checked (absent or empty ones are left out)."""
        given = {k: v for k, v in record.items() if not values.empty(v)}
        wanted: dict[str, Any] = {}
        if "email" in given:
            wanted["email"] = values.email(given["email"])
        for name in AMOUNTS:
            if name in given:
                wanted[name] = values.cents(given[name], name, self.amount_unit)
        if "currency" in given:
            wanted["currency"] = values.currency(given["currency"])
        elif self.default_currency:
            wanted["currency"] = self.default_currency
        for name in ("externalCreatedDate", "externalUpdatedDate"):
            if name in given:
                wanted[name] = values.timestamp(given[name], name)
        for name in TEXTS:
            if name in given:
                wanted[name] = values.text(given[name], name)
        if "orderProducts" in given:
            wanted["orderProducts"] = values.products(given["orderProducts"], self.amount_unit)
        return wanted

    def _create(self, key: str, external: str, wanted: dict[str, Any], record: dict[str, Any]) -> str:
        missing = [name for name in CREATE_REQUIRES if name not in wanted]
        if missing:
            raise RecordRejected(
                missing[0],
                f"a new order needs {', '.join(missing)} (POST /ecomOrders requires them)"
                + ("; or set the operator's currency" if missing == ["currency"] else ""),
            )
        customer_id = self._customer_of(record, wanted["email"])
        # Types as the request schema declares them: connectionid, customerid and source are int32.
        body = {
            "ecomOrder": {
                "externalid": external,
                "source": self.source,
                **wanted,
                "connectionid": int(self.connection_id),
                "customerid": int(customer_id),
            }
        }
        store = self.store
        assert store is not None
        self.create_once(key, external, body, lambda: store.order(external))
        return "created"

    def _customer_of(self, record: dict[str, Any], address: str) -> str:
        """The ``customerid`` of a new order: given, by the customer's ``externalid``, or by email."""
        store = self.store
        assert store is not None
        given = record.get("customerid")
        if not values.empty(given):
            text = str(given).strip()
            if isinstance(given, bool | float) or not text.isdigit():
                raise RecordRejected("customerid", f"{text[:40]!r} is not an e-commerce customer id (digits)")
            return text
        by_external = record.get("customer_externalid")
        if not values.empty(by_external):
            external = values.external_id(by_external, "customer_externalid")
            customer = store.customer(external)
            if customer is None:
                raise RecordRejected(
                    "customer_externalid",
                    f"no e-commerce customer {external!r} in connection {self.connection_id}; upsert the "
                    "customers first (ActiveCampaignUpsertEcomCustomersOperator)",
                )
            return str(customer["id"])
        customers = store.customers_by_email(address)
        if len(customers) == 1:
            return str(customers[0]["id"])
        if not customers:
            raise RecordRejected(
                "email",
                f"no e-commerce customer of connection {self.connection_id} has this email; upsert the "
                "customer first (ActiveCampaignUpsertEcomCustomersOperator), or give customer_externalid",
            )
        raise RecordRejected(
            "customer_externalid",
            f"customers {', '.join(str(c['id']) for c in customers)} share this email; give "
            "customer_externalid to say whose order it is",
        )

    def _update(self, existing: dict[str, Any], external: str, wanted: dict[str, Any]) -> str:
        order_id = str(existing["id"])
        # PUT /ecomOrders/{id} takes neither the creation date nor the customer: they stay as created.
        body = {k: v for k, v in wanted.items() if k != "externalCreatedDate"}
        if self._same(existing, order_id, body):
            self.tally.unchanged += 1
            return "unchanged"
        self.hook.put(f"ecomOrders/{order_id}", {"ecomOrder": {"externalid": external, **body}})
        self.tally.updated += 1
        return "updated"

    def _same(self, existing: dict[str, Any], order_id: str, wanted: dict[str, Any]) -> bool:
        """Whether the stored order already is what the record says (products read only if needed)."""
        if any(name not in existing for name in wanted if name != "orderProducts"):
            # SPEC's list example lacks some attributes its single read has (externalUpdatedDate).
            read = self.hook.get(f"ecomOrders/{order_id}")
            existing = {**existing, **((read or {}).get("ecomOrder") or {})}
        for name, value in wanted.items():
            have = existing.get(name)
            if name == "orderProducts":
                continue
            if name == "email":
                same = email_key(str(have or "")) == email_key(value)
            elif name in AMOUNTS:
                same = str(have).strip() == str(value)
            elif name == "currency":
                same = str(have or "").upper() == value
            elif name == "externalUpdatedDate":
                same = _same_moment(have, value)
            else:
                same = str(have or "").strip() == value
            if not same:
                return False
        if "orderProducts" not in wanted:
            return True
        assert self.store is not None
        stored = self.store.order_products(order_id)
        return _same_products(stored, wanted["orderProducts"])


def _same_moment(have: Any, wanted: str) -> bool:
    try:
        return parse_ac_datetime(have) == parse_ac_datetime(wanted)
    except (UnparseableDateError, TypeError):
        return False


def _same_products(stored: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> bool:
    if len(stored) != len(wanted):
        return False

    def order_key(product: dict[str, Any]) -> tuple[str, str, str, str]:
        return (
            str(product.get("externalid")),
            str(product.get("name")),
            str(product.get("price")),
            str(product.get("quantity")),
        )

    for have, want in zip(sorted(stored, key=order_key), sorted(wanted, key=order_key), strict=True):
        if any(str(have.get(name, "")).strip() != str(value) for name, value in want.items()):
            return False
    return True


__all__ = ["ORDER_COLUMNS", "SOURCES", "WRITER", "EcomOrderUpserter"]
