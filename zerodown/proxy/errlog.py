"""The proxy's error log: one line per fault, and never more than a few a second.

Anything a client can cause (a malformed request, a connection that breaks
in an odd way, a bug one request shape triggers) must not be able to fill
the disk: every error path of connection handling writes through one
`ErrorLog`, which lets `per_second` lines through in each second and counts
the rest, saying how many it held back when the next second starts.
asyncio's own "Fatal error on transport" reports (a traceback each) go
through it too, reduced to one line (`install`).
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Callable


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class ErrorLog:
    __slots__ = ("per_second", "clock", "write", "window", "used", "held")

    def __init__(self, per_second: int, clock: Callable[[], float] = time.monotonic,
                 write: Callable[[str], None] = _stderr):
        self.per_second, self.clock, self.write = per_second, clock, write
        self.window = -1.0
        self.used = 0
        self.held = 0

    def line(self, text: str) -> None:
        now = self.clock()
        if now - self.window >= 1.0:
            if self.held:
                self.write(f"zerodown proxy: {self.held} more error lines held back "
                           f"(at most {self.per_second} a second)")
            self.window, self.used, self.held = now, 0, 0
        if self.used < self.per_second:
            self.used += 1
            self.write("zerodown proxy: " + text.replace("\n", " ")[:300])
        else:
            self.held += 1

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """Route the loop's unhandled-exception reports here, one line each."""
        def report(_loop: asyncio.AbstractEventLoop, context: dict) -> None:
            exc = context.get("exception")
            what = f"{type(exc).__name__}: {exc}" if exc is not None else ""
            self.line(f"{context.get('message', 'error')}: {what}".rstrip(": "))
        loop.set_exception_handler(report)
