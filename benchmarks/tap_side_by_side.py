"""The same account exported by ``ActiveCampaignExportOperator`` and by the Singer tap, side by side.

The account (``--contacts`` contacts, ``--deals`` deals, built by the emulator's ``volume`` seed)
is served by the emulator in a subprocess at real time with the real limit (5 requests/s), so
every figure is wall-clock seconds against a real account's pace.  Bound: 5 requests/s x 100
records per page = 500 records/s.

- Ours: ``ActiveCampaignExportOperator(resource=..., mode="full").execute({})``, one stream at a
  time, each in a fresh process; records and duplicate ids are counted in the file it writes.
- The tap: ``tap-activecampaign==1.3.1`` (the most used extractor), installed by this script into
  its own throwaway virtualenv (``--tap-venv``, default ``.work/tap-venv``; never a dependency of
  the project): discovery, then one sync with only ``contacts`` and ``deals`` selected.  Its
  RECORD messages are counted per stream from stdout (and ids seen twice); a stream's wall time
  runs from its SCHEMA message to the next stream's (or the end of the run).

Requests and 429s come from the emulator's request log, cleared before each run; the tap's
requests are split by path (``/api/3/contacts``, ``/api/3/deals``), its start-up check
(``GET /api/3/``) and discovery are counted on their own line.

The stock tap cannot run against the emulator as shipped, for two reasons; the script runs the
unmodified tap's discovery, then one with only the URL check lifted, and prints how each fails:

1. ``ActiveCampaignClient.__init__`` calls ``is_api_url_valid``, which accepts only ``https`` URLs
   whose host is not a private address (loopback included): ``http://127.0.0.1:<port>`` is refused.
2. On every start (discovery and sync) the client checks the key with ``GET <api_url>/api/3/``
   (the bare API root, not in ActiveCampaign's v3 reference) and fails on anything but 200; the
   emulator answers 404 there.

So the tap runs through a small shim (``SHIM`` below) that replaces only the URL check and points
the key check at the documented ``GET /api/3/users/me`` (the same one request), then calls the
tap's own ``main()``; its paging, rate limit, retries and records are the tap's.

    python benchmarks/tap_side_by_side.py [--contacts 10000] [--deals 3000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from activecampaign_emulator.seed import default_seed
from activecampaign_emulator.testing import EmulatorClient, connection_json, start_emulator_process

ACCOUNT_RPS = 5.0
PAGE = 100
BOUND = ACCOUNT_RPS * PAGE  # records/s when every request returns a full page
TAP = "tap-activecampaign==1.3.1"
STREAMS = ("contacts", "deals")
TAP_TIMEOUT = 1800.0  # seconds: a bound on any one tap run, so the benchmark always ends
ROOT = Path(__file__).resolve().parent.parent

SHIM = """\
import tap_activecampaign.client as client

client.is_api_url_valid = lambda url: True  # 1: the emulator is http://127.0.0.1:<port>
_init = client.ActiveCampaignClient.__init__


def _init_checking_users_me(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    # 2: check_api_token GETs self.base_url ("<api_url>/api/3/", undocumented, 404 on the
    # emulator); point it at the documented GET /api/3/users/me. base_url serves only that
    # check and log lines: the tap's reads build their URLs from api_url.
    self.base_url += "users/me"


client.ActiveCampaignClient.__init__ = _init_checking_users_me
from tap_activecampaign import main

main()
"""


# -- ours ---------------------------------------------------------------------------------


def _export(resource: str, output: str, conn: str) -> dict[str, Any]:
    os.environ["AIRFLOW_CONN_ACTIVECAMPAIGN_DEFAULT"] = conn
    from airflow_provider_activecampaign.operators.export import ActiveCampaignExportOperator

    operator = ActiveCampaignExportOperator(
        task_id="bench", resource=resource, mode="full", output_path=output, parallel_reads=4
    )
    started = time.perf_counter()
    result = operator.execute({})
    return {"count": result["count"], "elapsed": time.perf_counter() - started}


def _child(resource: str, output: str, conn: str, queue: Any) -> None:
    try:
        queue.put(_export(resource, output, conn))
    except BaseException as error:  # report, do not hang the parent
        queue.put({"error": f"{type(error).__name__}: {error}"})


def _ours(emu: Any, resource: str, output: str, conn: str) -> dict[str, Any]:
    emu.client.clear_requests()
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(resource, output, conn, queue))
    process.start()
    run: dict[str, Any] = queue.get()
    process.join()
    counts = emu.client.requests()["counts"]
    if "error" in run:
        return {"tool": "ours", "stream": resource, "error": run["error"], **_request_counts(counts)}
    ids = Counter()
    with open(output, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                ids[str(json.loads(line).get("id"))] += 1
    return {
        "tool": "ours",
        "stream": resource,
        "records": sum(ids.values()),
        "reported": run["count"],
        "duplicates": sum(n - 1 for n in ids.values() if n > 1),
        "wall_s": run["elapsed"],
        "by_path": counts,
        **_request_counts(counts),
    }


def _request_counts(counts: dict[str, int], prefix: str | None = None) -> dict[str, int]:
    """Requests and 429s in ``counts`` ("METHOD template status": n), optionally one path only."""
    chosen = {
        key: n for key, n in counts.items() if prefix is None or key.split(" ")[1].rstrip("/") == prefix
    }
    return {
        "requests": sum(chosen.values()),
        "429s": sum(n for key, n in chosen.items() if key.endswith(" 429")),
    }


# -- the tap ------------------------------------------------------------------------------


def _tap_venv(venv: Path) -> Path:
    """The throwaway virtualenv with the tap in it (created on first use); its python."""
    python = venv / "bin" / "python"
    if not (venv / "bin" / "tap-activecampaign").exists():
        print(f"installing {TAP} into {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", TAP],
            check=True,
        )
    return python


def _stock_failures(venv: Path, config: Path, work: Path) -> dict[str, str]:
    """How the tap fails as shipped, and with only its URL check lifted (discovery, each)."""

    def last_line(command: list[str]) -> str:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if done.returncode == 0:
            return "ran"
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else f"exit {done.returncode}"

    url_only = work / "run_tap_url_check_only.py"
    url_only.write_text(SHIM.split("_init = ")[0] + "from tap_activecampaign import main\n\nmain()\n")
    return {
        "as shipped": last_line(
            [str(venv / "bin" / "tap-activecampaign"), "--config", str(config), "--discover"]
        ),
        "URL check lifted": last_line(
            [str(venv / "bin" / "python"), str(url_only), "--config", str(config), "--discover"]
        ),
    }


def _select(catalog: dict[str, Any], wanted: tuple[str, ...]) -> dict[str, Any]:
    """Mark ``wanted`` streams selected in their top-level metadata breadcrumb ``[]``."""
    for stream in catalog["streams"]:
        chosen = stream["tap_stream_id"] in wanted
        for entry in stream.get("metadata", []):
            if entry.get("breadcrumb") == []:
                entry["metadata"]["selected"] = chosen
    found = {s["tap_stream_id"] for s in catalog["streams"]} & set(wanted)
    if found != set(wanted):
        raise SystemExit(f"the tap's catalog has no stream(s) {sorted(set(wanted) - found)}")
    return catalog


def _tap(emu: Any, python: Path, venv: Path, work: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    config = work / "tap-config.json"
    config.write_text(
        json.dumps(
            {
                "api_url": emu.url,
                "api_token": emu.api_key,
                "start_date": "2000-01-01T00:00:00Z",
                "request_timeout": 300,
                "user_agent": "tap-side-by-side benchmark",
            }
        ),
        encoding="utf-8",
    )
    stock = _stock_failures(venv, config, work)
    shim = work / "run_tap.py"
    shim.write_text(SHIM, encoding="utf-8")
    command = [str(python), str(shim), "--config", str(config)]

    emu.client.clear_requests()
    started = time.perf_counter()
    discovered = subprocess.run([*command, "--discover"], capture_output=True, text=True, timeout=TAP_TIMEOUT)
    discovery_s = time.perf_counter() - started
    discovery_counts = emu.client.requests()["counts"]
    if discovered.returncode != 0:
        raise SystemExit(f"tap discovery failed:\n{discovered.stderr[-3000:]}")
    catalog_path = work / "catalog.json"
    catalog_path.write_text(json.dumps(_select(json.loads(discovered.stdout), STREAMS)), encoding="utf-8")

    emu.client.clear_requests()
    ids: dict[str, Counter[str]] = {name: Counter() for name in STREAMS}
    other: Counter[str] = Counter()
    first_seen: dict[str, float] = {}
    stderr_path = work / "tap-sync.stderr"
    started = time.perf_counter()
    with open(stderr_path, "w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            [*command, "--catalog", str(catalog_path)], stdout=subprocess.PIPE, stderr=stderr, text=True
        )
        assert process.stdout is not None
        for line in process.stdout:
            if time.perf_counter() - started > TAP_TIMEOUT:
                process.kill()
                break
            try:
                message = json.loads(line)
            except ValueError:
                continue
            kind, stream = message.get("type"), message.get("stream")
            if kind == "SCHEMA" and stream not in first_seen:
                first_seen[stream] = time.perf_counter() - started
            elif kind == "RECORD":
                if stream in ids:
                    ids[stream][str(message["record"].get("id"))] += 1
                else:
                    other[stream] += 1
        returncode = process.wait()
    ended = time.perf_counter() - started
    log = emu.client.requests()
    counts = log["counts"]
    log_tail = [line for line in stderr_path.read_text(encoding="utf-8").splitlines() if line.strip()]

    order = sorted(first_seen, key=first_seen.__getitem__)
    rows = []
    for name in STREAMS:
        begin = first_seen.get(name)
        later = [first_seen[s] for s in order if begin is not None and first_seen[s] > begin]
        wall = (min(later) if later else ended) - begin if begin is not None else ended
        rows.append(
            {
                "tool": "tap 1.3.1",
                "stream": name,
                "records": sum(ids[name].values()),
                "duplicates": sum(n - 1 for n in ids[name].values() if n > 1),
                "wall_s": wall,
                **_request_counts(counts, f"/api/3/{name}"),
            }
        )
    extra = {
        "stock_tap": stock,
        "discovery": {"seconds": discovery_s, **_request_counts(discovery_counts)},
        "sync_seconds": ended,
        "sync_exit": returncode,
        "sync_requests": counts,
        "paging": _paging(log["requests"]),
        "backoff": _backoffs(log_tail),
        "other_records": dict(other),
        "error": None if returncode == 0 else "\n".join(log_tail[-5:]),
    }
    return rows, extra


def _paging(entries: list[dict[str, Any]]) -> dict[str, str]:
    """Per stream: the offsets the tap asked for, and the rest of its query (from the request log)."""
    out = {}
    for name in STREAMS:
        queries = [e["query"] for e in entries if e["path"].rstrip("/") == f"/api/3/{name}"]
        offsets = sorted({int(dict(parse_qsl(q)).get("offset", -1)) for q in queries})
        if not queries:
            continue
        rest = {k: v for k, v in parse_qsl(queries[0]) if k != "offset"}
        out[name] = (
            f"offset {offsets[0]}..{offsets[-1]} ({len(offsets)} pages), then {urlencode(rest, safe='[]:')}"
        )
    return out


def _backoffs(lines: list[str]) -> dict[str, float]:
    """The tap's retries, from its log: how many and the seconds it slept (backoff's own lines)."""
    waits = [float(m.group(1)) for line in lines if (m := re.search(r"Backing off .* for ([0-9.]+)s", line))]
    return {"retries": len(waits), "seconds": round(sum(waits), 1)}


# -- the run ------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=10_000, help="contacts in the account")
    parser.add_argument("--deals", type=int, default=3_000, help="deals in the account")
    parser.add_argument(
        "--tap-venv", type=Path, default=ROOT / ".work" / "tap-venv", help="the tap's own virtualenv"
    )
    args = parser.parse_args()

    python = _tap_venv(args.tap_venv)
    work = Path(tempfile.mkdtemp(prefix="ac-bench-tap-"))
    rows: list[dict[str, Any]] = []
    with start_emulator_process(speed=1, rate_limit=True) as emu:
        seed = default_seed()
        seed["volume"] = {"contacts": args.contacts, "deals": args.deals}
        started = time.perf_counter()
        with EmulatorClient(emu.url, timeout=1800) as patient:  # a large seed takes a while to build
            patient.reset(seed)
        seeded = time.perf_counter() - started
        emu.client.configure(speed=1, rate_limit=True)
        conn = connection_json(emu.url, emu.api_key, requests_per_second=ACCOUNT_RPS)
        for name in STREAMS:
            rows.append(_ours(emu, name, str(work / f"{name}.jsonl"), conn))
        tap_rows, tap = _tap(emu, python, args.tap_venv, work)
        rows.extend(tap_rows)
        state = emu.client.crm("counts")["counts"]

    print(
        f"\nOne account (default seed + volume {args.contacts:,} contacts, {args.deals:,} deals; seeded in "
        f"{seeded:.1f} s), emulator at real time with its 5 requests/s limit; "
        f"bound = 5 req/s x {PAGE} = {BOUND:.0f} records/s\n"
    )
    header = (
        f"{'tool':10} {'stream':9} {'records':>8} {'dups':>5} {'requests':>8} {'429s':>5} "
        f"{'wall s':>7} {'rec/s':>7} {'÷ bound':>7}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        if "error" in row and row.get("records") is None:
            print(f"{row['tool']:10} {row['stream']:9} FAILED: {row['error']}")
            continue
        rate = row["records"] / row["wall_s"] if row["wall_s"] else 0.0
        print(
            f"{row['tool']:10} {row['stream']:9} {row['records']:8d} {row['duplicates']:5d} "
            f"{row['requests']:8d} {row['429s']:5d} {row['wall_s']:7.1f} {rate:7.1f} {rate / BOUND:7.3f}"
        )
    sync_total = sum(tap["sync_requests"].values())
    per_stream = sum(r["requests"] for r in tap_rows)
    print(
        f"\ntap: discovery {tap['discovery']['seconds']:.1f} s, {tap['discovery']['requests']} request(s); "
        f"sync {tap['sync_seconds']:.1f} s, exit {tap['sync_exit']}, {sync_total} requests "
        f"({sync_total - per_stream} outside contacts/deals: {_outside(tap['sync_requests'])})"
    )
    for row in rows:
        if row["tool"] == "ours" and row.get("by_path"):
            listed = ", ".join(f"{k} x{n}" for k, n in sorted(row["by_path"].items()))
            print(f"ours {row['stream']} requests: {listed}")
    for name, paging in tap["paging"].items():
        print(f"tap {name} paging: {paging}")
    print(f"tap backoff (its log): {tap['backoff']['retries']} retries, {tap['backoff']['seconds']} s asleep")
    for how, outcome in tap["stock_tap"].items():
        print(f"stock tap discovery, {how}: {outcome}")
    print("(measured: the tap through SHIM: URL check lifted, key check on GET /api/3/users/me)")
    if tap["error"]:
        print(f"tap failed:\n{tap['error']}")
    if tap["other_records"]:
        print(f"tap records of unselected streams: {tap['other_records']}")
    print(f"account according to the emulator: {json.dumps(state)}")
    print(json.dumps({"rows": rows, "tap": tap}, default=str), file=sys.stderr)
    return 0 if all("error" not in r for r in rows) and not tap["error"] else 1


def _outside(counts: dict[str, int]) -> str:
    outside = {
        key: n
        for key, n in counts.items()
        if key.split(" ")[1].rstrip("/") not in {f"/api/3/{s}" for s in STREAMS}
    }
    return ", ".join(f"{key} x{n}" for key, n in sorted(outside.items())) or "none"


if __name__ == "__main__":
    sys.exit(main())
