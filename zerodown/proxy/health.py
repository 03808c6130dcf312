"""Active health checks: the proxy probes every backend in the table itself.

A backend that fails `fall` probes in a row is taken out (its pool is ejected
until further notice) and put back after `rise` good ones. This catches a
backend that still accepts connections but answers its health path badly,
which passive health (connect failures) cannot see.
"""

from __future__ import annotations

import asyncio
import math

from zerodown.model import HealthCheck
from zerodown.proxy.upstream import BackendPool


async def probe(pool: BackendPool, check: HealthCheck) -> bool:
    """One GET of the health path; True for a 2xx/3xx status within the timeout."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(pool.host, pool.port), check.timeout)
    except (OSError, asyncio.TimeoutError):
        return False
    try:
        writer.write(f"GET {check.path} HTTP/1.1\r\nHost: {pool.address}\r\n"
                     f"User-Agent: zerodown-health\r\nConnection: close\r\n\r\n".encode())
        line = await asyncio.wait_for(reader.readline(), check.timeout)
        parts = line.split(None, 2)
        return len(parts) >= 2 and parts[1][:1] in (b"2", b"3")
    except (OSError, asyncio.TimeoutError):
        return False
    finally:
        writer.close()


def record(pool: BackendPool, ok: bool, check: HealthCheck) -> None:
    """Count one probe result and take the backend out or back in."""
    if ok:
        pool.check_fails, pool.check_oks = 0, pool.check_oks + 1
        if pool.down and pool.check_oks >= check.rise:
            pool.down = False
            pool.ejected_until = 0.0
    else:
        pool.check_oks, pool.check_fails = 0, pool.check_fails + 1
        if not pool.down and pool.check_fails >= check.fall:
            pool.down = True
            pool.ejected_until = math.inf  # the hot path already skips ejected backends
            pool.close_idle()  # they lead where the checks found no answer


async def run_checks(pools, check: HealthCheck) -> None:
    """Probe every pool each interval, until cancelled (a new table replaces the task)."""
    while True:
        current = list(pools())
        results = await asyncio.gather(*(probe(p, check) for p in current))
        for pool, ok in zip(current, results):
            record(pool, ok, check)
        await asyncio.sleep(check.interval)
