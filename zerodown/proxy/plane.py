"""What a client connection (exchange.Exchange, server.ClientConn, the HTTP/2 streams and
sessions) asks of the data plane it belongs to, as a protocol: dataplane.DataPlane creates
the connections and satisfies it, and none of their files imports dataplane.py."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from zerodown.proxy.errlog import ErrorLog
from zerodown.proxy.headscan import HeadMarks
from zerodown.proxy.routing import Routes
from zerodown.proxy.settings import ProxySettings
from zerodown.proxy.tap import Tap
from zerodown.proxy.upstream import BackendPool, RevisionTarget


class Plane(Protocol):
    """What a client connection asks of the data plane it belongs to."""

    loop: asyncio.AbstractEventLoop
    settings: ProxySettings
    refused_methods: frozenset[bytes]
    refused_initials: bytes  # 256 flags: does a refused method start with this byte
    routes: Routes
    marks: HeadMarks  # what a head scan flags: routes.marks, or every service's (services.py)
    clients: set[Any]  # ClientConns and h2session.H2Sessions: every connection on the listener
    client_limit: int
    stopping: bool
    rejected: int
    forwarded_proto: bytes  # b"\r\nX-Forwarded-Proto: http(s)\r\n", by the listener's scheme
    unrouted: int
    sites: Any  # services.Services while several services share the listener, else None
    strip_prefix: bytes  # the service's path prefix, taken off the target (prefix.py), or b""
    prefix_line: bytes  # X-Forwarded-Prefix: saying so
    mirror: Tap | None  # while a shadow runs (its owner: zerodown/shadow/mirror.ProxyMirror)
    h2c: Any  # with --http2-prior-knowledge: h2session.prior_knowledge, else None
    errors: ErrorLog

    def make_room(self, new: Any) -> None: ...

    def fallback_pool(self, target: RevisionTarget | None, now: float,
                      exclude: tuple) -> BackendPool | None: ...
