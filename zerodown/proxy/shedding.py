"""Staying clear of the descriptor limit: shed idle clients before accept() fails.

A process has RLIMIT_NOFILE descriptors and cannot raise it. When they run
out, accept() fails and the public listener stops answering everyone (20,000
idle connections once caused an 8.7 s outage). So the proxy keeps a budget:
the limit minus `fd_reserve` (for admin connections, health checks, files,
a handover) is what clients and backend connections may use together. A new
client that would pass it first makes room by closing the longest-idle
keep-alive (or never-used) client connections, in a batch (1/64 of the
budget) so a flood costs one scan per batch; if every client is mid-request, the newcomer gets a 503
at once. Either way accept() keeps working and busy clients are untouched.
"""

from __future__ import annotations

import heapq
import resource
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from zerodown.proxy.server import ClientConn
    from zerodown.proxy.upstream import BackendPool

BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 30\r\n"
        b"Connection: close\r\n\r\nproxy at its connection limit\n")


def fd_budget(reserve: int) -> int:
    """Descriptors clients and backend connections may hold together."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(16, soft - reserve)


def upstream_fds(pools: Iterable[BackendPool]) -> int:
    return sum(len(p.conns) + p.opening for p in pools)


def idle_first(clients: Iterable[ClientConn], new: ClientConn, count: int,
               head_state: int) -> list[ClientConn]:
    """The `count` longest-idle clients between requests (never `new`)."""
    idle = (c for c in clients if c is not new and c.state == head_state and not c.buf)
    return heapq.nsmallest(count, idle, key=lambda c: c.last_active)
