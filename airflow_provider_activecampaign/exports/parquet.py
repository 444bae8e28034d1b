"""Parquet output of an export, typed column by column (optional: the ``[parquet]`` extra, pyarrow).

Warehouses load Parquet without a schema guess, so the types are decided here, once, from what the
reference says the API sends: ids, amounts and most values as strings (ActiveCampaign sends them
as strings), the record's own update and creation times as UTC timestamps, and a column as
boolean, integer or float only where every value the export read is one (JSON ``true``, ``3``,
``1.5``). Nested values (custom fields, a campaign's report) are spread into ``fields.<name>``
columns as in CSV. Rows are written in row groups from the staged file, so memory stays flat.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from airflow.sdk.exceptions import AirflowOptionalProviderFeatureException

from airflow_provider_activecampaign.exports.writer import flatten, read_staged
from airflow_provider_activecampaign.records.dates import parse_ac_datetime

#: Rows per Parquet row group (and per batch held in memory while writing).
ROW_GROUP = 10_000


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as error:
        raise AirflowOptionalProviderFeatureException(
            "format='parquet' needs pyarrow, which is not installed: "
            "pip install 'airflow-provider-activecampaign[parquet]'"
        ) from error
    return pa, pq


def available() -> bool:
    """Whether pyarrow is installed (the operator checks at parse time)."""
    try:
        _pyarrow()
    except AirflowOptionalProviderFeatureException:
        return False
    return True


def _timestamp(value: Any) -> datetime | None:
    """A time column's value in UTC, read by the one date rule (``records/dates.py``); naive is UTC.

    ``0000-00-00`` is no date (null); a value in no shape ActiveCampaign writes raises
    ``UnparseableDateError`` (a ``ValueError``), which makes its column a string column.
    """
    moment = parse_ac_datetime(value, default_tz=UTC)
    return moment.astimezone(UTC) if moment is not None else None


def column_kinds(staged: Path, columns: Sequence[str], time_columns: Sequence[str]) -> dict[str, str]:
    """Each column's type: ``timestamp``, ``bool``, ``int``, ``float`` or ``string`` (one pass)."""
    seen: dict[str, set[str]] = {column: set() for column in columns}
    for record in read_staged(staged):
        for column, value in flatten(record).items():
            if value is None or column not in seen:
                continue
            kinds = seen[column]
            if column in time_columns:
                try:
                    _timestamp(value)
                    kinds.add("timestamp")
                except ValueError:
                    kinds.add("string")
            elif isinstance(value, bool):
                kinds.add("bool")
            elif isinstance(value, int):
                kinds.add("int")
            elif isinstance(value, float):
                kinds.add("float")
            else:
                kinds.add("string")
    result: dict[str, str] = {}
    for column, kinds in seen.items():
        if kinds in ({"timestamp"}, {"bool"}, {"int"}, {"float"}):
            result[column] = next(iter(kinds))
        elif kinds == {"int", "float"}:
            result[column] = "float"
        else:
            result[column] = "string"
    return result


def write_parquet(
    staged: Path, handle: IO[bytes], columns: Sequence[str], time_columns: Sequence[str]
) -> dict[str, str]:
    """Write the staged records as Parquet to ``handle``; returns the column types used."""
    pa, pq = _pyarrow()
    kinds = column_kinds(staged, columns, time_columns)
    types = {
        "timestamp": pa.timestamp("us", tz="UTC"),
        "bool": pa.bool_(),
        "int": pa.int64(),
        "float": pa.float64(),
        "string": pa.string(),
    }
    schema = pa.schema([(column, types[kinds[column]]) for column in columns])
    convert = {
        "timestamp": _timestamp,
        "bool": lambda v: v,
        "int": lambda v: v,
        "float": lambda v: None if v is None else float(v),
        "string": lambda v: None if v is None else str(v),
    }
    with pq.ParquetWriter(handle, schema, compression="zstd") as writer:
        for batch in _batches(staged):
            rows = [flatten(record) for record in batch]
            arrays = [
                pa.array(
                    [convert[kinds[column]](row.get(column)) for row in rows], type=schema.field(column).type
                )
                for column in columns
            ]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema), row_group_size=ROW_GROUP)
    return kinds


def _batches(staged: Path) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for record in read_staged(staged):
        batch.append(record)
        if len(batch) >= ROW_GROUP:
            yield batch
            batch = []
    if batch:
        yield batch
