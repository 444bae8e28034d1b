"""E-commerce customers upserted by ``externalid`` within one store connection, never created twice.

``POST /ecomCustomers`` (SPEC: ``connectionid``, ``externalid``, ``email`` required;
``acceptsMarketing`` ``"0"``/``"1"``) creates; the reference has no upsert, so each record is first
looked up by ``filters[externalid]`` + ``filters[connectionid]``. Found: updated with
``PUT /ecomCustomers/{id}`` where the email or ``acceptsMarketing`` differ (a PUT is safe to
resend), left alone otherwise. Not found: created through the write journal
(``records/journal.py``), so a retry, a re-run or a create that times out and applies seconds later
is found by the same lookup and never sent a second time; a create refused as a duplicate is looked
up again and updated in place (``writer.py``).

Emails are compared by :func:`email_key` (case-blind): whether the account stores them lower-cased
or as sent (emulator switch ``ecom_email_lowercased``), a change of case alone is not a change.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_activecampaign.ecommerce import values
from airflow_provider_activecampaign.ecommerce.store import close_found
from airflow_provider_activecampaign.ecommerce.writer import StoreWriter
from airflow_provider_activecampaign.records.emails import email_key

#: The journal's name for customer creates.
WRITER = "ecom_customers"
#: The columns a customer record may have (the request schema's names).
CUSTOMER_COLUMNS = ("externalid", "email", "acceptsMarketing")


class EcomCustomerUpserter(StoreWriter):
    """One run's customer writes into one store connection (id, ``externalid`` or name)."""

    writer = WRITER
    collection = "ecomCustomers"
    item = "ecomCustomer"
    noun = "Customer"

    def prepare(self, columns: list[str]) -> None:
        """Check the columns and find the connection; refuses before anything is written."""
        unknown = [c for c in columns if c not in CUSTOMER_COLUMNS]
        if unknown:
            raise ValueError(
                f"Columns {', '.join(map(repr, unknown))} are not e-commerce customer attributes "
                f"({', '.join(CUSTOMER_COLUMNS)}); rename them with field_map, or map them to None to "
                "drop them."
            )
        missing = [c for c in ("externalid", "email") if c not in columns]
        if missing:
            raise ValueError(
                f"The source has no {' or '.join(map(repr, missing))} column: every customer needs its "
                "externalid (its id in the store) and email (POST /ecomCustomers requires both)."
            )
        connection = self.open_store()
        self.log.info(
            "E-commerce customers into connection %s (%s).", self.connection_id, connection.get("name")
        )

    def upsert(self, record: dict[str, Any]) -> str:
        """Create or update one customer; returns ``created``, ``updated`` or ``unchanged``."""
        assert self.store is not None, "prepare() first"
        external = values.external_id(record.get("externalid"))
        wanted: dict[str, Any] = {"email": values.email(record.get("email"))}
        if not values.empty(record.get("acceptsMarketing")):
            wanted["acceptsMarketing"] = values.flag(record["acceptsMarketing"], "acceptsMarketing")
        key = f"{self.connection_id}:{external}"
        existing = self.store.customer(external)
        if existing is not None:
            close_found(self.journal, WRITER, key, str(existing["id"]))
            return self._update(existing, wanted)
        body = {"ecomCustomer": {"connectionid": self.connection_id, "externalid": external, **wanted}}

        store = self.store
        sent = self.create_once(key, external, body, lambda: store.customer(external, fresh=True))
        if isinstance(sent, dict):  # refused as a duplicate: it exists after all (writer.py)
            return self._update(sent, wanted)
        created = ((sent.answer or {}).get("ecomCustomer") if sent.answer else None) or {}
        store.remember_customer({**body["ecomCustomer"], **created, "id": sent.ref or created.get("id")})
        return "created"

    def _update(self, existing: dict[str, Any], wanted: dict[str, Any]) -> str:
        if any(name not in existing for name in wanted):
            # SPEC's list example has no acceptsMarketing (its single read has): read it, not guess.
            read = self.hook.get(f"ecomCustomers/{existing['id']}")
            existing = {**existing, **((read or {}).get("ecomCustomer") or {})}
        changed = {
            name: value
            for name, value in wanted.items()
            if (
                email_key(str(existing.get(name) or "")) != email_key(value)
                if name == "email"
                else str(existing.get(name)) != value
            )
        }
        if not changed:
            self.tally.unchanged += 1
            return "unchanged"
        customer_id = str(existing["id"])
        answer = self.hook.put(f"ecomCustomers/{customer_id}", {"ecomCustomer": changed})
        assert self.store is not None
        self.store.remember_customer({**existing, **changed, **((answer or {}).get("ecomCustomer") or {})})
        self.tally.updated += 1
        return "updated"


__all__ = ["CUSTOMER_COLUMNS", "WRITER", "EcomCustomerUpserter"]
