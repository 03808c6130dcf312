"""GET /api/v1/stream: Server-Sent Events. `event: status` with the status document
whenever it changes, `event: event` with each new event of the log (its `id:` is
the event's, so a reconnecting client sends Last-Event-ID and misses nothing),
and a `: ping` comment every PING seconds so proxies keep the connection open."""

from __future__ import annotations

import json
import time
from typing import Callable

PING = 15.0


def frame(kind: str, data: object, id: int | None = None) -> bytes:
    head = f"id: {id}\n" if id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


def stream(observer, write: Callable[[bytes], None], after: int | None,
           events_after: Callable[[int], list[dict]], ping: float = PING) -> None:
    """Write frames until the client goes away (a write raises)."""
    # the newest event known, the daemon's own as they are written: a tick (every 0.25 s)
    # may not have seen those yet, and the stream would begin with them
    version, cursor = -1, observer.newest() if after is None else after
    write(b"retry: 1000\n\n")
    pinged = time.monotonic()
    while True:
        if observer.status_version != version:
            version, doc = observer.status_version, observer.status_doc
            if doc is not None:
                write(frame("status", doc))
        if observer.newest() > cursor:
            for e in events_after(cursor):
                write(frame("event", e, e["id"]))
                cursor = e["id"]
        if time.monotonic() - pinged >= ping:
            write(b": ping\n\n")
            pinged = time.monotonic()
        observer.wait(version, cursor, max(0.05, ping - (time.monotonic() - pinged)))
