"""One client connection's state: its phase and the fields its two sides share.

`ClientState` is the base of one compiled class chain: exchange.Exchange adds the
exchange with a backend, server.ClientConn the request side (the class the proxy
makes). Kept apart so that what the fields mean reads in one place, and so that the
sweeper (dataplane.py, inactivity.py) and the HTTP/2 side, which read a connection's
phase, need not import either side. Compiled with the hot path (accel.py): the
fields are fixed slots both sides read natively.
"""

from __future__ import annotations

import asyncio
from typing import Callable, Final

from zerodown.proxy.chunked import ChunkedEnd
from zerodown.proxy.plane import Plane
from zerodown.proxy.upstream import BackendPool, RevisionTarget, UpstreamConn, not_connected

# A client connection's states. Final: mypyc compiles these to constants, not a
# dictionary lookup per use.
HEAD: Final = 0
BODY: Final = 1
WAIT: Final = 2
TUNNEL: Final = 3
CLOSED: Final = 4
HTTP2: Final = 5  # the connection opened with the HTTP/2 preface and h2c is on: handed over
DISCARD: Final = 6  # answered before its body ended: the rest is read and dropped, then HEAD


class ClientState:  # no Python base (asyncio.Protocol): compiled classes take none
    __slots__ = ("plane", "loop", "settings", "transport", "state", "buf",
                 "head_since", "last_active", "served", "head", "body", "body_size",
                 "body_kept", "cl_left", "msg_done", "is_head", "keep_alive", "inject",
                 "target", "pool", "waiting_for", "up", "t0", "tried", "paused", "upgrade",
                 "close_after", "clock", "host", "tail", "chunks", "write_paused", "write",
                 "max_head", "refused", "refused_initials", "peer",
                 "capture", "captured", "sent_at", "early", "progress", "backlog")
    last_active: float  # the loop's clock at its last activity (set once asyncio makes it)

    def __init__(self, plane: Plane):
        self.plane = plane
        self.loop = plane.loop
        self.settings = plane.settings
        self.max_head: int = plane.settings.max_head_bytes
        self.refused: frozenset[bytes] = plane.refused_methods
        self.refused_initials: bytes = plane.refused_initials
        self.peer = "?"
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.write: Callable[[bytes], object] = not_connected
        self.state = HEAD
        self.buf = b""
        self.head_since = 0.0
        self.served = 0
        self.head = b""
        self.body: list[bytes] = []
        self.body_size = 0
        self.body_kept = True
        self.cl_left: int | None = None
        self.chunks: ChunkedEnd | None = None
        self.write_paused = False
        self.msg_done = False
        self.is_head = False
        self.keep_alive = True
        self.inject: bytes | None = None
        self.target: RevisionTarget | None = None
        self.pool: BackendPool | None = None
        self.waiting_for: BackendPool | None = None
        self.up: UpstreamConn | None = None
        self.capture: list | None = None  # the response's bytes, while a shadow compares them
        self.captured = 0  # their length
        self.t0 = 0.0  # perf_counter() when the request was dispatched
        # The loop's clock when this attempt began to wait for a backend connection, then when
        # its backend last made progress: the sweeper turns `progress` (a body piece written, a
        # response piece read) and a shrinking `backlog` into that time (inactivity.py)
        self.sent_at, self.progress, self.backlog = 0.0, False, 0
        self.tried: tuple = ()
        self.paused = False
        self.upgrade = False
        self.clock = plane.loop.time
        self.host: bytes | None = None
        self.tail = b""
        self.close_after = False  # the response in flight says `Connection: close`
        self.early = False  # its final response began before the request was all sent
