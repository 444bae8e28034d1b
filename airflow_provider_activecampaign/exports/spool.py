"""An export's records and custom-field values on disk, so a million-record export runs in flat memory.

An export must write each record once (pages can repeat a record when the account changes while it
is read), in id order, with its custom-field values pivoted into named columns. Held in dicts, that
cost about 0.75 KB per deal: 892 MB of client memory at 1,000,000 deals. The spool keeps all of it in
a temporary SQLite file (Python's own ``sqlite3``: no dependency, crash-safe, indexed), and hands
the records back a page at a time.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Self

_SCHEMA = """
CREATE TABLE records (
    id TEXT PRIMARY KEY,
    -- id order as the export writes it: numeric ids by value, then the others by text
    number INTEGER,
    stamp REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX records_order ON records (number, id);
CREATE TABLE field_values (
    owner TEXT NOT NULL,
    label TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (owner, label)
);
"""


def scratch_database(path: Path, schema: str) -> sqlite3.Connection:
    """A new SQLite file at ``path`` with ``schema``, in one open transaction, tuned as scratch space.

    A crash discards the file, so durability would only cost time: no rollback journal, no fsync;
    the page cache is capped (16 MB) whatever the volume.
    """
    path.unlink(missing_ok=True)
    database = sqlite3.connect(path, isolation_level=None)
    database.execute("PRAGMA journal_mode = OFF")
    database.execute("PRAGMA synchronous = OFF")
    database.execute("PRAGMA cache_size = -16000")
    database.executescript(schema)
    database.execute("BEGIN")
    return database


class ScratchFile:
    """A :func:`scratch_database` that lives as long as its owner: closing it deletes the file.

    Subclasses name their tables in ``schema``; used as a context manager, the file is gone on exit.
    """

    schema = ""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = scratch_database(path, self.schema)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()
        self.path.unlink(missing_ok=True)


class RecordSpool(ScratchFile):
    """The newest copy of each record by id, and each record's field values by field name.

    One spool per export, used from one thread: the reader threads hand their pages to the thread
    that owns the spool. Close it (or use it as a context manager) to delete the file.
    """

    schema = _SCHEMA

    def put(self, ident: str, stamp: float, record: dict[str, Any]) -> bool:
        """Keep ``record`` unless a newer copy is held; ``True`` if a copy of it was held already."""
        held = self._db.execute("SELECT stamp FROM records WHERE id = ?", (ident,)).fetchone()
        if held is not None and held[0] > stamp:
            return True
        body = json.dumps(record, ensure_ascii=False)
        number = int(ident) if ident.isdigit() else None
        self._db.execute(
            "INSERT OR REPLACE INTO records (id, number, stamp, body) VALUES (?, ?, ?, ?)",
            (ident, number, stamp, body),
        )
        return held is not None

    def count(self) -> int:
        (total,) = self._db.execute("SELECT COUNT(*) FROM records").fetchone()
        return int(total)

    def holds(self, ident: str) -> bool:
        return self._db.execute("SELECT 1 FROM records WHERE id = ?", (ident,)).fetchone() is not None

    def ids(self) -> Iterator[str]:
        """Every record id, in the export's id order."""
        for (ident,) in self._db.execute(_ORDERED.format(columns="id")):
            yield str(ident)

    def set_value(self, owner: str, label: str, value: Any) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO field_values (owner, label, value) VALUES (?, ?, ?)",
            (owner, label, json.dumps(value, ensure_ascii=False)),
        )

    def pages(self, size: int) -> Iterator[list[tuple[dict[str, Any], dict[str, Any]]]]:
        """``(record, {field name: value})`` pairs in id order, ``size`` at a time."""
        self._db.execute("COMMIT")
        self._db.execute("BEGIN")
        reader = self._db.cursor()
        reader.execute(_ORDERED.format(columns="id, body"))
        while rows := reader.fetchmany(size):
            owners = [str(ident) for ident, _ in rows]
            values: dict[str, dict[str, Any]] = {owner: {} for owner in owners}
            marks = ",".join("?" * len(owners))
            for owner, label, value in self._db.execute(
                f"SELECT owner, label, value FROM field_values WHERE owner IN ({marks})", owners
            ):
                values[str(owner)][str(label)] = json.loads(value)
            yield [(json.loads(body), values[str(ident)]) for ident, body in rows]


# NULL numbers (non-numeric ids) sort after every number, then by text: the export's id order.
_ORDERED = "SELECT {columns} FROM records ORDER BY number IS NULL, number, id"


class IdSet(ScratchFile):
    """Distinct record ids, on disk: how many records a read saw, in flat memory whatever it holds.

    Used to check a list read by ``offset`` against its ``meta.total`` (a schema's custom-object
    records can run to millions, and pages can repeat a record when the list shifts).
    """

    schema = "CREATE TABLE ids (id TEXT PRIMARY KEY);"

    def add(self, ids: Iterable[str]) -> None:
        self._db.executemany("INSERT OR IGNORE INTO ids (id) VALUES (?)", ((ident,) for ident in ids))

    def count(self) -> int:
        (total,) = self._db.execute("SELECT COUNT(*) FROM ids").fetchone()
        return int(total)
