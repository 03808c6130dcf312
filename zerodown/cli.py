"""Command line: parse, call, render. Errors map to exit codes here only."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["proxy"]:
        from zerodown.proxy.main import main as proxy_main
        return proxy_main(argv[1:])
    if argv[:1] == ["accel"]:
        from zerodown.proxy.accel import main as accel_main
        return accel_main(argv[1:])
    if argv[:1] == ["demo"]:
        from zerodown.demo import main as demo_main
        return demo_main(argv[1:])
    print("usage: zerodown proxy --listen HOST:PORT --admin unix:PATH|HOST:PORT --state FILE",
          file=sys.stderr)
    return 2
