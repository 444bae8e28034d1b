"""What a sync last sent: record key -> payload fingerprint and status, in one compact file.

The state is what makes "send only what changed" safe:

* it is written only after ActiveCampaign confirmed the writes it records, so a run that fails
  (or is killed) half-way changes nothing and the next run sends the same rows again;
* a row ActiveCampaign did not confirm is stored ``DIRTY`` and sent again next run; a row it
  refused for its data is stored ``REJECTED`` with its fingerprint and not sent again until it
  changes;
* a missing or damaged file reads as an empty state: the next run is one full sync (every row
  sent, which the upserting endpoints make harmless), never a missed change.

Format (``ACSYNCSTATE1``): a magic line, a 4-byte header length, a JSON header (counts, the run
metadata, the SHA-256 of the body) and a body of parallel arrays in key order: 8-byte key
digests, 8-byte fingerprints, 1-byte statuses, 4-byte label lengths and the labels (the record
keys as text, e.g. emails, zlib-compressed; the mirror needs them to find departed contacts).
About 35 bytes a key before compression: a 1,000,000-key state loads with a few C-level copies,
no per-key parsing, and is searched with :func:`bisect.bisect_left` on the key array.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import uuid
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from airflow_provider_activecampaign.records.paths import is_local_path

MAGIC = b"ACSYNCSTATE1\n"
#: Sent, and ActiveCampaign confirmed it: skipped while its fingerprint is unchanged.
CLEAN = 0
#: Sent (or due), not confirmed: sent again next run whatever its fingerprint.
DIRTY = 1
#: Refused by ActiveCampaign (or by the mapping) for its data: skipped until its fingerprint changes.
REJECTED = 2
#: In a change set only: drop the key from the state.
REMOVE = 255
STATUS_NAMES = {CLEAN: "clean", DIRTY: "dirty", REJECTED: "rejected"}


class StateFileError(ValueError):
    """A state file that cannot be read as one (truncated, edited, another format)."""


def _little(values: array) -> bytes:
    if sys.byteorder == "big":  # pragma: no cover - every supported platform is little-endian
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def _from_little(typecode: str, data: bytes) -> array:
    values = array(typecode)
    values.frombytes(data)
    if sys.byteorder == "big":  # pragma: no cover
        values.byteswap()
    return values


@dataclass
class SyncState:
    """The state of one sync: parallel arrays sorted by key digest, plus run metadata."""

    keys: array = field(default_factory=lambda: array("Q"))
    fingerprints: array = field(default_factory=lambda: array("Q"))
    statuses: array = field(default_factory=lambda: array("B"))
    label_lengths: array = field(default_factory=lambda: array("I"))
    labels: bytes = b""
    meta: dict[str, Any] = field(default_factory=dict)
    _offsets: array | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def find(self, key: int) -> int:
        """The index of ``key``, or -1."""
        index = bisect_left(self.keys, key)
        if index < len(self.keys) and self.keys[index] == key:
            return index
        return -1

    def label(self, index: int) -> str:
        """The record key (e.g. the email) stored at ``index``."""
        if self._offsets is None:
            self._offsets = array("Q", accumulate(self.label_lengths, initial=0))
        return self.labels[self._offsets[index] : self._offsets[index + 1]].decode("utf-8")

    def counts(self) -> dict[str, int]:
        return {name: self.statuses.count(code) for code, name in STATUS_NAMES.items()}

    # -- the file -------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        labels = zlib.compress(self.labels, 1)
        sections = [
            _little(self.keys),
            _little(self.fingerprints),
            self.statuses.tobytes(),
            _little(self.label_lengths),
            labels,
        ]
        body = b"".join(sections)
        header = {
            "version": 1,
            "count": len(self.keys),
            "sections": [len(part) for part in sections],
            "sha256": hashlib.sha256(body).hexdigest(),
            "meta": self.meta,
        }
        head = json.dumps(header, sort_keys=True).encode("utf-8")
        return MAGIC + len(head).to_bytes(4, "little") + head + body

    @classmethod
    def from_bytes(cls, data: bytes) -> SyncState:
        if not data.startswith(MAGIC):
            raise StateFileError("it does not start with the state file's magic line")
        start = len(MAGIC)
        head_len = int.from_bytes(data[start : start + 4], "little")
        try:
            header = json.loads(data[start + 4 : start + 4 + head_len])
            sizes = [int(size) for size in header["sections"]]
            count = int(header["count"])
        except (ValueError, KeyError, TypeError) as error:
            raise StateFileError(f"its header cannot be read ({error})") from None
        body = memoryview(data)[start + 4 + head_len :]
        if len(body) != sum(sizes):
            raise StateFileError(f"it is {len(body):,} bytes long where its header says {sum(sizes):,}")
        if hashlib.sha256(body).hexdigest() != header.get("sha256"):
            raise StateFileError("its checksum does not match its contents")
        parts: list[bytes] = []
        offset = 0
        for size in sizes:
            parts.append(bytes(body[offset : offset + size]))
            offset += size
        state = cls(
            keys=_from_little("Q", parts[0]),
            fingerprints=_from_little("Q", parts[1]),
            statuses=_from_little("B", parts[2]),
            label_lengths=_from_little("I", parts[3]),
            labels=zlib.decompress(parts[4]),
            meta=dict(header.get("meta") or {}),
        )
        if not len(state.keys) == len(state.fingerprints) == len(state.statuses) == count:
            raise StateFileError("its arrays do not have the length its header says")
        return state

    # -- changes ----------------------------------------------------------------------------

    def evolve(self, changes: StateChanges, meta: Mapping[str, Any] | None = None) -> SyncState:
        """A new state: this one with ``changes`` applied (the last change of a key wins).

        Untouched stretches are copied as array slices, so a run that changed 1% of a
        1,000,000-key state costs about 10,000 steps, not 1,000,000.
        """
        keys, fps, statuses, lengths = self.keys, self.fingerprints, self.statuses, self.label_lengths
        if self._offsets is None:
            self._offsets = array("Q", accumulate(lengths, initial=0))
        offsets = self._offsets
        out = SyncState(meta=dict(meta if meta is not None else self.meta))
        label_parts: list[bytes] = []
        total = len(keys)
        i = 0

        def copy(stop: int) -> None:
            if stop > i:
                out.keys.extend(keys[i:stop])
                out.fingerprints.extend(fps[i:stop])
                out.statuses.extend(statuses[i:stop])
                out.label_lengths.extend(lengths[i:stop])
                label_parts.append(self.labels[offsets[i] : offsets[stop]])

        for key, fingerprint, status, label in changes.sorted_last():
            position = bisect_left(keys, key, i)
            copy(position)
            i = position
            if i < total and keys[i] == key:
                if not label and status != REMOVE:
                    label = self.labels[offsets[i] : offsets[i + 1]].decode("utf-8")
                i += 1
            if status == REMOVE:
                continue
            encoded = label.encode("utf-8")
            out.keys.append(key)
            out.fingerprints.append(fingerprint)
            out.statuses.append(status)
            out.label_lengths.append(len(encoded))
            label_parts.append(encoded)
        copy(total)
        out.labels = b"".join(label_parts)
        return out


class StateChanges:
    """Changes to a state, collected in run order (arrays: 21 bytes a change plus its label)."""

    def __init__(self) -> None:
        self.keys = array("Q")
        self.fingerprints = array("Q")
        self.statuses = array("B")
        self.labels: list[str] = []

    def __len__(self) -> int:
        return len(self.keys)

    def set(self, key: int, fingerprint: int, status: int, label: str = "") -> None:
        self.keys.append(key)
        self.fingerprints.append(fingerprint)
        self.statuses.append(status)
        self.labels.append(label)

    def remove(self, key: int) -> None:
        self.set(key, 0, REMOVE)

    def sorted_last(self) -> Iterator[tuple[int, int, int, str]]:
        """Changes in key order, one per key: the last one given for it."""
        keys = self.keys
        order = sorted(range(len(keys)), key=keys.__getitem__)  # stable: equal keys stay in run order
        for position, index in enumerate(order):
            if position + 1 < len(order) and keys[order[position + 1]] == keys[index]:
                continue
            yield keys[index], self.fingerprints[index], self.statuses[index], self.labels[index]


# --------------------------------------------------------------------------------------------------
# Reading and writing on any ObjectStoragePath
# --------------------------------------------------------------------------------------------------


@dataclass
class LoadedState:
    """A state as loaded: the state, the digest of the file it came from, and why it is empty."""

    state: SyncState
    #: SHA-256 of the file's bytes (``None``: no file). A plan records it; apply refuses a plan
    #: whose state has changed since.
    digest: str | None
    #: Why the state is empty although a file was expected (``None`` when it loaded or is new).
    problem: str | None = None


def load_state(path: Any) -> LoadedState:
    """Read the state at ``path``; a missing or unreadable file gives an empty state (full sync)."""
    try:
        if not path.exists():
            return LoadedState(SyncState(), None, None)
        data = path.read_bytes()
    except OSError as error:
        return LoadedState(SyncState(), None, f"it could not be read ({error})")
    digest = hashlib.sha256(data).hexdigest()
    try:
        return LoadedState(SyncState.from_bytes(data), digest)
    except (StateFileError, zlib.error, ValueError) as error:
        return LoadedState(SyncState(), digest, f"{path} is not a readable state file: {error}")


def state_digest(path: Any) -> str | None:
    """SHA-256 of the state file's bytes, ``None`` when there is none."""
    if not path.exists():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_state(path: Any, state: SyncState) -> str:
    """Write ``state`` to ``path`` atomically; returns the SHA-256 of what was written.

    On a local disk: a temporary file in the same folder, flushed, then renamed over the old one
    (readers see the old state or the new, never half of one). On an object store a single PUT
    is already all-or-nothing, and renames are copies: the object is written in one request and
    read back to check it.
    """
    data = state.to_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if is_local_path(path):
        target = os.fspath(getattr(path, "path", path))
        folder = os.path.dirname(target) or "."
        os.makedirs(folder, exist_ok=True)
        temporary = os.path.join(folder, f".{os.path.basename(target)}.{uuid.uuid4().hex}.tmp")
        try:
            with open(temporary, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
        return digest
    with path.open("wb") as handle:
        handle.write(data)
    written = path.read_bytes()
    if hashlib.sha256(written).hexdigest() != digest:
        raise OSError(
            f"The sync state written to {path} reads back differently ({len(written):,} bytes, "
            f"{len(data):,} written). The old state may be gone: the next run is a full sync."
        )
    return digest


def iter_departed(state: SyncState, seen: bytearray) -> Iterable[int]:
    """Indexes of the state's keys not ``seen`` this run (``seen`` has one byte per key)."""
    index = seen.find(0)
    while index != -1:
        yield index
        index = seen.find(0, index + 1)
