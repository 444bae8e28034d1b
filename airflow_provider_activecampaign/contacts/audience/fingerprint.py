"""Fingerprints: 8-byte digests of a record's key and of the payload a sync would send for it.

A sync compares this run's payload fingerprint with the one it stored after ActiveCampaign
confirmed the last write; equal means the row would send exactly what is already there, so it
costs no request. The payload is serialised canonically (sorted keys, no whitespace), so two
payloads that mean the same compare equal whatever order a source gave the columns in.

Two different payloads share a fingerprint with a chance of 1 in 2**64 per row: such a row would
be skipped once, and sent again the next time it changes (or at the next ``full_every`` resync).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: Stored for keys that must be sent every run (never equal to a real fingerprint).
ALWAYS_SEND = 0

_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _digest(data: bytes, person: bytes) -> int:
    value = int.from_bytes(hashlib.blake2b(data, digest_size=8, person=person).digest(), "little")
    return value or 1  # 0 is ALWAYS_SEND


def key_digest(key: str) -> int:
    """The 8-byte digest a state file keeps for a record key (the caller normalises the key)."""
    return _digest(key.encode("utf-8"), b"ac-sync-key")


def fingerprint(payload: Any) -> int:
    """The 8-byte digest of ``payload`` (anything JSON can hold), never :data:`ALWAYS_SEND`."""
    return _digest(_ENCODER.encode(payload).encode("utf-8"), b"ac-sync-payload")


def raw_fingerprint(record: Any) -> int:
    """The digest of a source record that could not be mapped (a rejected row): it changes when
    the row changes, and never equals a mapped payload's fingerprint."""
    return _digest(_ENCODER.encode(record).encode("utf-8"), b"ac-sync-raw")
