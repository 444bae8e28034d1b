"""Files the provider writes beside its work (failure reports, plans, sync state, history).

One rule for "is this path on the local disk" (a plain path, ``file://`` or ObjectStoragePath's
``local``), and appending where an object store cannot: read the old lines, write old + new once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any


def safe_path_part(text: Any) -> str:
    """``text`` as one safe path segment (run ids hold ``:`` and ``+``): other characters become ``_``."""
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", str(text)).strip("_") or "none"


def is_local_path(path: Any) -> bool:
    """Whether ``path`` is on this machine's disk (so folders can be made and files renamed)."""
    protocol = getattr(path, "protocol", "") or "file"
    return protocol in ("file", "local")


class AppendHandle:
    """Appending where the filesystem cannot (object stores): rewrite old lines plus new ones on close."""

    def __init__(self, path: Any) -> None:
        self.path = path
        self.lines: list[str] = []

    def write(self, text: str) -> None:
        self.lines.append(text)

    def close(self) -> None:
        old = ""
        if self.path.exists():
            with self.path.open("r", encoding="utf-8") as handle:
                old = handle.read()
        with self.path.open("w", encoding="utf-8") as handle:
            handle.write(old)
            handle.writelines(self.lines)


def open_append(path: Any) -> Any:
    """A handle appending to ``path``: the file's own on a local disk, else an :class:`AppendHandle`."""
    if not is_local_path(path):
        return AppendHandle(path)
    return path.open("a", encoding="utf-8")


class JsonLinesFile:
    """A JSON Lines file written one object a line (audit logs, ledgers, the failure report).

    ``append=True`` keeps earlier runs' lines (on an object store: rewritten on close). ``flush``
    on :meth:`write` puts the line on disk before the caller goes on, so a killed task still finds
    what it wrote.
    """

    def __init__(self, path: Any, *, append: bool = False) -> None:
        self.path = path
        self.append = append
        self._handle: Any = None

    def open(self) -> JsonLinesFile:
        parent = getattr(self.path, "parent", None)
        if parent is not None and is_local_path(self.path):
            parent.mkdir(parents=True, exist_ok=True)
        self._handle = open_append(self.path) if self.append else self.path.open("w", encoding="utf-8")
        return self

    def __enter__(self) -> JsonLinesFile:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, entry: Mapping[str, Any], *, flush: bool = False) -> None:
        if self._handle is None:
            raise RuntimeError(f"{self.path} is not open: use it as a context manager.")
        self._handle.write(json.dumps(dict(entry), ensure_ascii=False, default=str) + "\n")
        if flush:
            self.flush()

    def flush(self) -> None:
        flush = getattr(self._handle, "flush", None)
        if flush is not None:
            flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
