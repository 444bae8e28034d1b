"""What checking requests against the official reference costs a test session.

The emulator's pytest plugin loads ActiveCampaign's OpenAPI document once per session and validates
each distinct request at the ``emulator`` fixture's teardown (identical requests are validated once).
Printed: the seconds to load the document and build the validator (first check), the median and 90th
percentile microseconds of validating one new request of each kind below (a list read with filters, a
contact upsert body, a 250-contact bulk import body, an unknown path), and of a repeated request (a
cache hit). Figures only: nothing is asserted.

Run: ``python benchmarks/reference_check.py [--rounds 200]`` (about 15 seconds).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from activecampaign_emulator.reference import ReferenceValidator
from activecampaign_emulator.requestlog import ObservedRequest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "fixtures" / "reference"
HEADERS = {"api-token": "key", "content-type": "application/json", "user-agent": "benchmark"}


def request(method: str, path: str, query: str = "", body: object = None, n: int = 0) -> ObservedRequest:
    raw = json.dumps(body).encode() if body is not None else b""
    return ObservedRequest(method, path, f"{query}&n={n}" if query else f"n={n}", HEADERS, raw)


def kinds(n: int) -> dict[str, ObservedRequest]:
    contact = {"email": f"user{n}@example.com", "first_name": "A", "fields": [{"id": 1, "value": "x"}]}
    return {
        "GET /contacts?filters": request("GET", "/api/3/contacts", "limit=100&offset=0&email=a%40b.co", n=n),
        "POST /contact/sync": request(
            "POST", "/api/3/contact/sync", body={"contact": {"email": f"u{n}@example.com"}}, n=n
        ),
        "POST /import/bulk_import (250)": request(
            "POST", "/api/3/import/bulk_import", body={"contacts": [contact] * 250}, n=n
        ),
        "unknown path": request("GET", "/api/3/nowhere", n=n),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    rounds = parser.parse_args().rounds
    started = time.perf_counter()
    validator = ReferenceValidator.from_files(
        REFERENCE / "activecampaign-v3.openapi.json", REFERENCE / "allowlist.json"
    )
    validator.check(request("GET", "/api/3/users/me"))
    print(f"load the document and build the validator: {time.perf_counter() - started:.2f} s")
    timings: dict[str, list[float]] = {}
    for n in range(rounds):
        for name, observed in kinds(n).items():
            begin = time.perf_counter_ns()
            validator.check(observed)
            timings.setdefault(name, []).append((time.perf_counter_ns() - begin) / 1000)
    repeat = kinds(0)["POST /contact/sync"]
    for _ in range(rounds):
        begin = time.perf_counter_ns()
        validator.check(repeat)
        timings.setdefault("repeated request (cached)", []).append((time.perf_counter_ns() - begin) / 1000)
    for name, values in timings.items():
        values.sort()
        p90 = values[int(len(values) * 0.9) - 1]
        print(f"{name:32s} median {statistics.median(values):9.1f} us   p90 {p90:9.1f} us")


if __name__ == "__main__":
    main()
