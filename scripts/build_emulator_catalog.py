"""Builds the emulator's catalog of read-only collections (emulator/activecampaign_emulator/catalog.json).

Developer tool, run by hand when the sources change; the emulator and the tests read only the JSON
it writes. Each collection's records come from the first source that has them:

1. the official v3 reference (its OpenAPI export): the list example of ``GET /<endpoint>``, taken
   as ActiveCampaign wrote it (``meta`` kept only where the example has one);
2. otherwise tap-activecampaign 1.3.1 (``pip download --no-deps tap-activecampaign==1.3.1``), which
   reads the collection from live accounts: one record made from its JSON schema for the stream
   (*reported* shape; the values are placeholders of the schema's types).

Usage: python scripts/build_emulator_catalog.py OPENAPI.json TAP_SCHEMAS_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

#: endpoint -> (list key, tap stream name). Collections the emulator serves elsewhere are not here.
COLLECTIONS: dict[str, tuple[str, str]] = {
    "brandings": ("brandings", "brandings"),
    "calendars": ("calendars", "calendars"),
    "contactDeals": ("contactDeals", "contact_deals"),
    "forms": ("forms", "forms"),
    "groups": ("groups", "groups"),
    "savedResponses": ("savedResponses", "saved_responses"),
    "scores": ("scores", "scores"),
    "segments": ("segments", "segments"),
    "templates": ("templates", "templates"),
    "links": ("links", "campaign_links"),
    "activities": ("activities", "activities"),
    "automationBlocks": ("automationBlocks", "automation_blocks"),
    "bounceLogs": ("bounceLogs", "bounce_logs"),
    "campaignLists": ("campaignLists", "campaign_lists"),
    "campaignMessages": ("campaignMessages", "campaign_messages"),
    "configs": ("configs", "configs"),
    "contactData": ("contactData", "contact_data"),
    "contactEmails": ("contactEmails", "contact_emails"),
    "contactConversions": ("contactConversions", "contact_conversions"),
    "conversions": ("conversions", "conversions"),
    "conversionTriggers": ("conversionTriggers", "conversion_triggers"),
    "dealActivities": ("dealActivities", "deal_activities"),
    "dealGroupUsers": ("dealGroupUsers", "deal_group_users"),
    "ecomOrderActivities": ("ecomOrderActivities", "ecommerce_order_activities"),
    "emailActivities": ("emailActivities", "email_activities"),
    "goals": ("goals", "goals"),
    "siteMessages": ("siteMessages", "site_messages"),
    "sms": ("sms", "sms"),
}

_PLACEHOLDERS = {"integer": 1, "number": 1.5, "boolean": True, "string": "text", "object": {}, "array": []}


def _reference_example(spec: dict[str, Any], endpoint: str, key: str) -> dict[str, Any] | None:
    operation = spec["paths"].get(f"/{endpoint}", {}).get("get")
    if operation is None:
        return None
    answer = operation.get("responses", {}).get("200", {})
    for content in (answer.get("content") or {}).values():
        for name, example in (content.get("examples") or {}).items():
            try:
                body = json.loads(example["value"]) if isinstance(example["value"], str) else example["value"]
            except (KeyError, ValueError):
                continue
            if isinstance(body, dict) and isinstance(body.get(key), list) and body[key]:
                return {
                    "records": body[key],
                    "meta": "meta" in body,
                    "source": f"SPEC GET /{endpoint}, example {name!r}",
                }
    return None


def _placeholder(schema: dict[str, Any], name: str) -> Any:
    types = [t for t in (schema.get("type") or ["string"]) if t != "null"] or ["string"]
    kind = types[0] if isinstance(types, list) else types
    if kind == "string" and schema.get("format") == "date-time":
        return "2024-01-15T10:20:30-06:00"
    if name == "id" or name.endswith("id"):
        return "1"
    return _PLACEHOLDERS.get(kind, "text")


def _tap_record(schemas: Path, stream: str) -> dict[str, Any]:
    schema = json.loads((schemas / f"{stream}.json").read_text(encoding="utf-8"))
    record = {name: _placeholder(prop, name) for name, prop in schema.get("properties", {}).items()}
    record["id"] = "1"
    return {
        "records": [record],
        "meta": True,
        "source": f"reported: tap-activecampaign 1.3.1 reads it (stream {stream!r}); "
        f"fields from its schemas/{stream}.json, values are placeholders",
    }


def main(openapi: str, schemas_dir: str) -> None:
    spec = json.loads(Path(openapi).read_text(encoding="utf-8"))
    schemas = Path(schemas_dir)
    catalog = {}
    for endpoint, (key, stream) in COLLECTIONS.items():
        entry = _reference_example(spec, endpoint, key) or _tap_record(schemas, stream)
        catalog[endpoint] = {"key": key, **entry}
    out = Path(__file__).resolve().parent.parent / "emulator" / "activecampaign_emulator" / "catalog.json"
    out.write_text(json.dumps(catalog, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{len(catalog)} collections -> {out}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
