"""Moved to :mod:`airflow_provider_activecampaign.records.refs` (automations and contacts both read it).

Kept so code that imports contact references from here keeps working.
"""

from airflow_provider_activecampaign.records.emails import check_email
from airflow_provider_activecampaign.records.refs import (
    ContactRef,
    ContactResolver,
    ParsedContacts,
    Resolution,
    failure_reason,
    parse_contacts,
)

__all__ = [
    "ContactRef",
    "ContactResolver",
    "ParsedContacts",
    "Resolution",
    "check_email",
    "failure_reason",
    "parse_contacts",
]
