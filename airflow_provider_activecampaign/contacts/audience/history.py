"""Sync history: one JSON Lines record per run, and an optional per-row changelog.

The history answers "what did last night's sync do": counts, how long each phase took, how long
ActiveCampaign throttled it, which plan it applied and where its failures are. Appending works on
a local disk as usual; on object stores (no append) the file is read and rewritten with the new
record (one small object per sync, one write per run).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from airflow_provider_activecampaign.records.paths import open_append as _open_append


def append_history(path: Any, record: Mapping[str, Any]) -> None:
    """Add ``record`` as one line at the end of the history at ``path``."""
    parent = getattr(path, "parent", None)
    if parent is not None and (getattr(path, "protocol", "") or "file") in ("file", "local"):
        parent.mkdir(parents=True, exist_ok=True)
    handle = _open_append(path)
    try:
        handle.write(json.dumps(dict(record), ensure_ascii=False, default=str) + "\n")
    finally:
        handle.close()


def read_history(path: Any) -> list[dict[str, Any]]:
    """Every record of the history at ``path`` (oldest first); ``[]`` when there is none."""
    if not path.exists():
        return []
    with path.open("r", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


class Changelog:
    """Per-row changes of one run, as JSON Lines (``None`` path: nothing is written)."""

    def __init__(self, path: Any) -> None:
        self.path = path
        self._handle: Any = None
        self.lines = 0

    def __enter__(self) -> Changelog:
        if self.path is not None:
            parent = getattr(self.path, "parent", None)
            if parent is not None and (getattr(self.path, "protocol", "") or "file") in ("file", "local"):
                parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("w", encoding="utf-8")
        return self

    def add(self, entry: Mapping[str, Any]) -> None:
        if self._handle is not None:
            self._handle.write(json.dumps(dict(entry), ensure_ascii=False, default=str) + "\n")
            self.lines += 1

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class _ThrottleCounter(logging.Handler):
    """Sums the waits the transport logs as "Throttled by ActiveCampaign: waiting N s"."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seconds = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("Throttled by ActiveCampaign") and record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            with contextlib.suppress(TypeError, ValueError):
                self.seconds += float(args[0])  # type: ignore[arg-type]


@contextmanager
def counting_throttled_seconds() -> Iterator[_ThrottleCounter]:
    """Count the seconds spent waiting out ActiveCampaign's 429s while the block runs."""
    logger = logging.getLogger("airflow_provider_activecampaign.hooks.transport")
    counter = _ThrottleCounter()
    logger.addHandler(counter)
    try:
        yield counter
    finally:
        logger.removeHandler(counter)
