"""Moved to :mod:`airflow_provider_activecampaign.records.sources` (every resource reads records there).

Kept so DAGs and tests that import the sources from here keep working.
"""

from airflow_provider_activecampaign.records.sources import (
    DEFAULT_ENCODING,
    FORMATS,
    SQL_CHUNK_SIZE,
    BadRecord,
    ContactSource,
    CsvSource,
    JsonLinesSource,
    RecordListSource,
    RecordSource,
    Row,
    SqlSource,
    TextLines,
    Undecodable,
    check_encoding,
    infer_format,
    open_source,
)

__all__ = [
    "DEFAULT_ENCODING",
    "FORMATS",
    "SQL_CHUNK_SIZE",
    "BadRecord",
    "ContactSource",
    "CsvSource",
    "JsonLinesSource",
    "RecordListSource",
    "RecordSource",
    "Row",
    "SqlSource",
    "TextLines",
    "Undecodable",
    "check_encoding",
    "infer_format",
    "open_source",
]
