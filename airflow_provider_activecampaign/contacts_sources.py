"""Where contacts come from: a list of dicts, a CSV or JSON Lines file, or a SQL query. All streamed.

Every source yields ``(row, record)`` pairs in order, where ``row`` is the record's 1-based
position (CSV: data row, header excluded; JSON Lines: line number; list: index + 1; SQL: result
row) and ``record`` is a dict, or a :class:`BadRecord` naming what is wrong with that row (the
sync rejects it and carries on). ``columns`` is known before the first row is handed out, so a
run can check every column against ActiveCampaign before it writes anything.

Memory stays flat whatever the size: files are read line by line through ``ObjectStoragePath``
(any fsspec URI, ``.gz`` decompressed on the fly), SQL results in chunks from a server-side
cursor where the driver has one.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Any

log = logging.getLogger(__name__)

#: Rows fetched per round trip from a SQL cursor.
SQL_CHUNK_SIZE = 2_000

FORMATS = ("csv", "jsonl")
_SUFFIX_FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


@dataclass(frozen=True)
class BadRecord:
    """A row that could not be read as a record; the reason says what to fix."""

    reason: str


Row = tuple[int, "dict[str, Any] | BadRecord"]


class ContactSource:
    """Base of the sources: a context manager with ``columns``, ``total`` and ``__iter__``."""

    #: Every column name the source can hold, known before iteration.
    columns: list[str]
    #: Number of rows when known up front (progress and ETA), else ``None``.
    total: int | None = None
    #: What the log calls this source.
    description: str = "contacts"

    def __enter__(self) -> ContactSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        return None

    def __iter__(self) -> Iterator[Row]:
        raise NotImplementedError


# --------------------------------------------------------------------------------------------------
# In memory
# --------------------------------------------------------------------------------------------------


class RecordListSource(ContactSource):
    """Records already in memory, e.g. an upstream task's ``.output``."""

    def __init__(self, records: Any) -> None:
        if isinstance(records, str | bytes):
            try:
                records = json.loads(records)
            except ValueError as error:
                raise ValueError(f"contacts is a string that is not JSON: {error}") from None
        if isinstance(records, Mapping):
            records = [records]
        if not isinstance(records, Sequence):
            records = list(records)
        self.records = records
        self.total = len(records)
        self.description = f"{self.total:,} contacts passed in"
        columns: dict[str, None] = {}
        for record in records:
            if isinstance(record, Mapping):
                columns.update(dict.fromkeys(str(key) for key in record))
        self.columns = list(columns)

    def __iter__(self) -> Iterator[Row]:
        for index, record in enumerate(self.records, start=1):
            if isinstance(record, Mapping):
                yield index, {str(key): value for key, value in record.items()}
            else:
                yield index, BadRecord(f"expected a mapping of column to value, got {type(record).__name__}")


# --------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------


def infer_format(path: Any, source_format: str | None) -> str:
    """``csv`` or ``jsonl`` from ``source_format`` or the file name (``.gz`` ignored)."""
    if source_format:
        fmt = source_format.lower().replace("json_lines", "jsonl").replace("ndjson", "jsonl")
        if fmt not in FORMATS:
            raise ValueError(f"source_format must be one of {FORMATS}, got {source_format!r}")
        return fmt
    name = str(getattr(path, "name", path)).lower()
    if name.endswith(".gz"):
        name = name[:-3]
    for suffix, fmt in _SUFFIX_FORMATS.items():
        if name.endswith(suffix):
            return fmt
    raise ValueError(
        f"Cannot tell the format of {str(path)!r} from its name; pass source_format='csv' or 'jsonl'."
    )


def _object_path(path: Any) -> Any:
    from airflow.sdk import ObjectStoragePath

    return path if isinstance(path, ObjectStoragePath) else ObjectStoragePath(str(path))


def _open_text(path: Any) -> IO[str]:
    """A text stream over the file (UTF-8, a BOM dropped, ``.gz`` decompressed)."""
    raw = path.open("rb")
    binary: Any = gzip.GzipFile(fileobj=raw, mode="rb") if str(path).lower().endswith(".gz") else raw
    return io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")


class JsonLinesSource(ContactSource):
    """One JSON object per line. Read twice: once for the columns and count, once to send.

    The first pass is what lets a run refuse an unknown column before writing anything, even
    when the column first appears on the last line; it holds only the set of keys in memory.
    """

    def __init__(self, path: Any) -> None:
        self.path = _object_path(path)
        self.description = f"JSON Lines file {self.path}"
        columns: dict[str, None] = {}
        total = 0
        with _open_text(self.path) as stream:
            for line in stream:
                if not line.strip():
                    continue
                total += 1
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # reported as a bad record on the second pass
                if isinstance(record, dict):
                    for key in record:
                        if key not in columns:
                            columns[key] = None
        self.columns = list(columns)
        self.total = total
        self._stream: IO[str] | None = None

    def __iter__(self) -> Iterator[Row]:
        self._stream = _open_text(self.path)
        with self._stream as stream:
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as error:
                    yield number, BadRecord(f"line {number} is not valid JSON: {error}")
                    continue
                if isinstance(record, dict):
                    yield number, record
                else:
                    yield number, BadRecord(f"line {number} is a JSON {type(record).__name__}, not an object")

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()


class CsvSource(ContactSource):
    """A CSV file with a header row. Empty cells mean "no value" (the field is left untouched)."""

    def __init__(self, path: Any, *, delimiter: str | None = None) -> None:
        self.path = _object_path(path)
        self.description = f"CSV file {self.path}"
        if delimiter is None:
            delimiter = "\t" if str(self.path).lower().removesuffix(".gz").endswith(".tsv") else ","
        self.delimiter = delimiter
        self._stream: IO[str] = _open_text(self.path)
        self._reader = csv.reader(self._stream, delimiter=delimiter)
        try:
            header = next(self._reader)
        except StopIteration:
            header = []
        self.columns = [name.strip() for name in header]
        if len(set(self.columns)) != len(self.columns):
            duplicates = sorted({c for c in self.columns if self.columns.count(c) > 1})
            self.close()
            raise ValueError(f"The CSV header of {self.path} repeats the columns {duplicates}.")

    def __iter__(self) -> Iterator[Row]:
        width = len(self.columns)
        for number, values in enumerate(self._reader, start=1):
            if not values or (len(values) == 1 and not values[0].strip() and width > 1):
                continue
            if len(values) != width:
                yield number, BadRecord(f"row {number} has {len(values)} values but the header has {width}")
                continue
            yield (
                number,
                {
                    column: (value if value != "" else None)
                    for column, value in zip(self.columns, values, strict=True)
                },
            )

    def close(self) -> None:
        self._stream.close()


# --------------------------------------------------------------------------------------------------
# SQL
# --------------------------------------------------------------------------------------------------


class SqlSource(ContactSource):
    """Rows of a query on any DB-API connection Airflow's common-sql provider can open.

    The hook comes from the connection (``Connection.get_hook()``), so every database with a
    common-sql based provider works. Rows are fetched ``SQL_CHUNK_SIZE`` at a time; PostgreSQL
    (psycopg2/psycopg) uses a named, server-side cursor and MySQL an unbuffered cursor, so the
    result set is never held whole in the worker's memory.
    """

    def __init__(
        self, conn_id: str, sql: str, parameters: Any = None, chunk_size: int = SQL_CHUNK_SIZE
    ) -> None:
        from airflow.providers.common.sql.hooks.sql import DbApiHook
        from airflow.sdk import BaseHook

        hook = BaseHook.get_connection(conn_id).get_hook()
        if not isinstance(hook, DbApiHook):
            raise TypeError(
                f"The connection {conn_id!r} gives a {type(hook).__name__}, not a DB-API (common-sql) hook."
            )
        self.description = f"query on {conn_id!r}"
        self.chunk_size = chunk_size
        self._conn = hook.get_conn()
        self._cursor = _streaming_cursor(self._conn)
        try:
            if parameters is None:
                self._cursor.execute(sql)
            else:
                self._cursor.execute(sql, parameters)
            description = self._cursor.description or []
        except Exception:
            self.close()
            raise
        self.columns = [str(column[0]) for column in description]

    def __iter__(self) -> Iterator[Row]:
        number = 0
        columns = self.columns
        while True:
            rows = self._cursor.fetchmany(self.chunk_size)
            if not rows:
                return
            for values in rows:
                number += 1
                yield number, dict(zip(columns, values, strict=False))

    def close(self) -> None:
        for closer in (getattr(self, "_cursor", None), getattr(self, "_conn", None)):
            if closer is None:
                continue
            try:
                closer.close()
            except Exception:  # pragma: no cover - best effort clean-up
                log.debug("Closing %s failed", closer, exc_info=True)


def _streaming_cursor(conn: Any) -> Any:
    """A cursor that streams results where the driver can; a plain one otherwise."""
    module = type(conn).__module__.split(".", 1)[0]
    if module in {"psycopg2", "psycopg"}:
        # A named cursor is server-side: rows arrive ``itersize``/``fetchmany`` at a time.
        cursor = conn.cursor(name=f"ac_sync_{uuid.uuid4().hex[:12]}")
        cursor.itersize = SQL_CHUNK_SIZE
        return cursor
    if module == "MySQLdb":
        import MySQLdb.cursors

        return conn.cursor(MySQLdb.cursors.SSCursor)
    if module == "pymysql":
        import pymysql.cursors

        return conn.cursor(pymysql.cursors.SSCursor)
    cursor = conn.cursor()
    with contextlib.suppress(AttributeError, TypeError):  # read-only on some drivers
        cursor.arraysize = SQL_CHUNK_SIZE
    return cursor


def open_source(
    *,
    contacts: Any = None,
    source_path: Any = None,
    source_format: str | None = None,
    csv_delimiter: str | None = None,
    sql: str | None = None,
    sql_conn_id: str | None = None,
    sql_parameters: Any = None,
) -> ContactSource:
    """The one source a sync reads, from whichever of its parameters is set."""
    given = [
        name for name, value in (("contacts", contacts), ("source_path", source_path), ("sql", sql)) if value
    ]
    if len(given) > 1:
        raise ValueError(f"Give exactly one of contacts, source_path or sql; got {', '.join(given)}.")
    if source_path:
        fmt = infer_format(source_path, source_format)
        return (
            CsvSource(source_path, delimiter=csv_delimiter) if fmt == "csv" else JsonLinesSource(source_path)
        )
    if sql:
        if not sql_conn_id:
            raise ValueError("sql needs sql_conn_id: the Airflow connection of the database to query.")
        return SqlSource(sql_conn_id, sql, sql_parameters)
    return RecordListSource(contacts or [])
