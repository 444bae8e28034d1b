"""Every resource the export reads, described once: where it lives, how it pages, what its dates are.

Each :class:`Resource` states only what the official v3 reference documents (SPEC = the ReadMe
export of developers.activecampaign.com): the collection endpoint and its list key, the id field,
the record's own update-time field, side-loads, the custom-field pivot and, for the two
collections that document one (``GET /contacts`` and ``GET /deals``), the date filter that makes
an incremental read cheap. Everything else is read in full; if it has an update-time field, a
window can still be cut from the full read locally (``mode="incremental"``).

Adding a resource is adding one entry to :data:`RESOURCES`; the operator, the docs' table and the
tests all read this table.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Paging(StrEnum):
    """How a collection is walked. ``id_greater`` stays fast on big accounts; ``offset`` is all most have."""

    ID_GREATER = "id_greater"
    OFFSET = "offset"


class Incremental(StrEnum):
    """How a window of changes is read."""

    #: The API filters by update date (``filters[updated_after]``, a date): read with a day of
    #: overlap, then keep exactly the window's records by their own update time.
    API = "api"
    #: No filter, but records carry their update time: read everything, keep the window locally.
    LOCAL = "local"
    #: No update time at all: every run is a full snapshot.
    NONE = "none"


@dataclass(frozen=True)
class CustomFieldPivot:
    """Where a resource's custom-field values come from, so they become columns named by the field.

    :param meta_endpoint: Collection of field definitions (``dealCustomFieldMeta``).
    :param label_field: The definition's human name (``fieldLabel``).
    :param data_endpoint: Collection of values (``dealCustomFieldData``).
    :param owner_field: The value's record id (``dealId``).
    :param field_ref: The value's definition id (``customFieldId``).
    :param value_field: The value itself (``fieldValue``).
    :param owner_filter: Query parameter that selects one record's values (``filters[dealId]``).
    """

    meta_endpoint: str
    label_field: str
    data_endpoint: str
    owner_field: str
    field_ref: str
    value_field: str
    owner_filter: str


@dataclass(frozen=True)
class Lookup:
    """A column added from another collection: ``deals.stage`` -> ``stage_title`` from ``dealStages``."""

    column: str
    source_field: str
    endpoint: str
    key: str
    name_field: str


@dataclass(frozen=True)
class Parent:
    """A collection read once per record of another: custom-object records, per schema.

    :param endpoint: The parents' collection (``customObjects/schemas``).
    :param key: Its list key (``schemas``).
    The child's ``endpoint`` names the parent's id as ``{parent}``.
    """

    endpoint: str
    key: str
    id_field: str = "id"


@dataclass(frozen=True)
class ReportList:
    """A v1 campaign report list (``campaign_report_open_list`` …), read once per sent campaign.

    v1 answers a page as an object keyed ``"0"``, ``"1"`` … beside ``result_code``; an empty list
    is ``result_code`` 0 with ``Failed: Nothing is returned``. Read by
    :mod:`~airflow_provider_activecampaign.exports.reports`.

    :param action: The v1 ``api_action``.
    :param counts: The campaign's own report counts (fields of ``GET /campaigns``) that sum to the
        list's rows: a campaign whose counts are 0 is not asked at all.
    :param key_fields: What identifies a row, after ``campaignid``: the row's ``id`` is built from
        them when the list has no id of its own.
    :param nested: The per-link list of who clicked (``info`` in ``campaign_report_link_list``):
        each becomes a row of its own carrying its link's id, name and URL.
    :param paged: Whether the action takes ``page`` (V1 pages document it for the bounce list;
        the link list documents none, so it is read in one request).
    """

    action: str
    counts: tuple[str, ...]
    key_fields: tuple[str, ...] = ("subscriberid",)
    nested: str | None = None
    paged: bool = True


@dataclass(frozen=True)
class Resource:
    """One exportable collection.

    :param name: What a DAG passes as ``resource``.
    :param endpoint: The v3 collection, relative to ``/api/3``.
    :param key: The list's key in the answer (``{"deals": [...], "meta": {...}}``).
    :param updated_field: The record's own last-update time, if it has one.
    :param created_field: The record's creation time, if it has one.
    :param incremental: :class:`Incremental`; ``API`` needs ``filter_after``/``filter_before``.
    :param paging: :class:`Paging`.
    :param sideloads: Extra lists the page carries (``dealGroups`` sideloads ``dealStages``), kept
        out of the records.
    :param pivot: Custom fields as named columns, if the resource has custom fields.
    :param lookups: Name columns resolved from other collections.
    :param why: One line for the docs: why incremental or full.
    """

    name: str
    endpoint: str
    key: str
    updated_field: str | None
    created_field: str | None = None
    incremental: Incremental = Incremental.NONE
    filter_after: str | None = None
    filter_before: str | None = None
    paging: Paging = Paging.OFFSET
    sideloads: tuple[str, ...] = ()
    pivot: CustomFieldPivot | None = None
    lookups: tuple[Lookup, ...] = ()
    id_field: str = "id"
    v1_report: str | None = None
    #: Read once per record of this collection (the endpoint holds ``{parent}``).
    parent: Parent | None = None
    #: The record's ``fields`` is a list of ``{"id", "value"}``: written as ``{id: value}``.
    field_list: bool = False
    #: A v1 campaign report list, read per campaign of ``parent`` (``campaigns``).
    report_list: ReportList | None = None
    why: str = ""
    extra_params: Mapping[str, str] = field(default_factory=dict)
    #: The reference declares no order for the list, and the list takes none to name: pages read
    #: in parallel by ``offset`` are checked against ``meta.total`` and, if records moved between
    #: pages while they were read, read again one after another (``exports/runner.py``).
    order_undeclared: bool = False

    @property
    def supports_window(self) -> bool:
        """Whether a window can be cut at all (by the API or locally)."""
        return self.updated_field is not None


_DEAL_PIVOT = CustomFieldPivot(
    meta_endpoint="dealCustomFieldMeta",
    label_field="fieldLabel",
    data_endpoint="dealCustomFieldData",
    owner_field="dealId",
    field_ref="customFieldId",
    value_field="fieldValue",
    owner_filter="filters[dealId]",
)
_ACCOUNT_PIVOT = CustomFieldPivot(
    meta_endpoint="accountCustomFieldMeta",
    label_field="fieldLabel",
    data_endpoint="accountCustomFieldData",
    owner_field="accountId",
    field_ref="customFieldId",
    value_field="fieldValue",
    owner_filter="filters[customerAccountId]",
)

_LOCAL = "no update filter in the reference; records carry {field}: a window is cut locally from a full read"
_NONE = "no update filter and no update time in the reference: a full snapshot each run"


def _local(field_name: str) -> str:
    return _LOCAL.format(field=f"`{field_name}`")


#: The campaigns whose v1 report lists are read (SPEC ``GET /campaigns``: each carries its counts).
_CAMPAIGNS = Parent("campaigns", "campaigns")
_ACTIVITY = (
    "v1 `{action}` per sent campaign whose `{counts}` count is not 0 (SPEC `GET /campaigns` carries "
    "the counts); `tstamp` is when it happened: a window is cut locally"
)


def _activity(action: str, counts: tuple[str, ...]) -> str:
    return _ACTIVITY.format(action=action, counts="`+`".join(counts))


RESOURCES: dict[str, Resource] = {
    resource.name: resource
    for resource in (
        Resource(
            name="contacts",
            endpoint="contacts",
            key="contacts",
            updated_field="udate",
            created_field="cdate",
            incremental=Incremental.API,
            filter_after="filters[updated_after]",
            filter_before="filters[updated_before]",
            paging=Paging.ID_GREATER,
            sideloads=("fieldValues",),
            why="`filters[updated_after]` (SPEC `GET /contacts`); paged by `id_greater`, fields sideloaded",
        ),
        Resource(
            name="deals",
            endpoint="deals",
            key="deals",
            updated_field="mdate",
            created_field="cdate",
            incremental=Incremental.API,
            filter_after="filters[updated_after]",
            filter_before="filters[updated_before]",
            pivot=_DEAL_PIVOT,
            lookups=(
                Lookup("stage_title", "stage", "dealStages", "dealStages", "title"),
                Lookup("pipeline_title", "group", "dealGroups", "dealGroups", "title"),
            ),
            why='`filters[updated_after]` (SPEC `GET /deals`, "greater than or equal to given date")',
            # The reference names no default order. Pages are read in parallel by offset, so in an
            # order where a new deal comes first (newest first) a deal created mid-read shifts the
            # later pages and a page read before it loses records. Oldest first by creation date (a
            # SPEC order) puts new deals last: nothing shifts (tests/integration/test_assumed_deals_order.py).
            extra_params={"orders[cdate]": "ASC"},
        ),
        Resource(
            name="pipelines",
            endpoint="dealGroups",
            key="dealGroups",
            updated_field="udate",
            created_field="cdate",
            incremental=Incremental.LOCAL,
            sideloads=("dealStages",),
            why=_local("udate"),
        ),
        Resource(
            name="stages",
            endpoint="dealStages",
            key="dealStages",
            updated_field="udate",
            created_field="cdate",
            incremental=Incremental.LOCAL,
            why=_local("udate"),
        ),
        Resource(
            name="accounts",
            endpoint="accounts",
            key="accounts",
            updated_field="updatedTimestamp",
            created_field="createdTimestamp",
            incremental=Incremental.LOCAL,
            pivot=_ACCOUNT_PIVOT,
            why=_local("updatedTimestamp"),
        ),
        Resource(
            name="account_contacts",
            endpoint="accountContacts",
            key="accountContacts",
            updated_field="updatedTimestamp",
            created_field="createdTimestamp",
            incremental=Incremental.LOCAL,
            why=_local("updatedTimestamp"),
        ),
        Resource(
            name="lists",
            endpoint="lists",
            key="lists",
            updated_field="udate",
            created_field="cdate",
            incremental=Incremental.LOCAL,
            why=_local("udate"),
        ),
        Resource(
            name="tags", endpoint="tags", key="tags", updated_field=None, created_field="cdate", why=_NONE
        ),
        Resource(
            name="fields",
            endpoint="fields",
            key="fields",
            updated_field="udate",
            created_field="cdate",
            incremental=Incremental.LOCAL,
            sideloads=("fieldOptions", "fieldRels"),
            why=_local("udate"),
        ),
        Resource(
            name="deal_fields",
            endpoint="dealCustomFieldMeta",
            key="dealCustomFieldMeta",
            updated_field="updatedTimestamp",
            created_field="createdTimestamp",
            incremental=Incremental.LOCAL,
            why=_local("updatedTimestamp"),
        ),
        Resource(
            name="account_fields",
            endpoint="accountCustomFieldMeta",
            key="accountCustomFieldMeta",
            updated_field="updatedTimestamp",
            created_field="createdTimestamp",
            incremental=Incremental.LOCAL,
            why=_local("updatedTimestamp"),
        ),
        Resource(
            name="automations",
            endpoint="automations",
            key="automations",
            updated_field="mdate",
            created_field="cdate",
            incremental=Incremental.LOCAL,
            why=_local("mdate"),
        ),
        Resource(
            name="contact_automations",
            endpoint="contactAutomations",
            key="contactAutomations",
            updated_field=None,
            created_field="adddate",
            why="no update filter; `lastdate` is the contact's last step, not an update time: full snapshot",
        ),
        Resource(
            name="campaigns",
            endpoint="campaigns",
            key="campaigns",
            updated_field="mdate",
            created_field="cdate",
            incremental=Incremental.LOCAL,
            v1_report="campaign_report_totals",
            why=_local("mdate") + "; each campaign gets its v1 `campaign_report_totals` (one v1 call each)",
        ),
        Resource(
            name="messages",
            endpoint="messages",
            key="messages",
            updated_field="mdate",
            created_field="cdate",
            incremental=Incremental.LOCAL,
            why=_local("mdate"),
        ),
        Resource(name="users", endpoint="users", key="users", updated_field=None, why=_NONE),
        Resource(
            name="notes",
            endpoint="notes",
            key="notes",
            updated_field="mdate",
            created_field="cdate",
            incremental=Incremental.LOCAL,
            why=_local("mdate"),
        ),
        Resource(
            name="deal_tasks",
            endpoint="dealTasks",
            key="dealTasks",
            updated_field="udate",
            created_field="cdate",
            incremental=Incremental.LOCAL,
            why=_local("udate") + " (`filters[due_after]` filters the due date, not the update)",
        ),
        Resource(
            name="ecom_connections",
            endpoint="connections",
            key="connections",
            updated_field="udate",
            created_field="cdate",
            incremental=Incremental.LOCAL,
            why=_local("udate"),
        ),
        Resource(
            name="ecom_customers",
            endpoint="ecomCustomers",
            key="ecomCustomers",
            updated_field="tstamp",
            incremental=Incremental.LOCAL,
            why=_local("tstamp"),
        ),
        Resource(
            name="ecom_orders",
            endpoint="ecomOrders",
            key="ecomOrders",
            updated_field="updatedDate",
            created_field="createdDate",
            incremental=Incremental.LOCAL,
            why=_local("updatedDate") + " (`filters[external_created_date]` is the shop's creation date)",
        ),
        Resource(
            name="ecom_order_products",
            endpoint="ecomOrderProducts",
            key="ecomOrderProducts",
            updated_field="updatedDate",
            created_field="createdDate",
            incremental=Incremental.LOCAL,
            why=_local("updatedDate"),
        ),
        # -- the rest of the account: every stream tap-activecampaign 1.3.1 reads (issue 25) -----
        Resource(
            name="contact_lists",
            endpoint="contactLists",
            key="contactLists",
            updated_field="udate",
            created_field="sdate",
            incremental=Incremental.LOCAL,
            why=_local("udate") + " (list membership; reported: the tap's `contact_lists` stream)",
        ),
        Resource(
            name="contact_tags",
            endpoint="contactTags",
            key="contactTags",
            updated_field=None,
            created_field="cdate",
            why="tag membership; only a creation time (`cdate`): a full snapshot each run",
        ),
        Resource(
            name="field_values",
            endpoint="fieldValues",
            key="fieldValues",
            updated_field="udate",
            created_field="cdate",
            incremental=Incremental.LOCAL,
            why=_local("udate") + " (contact custom-field values, one row per value)",
        ),
        Resource(
            name="field_options",
            endpoint="fields",
            key="fieldOptions",
            updated_field=None,
            why="sideloaded by `GET /fields`; no update time: a full snapshot each run",
        ),
        Resource(
            name="field_rels",
            endpoint="fields",
            key="fieldRels",
            updated_field=None,
            why="sideloaded by `GET /fields` (which lists a field belongs to): a full snapshot each run",
        ),
        Resource(
            name="deal_field_values",
            endpoint="dealCustomFieldData",
            key="dealCustomFieldData",
            updated_field="updatedTimestamp",
            created_field="createdTimestamp",
            incremental=Incremental.LOCAL,
            why=_local("updatedTimestamp") + " (deal custom-field values, one row per value)",
        ),
        Resource(
            name="account_field_values",
            endpoint="accountCustomFieldData",
            key="accountCustomFieldData",
            updated_field="updatedTimestamp",
            created_field="createdTimestamp",
            incremental=Incremental.LOCAL,
            why=_local("updatedTimestamp") + " (account custom-field values, one row per value)",
        ),
        Resource(
            name="contact_deals",
            endpoint="contactDeals",
            key="contactDeals",
            updated_field=None,
            created_field="cdate",
            why="SPEC `GET /contactDeals` (secondary contacts of deals); only `cdate`: a full snapshot",
        ),
        Resource(
            name="task_types",
            endpoint="dealTasktypes",
            key="dealTasktypes",
            updated_field=None,
            why="SPEC `GET /dealTasktypes`; no update time: a full snapshot each run",
        ),
        Resource(name="addresses", endpoint="addresses", key="addresses", updated_field=None, why=_NONE),
        Resource(name="brandings", endpoint="brandings", key="brandings", updated_field=None, why=_NONE),
        Resource(
            name="calendars",
            endpoint="calendars",
            key="calendars",
            updated_field="mdate",
            created_field="cdate",
            incremental=Incremental.LOCAL,
            why=_local("mdate"),
        ),
        Resource(
            name="forms",
            endpoint="forms",
            key="forms",
            updated_field="udate",
            created_field="cdate",
            incremental=Incremental.LOCAL,
            why=_local("udate"),
        ),
        Resource(name="groups", endpoint="groups", key="groups", updated_field=None, why=_NONE),
        Resource(
            name="saved_responses",
            endpoint="savedResponses",
            key="savedResponses",
            updated_field="mdate",
            created_field="cdate",
            incremental=Incremental.LOCAL,
            why=_local("mdate"),
        ),
        Resource(
            name="scores",
            endpoint="scores",
            key="scores",
            updated_field="mdate",
            created_field="cdate",
            incremental=Incremental.LOCAL,
            why=_local("mdate"),
        ),
        Resource(
            name="segments",
            endpoint="segments",
            key="segments",
            updated_field="updated_timestamp",
            created_field="created_timestamp",
            incremental=Incremental.LOCAL,
            why=_local("updated_timestamp") + " (reported: the tap's `segments` stream)",
        ),
        Resource(
            name="templates",
            endpoint="templates",
            key="templates",
            updated_field="mdate",
            incremental=Incremental.LOCAL,
            why=_local("mdate") + " (reported: the tap's `templates` stream)",
        ),
        Resource(name="webhooks", endpoint="webhooks", key="webhooks", updated_field=None, why=_NONE),
        Resource(
            name="campaign_links",
            endpoint="links",
            key="links",
            updated_field="updated_timestamp",
            created_field="created_timestamp",
            incremental=Incremental.LOCAL,
            why=_local("updated_timestamp")
            + " (every campaign's links; reported: the tap's `campaign_links`)",
        ),
        Resource(
            name="campaign_lists",
            endpoint="campaignLists",
            key="campaignLists",
            updated_field="udate",
            created_field="cdate",
            incremental=Incremental.LOCAL,
            why=_local("udate") + " (reported: the tap's `campaign_lists` stream)",
        ),
        Resource(
            name="campaign_messages",
            endpoint="campaignMessages",
            key="campaignMessages",
            updated_field=None,
            why="reported: the tap's `campaign_messages` stream; no update time: a full snapshot each run",
        ),
        Resource(
            name="activities",
            endpoint="activities",
            key="activities",
            updated_field="tstamp",
            created_field="tstamp",
            incremental=Incremental.LOCAL,
            why="append-only: `tstamp` is when it happened, so a window is cut locally from a full read",
        ),
        Resource(
            name="email_activities",
            endpoint="emailActivities",
            key="emailActivities",
            updated_field="tstamp",
            created_field="tstamp",
            incremental=Incremental.LOCAL,
            why="append-only (`tstamp`); a window is cut locally from a full read",
        ),
        Resource(
            name="deal_activities",
            endpoint="dealActivities",
            key="dealActivities",
            updated_field="cdate",
            created_field="cdate",
            incremental=Incremental.LOCAL,
            why="append-only (`cdate`); a window is cut locally from a full read",
        ),
        Resource(
            name="bounce_logs",
            endpoint="bounceLogs",
            key="bounceLogs",
            updated_field="updated_timestamp",
            created_field="created_timestamp",
            incremental=Incremental.LOCAL,
            why=_local("updated_timestamp") + " (reported: the tap's `bounce_logs` stream)",
        ),
        Resource(
            name="automation_blocks",
            endpoint="automationBlocks",
            key="automationBlocks",
            updated_field="mdate",
            created_field="cdate",
            incremental=Incremental.LOCAL,
            why=_local("mdate") + " (reported: the tap's `automation_blocks` stream)",
        ),
        Resource(
            name="configs",
            endpoint="configs",
            key="configs",
            updated_field="updated_timestamp",
            created_field="created_timestamp",
            incremental=Incremental.LOCAL,
            why=_local("updated_timestamp") + " (reported: the tap's `configs` stream)",
        ),
        Resource(
            name="contact_data",
            endpoint="contactData",
            key="contactData",
            updated_field="updated_timestamp",
            created_field="created_timestamp",
            incremental=Incremental.LOCAL,
            why=_local("updated_timestamp") + " (reported: the tap's `contact_data` stream)",
        ),
        Resource(
            name="contact_emails",
            endpoint="contactEmails",
            key="contactEmails",
            updated_field="sdate",
            created_field="sdate",
            incremental=Incremental.LOCAL,
            why="append-only (`sdate`, when the email was sent); reported: the tap's `contact_emails`",
        ),
        Resource(
            name="contact_conversions",
            endpoint="contactConversions",
            key="contactConversions",
            updated_field="cdate",
            created_field="cdate",
            incremental=Incremental.LOCAL,
            why="append-only (`cdate`); reported: the tap's `contact_conversions` stream",
        ),
        Resource(
            name="conversions",
            endpoint="conversions",
            key="conversions",
            updated_field="udate",
            created_field="cdate",
            incremental=Incremental.LOCAL,
            why=_local("udate") + " (reported: the tap's `conversions` stream)",
        ),
        Resource(
            name="conversion_triggers",
            endpoint="conversionTriggers",
            key="conversionTriggers",
            updated_field="udate",
            created_field="cdate",
            incremental=Incremental.LOCAL,
            why=_local("udate") + " (reported: the tap's `conversion_triggers` stream)",
        ),
        Resource(
            name="deal_group_users",
            endpoint="dealGroupUsers",
            key="dealGroupUsers",
            updated_field=None,
            created_field="cdate",
            why="reported: the tap's `deal_group_users` stream; only `cdate`: a full snapshot each run",
        ),
        Resource(
            name="ecom_order_activities",
            endpoint="ecomOrderActivities",
            key="ecomOrderActivities",
            updated_field="updated_date",
            created_field="created_date",
            incremental=Incremental.LOCAL,
            why=_local("updated_date") + " (reported: the tap's `ecommerce_order_activities` stream)",
        ),
        Resource(
            name="goals",
            endpoint="goals",
            key="goals",
            updated_field=None,
            created_field="cdate",
            why="reported: the tap's `goals` stream; only `cdate`: a full snapshot each run",
        ),
        Resource(
            name="site_messages",
            endpoint="siteMessages",
            key="siteMessages",
            updated_field=None,
            why="reported: the tap's `site_messages` stream; no update time: a full snapshot each run",
        ),
        Resource(
            name="custom_object_schemas",
            endpoint="customObjects/schemas",
            key="schemas",
            updated_field="updatedTimestamp",
            created_field="createdTimestamp",
            incremental=Incremental.LOCAL,
            why=_local("updatedTimestamp") + " (SPEC `GET /customObjects/schemas`)",
        ),
        Resource(
            name="custom_object_records",
            endpoint="customObjects/records/{parent}",
            key="records",
            updated_field="updatedTimestamp",
            created_field="createdTimestamp",
            incremental=Incremental.LOCAL,
            parent=Parent("customObjects/schemas", "schemas"),
            field_list=True,
            # SPEC declares no order for a schema's records and no order parameter. Newest first,
            # a record created mid-read would shift the later offsets of pages read in parallel
            # (tests/integration/test_assumed_custom_object_order.py).
            order_undeclared=True,
            why=_local("updatedTimestamp")
            + " (SPEC `GET /customObjects/records/{schemaId}`, every schema's; `fields` by field id)",
        ),
        # -- campaign analytics: who opened, clicked, bounced, unsubscribed (v1 report lists) -------
        Resource(
            name="campaign_opens",
            endpoint="campaign_report_open_list",
            key="opens",
            updated_field="tstamp",
            created_field="tstamp",
            incremental=Incremental.LOCAL,
            parent=_CAMPAIGNS,
            report_list=ReportList("campaign_report_open_list", ("uniqueopens",)),
            why=_activity("campaign_report_open_list", ("uniqueopens",))
            + "; one row per contact and campaign (`times` opens, `tstamp` the last)",
        ),
        Resource(
            name="campaign_link_clicks",
            endpoint="campaign_report_link_list",
            key="link_clicks",
            updated_field="tstamp",
            created_field="tstamp",
            incremental=Incremental.LOCAL,
            parent=_CAMPAIGNS,
            report_list=ReportList(
                "campaign_report_link_list",
                ("uniquelinkclicks",),
                key_fields=("linkid", "subscriberid"),
                nested="info",
                paged=False,
            ),
            why=_activity("campaign_report_link_list", ("uniquelinkclicks",))
            + "; one row per link and contact who clicked it (`times` clicks)",
        ),
        Resource(
            name="campaign_bounces",
            endpoint="campaign_report_bounce_list",
            key="bounces",
            updated_field="tstamp",
            created_field="tstamp",
            incremental=Incremental.LOCAL,
            parent=_CAMPAIGNS,
            report_list=ReportList(
                "campaign_report_bounce_list", ("hardbounces", "softbounces"), key_fields=()
            ),
            why=_activity("campaign_report_bounce_list", ("hardbounces", "softbounces"))
            + " (a date: whole days); each bounce has its own `id`",
        ),
        Resource(
            name="campaign_unsubscribes",
            endpoint="campaign_report_unsubscription_list",
            key="unsubscribes",
            updated_field="tstamp",
            created_field="tstamp",
            incremental=Incremental.LOCAL,
            parent=_CAMPAIGNS,
            report_list=ReportList("campaign_report_unsubscription_list", ("unsubscribes",)),
            why=_activity("campaign_report_unsubscription_list", ("unsubscribes",)),
        ),
        Resource(
            name="sms",
            endpoint="sms",
            key="sms",
            updated_field=None,
            why="reported: the tap's `sms` stream; no update time: a full snapshot each run",
        ),
    )
}


def get_resource(name: str) -> Resource:
    """The resource called ``name``; an unknown name raises with every valid one listed."""
    resource = RESOURCES.get(str(name).strip())
    if resource is None:
        close = difflib.get_close_matches(str(name).strip().lower(), RESOURCES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"Unknown ActiveCampaign resource {name!r}.{hint} "
            f"Valid resources: {', '.join(sorted(RESOURCES))}."
        )
    return resource
