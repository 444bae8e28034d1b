"""Unit tests of the contact sources: lists, CSV, JSON Lines (plain and gzip) and SQL on SQLite."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import pytest

from airflow_provider_activecampaign.contacts_sources import (
    BadRecord,
    CsvSource,
    JsonLinesSource,
    RecordListSource,
    SqlSource,
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
