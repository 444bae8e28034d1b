"""The store (an e-commerce ``connection``) and what it holds, found by ``externalid``.

Customers and orders belong to one connection; their ``externalid`` is the id in the store, so
``(connectionid, externalid)`` names one object. They are found with the reference's filters
(``GET /ecomCustomers`` and ``GET /ecomOrders`` with ``filters[externalid]`` and
``filters[connectionid]``): one read per record, whatever the size of the store, and the same
read settles a create whose answer was lost (the write journal's read-back).
"""

from __future__ import annotations

from typing import Any

from airflow_provider_activecampaign.hooks.activecampaign import ActiveCampaignHook
from airflow_provider_activecampaign.records.emails import email_key
from airflow_provider_activecampaign.records.failures import RecordRejected
from airflow_provider_activecampaign.records.journal import WriteJournal


def find_connection(hook: ActiveCampaignHook, wanted: Any) -> dict[str, Any]:
    """The connection named by its id, its ``externalid`` or its name; refuses before anything is written."""
    name = str(wanted or "").strip()
    if not name:
        raise ValueError("connection is empty: give the store's connection id, externalid or name.")
    seen: list[str] = []
    matches: list[dict[str, Any]] = []
    for connection in hook.paginate("connections", key="connections"):
        names = {str(connection.get(k) or "").strip().lower() for k in ("id", "externalid", "name")}
        if name.lower() in names:
            matches.append(dict(connection))
        seen.append(
            f"{connection.get('name')} (id {connection.get('id')}, externalid {connection.get('externalid')})"
        )
    by_id = [c for c in matches if str(c.get("id")) == name]
    if by_id:
        return by_id[0]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ValueError(
            f"connection {name!r} names {len(matches)} connections: "
            f"{', '.join(str(c.get('id')) for c in matches)}; give its id."
        )
    raise ValueError(
        f"No e-commerce connection {name!r} (by id, externalid or name). The account has: "
        f"{'; '.join(seen) or 'none (create it with POST /connections)'}."
    )


class StoreIndex:
    """Customers and orders of one connection, looked up by ``externalid`` (and customers by email)."""

    def __init__(self, hook: ActiveCampaignHook, connection_id: str) -> None:
        self.hook = hook
        self.connection_id = connection_id
        self._customers: dict[str, dict[str, Any] | None] = {}
        self.lookups = 0

    def _find(self, collection: str, params: dict[str, Any], external: str | None) -> list[dict[str, Any]]:
        self.lookups += 1
        found = []
        for item in self.hook.paginate(
            collection, key=collection, params={**params, "filters[connectionid]": self.connection_id}
        ):
            if str(item.get("connectionid")) != self.connection_id:
                continue
            if external is not None and str(item.get("externalid")) != external:
                continue
            found.append(dict(item))
        return found

    def customer(self, external: str, *, fresh: bool = False) -> dict[str, Any] | None:
        """The customer with this ``externalid`` (remembered for the run unless ``fresh``)."""
        if fresh or external not in self._customers:
            found = self._find("ecomCustomers", {"filters[externalid]": external}, external)
            self._customers[external] = self._one("customers", external, found)
        return self._customers[external]

    def remember_customer(self, customer: dict[str, Any]) -> None:
        self._customers[str(customer.get("externalid"))] = customer

    def customers_by_email(self, address: str) -> list[dict[str, Any]]:
        """The customers with this address, in whatever case the account stores it.

        ``filters[email]`` is sent as given; what comes back is compared by :func:`email_key`, so a
        customer stored as ``Ann@Example.com`` (an account that keeps the case) is the one of
        ``ann@example.com``, and one stored lower-cased is the one of ``Ann@Example.com``.
        """
        wanted = email_key(address)
        return [
            c
            for c in self._find("ecomCustomers", {"filters[email]": address}, None)
            if email_key(str(c.get("email", ""))) == wanted
        ]

    def order(self, external: str) -> dict[str, Any] | None:
        return self._one(
            "orders", external, self._find("ecomOrders", {"filters[externalid]": external}, external)
        )

    def _one(self, what: str, external: str, found: list[dict[str, Any]]) -> dict[str, Any] | None:
        if len(found) > 1:
            raise RecordRejected(
                "externalid",
                f"{what} {', '.join(str(f.get('id')) for f in found)} of connection {self.connection_id} all "
                f"hold externalid {external!r}; delete the extra ones in ActiveCampaign and re-run",
            )
        return found[0] if found else None

    def order_products(self, order_id: str) -> list[dict[str, Any]]:
        self.lookups += 1
        return list(self.hook.paginate(f"ecomOrders/{order_id}/orderProducts", key="ecomOrderProducts"))


def close_found(journal: WriteJournal, writer: str, key: str, found_id: str) -> bool:
    """An earlier try's create whose answer was lost, found by the lookup: record it applied.

    Returns whether there was such a create (the record was then written once, by that try).
    """
    if not any(not intent.closed for intent in journal.history(writer, key)):
        return False
    journal.resolve(writer, key, read_back=lambda intent: found_id)
    return True
