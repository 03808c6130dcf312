"""The load generator's command line: ``python -m zerodown.loadgen URL -c 8 -d 5``."""

from __future__ import annotations

import argparse
import json
import sys

from zerodown.errors import UsageError
from zerodown.loadgen.run import run_load_sync


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"header must look like 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zerodown.loadgen",
                                description="HTTP load that counts every response")
    p.add_argument("url")
    p.add_argument("-c", "--connections", type=int, default=8)
    p.add_argument("-d", "--duration", type=float, help="seconds (default 5 without -n)")
    p.add_argument("-n", "--requests", type=int, help="stop after this many requests")
    p.add_argument("-X", "--method", default="GET")
    p.add_argument("-H", "--header", type=_header, action="append", default=[])
    p.add_argument("--data", help="request body")
    p.add_argument("--rate", type=float, help="requests per second, all connections together")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--count-header", default="X-Version",
                   help="count the values of this response header ('' for none)")
    p.add_argument("--retry", action="store_true",
                   help="retry an idempotent request once if a reused connection "
                        "closed before any byte of its response")
    p.add_argument("--cafile", help="https: trust the authorities in this PEM file")
    p.add_argument("--sni", help="https: the server name to ask for and verify (default: "
                                 "the URL's host)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args(argv)
    duration = args.duration if args.duration is not None or args.requests else 5.0
    try:
        result = run_load_sync(
            args.url, connections=args.connections, duration=duration,
            requests=args.requests, method=args.method, headers=dict(args.header),
            body=args.data.encode() if args.data is not None else None,
            count_header=args.count_header or None, retry_idempotent_once=args.retry,
            timeout=args.timeout, rate=args.rate, cafile=args.cafile, server_name=args.sni)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.summary())
    return 0 if result.failed() == 0 else 1
