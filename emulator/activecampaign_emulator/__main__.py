"""``python -m activecampaign_emulator`` — run the emulator in the foreground.

Prints the base URL and the API key to use, then serves until interrupted (Ctrl-C / SIGTERM).
The last two lines of the banner are machine-readable (``ACTIVECAMPAIGN_EMULATOR_URL=...``,
``ACTIVECAMPAIGN_EMULATOR_API_KEY=...``); ``testing.start_emulator_process`` parses them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

try:
    from activecampaign_emulator.app import create_app
    from activecampaign_emulator.core import DEFAULT_REQUESTS_PER_SECOND, Emulator
    from activecampaign_emulator.seed import SeedError, load_seed_file
    from activecampaign_emulator.server import bind, make_server, url_of
except ImportError as _missing:  # pragma: no cover - only without starlette/uvicorn
    # The emulator's HTTP server is an optional part: say which extra brings it, not a traceback.
    sys.exit(
        f"error: the ActiveCampaign emulator needs {_missing.name or 'its server dependencies'}, which "
        "is not installed: pip install activecampaign-emulator (or the provider's [emulator] extra)."
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m activecampaign_emulator",
        description="Run a local ActiveCampaign v3 API emulator.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one (default 8765)")
    parser.add_argument("--seed", help="JSON seed file for the starting account (default: bundled seed)")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="emulated seconds per real second (default 1)"
    )
    parser.add_argument("--no-rate-limit", action="store_true", help="disable the 5 requests/second limit")
    parser.add_argument(
        "--requests-per-second",
        type=int,
        default=DEFAULT_REQUESTS_PER_SECOND,
        help=f"account rate limit per emulated second (default {DEFAULT_REQUESTS_PER_SECOND})",
    )
    parser.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")
    args = parser.parse_args(argv)
    if args.speed <= 0:
        parser.error("--speed must be > 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        seed_data = load_seed_file(args.seed) if args.seed else None
        emu = Emulator(
            seed_data,
            speed=args.speed,
            rate_limit=not args.no_rate_limit,
            requests_per_second=args.requests_per_second,
        )
        app = create_app(emu)
    except SeedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    url = url_of(sock)
    limit = "off" if args.no_rate_limit else f"{args.requests_per_second}/emulated second"
    print(f"ActiveCampaign emulator on {url}  (speed x{args.speed:g}, rate limit {limit})")
    print(f"  API URL (connection host): {url}")
    print(f"  API key (Api-Token):       {emu.api_key}")
    print(f"  Control API:               {url}/_emulator/state")
    print(f"ACTIVECAMPAIGN_EMULATOR_URL={url}")
    print(f"ACTIVECAMPAIGN_EMULATOR_API_KEY={emu.api_key}", flush=True)
    make_server(app, log_level=args.log_level).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
