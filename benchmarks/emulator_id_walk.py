"""The emulator's cost of an export's ``id_greater`` walk over every contact, by account size.

A full contacts export pages ``GET /contacts?id_greater=<last id>&orders[id]=ASC&limit=100``. The
emulator must keep up at a million contacts for the export benchmarks to run: this walks every
contact that way against an emulator process (rate limit off, one client) and prints, per size, the
walk's wall time, pages, and the time per page. Per-page cost flat in the account size means the
walk is linear; the figure before the index-cut pages was 31 s at 100,000 and 230 s at 300,000.

    python benchmarks/emulator_id_walk.py [--sizes 100000,300000,1000000]
"""

from __future__ import annotations

import argparse
import time

import httpx
from activecampaign_emulator.seed import default_seed
from activecampaign_emulator.testing import EmulatorClient, start_emulator_process

PAGE = 100


def walk(url: str, api_key: str) -> tuple[int, int]:
    """Every contact, one id_greater page at a time: (contacts, pages)."""
    cursor, contacts, pages = 0, 0, 0
    with httpx.Client(base_url=f"{url}/api/3", headers={"Api-Token": api_key}, timeout=120) as api:
        while True:
            params = {"id_greater": cursor, "orders[id]": "ASC", "limit": PAGE}
            rows = api.get("contacts", params=params).json()["contacts"]
            pages += 1
            if not rows:
                return contacts, pages
            contacts += len(rows)
            cursor = int(rows[-1]["id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,300000,1000000", help="contact counts, comma-separated")
    args = parser.parse_args()
    print(f"{'contacts':>10} {'seed s':>8} {'walk s':>8} {'pages':>7} {'ms/page':>8}")
    for size in (int(part) for part in args.sizes.split(",")):
        seed = default_seed()
        seed["volume"] = {"contacts": size}
        with start_emulator_process(rate_limit=False, startup_timeout=600) as emu:
            started = time.perf_counter()
            with EmulatorClient(emu.url, timeout=1800) as patient:  # a million contacts take a while
                patient.reset(seed)
            seeded = time.perf_counter() - started
            started = time.perf_counter()
            contacts, pages = walk(emu.url, emu.api_key)
            elapsed = time.perf_counter() - started
        assert contacts == size, f"walked {contacts} of {size}"
        print(f"{size:>10,} {seeded:>8.1f} {elapsed:>8.1f} {pages:>7,} {1000 * elapsed / pages:>8.2f}")


if __name__ == "__main__":
    main()
