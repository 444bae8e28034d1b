"""Unit tests of the contact sources: lists, CSV, JSON Lines (plain and gzip) and SQL on SQLite."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import pytest

from airflow_provider_activecampaign.contacts.sources import (
    BadRecord,
    CsvSource,
    JsonLinesSource,
    RecordListSource,
    SqlSource,
    check_encoding,
    infer_format,
    open_source,
)


def test_record_list_collects_columns_and_flags_non_mappings() -> None:
    source = RecordListSource([{"email": "a@example.com"}, "oops", {"email": "b@example.com", "Plan": "Pro"}])
    assert source.columns == ["email", "Plan"]
    assert source.total == 3
    rows = list(source)
    assert rows[0] == (1, {"email": "a@example.com"})
    assert isinstance(rows[1][1], BadRecord)
    assert rows[1][0] == 2
    assert rows[2][0] == 3


def test_record_list_accepts_a_json_string() -> None:
    source = RecordListSource('[{"email": "a@example.com"}]')
    assert list(source) == [(1, {"email": "a@example.com"})]


def test_json_lines_reports_every_column_before_the_first_row(tmp_path: Path) -> None:
    path = tmp_path / "contacts.jsonl"
    path.write_text(
        '{"email": "a@example.com"}\n\nnot json\n[1, 2]\n{"email": "b@example.com", "Late column": 1}\n',
        encoding="utf-8",
    )
    with JsonLinesSource(str(path)) as source:
        assert source.columns == ["email", "Late column"]
        assert source.total == 4
        rows = list(source)
    assert [row for row, _ in rows] == [1, 3, 4, 5]
    assert rows[0][1] == {"email": "a@example.com"}
    assert isinstance(rows[1][1], BadRecord)
    assert "line 3 is not valid JSON" in rows[1][1].reason
    assert isinstance(rows[2][1], BadRecord)
    assert "not an object" in rows[2][1].reason


def test_gzipped_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "contacts.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for i in range(3):
            handle.write(json.dumps({"email": f"u{i}@example.com"}) + "\n")
    with open_source(source_path=str(path)) as source:
        assert [record for _, record in source] == [{"email": f"u{i}@example.com"} for i in range(3)]


def test_csv_empty_cells_mean_no_value_and_short_rows_are_bad(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(
        '\ufeffemail,first_name,Company\na@example.com,,"ACME, Inc."\nb@example.com,Bob\n', encoding="utf-8"
    )
    with CsvSource(str(path)) as source:
        assert source.columns == ["email", "first_name", "Company"]
        rows = list(source)
    assert rows[0] == (1, {"email": "a@example.com", "first_name": None, "Company": "ACME, Inc."})
    assert isinstance(rows[1][1], BadRecord)
    assert "has 2 values but the header has 3" in rows[1][1].reason


def test_csv_with_a_repeated_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text("email,Plan,Plan\n", encoding="utf-8")
    with pytest.raises(ValueError, match="repeats the columns \\['Plan'\\]"):
        CsvSource(str(path))


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.csv", "csv"),
        ("a.CSV.gz", "csv"),
        ("a.tsv", "csv"),
        ("a.jsonl", "jsonl"),
        ("s3://b/a.ndjson", "jsonl"),
    ],
)
def test_format_from_the_name(name: str, fmt: str) -> None:
    assert infer_format(name, None) == fmt


def test_format_must_be_given_when_the_name_does_not_say() -> None:
    with pytest.raises(ValueError, match="source_format"):
        infer_format("contacts.dat", None)


def test_one_source_only() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        open_source(contacts=[{"email": "a@example.com"}], sql="select 1", sql_conn_id="x")


def test_sql_source_reads_sqlite_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = tmp_path / "crm.db"
    with sqlite3.connect(database) as db:
        db.execute("create table customers (email text, first_name text, plan text)")
        db.executemany(
            "insert into customers values (?, ?, ?)",
            [(f"u{i}@example.com", f"U{i}", "Pro") for i in range(25)],
        )
    monkeypatch.setenv("AIRFLOW_CONN_CRM_SQLITE", json.dumps({"conn_type": "sqlite", "host": str(database)}))
    source = SqlSource(
        "crm_sqlite", "select email, first_name, plan as Plan from customers order by email", chunk_size=10
    )
    fetched: list[int] = []
    cursor = source._cursor

    class CountingCursor:
        def fetchmany(self, size: int) -> list[tuple[str, ...]]:
            rows = cursor.fetchmany(size)
            fetched.append(len(rows))
            return rows

        def close(self) -> None:
            cursor.close()

    source._cursor = CountingCursor()
    with source:
        assert source.columns == ["email", "first_name", "Plan"]
        rows = list(source)
    assert fetched == [10, 10, 5, 0]
    assert len(rows) == 25
    assert rows[0] == (1, {"email": "u0@example.com", "first_name": "U0", "Plan": "Pro"})
    assert rows[-1][0] == 25


# --------------------------------------------------------------------------------------------------
# Encodings
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_a_csv_row_with_an_undecodable_byte_is_a_bad_record_naming_file_row_and_offset(
    tmp_path: Path, gz: bool
) -> None:
    data = b'email,note\r\na@example.com,"two\nlines"\r\nb@example.com,caf\xe9\r\nc@example.com,ok\r\n'
    path = tmp_path / ("contacts.csv.gz" if gz else "contacts.csv")
    path.write_bytes(gzip.compress(data) if gz else data)
    with open_source(source_path=str(path)) as source:
        rows = list(source)
    assert rows[0] == (1, {"email": "a@example.com", "note": "two\nlines"})
    assert rows[2] == (3, {"email": "c@example.com", "note": "ok"})
    number, bad = rows[1]
    assert number == 2
    assert isinstance(bad, BadRecord)
    assert f"row 2 of CSV file {path}" in bad.reason
    offset = data.index(b"caf") + 3
    assert f"byte 0xe9 is not valid utf-8 at byte offset {offset}" in bad.reason
    assert ("of the decompressed data" in bad.reason) is gz
    assert 'encoding="latin-1"' in bad.reason


def test_a_bad_byte_inside_a_quoted_multi_line_value_rejects_that_record_only(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(b'email,note\na@example.com,"x\n\xff y"\nb@example.com,fine\n')
    with CsvSource(str(path)) as source:
        rows = list(source)
    assert isinstance(rows[0][1], BadRecord)
    assert rows[1] == (2, {"email": "b@example.com", "note": "fine"})


def test_an_undecodable_json_line_is_a_bad_record_and_the_first_pass_survives_it(tmp_path: Path) -> None:
    data = (
        b'{"email": "a@example.com"}\n{"email": "b@example.com", "x": "\xe9"}\n{"email": "c@example.com"}\n'
    )
    path = tmp_path / "contacts.jsonl"
    path.write_bytes(data)
    with JsonLinesSource(str(path)) as source:
        assert source.total == 3
        assert source.columns == ["email"]
        rows = list(source)
    assert [row for row, _ in rows] == [1, 2, 3]
    bad = rows[1][1]
    assert isinstance(bad, BadRecord)
    assert f"line 2 of JSON Lines file {path}" in bad.reason
    offset = data.index(b"\xe9")
    assert f"byte 0xe9 is not valid utf-8 at byte offset {offset}" in bad.reason


def test_encoding_decodes_the_file_and_a_utf8_bom_is_dropped_only_for_utf8(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(b"email,first_name\r\njose@example.com,Jos\xe9\r\n")
    with CsvSource(str(path), encoding="latin-1") as source:
        assert list(source) == [(1, {"email": "jose@example.com", "first_name": "José"})]
    path.write_bytes(b"\xef\xbb\xbfemail\nann@example.com\n")
    for encoding in ("utf-8", "UTF8", "utf-8-sig"):
        with CsvSource(str(path), encoding=encoding) as source:
            assert source.columns == ["email"]


def test_old_mac_line_ends_still_split_rows(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(b"email,first_name\ra@example.com,Ann\rb@example.com,Bob\r")
    with CsvSource(str(path)) as source:
        assert [record for _, record in source] == [
            {"email": "a@example.com", "first_name": "Ann"},
            {"email": "b@example.com", "first_name": "Bob"},
        ]


def test_utf16_files_are_read_and_a_bad_code_unit_rejects_its_row(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    good = "email,first_name\nann@example.com,Zoë\n".encode("utf-16")
    path.write_bytes(
        good + "x@example.com,".encode("utf-16-le") + b"\x00\xd8" + "\nb@example.com,B\n".encode("utf-16-le")
    )
    with CsvSource(str(path), encoding="utf-16") as source:
        rows = list(source)
    assert rows[0] == (1, {"email": "ann@example.com", "first_name": "Zoë"})
    assert isinstance(rows[1][1], BadRecord)
    assert "row 2 of CSV file" in rows[1][1].reason
    assert rows[2] == (3, {"email": "b@example.com", "first_name": "B"})


def test_an_undecodable_header_fails_naming_the_file_and_the_encoding_hint(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(b"email,Pr\xe9nom\nann@example.com,Ann\n")
    with pytest.raises(
        ValueError, match=r"The header row of CSV file .* byte offset 8\. .*encoding=\"latin-1\""
    ):
        CsvSource(str(path))


def test_an_unknown_or_binary_encoding_is_refused() -> None:
    for name in ("latin-9x", "base64"):
        with pytest.raises(ValueError, match=f"Unknown encoding {name!r}"):
            check_encoding(name)
    assert check_encoding(None) == "utf-8"


def test_reading_stays_line_by_line(tmp_path: Path) -> None:
    """Decoding per line must not read the file whole: 50,000 rows, at most one line in memory."""
    import tracemalloc

    path = tmp_path / "contacts.csv.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(b"email,note\n")
        for i in range(50_000):
            handle.write(b"u%d@example.com,%s\n" % (i, b"x" * 100))
    tracemalloc.start()
    with CsvSource(str(path)) as source:
        count = sum(1 for _ in source)
        _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 50_000
    assert peak < 2_000_000  # the file is ~5.7 MB uncompressed
