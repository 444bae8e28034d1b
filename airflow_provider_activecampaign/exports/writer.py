"""Export files written whole or not at all, to any ``ObjectStoragePath``, with a manifest beside them.

JSON Lines, CSV (custom fields spread into ``fields.<name>`` columns) or Parquet (typed columns;
the ``[parquet]`` extra, see :mod:`.parquet`). Records are first staged in a local temporary file
(the read can fail at any page); only a complete read is published. On a local file system the
file is written next to its destination under a temporary name and renamed into place
(``os.replace`` is atomic); on an object store the finished file is uploaded in one go (an object
appears only when its upload completes). The manifest is written last, so a reader that waits for
it never sees a file being written.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from airflow.sdk import ObjectStoragePath

FORMATS = ("jsonl", "csv", "parquet")
#: Objects spread into ``<key>.<name>`` columns: custom fields by name, a campaign's report totals.
SPREAD_KEYS = ("fields", "report")


def destination(path: str | ObjectStoragePath) -> ObjectStoragePath:
    return path if isinstance(path, ObjectStoragePath) else ObjectStoragePath(str(path))


def manifest_path(path: ObjectStoragePath) -> ObjectStoragePath:
    """``deals/2024-03-02.jsonl`` -> ``deals/2024-03-02.jsonl.manifest.json``."""
    return path.with_name(path.name + ".manifest.json")


def is_local(path: ObjectStoragePath) -> bool:
    return getattr(path, "protocol", "") in ("", "file", "local")


def local_path(path: ObjectStoragePath) -> Path:
    text = str(path)
    return Path(text[len("file://") :] if text.startswith("file://") else text)


def flatten(record: Mapping[str, Any]) -> dict[str, Any]:
    """One row: ``fields`` spread into ``fields.<name>`` columns, lists and objects as JSON text."""
    row: dict[str, Any] = {}
    for key, value in record.items():
        if key in SPREAD_KEYS and isinstance(value, Mapping):
            for name, inner in value.items():
                row[f"{key}.{name}"] = _cell(inner)
        else:
            row[key] = _cell(value)
    return row


def columns_of(record: Mapping[str, Any]) -> list[str]:
    return list(flatten(record))


def _cell(value: Any) -> Any:
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


def read_staged(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _write_format(staged: Path, handle: IO[str], fmt: str, columns: list[str]) -> None:
    if fmt == "jsonl":
        with staged.open(encoding="utf-8") as source:
            shutil.copyfileobj(source, handle)
        return
    writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for record in read_staged(staged):
        writer.writerow(flatten(record))


def _render(
    staged: Path, into: Path, fmt: str, columns: list[str], time_columns: Sequence[str]
) -> dict[str, str] | None:
    """Write ``into`` in ``fmt``; Parquet returns its column types."""
    if fmt == "parquet":
        from airflow_provider_activecampaign.exports.parquet import write_parquet  # pyarrow: optional

        with into.open("wb") as binary:
            return write_parquet(staged, binary, columns, time_columns)
    with into.open("w", encoding="utf-8", newline="") as handle:
        _write_format(staged, handle, fmt, columns)
    return None


def publish(
    staged: Path,
    target: ObjectStoragePath,
    *,
    fmt: str,
    columns: list[str],
    time_columns: Sequence[str] = (),
) -> dict[str, str] | None:
    """Write the staged records to ``target`` in ``fmt``, atomically (see the module docstring).

    Returns the column types of a Parquet file (``time_columns`` become UTC timestamps), else None.
    """
    if fmt not in FORMATS:
        raise ValueError(f"Unknown export format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if is_local(target):
        final = local_path(target)
        final.parent.mkdir(parents=True, exist_ok=True)
        partial = final.with_name(f".{final.name}.{uuid.uuid4().hex}.part")
        try:
            kinds = _render(staged, partial, fmt, columns, time_columns)
            os.replace(partial, final)
        finally:
            partial.unlink(missing_ok=True)
        return kinds
    rendered = staged.with_suffix(".out")
    kinds = _render(staged, rendered, fmt, columns, time_columns)
    try:
        with rendered.open("rb") as source, target.open("wb") as out:
            shutil.copyfileobj(source, out)
    except BaseException:
        with contextlib.suppress(Exception):  # best effort: the upload itself already failed
            target.unlink()
        raise
    finally:
        rendered.unlink(missing_ok=True)
    return kinds


def write_manifest(target: ObjectStoragePath, manifest: Mapping[str, Any]) -> ObjectStoragePath:
    """The manifest beside ``target`` (written after it; same atomic rules)."""
    path = manifest_path(target)
    text = json.dumps(dict(manifest), indent=2, sort_keys=True, default=str) + "\n"
    if is_local(path):
        final = local_path(path)
        final.parent.mkdir(parents=True, exist_ok=True)
        partial = final.with_name(f".{final.name}.{uuid.uuid4().hex}.part")
        try:
            partial.write_text(text, encoding="utf-8")
            os.replace(partial, final)
        finally:
            partial.unlink(missing_ok=True)
    else:
        with path.open("w", encoding="utf-8") as handle:
            handle.write(text)
    return path


def merge_columns(known: list[str], seen: set[str], new: Iterable[str]) -> None:
    """Add columns in first-seen order (the CSV header and the manifest's list)."""
    for column in new:
        if column not in seen:
            seen.add(column)
            known.append(column)
