"""Why a request that got no response byte stops waiting, and where it may go next
(exchange.Exchange's retries).

Sent again only when that is safe (`retry_safe`), to where the routing table in force says
(`next_pool`); a revision whose every backend is ejected falls back (`fallback`) rather than
answer 503. Compiled with the hot path (accel.py): the exchange calls these natively.
"""

from __future__ import annotations

from typing import Final

from zerodown.proxy.plane import Plane
from zerodown.proxy.upstream import BackendPool, RevisionTarget

# Why a request stops waiting for its backend's first response byte (no_answer)
TIMED_OUT: Final = 0   # response_timeout passed
TAKEN_OUT: Final = 1   # its backend was taken out as not answering (health checks, a silence)
DRAIN_OVER: Final = 2  # its backend left the table and drain_timeout passed: the proxy cuts it
QUEUE_OVER: Final = 3  # never sent: no backend connection came within queue_timeout
# Methods a request may be sent twice for (RFC 9110 9.2.2), by their first four bytes
_IDEMPOTENT: Final = (b"GET ", b"HEAD", b"PUT ", b"DELE", b"OPTI", b"TRAC")


def retry_safe(sent: bool, whole: bool, kept: bool, head: bytes) -> bool:
    """May a request that got no response byte go elsewhere: it never reached this backend
    (`sent` False), or it is idempotent, complete (`whole`) and its body kept whole (`kept`:
    up to retry_body_limit)."""
    return not sent or (whole and kept and head[:4] in _IDEMPOTENT)


def next_pool(plane: Plane, target: RevisionTarget | None, tried: tuple, pool: BackendPool,
              now: float) -> BackendPool | None:
    """Where a retry of a request routed to `target` and failed on `pool` goes, by the table
    in force (not the one it was routed by: a backend that left it since may be stopped):
    its revision's next backend not tried yet, else another revision's; None when
    max_attempts are spent or nothing is left."""
    if len(tried) + 1 >= plane.settings.max_attempts:
        return None
    tried = tried + (pool,)
    now_target = plane.routes.targets.get(target.name) if target is not None else None
    nxt = now_target.choose_excluding(now, tried) if now_target is not None else None
    return nxt if nxt is not None else plane.fallback_pool(now_target, now, tried)


def fallback(plane: Plane, target: RevisionTarget, now: float) -> BackendPool | None:
    """Every backend of the chosen revision is ejected: another revision's, else the ejected
    backend that comes back soonest (better than a 503)."""
    return plane.fallback_pool(target, now, ()) or target.choose_excluding(now, ())
