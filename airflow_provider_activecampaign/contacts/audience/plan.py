"""Plan files: every write a sync will make, written before any is made, and read back exactly.

A plan is gzip-compressed JSON Lines: a header line (what the sync is, the state it was planned
against, counts and a sample), then one line per item (a row to send, a row rejected, a removal,
a record that left the source). The plan's SHA-256 travels with it (the plan task's XCom), and
applying a plan first checks the file still has that digest, so what is applied is exactly what
was reviewed and approved, not a file rewritten since.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from typing import Any

from airflow_provider_activecampaign.exceptions import ActiveCampaignError
from airflow_provider_activecampaign.records.paths import is_local_path

PLAN_KIND = "activecampaign.sync-plan"
PLAN_VERSION = 1


class PlanMismatchError(ActiveCampaignError):
    """The plan file is not the one that was planned (or approved), or its state has moved on."""


class PlanWriter:
    """Writes a plan: items first (spooled to a local temporary file), the header when finished.

    Items are spooled because the header holds their counts; the finished file is then written to
    ``path`` in one go (a rename on a local disk, one upload on an object store).
    """

    def __init__(self, path: Any) -> None:
        self.path = path
        self._spool = tempfile.NamedTemporaryFile("w+b", suffix=".plan-items", delete=False)  # noqa: SIM115
        self._items = gzip.GzipFile(fileobj=self._spool, mode="wb", compresslevel=1)
        self.items = 0

    def add(self, item: Mapping[str, Any]) -> None:
        self._items.write((json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n").encode())
        self.items += 1

    def finish(self, header: Mapping[str, Any]) -> str:
        """Write the file; returns its SHA-256."""
        self._items.close()
        head = {"kind": PLAN_KIND, "version": PLAN_VERSION, "items": self.items, **header}
        final = tempfile.NamedTemporaryFile("wb", suffix=".plan", delete=False)  # noqa: SIM115
        try:
            with final:
                # A gzip file may hold several members: the header's, then the spooled items'.
                final.write(gzip.compress((json.dumps(head, ensure_ascii=False) + "\n").encode(), 1))
                self._spool.seek(0)
                shutil.copyfileobj(self._spool, final)
            with open(final.name, "rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
            if is_local_path(self.path):
                target = os.fspath(getattr(self.path, "path", self.path))
                os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
                shutil.move(final.name, target)
            else:
                with open(final.name, "rb") as source, self.path.open("wb") as sink:
                    shutil.copyfileobj(source, sink)
        finally:
            self.close()
            if os.path.exists(final.name):
                os.unlink(final.name)
        return digest

    def close(self) -> None:
        if not self._items.closed:
            self._items.close()
        self._spool.close()
        if os.path.exists(self._spool.name):
            os.unlink(self._spool.name)


class PlanFile:
    """A plan read back: checked against its digest, then its header and items, streamed."""

    def __init__(self, path: Any, expected_digest: str | None) -> None:
        self.path = path
        self._local = tempfile.NamedTemporaryFile("wb", suffix=".plan", delete=False)  # noqa: SIM115
        try:
            with self._local, path.open("rb") as source:
                shutil.copyfileobj(source, self._local)
        except FileNotFoundError:
            self.close()
            raise PlanMismatchError(
                f"The plan {path} does not exist.",
                hint="Apply the plan written by this DAG run's plan task (pass its XCom).",
            ) from None
        with open(self._local.name, "rb") as handle:
            self.digest = hashlib.file_digest(handle, "sha256").hexdigest()
        if expected_digest and self.digest != expected_digest:
            self.close()
            raise PlanMismatchError(
                f"The plan {path} changed after it was planned (its SHA-256 is {self.digest}, the plan "
                f"task wrote {expected_digest}). Nothing was applied.",
                hint="Plan again and have the new plan approved; a plan is applied only as it was approved.",
            )
        with gzip.open(self._local.name, "rt", encoding="utf-8") as handle:
            self.header: dict[str, Any] = json.loads(handle.readline())
        if self.header.get("kind") != PLAN_KIND:
            self.close()
            raise PlanMismatchError(f"{path} is not a sync plan.")

    def items(self) -> Iterator[dict[str, Any]]:
        with gzip.open(self._local.name, "rt", encoding="utf-8") as handle:
            handle.readline()
            for line in handle:
                if line.strip():
                    yield json.loads(line)

    def close(self) -> None:
        if os.path.exists(self._local.name):
            os.unlink(self._local.name)

    def __enter__(self) -> PlanFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Sample:
    """The first few items of each kind, for a plan's summary (what a reviewer reads)."""

    def __init__(self, size: int = 10) -> None:
        self.size = size
        self.items: dict[str, list[dict[str, Any]]] = {}

    def add(self, kind: str, item: Mapping[str, Any]) -> None:
        bucket = self.items.setdefault(kind, [])
        if len(bucket) < self.size:
            bucket.append(dict(item))
