"""Where records come from (contacts, deals, accounts, events): a list of dicts, a CSV or JSON Lines
file, or a SQL query. All streamed.

Every source yields ``(row, record)`` pairs in order, where ``row`` is the record's 1-based
position (CSV: data row, header excluded; JSON Lines: line number; list: index + 1; SQL: result
row) and ``record`` is a dict, or a :class:`BadRecord` naming what is wrong with that row (the
sync rejects it and carries on). ``columns`` is known before the first row is handed out, so a
run can check every column against ActiveCampaign before it writes anything.

Memory stays flat whatever the size: files are read line by line through ``ObjectStoragePath``
(any fsspec URI, ``.gz`` decompressed on the fly), SQL results in chunks from a server-side
cursor where the driver has one.

Files are decoded one line at a time (``encoding``, default UTF-8 with an optional BOM), so a
byte that is not valid in the encoding spoils only its own row: that row becomes a
:class:`BadRecord` naming the file, the row and the byte offset, and the others are read as usual.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import json
import logging
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

log = logging.getLogger(__name__)

#: Rows fetched per round trip from a SQL cursor.
SQL_CHUNK_SIZE = 2_000

FORMATS = ("csv", "jsonl")
#: What files are decoded with unless ``encoding`` says otherwise; a UTF-8 BOM is dropped.
DEFAULT_ENCODING = "utf-8"
_SUFFIX_FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


@dataclass(frozen=True)
class BadRecord:
    """A row that could not be read as a record; the reason says what to fix."""

    reason: str


Row = tuple[int, "dict[str, Any] | BadRecord"]


class RecordSource:
    """Base of the sources: a context manager with ``columns``, ``total`` and ``__iter__``."""

    #: Every column name the source can hold, known before iteration.
    columns: list[str]
    #: Number of rows when known up front (progress and ETA), else ``None``.
    total: int | None = None
    #: What the log calls this source.
    description: str = "contacts"

    def __enter__(self) -> RecordSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        return None

    def __iter__(self) -> Iterator[Row]:
        raise NotImplementedError

    def describe_empty(self) -> str:
        """What to say when the source turned out to hold no record: a sync of nothing is suspicious."""
        return f"The {self.description} held no records"


#: The name the sources had when only the contacts sync read them; DAGs and tests still use it.
ContactSource = RecordSource


# --------------------------------------------------------------------------------------------------
# In memory
# --------------------------------------------------------------------------------------------------


class RecordListSource(RecordSource):
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


def check_encoding(encoding: str | None) -> str:
    """``encoding`` (default UTF-8) if Python has a text codec of that name, else a ``ValueError``.

    Checked before a file is opened, so a typo fails the run before anything is written.
    """
    name = str(encoding or DEFAULT_ENCODING).strip()
    try:
        codec = codecs.lookup(name)
    except LookupError:
        codec = None
    if codec is None or not getattr(codec, "_is_text_encoding", True):
        raise ValueError(
            f"Unknown encoding {name!r}: give the name of a Python text codec, e.g. 'utf-8', "
            "'latin-1' or 'cp1252'."
        )
    return name


@dataclass(frozen=True)
class Undecodable:
    """Where a line of a file stopped being valid in its encoding."""

    #: Byte offset of the first bad byte, from the start of the file (decompressed for ``.gz``);
    #: ``None`` for the encodings whose offsets are not tracked (UTF-16, UTF-32).
    offset: int | None
    #: The bad bytes (at most 4 are shown).
    data: bytes
    encoding: str
    compressed: bool = False

    def reason(self, where: str) -> str:
        shown = " ".join(f"0x{byte:02x}" for byte in self.data[:4]) or "?"
        what = f"byte {shown} is" if len(self.data) <= 1 else f"bytes {shown} are"
        at = ""
        if self.offset is not None:
            at = f" at byte offset {self.offset:,}"
            if self.compressed:
                at += " of the decompressed data"
        return (
            f"{where} cannot be read as {self.encoding}: {what} not valid {self.encoding}{at}. If the "
            'file is in another encoding, pass it as encoding, e.g. encoding="latin-1" (or '
            'encoding="cp1252" for Windows exports); the other rows are read as usual.'
        )


#: A CR that ends a line on its own (old Mac line ends), as ``newline=""`` text mode splits them.
_LONE_CR = re.compile(rb"(?<=\r)(?!\n)")
#: Characters every ASCII-compatible encoding writes as their ASCII bytes: their files can be
#: split into lines on bytes before decoding.
_ASCII_PROBE = '\r\n,;\t"{}[]:az09'


class TextLines:
    """A file's lines, each decoded on its own, with what (if anything) could not be decoded.

    Yields ``(text, problem)``: ``problem`` is ``None`` or the :class:`Undecodable` of the line,
    whose ``text`` then has U+FFFD in place of the bad bytes (enough to keep a CSV's columns in
    step). Lines end where ``newline=""`` text mode ends them (LF, CRLF or a lone CR) and keep
    their line end, as the ``csv`` module wants. Decoding line by line is what keeps one bad byte
    from failing the whole file; reading line by line is what keeps memory flat.

    Encodings that do not write ASCII as ASCII bytes (UTF-16, UTF-32) cannot be split on bytes;
    they are decoded as a stream, bad bytes still spoil only their line, but without an offset.
    """

    def __init__(self, path: Any, encoding: str | None = None) -> None:
        self.path = path
        self.encoding = check_encoding(encoding)
        codec = codecs.lookup(self.encoding)
        #: UTF-8 and UTF-8-SIG both drop a BOM at the start, so an Excel export reads as expected.
        self._utf8 = codec.name in ("utf-8", "utf-8-sig")
        self._codec = "utf-8" if self._utf8 else codec.name
        try:
            self._by_bytes = _ASCII_PROBE.encode(self._codec) == _ASCII_PROBE.encode("ascii")
        except UnicodeError:
            self._by_bytes = False
        self.compressed = str(path).lower().endswith(".gz")
        self._raw: Any = None
        self._binary: Any = None

    def __enter__(self) -> TextLines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self) -> Any:
        self.close()
        self._raw = self.path.open("rb")
        self._binary = gzip.GzipFile(fileobj=self._raw, mode="rb") if self.compressed else self._raw
        return self._binary

    def close(self) -> None:
        for stream in (self._binary, self._raw):
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.close()
        self._binary = self._raw = None

    def __iter__(self) -> Iterator[tuple[str, Undecodable | None]]:
        binary = self._open()
        if not self._by_bytes:
            yield from self._stream_lines(binary)
            return
        codec = self._codec
        offset = 0
        first = True
        for raw_line in binary:
            line: bytes = raw_line
            if first:
                first = False
                if self._utf8 and line.startswith(codecs.BOM_UTF8):
                    line = line[len(codecs.BOM_UTF8) :]
                    offset += len(codecs.BOM_UTF8)
            parts = [part for part in _LONE_CR.split(line) if part] if b"\r" in line else [line]
            for part in parts:
                try:
                    yield part.decode(codec), None
                except UnicodeDecodeError as error:
                    problem = Undecodable(
                        offset + error.start, part[error.start : error.end], self.encoding, self.compressed
                    )
                    yield part.decode(codec, errors="replace"), problem
                offset += len(part)

    def _stream_lines(self, binary: Any) -> Iterator[tuple[str, Undecodable | None]]:
        text = io.TextIOWrapper(binary, encoding=self.encoding, errors=_MARK_BAD_BYTES, newline="")
        for line in text:
            bad = [char for char in line if _MARK_LOW <= char <= _MARK_HIGH]
            if not bad:
                yield line, None
                continue
            data = bytes(ord(char) - ord(_MARK_LOW) for char in bad)
            cleaned = "".join("\ufffd" if _MARK_LOW <= char <= _MARK_HIGH else char for char in line)
            yield cleaned, Undecodable(None, data, self.encoding, self.compressed)


#: The error handler of :meth:`TextLines._stream_lines`: each bad byte becomes one lone surrogate
#: (U+DC00 + the byte), which no valid input decodes to, so finding one in a line is finding a bad
#: byte of that line. (``surrogateescape`` does the same but gives up on bytes below 0x80.)
_MARK_BAD_BYTES = "activecampaign.mark_bad_bytes"
_MARK_LOW, _MARK_HIGH = "\udc00", "\udcff"


def _mark_bad_bytes(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    return "".join(chr(ord(_MARK_LOW) + byte) for byte in bad), error.end


codecs.register_error(_MARK_BAD_BYTES, _mark_bad_bytes)


class JsonLinesSource(RecordSource):
    """One JSON object per line. Read twice: once for the columns and count, once to send.

    The first pass is what lets a run refuse an unknown column before writing anything, even
    when the column first appears on the last line; it holds only the set of keys in memory.
    """

    def __init__(self, path: Any, *, encoding: str | None = None) -> None:
        self.path = _object_path(path)
        self.description = f"JSON Lines file {self.path}"
        self._lines = TextLines(self.path, encoding)
        columns: dict[str, None] = {}
        total = 0
        with self._lines as lines:
            for line, problem in lines:
                if not line.strip():
                    continue
                total += 1
                if problem is not None:
                    continue  # reported as a bad record on the second pass
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

    def __iter__(self) -> Iterator[Row]:
        with self._lines as lines:
            for number, (line, problem) in enumerate(lines, start=1):
                if not line.strip():
                    continue
                if problem is not None:
                    yield number, BadRecord(problem.reason(f"line {number} of {self.description}"))
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
        self._lines.close()


class CsvSource(RecordSource):
    """A CSV file with a header row. Empty cells mean "no value" (the field is left untouched)."""

    def __init__(self, path: Any, *, delimiter: str | None = None, encoding: str | None = None) -> None:
        self.path = _object_path(path)
        self.description = f"CSV file {self.path}"
        if delimiter is None:
            delimiter = "\t" if str(self.path).lower().removesuffix(".gz").endswith(".tsv") else ","
        self.delimiter = delimiter
        self._lines = TextLines(self.path, encoding)
        #: The first decoding problem in the lines the reader has taken since the last record.
        self._problem: Undecodable | None = None
        self._reader = csv.reader(self._texts(), delimiter=delimiter)
        try:
            header = next(self._reader)
        except StopIteration:
            header = []
        problem, self._problem = self._problem, None
        if problem is not None:
            self.close()
            raise ValueError(problem.reason(f"The header row of {self.description}"))
        self.columns = [name.strip() for name in header]
        if len(set(self.columns)) != len(self.columns):
            duplicates = sorted({c for c in self.columns if self.columns.count(c) > 1})
            self.close()
            raise ValueError(f"The CSV header of {self.path} repeats the columns {duplicates}.")

    def _texts(self) -> Iterator[str]:
        """The decoded lines for ``csv.reader``; a bad byte is noted for the record being read.

        ``csv.reader`` takes exactly the lines of one record (a quoted value may span several)
        before handing it out, so a problem noted while it reads belongs to that record.
        """
        for text, problem in self._lines:
            if problem is not None and self._problem is None:
                self._problem = problem
            yield text

    def __iter__(self) -> Iterator[Row]:
        width = len(self.columns)
        for number, values in enumerate(self._reader, start=1):
            problem, self._problem = self._problem, None
            if problem is not None:
                yield number, BadRecord(problem.reason(f"row {number} of {self.description}"))
                continue
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

    def describe_empty(self) -> str:
        if not self.columns:
            return f"The {self.description} is empty (not even a header row)"
        return f"The {self.description} has a header but no rows"

    def close(self) -> None:
        self._lines.close()


# --------------------------------------------------------------------------------------------------
# SQL
# --------------------------------------------------------------------------------------------------


class SqlSource(RecordSource):
    """Rows of a query on any DB-API connection Airflow's common-sql provider can open.

    The hook comes from the connection (``Connection.get_hook()``), so every database with a
    common-sql based provider works. Rows are fetched ``SQL_CHUNK_SIZE`` at a time; PostgreSQL
    (psycopg2/psycopg) uses a named, server-side cursor and MySQL an unbuffered cursor, so the
    result set is never held whole in the worker's memory.
    """

    def __init__(
        self, conn_id: str, sql: str, parameters: Any = None, chunk_size: int = SQL_CHUNK_SIZE
    ) -> None:
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowOptionalProviderFeatureException

        try:
            from airflow.providers.common.sql.hooks.sql import DbApiHook
        except ImportError as error:
            # Optional part, as official providers do it: only the SQL source needs common-sql.
            raise AirflowOptionalProviderFeatureException(
                "The contact sync's SQL source (sql= with sql_conn_id=) needs Airflow's common-sql "
                "provider, which is not installed: pip install "
                "'airflow-provider-activecampaign[sql]' (or apache-airflow-providers-common-sql). "
                "Sources from files (source_path=) and records= work without it."
            ) from error

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
    encoding: str | None = None,
    sql: str | None = None,
    sql_conn_id: str | None = None,
    sql_parameters: Any = None,
) -> RecordSource:
    """The one source a sync reads, from whichever of its parameters is set.

    ``encoding`` (default UTF-8, a BOM dropped) is what files are decoded with.
    """
    given = [
        name for name, value in (("contacts", contacts), ("source_path", source_path), ("sql", sql)) if value
    ]
    if len(given) > 1:
        raise ValueError(f"Give exactly one of contacts, source_path or sql; got {', '.join(given)}.")
    if source_path:
        fmt = infer_format(source_path, source_format)
        if fmt == "csv":
            return CsvSource(source_path, delimiter=csv_delimiter, encoding=encoding)
        return JsonLinesSource(source_path, encoding=encoding)
    if sql:
        if not sql_conn_id:
            raise ValueError("sql needs sql_conn_id: the Airflow connection of the database to query.")
        return SqlSource(sql_conn_id, sql, sql_parameters)
    return RecordListSource(contacts or [])
