"""Upsert e-commerce (Deep Data) customers and orders by ``externalid``, never twice.

Rules: ``ecommerce/customers.py`` and ``ecommerce/orders.py``. See ``docs/operators/ecommerce.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from airflow_provider_activecampaign.ecommerce.customers import EcomCustomerUpserter
from airflow_provider_activecampaign.ecommerce.orders import (
    SOURCES,
    EcomOrderUpserter,
    OrderProductsNeedAttention,
)
from airflow_provider_activecampaign.ecommerce.values import AMOUNT_UNITS
from airflow_provider_activecampaign.operators.base import (
    ActiveCampaignRecordsOperator,
)
from airflow_provider_activecampaign.records.journal import WriteJournal, request_deadline_seconds

_RERUN = "The other records were written; re-running is safe: each record is found by externalid first."


class ActiveCampaignUpsertEcomCustomersOperator(ActiveCampaignRecordsOperator):
    """Create or update the e-commerce customers of one store connection, by ``externalid``.

    Records come from exactly one source: ``records`` (a list of dicts), ``source_path`` (CSV or
    JSON Lines at any ``ObjectStoragePath`` URI) or ``sql`` + ``sql_conn_id``, streamed. Columns:
    ``externalid`` (the customer's id in the store), ``email``, and optionally ``acceptsMarketing``
    (0/1, true/false); rename others with ``field_map``. Unknown columns or an unknown connection
    fail before anything is written; a bad row is reported (row, field, what to do) while the others go.

    Each record is looked up by ``externalid`` within the connection: found, it is updated only
    where it differs; not found, it is created through the write journal, so a retry, a re-run or
    a create that applies late never makes a second customer.

    :param connection: The store: its connection id, ``externalid`` or name. (templated)
    :param records: Records as a list of dicts (or a JSON string of one). (templated)
    """

    template_fields: Sequence[str] = (
        "activecampaign_conn_id",
        "connection",
        "records",
        *ActiveCampaignRecordsOperator.source_template_fields,
    )

    def __init__(self, *, connection: str | int, records: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.connection = connection
        self.records = records

    def execute(self, context: Context) -> dict[str, Any]:
        ratio = self.rendered_failure_ratio()
        upserter = EcomCustomerUpserter(
            self.hook,
            self.connection,
            journal=WriteJournal.for_task(context),
            deadline_seconds=request_deadline_seconds(self.hook),
            logger=self.log,
        )
        failures, path = self.write_records(
            context, self.records, upserter, identify=lambda record: {"externalid": record.get("externalid")}
        )
        return self.finish_records(
            upserter.tally,
            ratio,
            failures,
            path,
            label="E-commerce customers",
            what="e-commerce customers",
            after=_RERUN,
        )


class ActiveCampaignUpsertEcomOrdersOperator(ActiveCampaignRecordsOperator):
    """Create or update the e-commerce orders (with products) of one store connection, by ``externalid``.

    Records come from ``records``, ``source_path`` or ``sql`` as for every records operator.
    Columns, named as in ``POST /ecomOrders``: ``externalid``, ``email``, ``totalPrice``,
    ``currency``, ``externalCreatedDate`` (all needed to create), ``shippingAmount``, ``taxAmount``,
    ``discountAmount``, ``externalUpdatedDate``, ``orderNumber``, ``orderUrl``, ``shippingMethod``,
    ``orderProducts`` (a list of ``{externalid, name, price, quantity, category, sku, description,
    imageUrl, productUrl}``, or its JSON text), and the customer: ``customer_externalid``,
    ``customerid``, or else the one customer of the store with the order's email.

    Amounts are in cents (``45678`` is 456.78) unless ``amount_unit="major"``. An order found by
    ``externalid`` is updated with ``PUT /ecomOrders/{id}`` only when it differs, never created
    again; a new one is created through the write journal (never twice). Its products are PUT only
    when they differ, once, and read back: where ActiveCampaign adds them to the order's instead
    of replacing them, the record is reported ``failed`` with what to do, and never PUT again
    (``ecommerce/orders.py``).

    :param connection: The store: its connection id, ``externalid`` or name. (templated)
    :param records: Records as a list of dicts (or a JSON string of one). (templated)
    :param source: 0 (default): historical, no automation fires. 1: real time, the order starts
        "Makes a purchase" automations and shows on the e-commerce dashboard. Not templated: firing
        automations is decided in the DAG's code.
    :param currency: Currency (3-letter ISO code) of records without one. (templated)
    :param amount_unit: ``minor`` (default, cents) or ``major`` (456.78, converted exactly).
    """

    template_fields: Sequence[str] = (
        "activecampaign_conn_id",
        "connection",
        "records",
        "currency",
        *ActiveCampaignRecordsOperator.source_template_fields,
    )

    def __init__(
        self,
        *,
        connection: str | int,
        records: Any = None,
        source: int = 0,
        currency: str | None = None,
        amount_unit: str = "minor",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(source, bool) or source not in SOURCES:
            raise ValueError(
                f"source must be 0 (historical, the default: no automation fires) or 1 (real time: fires "
                f"'Makes a purchase' automations), got {source!r}"
            )
        if amount_unit not in AMOUNT_UNITS:
            raise ValueError(f"amount_unit must be one of {AMOUNT_UNITS}, got {amount_unit!r}")
        self.connection = connection
        self.records = records
        self.source = source
        self.currency = currency
        self.amount_unit = amount_unit

    def execute(self, context: Context) -> dict[str, Any]:
        ratio = self.rendered_failure_ratio()
        upserter = EcomOrderUpserter(
            self.hook,
            self.connection,
            journal=WriteJournal.for_task(context),
            deadline_seconds=request_deadline_seconds(self.hook),
            source=self.source,
            currency=self.currency,
            amount_unit=self.amount_unit,
            logger=self.log,
        )
        failures, path = self.write_records(
            context,
            self.records,
            upserter,
            identify=lambda record: {"externalid": record.get("externalid")},
            refused=(OrderProductsNeedAttention,),
        )
        return self.finish_records(
            upserter.tally,
            ratio,
            failures,
            path,
            label=f"E-commerce orders (source {self.source})",
            what="e-commerce orders",
            after=_RERUN,
        )
