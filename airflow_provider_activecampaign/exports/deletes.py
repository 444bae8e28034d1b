"""Delete capture: which records disappeared from the account since the last run, as tombstones.

ActiveCampaign has no "deleted since" listing and no delete webhook for most resources, so
deletes are found the only way the API allows: by reconciling ids. Each run with
``capture_deletes=True`` knows every id the account holds now (a full export already has them; a
windowed one walks the collection's ids, one request per 100 records) and compares them with the
ids the previous run saw, kept in a state file. An id that was there and is gone becomes a
tombstone ``{"id": ..., "_deleted": true, "_deleted_at": ...}`` in the output and is counted in the
manifest.

Ids are compared as two sorted streams held in temporary SQLite files (stdlib), so a million ids
cost a few megabytes of disk, not memory. The state is written only after the output is published:
a run that fails in between reports the same tombstones again on its retry (at least once, never
lost; a tombstone is idempotent by id).
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from airflow.sdk import ObjectStoragePath

from airflow_provider_activecampaign.exports.spool import ScratchFile
from airflow_provider_activecampaign.exports.writer import is_local, local_path

#: The export's id order: numeric ids by value, then the others by text (as the spool writes them).
_ORDERED = "SELECT id FROM ids ORDER BY number IS NULL, number, id"


class IdSet(ScratchFile):
    """A set of record ids on disk, iterated in the export's id order."""

    schema = "CREATE TABLE ids (id TEXT PRIMARY KEY, number INTEGER);"

    def add_all(self, idents: Iterable[str]) -> None:
        self._db.executemany(
            "INSERT OR IGNORE INTO ids (id, number) VALUES (?, ?)",
            ((ident, int(ident) if ident.isdigit() else None) for ident in map(str, idents)),
        )

    def __len__(self) -> int:
        (count,) = self._db.execute("SELECT COUNT(*) FROM ids").fetchone()
        return int(count)

    def __iter__(self) -> Iterator[str]:
        for (ident,) in self._db.execute(_ORDERED):
            yield str(ident)

    def __contains__(self, ident: object) -> bool:
        return self._db.execute("SELECT 1 FROM ids WHERE id = ?", (str(ident),)).fetchone() is not None


def gone(previous: Iterable[str], current: IdSet) -> Iterator[str]:
    """The ids of ``previous`` that ``current`` no longer holds, in ``previous``'s order."""
    for ident in previous:
        if ident not in current:
            yield ident


def append_tombstones(staged: Path, idents: Iterable[str], *, id_field: str, detected_at: str) -> int:
    """Add a tombstone line per id to the staged JSON Lines file; returns how many."""
    count = 0
    with staged.open("a", encoding="utf-8") as handle:
        for ident in idents:
            handle.write(json.dumps({id_field: ident, "_deleted": True, "_deleted_at": detected_at}) + "\n")
            count += 1
    return count


class IdState:
    """The ids the last run saw, one per line, at any ``ObjectStoragePath`` (written atomically)."""

    def __init__(self, path: str | ObjectStoragePath) -> None:
        self.path = path if isinstance(path, ObjectStoragePath) else ObjectStoragePath(str(path))

    def exists(self) -> bool:
        return bool(self.path.exists())

    def read(self) -> Iterator[str]:
        """The stored ids (nothing if there is no state yet: the first run is the baseline)."""
        if not self.exists():
            return
        with self.path.open("r", encoding="utf-8") as handle:
            for line in handle:
                ident = line.strip()
                if ident:
                    yield ident

    def write(self, idents: Iterable[str]) -> int:
        """Replace the state with ``idents``; returns how many were written."""
        count = 0
        if is_local(self.path):
            final = local_path(self.path)
            final.parent.mkdir(parents=True, exist_ok=True)
            partial = final.with_name(f".{final.name}.{uuid.uuid4().hex}.part")
            try:
                with partial.open("w", encoding="utf-8") as handle:
                    for ident in idents:
                        handle.write(f"{ident}\n")
                        count += 1
                os.replace(partial, final)
            finally:
                partial.unlink(missing_ok=True)
            return count
        try:
            with self.path.open("w", encoding="utf-8") as handle:
                for ident in idents:
                    handle.write(f"{ident}\n")
                    count += 1
        except BaseException:
            with contextlib.suppress(Exception):  # an object appears only when its upload completes
                self.path.unlink()
            raise
        return count
