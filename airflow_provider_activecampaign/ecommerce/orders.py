"""E-commerce orders (with their products) upserted by ``externalid``, never created twice.

Each record is looked up by ``filters[externalid]`` + ``filters[connectionid]``
(``GET /ecomOrders``). Not found: ``POST /ecomOrders`` through the write journal
(``records/journal.py``), so a retry, a re-run, or a create that times out and applies seconds
later is found by the same lookup and never sent again (a create refused as a duplicate is looked
up again and updated in place: ``writer.py``). Found: the order and its products
(``GET /ecomOrders/{id}/orderProducts``) are compared with the record; only a difference is
written, with ``PUT /ecomOrders/{id}`` (the fields of its request schema). An order is never
duplicated.

Products. The reference does not say whether a PUT's ``orderProducts`` replace the order's
products or are added to them (emulator switch ``ecom_order_put_replaces_products``), so a PUT
never risks adding the record's products next to the order's:

* they are sent only when they differ from what the order holds (a change of price alone is a PUT
  without them), and a PUT with products is never resent: not by the transport
  (``idempotent=False``), not after a lost answer (``unknown``: the next run compares again);
* to an order that holds none they are PUT at once (replacing and adding give the same);
* to an order that holds others, the first time in a run, the order is first PUT with an empty
  list and read back (harmless either way). Emptied: the account replaces; the record's products
  follow at once, and later orders of the run get theirs in one PUT. Left as they were: the account
  adds (or ignores an empty list); the record is reported ``failed``
  (:class:`OrderProductsNeedAttention`) with what the order holds and what to do (delete the
  order, re-run), and no held products are PUT for the rest of the run. A re-run finds the same
  and reports the same: an order never grows;
* after each PUT with products they are read back; anything but the record's is reported ``failed``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from airflow_provider_activecampaign.ecommerce import values
from airflow_provider_activecampaign.ecommerce.store import close_found
from airflow_provider_activecampaign.ecommerce.writer import StoreWriter
from airflow_provider_activecampaign.exceptions import ActiveCampaignAmbiguousWriteError
from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.records.dates import UnparseableDateError, parse_ac_datetime
from airflow_provider_activecampaign.records.emails import email_key
from airflow_provider_activecampaign.records.failures import RecordRejected
from airflow_provider_activecampaign.records.journal import WriteJournal, WriteUnknown, lost_answer

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
        #: What this run learnt of the account's PUT: it removes an order's products (``True``), it
        #: kept them (``False``: it adds, or ignores an empty list; then no held products are PUT
        #: again, ``products_kept_on`` names the order), or not known yet (``None``).
        self.products_replaced: bool | None = None
        self.products_kept_on: str | None = None

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
        sent = self.create_once(key, external, body, lambda: store.order(external))
        if isinstance(sent, dict):  # refused as a duplicate: it exists after all (writer.py)
            return self._update(sent, external, wanted)
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
        # The products go in a PUT only when they differ (an account may add them: see the module).
        body = {k: v for k, v in wanted.items() if k not in ("externalCreatedDate", "orderProducts")}
        fields_same = self._same_fields(existing, order_id, body)
        products: list[dict[str, Any]] | None = wanted.get("orderProducts")
        held: list[dict[str, Any]] = []
        if products is not None:
            assert self.store is not None
            held = self.store.order_products(order_id)
            if _same_products(held, products):
                products = None
        if fields_same and products is None:
            self.tally.unchanged += 1
            return "unchanged"
        order = {"externalid": external, **body}
        if products is None:
            self.hook.put(f"ecomOrders/{order_id}", {"ecomOrder": order})
        elif held and self.products_replaced is False:
            if not fields_same:
                self.hook.put(f"ecomOrders/{order_id}", {"ecomOrder": order})
            raise OrderProductsNeedAttention(
                f"order {order_id}: {'its other attributes were updated, but ' if not fields_same else ''}"
                f"its products differ from the record's and were not sent: a PUT did not remove the "
                f"products of order {self.products_kept_on} in this run (this account adds a PUT's "
                "products to the order's, or ignores an empty list; the reference says neither), so "
                f"the record's {len(products)} would join the {len(held)} it holds ({_describe(held)}). "
                + _FIX.format(order_id=order_id)
            )
        else:
            if held and self.products_replaced is None:
                self._clear_products(order_id, order, held, products)
            self._put_products(order_id, order, products)
        self.tally.updated += 1
        return "updated"

    def _same_fields(self, existing: dict[str, Any], order_id: str, wanted: dict[str, Any]) -> bool:
        """Whether the stored order already has the record's attributes (products aside)."""
        if any(name not in existing for name in wanted):
            # SPEC's list example lacks some attributes its single read has (externalUpdatedDate).
            read = self.hook.get(f"ecomOrders/{order_id}")
            existing = {**existing, **((read or {}).get("ecomOrder") or {})}
        for name, value in wanted.items():
            have = existing.get(name)
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
        return True

    # -- products: replaced or added by a PUT (the reference does not say) ----------------------------

    def _send_products(
        self, order_id: str, order: dict[str, Any], products: list[dict[str, Any]], what: str
    ) -> list[dict[str, Any]] | None:
        """One PUT of the order with ``products``, never resent; the products it then holds.

        ``None`` when the answer was lost (then the products are read back by the caller's rule).
        """
        try:
            # Not idempotent: where a PUT adds products, a resend by the transport would add them twice.
            self.hook.request(
                "PUT",
                f"ecomOrders/{order_id}",
                json={"ecomOrder": {**order, "orderProducts": products}},
                idempotent=False,
            )
        except ActiveCampaignAmbiguousWriteError as lost:
            self.log.warning("%s: %s; reading the order's products back.", what, lost_answer(lost))
            return None
        assert self.store is not None
        return self.store.order_products(order_id)

    def _clear_products(
        self,
        order_id: str,
        order: dict[str, Any],
        held: list[dict[str, Any]],
        products: list[dict[str, Any]],
    ) -> None:
        """Learn, on this order, whether a PUT replaces products: PUT it with none, read back.

        Harmless either way: an account that replaces is left with none (the record's follow at
        once); one that adds (or ignores an empty list) keeps the order's, and nothing is added.
        """
        assert self.store is not None
        what = f"PUT /ecomOrders/{order_id} (externalid {order['externalid']!r}) with no products"
        now = self._send_products(order_id, order, [], what)
        lost = now is None
        if now is None:
            now = self.store.order_products(order_id)
        if not now:
            self.products_replaced = True
            return
        if lost and _same_products(now, held):
            raise WriteUnknown(
                f"{what} (to replace its {len(held)} products with the record's {len(products)}): the "
                "answer was lost and the order still holds its products; not sent again. The next run "
                "compares the order's products again and writes them only if they still differ.",
                sent=1,
            )
        if _same_products(now, held):
            self.products_replaced = False
            self.products_kept_on = order_id
            raise OrderProductsNeedAttention(
                f"order {order_id}: its products differ from the record's, but a PUT with no products "
                f"left its {len(held)} as they were ({_describe(held)}): this account adds a PUT's "
                "products to the order's (or ignores an empty list; the reference says neither), so a "
                "PUT cannot replace them and the record's were not sent (they would be added to them). "
                + _FIX.format(order_id=order_id)
            )
        raise OrderProductsNeedAttention(
            f"order {order_id}: after {what} it holds {len(now)} products ({_describe(now)}), neither "
            f"none nor its {len(held)}; the record's were not sent. Check the order in ActiveCampaign. "
            + _FIX.format(order_id=order_id)
        )

    def _put_products(self, order_id: str, order: dict[str, Any], products: list[dict[str, Any]]) -> None:
        """PUT the record's products onto an order that holds none (or whose account replaces), once."""
        assert self.store is not None
        what = f"PUT /ecomOrders/{order_id} (externalid {order['externalid']!r}) with its products"
        now = self._send_products(order_id, order, products, what)
        if now is None:
            now = self.store.order_products(order_id)
            if not now:
                raise WriteUnknown(
                    f"{what}: the answer was lost and the order holds no products yet; not sent again "
                    "(where a PUT adds products, a second one would add them twice). The next run "
                    "compares the order's products again and writes them only if they still differ.",
                    sent=1,
                )
        if not _same_products(now, products):
            raise OrderProductsNeedAttention(
                f"order {order_id}: after {what} it holds {len(now)} products ({_describe(now)}), not "
                f"the record's {len(products)}; not sent again. Check the order in ActiveCampaign. "
                + _FIX.format(order_id=order_id)
            )


class OrderProductsNeedAttention(Exception):
    """An order whose products cannot be made the record's by a PUT: reported ``failed``, never resent.

    ``summary`` says what the order holds and what to do (the failures report's ``reason``).
    """

    def __init__(self, summary: str) -> None:
        self.summary = summary
        super().__init__(summary)


_FIX = (
    "To fix it, delete the order in ActiveCampaign (DELETE /ecomOrders/{order_id}) and re-run: it is "
    "created again with the record's products."
)


def _same_moment(have: Any, wanted: str) -> bool:
    try:
        return parse_ac_datetime(have) == parse_ac_datetime(wanted)
    except (UnparseableDateError, TypeError):
        return False


def _matches(have: dict[str, Any], want: dict[str, Any]) -> bool:
    """Whether a product line held by the order is the record's ``want`` (each of its keys equal)."""
    return all(str(have.get(name, "")).strip() == str(value).strip() for name, value in want.items())


def _unmatched(
    held: list[dict[str, Any]], wanted: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Lines held that no wanted line takes, and wanted lines no held line matches (as multisets)."""
    left = list(held)
    missing: list[dict[str, Any]] = []
    for want in wanted:
        for index, have in enumerate(left):
            if _matches(have, want):
                del left[index]
                break
        else:
            missing.append(want)
    return left, missing


def _same_products(held: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> bool:
    extra, missing = _unmatched(held, wanted)
    return not extra and not missing


def _describe(products: list[dict[str, Any]], most: int = 6) -> str:
    """``PROD-POGO x1, PROD-SK8 x2`` (at most ``most`` lines named)."""
    named = [f"{p.get('externalid') or p.get('name')} x{p.get('quantity')}" for p in products[:most]]
    more = f", and {len(products) - most} more" if len(products) > most else ""
    return ", ".join(named) + more or "none"


__all__ = ["ORDER_COLUMNS", "SOURCES", "WRITER", "EcomOrderUpserter", "OrderProductsNeedAttention"]
