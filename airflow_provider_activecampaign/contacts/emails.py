"""Moved to :mod:`airflow_provider_activecampaign.records.emails` (every resource checks emails there).

Kept so code that imports the email check from here keeps working.
"""

from airflow_provider_activecampaign.records.emails import (
    MAX_EMAIL_LENGTH,
    MAX_LOCAL_PART_LENGTH,
    InvalidEmailError,
    check_email,
    email_key,
    is_valid_email,
)

__all__ = [
    "MAX_EMAIL_LENGTH",
    "MAX_LOCAL_PART_LENGTH",
    "InvalidEmailError",
    "check_email",
    "email_key",
    "is_valid_email",
]
