"""Behaviours of the emulator that ActiveCampaign's reference does not document (*assumed*).

Each one can be switched off (``POST /_emulator/assumed {"name": false}``, or
``EmulatorClient.set_assumed(name=False)``), so code that relies on it can be tested both with
it and with what the reference alone promises. ``POST /_emulator/reset`` turns them all back on.
docs/emulator.md lists them with the reference's own wording.
"""

from __future__ import annotations

#: name -> what the emulator does when it is on (the default).
ASSUMED_BEHAVIOURS: dict[str, str] = {
    "custom_field_meta_total": (
        "GET /dealCustomFieldData, /accountCustomFieldData, /dealCustomFieldMeta and "
        "/accountCustomFieldMeta answer with meta.total; the reference's examples of these lists "
        "carry no meta (off: the lists come without meta)"
    ),
    "webhook_https_port_check": (
        "POST/PUT /webhooks refuse an https URL on a port other than 443 with a 422; the reference "
        "documents only 201 and says ActiveCampaign only sends https webhooks to port 443 "
        "(off: the webhook is created, and deliveries to it are never made)"
    ),
    "webhook_410_removes": (
        "a webhook whose receiver answered 410 is deactivated and leaves GET /webhooks (and "
        "GET/PUT/DELETE /webhooks/{id} answer 404); the reference says only that it is deactivated "
        'and must be recreated (off: it stays listed, and readable by id, flagged "state": "0", and '
        "sends nothing until deleted)"
    ),
    "webhook_delivery_secondary_fields": (
        "deliveries carry the secondary sources' field list: initiated_from, list, "
        "contact[id|email|first_name|last_name|phone|ip|tags], tag, deal[...]; the reference notes "
        "name only type, date_time, initiated_by and contact[email] (off: a delivery carries only "
        "those four)"
    ),
    "contacts_list_include": (
        "GET /contacts honours include=fieldValues,contactLists,contactTags and sideloads the page's "
        "rows; the reference declares no include on the list, only GET /contacts/{id} shows "
        "sideloads (off: include is ignored, the answer carries no sideload)"
    ),
    "contacts_default_order_newest_first": (
        "GET /contacts without orders[...] lists the newest contacts first (cdate, then id, "
        "descending); the reference names no default order (off: id order, oldest first)"
    ),
    "contacts_unsupported_order_refused": (
        "GET /contacts with an orders[...] key it cannot sort by answers 400; the reference says "
        "nothing about one (off: the key is ignored)"
    ),
    "contact_email_lowercased": (
        "contact emails are stored and returned lower-cased; the reference shows only lower-case "
        "examples (off: stored and returned as sent; lookups stay case-blind)"
    ),
    "date_filters_strict": (
        "GET /contacts filters[created|updated_after|before] and GET /dealTasks "
        "filters[due_after|due_before] compare strictly (> and <) with their bound; the reference "
        "says only 'after' and 'before' (off: inclusive, >= and <=). GET /deals is not switched: "
        "its reference says 'greater than or equal to' and 'less than'"
    ),
    "custom_object_record_update_200": (
        "POST /customObjects/records/{schemaId} for an externalId the schema holds updates that "
        "record in place and answers 200; the reference shows only the create's 201 "
        "(off: the update answers 201 too)"
    ),
    "custom_object_records_external_id_filter": (
        "GET /customObjects/records/{schemaId} honours filters[externalId][eq]; the reference "
        "documents its filters only by the example filters[relationships.<id>][eq] (off: the "
        "externalId filter is ignored and the list answers every record of the schema)"
    ),
    "ecom_email_lowercased": (
        "e-commerce customer and order emails are stored and returned lower-cased; the reference "
        "shows only lower-case examples (off: stored and returned as sent; filters[email] stays "
        "case-blind)"
    ),
    "ecom_order_put_replaces_products": (
        "PUT /ecomOrders/{id} with orderProducts replaces the order's products with the body's list; "
        "the reference does not say replace or add (off: the body's products are added to the "
        "order's existing ones)"
    ),
    "ecom_duplicate_externalid_accepted": (
        "POST /ecomCustomers and /ecomOrders accept a second record with the same (connectionid, "
        "externalid); the reference documents no refusal (off: 422 code duplicate, pointer "
        "/data/attributes/externalid)"
    ),
    "contact_sync_update_200": (
        "POST /contact/sync answers 200 when it updates an existing contact (201 when it creates); "
        "the reference shows only 201 (off: 201 for an update too)"
    ),
    "contact_udate_ignores_list_and_tag_changes": (
        "subscribing, unsubscribing, tagging and untagging a contact (POST /contactLists, POST and "
        "DELETE /contactTags) leave its udate as it was; the reference does not say what moves "
        "udate (off: each such change moves the contact's udate to its time)"
    ),
    "contact_list_unknown_404": (
        "POST /contactLists for an unknown contact or list answers 404 No Result found for "
        "Subscriber/_List with id N; the reference shows only 400 {} (off: 400 {})"
    ),
    "contact_tag_repeat_returns_existing": (
        "POST /contactTags for a contact that already has the tag answers 201 with the existing "
        "row; the reference does not say (off: 422 code duplicate, pointer /data/attributes/tag)"
    ),
    "contact_field_value_invalid_refused": (
        "POST/PUT /contacts, POST /contact/sync and POST /fieldValues refuse a value that breaks "
        "its field type's documented format (422 field_invalid); the reference does not say what "
        "ActiveCampaign does with one (off: the value is stored as sent)"
    ),
    "tags_unknown_operator_refused": (
        "GET /tags with filters[search][<op>] for an operator the reference does not list answers "
        "400; the reference says nothing about one (off: the filter is ignored)"
    ),
    "deals_default_order_by_id": (
        "GET /deals without orders[...] lists deals in id order; the reference names no default "
        "order (off: newest first, cdate then id, descending)"
    ),
    "account_names_case_insensitive": (
        "account names compare case-blind: POST /accounts or a rename to another case of an existing "
        "name answers 422 duplicate; the reference shows the 422 for an existing name but not how "
        "names compare (off: only the exact spelling is taken, so Acme and ACME can both exist)"
    ),
    "contact_automation_readd_duplicates": (
        "POST /contactAutomations for a contact already running through the automation creates a "
        "second enrolment; the reference does not say whether re-adding duplicates, is ignored or "
        "errors (off: refused with the documented 403 Could not create SubscriberSeries, nothing "
        "created)"
    ),
    "import_contact_failure_atomic": (
        "a bulk-import contact that fails in part (unknown field or value, unknown list, a list it "
        "unsubscribed from) is listed under failure and nothing of it is written; the reference "
        "lists the failure causes but not whether the contact's other changes are kept (off: its "
        "other changes are written, only the failing parts skipped; still listed under failure)"
    ),
    "import_failure_index_zero_based": (
        "a bulk import's validation 400 names a contact by its 0-based index in contacts; the "
        "reference's example names contact 230 without saying where counting starts (off: 1-based)"
    ),
    "custom_object_records_creation_order": (
        "GET /customObjects/records/{schemaId} lists a schema's records oldest first (creation "
        "order); the reference declares no order for the list (off: newest first)"
    ),
}


def defaults() -> dict[str, bool]:
    return dict.fromkeys(ASSUMED_BEHAVIOURS, True)
