"""A teardown that a Ctrl-C (or SIGTERM) does not cut short: the demo's and the practice
fleet's. Cut half-way, it left what it had not reached running — the proxy and instances
of `zerodown demo` on a second Ctrl-C while it stopped them — or a fleet's names behind."""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def undisturbed(doing: str) -> Iterator[None]:
    """SIGINT and SIGTERM only say `doing` meanwhile (main thread only: the handlers are
    its to set); what they would have done is left to the caller's own end (130)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def said(*_: object) -> None:
        print(f"{doing} first ...", file=sys.stderr, flush=True)
    held = {s: signal.signal(s, said) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in held.items():
            signal.signal(s, handler)
