"""What a drain's look and a stats read cost the haproxy router on this machine.

    .venv/bin/python benchmarks/haproxy_observe_bench.py                # this tree's code
    .venv/bin/python benchmarks/haproxy_observe_bench.py --tree DIR     # another checkout's

A managed HAProxy with a table whose server left it (in maintenance, nothing in flight):
drained() of that server (a whole look, as a drain polls) and stats(), each `-n` times;
prints the median and p90 in ms, and the calls each makes to HAProxy's host (one round
trip each over SSH with router.host). Run two checkouts in turn for a before/after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", default=str(Path(__file__).resolve().parent.parent),
                        help="the checkout whose zerodown is measured")
    parser.add_argument("-n", type=int, default=300)
    args = parser.parse_args()
    sys.path.insert(0, os.path.abspath(args.tree))
    from tests.support.net import free_port
    from zerodown.hosts.local import LOCAL
    from zerodown.model import Backend, RevisionRoute, RoutingTable
    from zerodown.routers.haproxy import HAProxyRouter

    calls: list[str] = []

    class Counted:  # this machine, each call to it counted
        def __getattr__(self, name):
            value = getattr(LOCAL, name)
            if not callable(value):
                return value

            def call(*a, **k):
                calls.append(name)
                return value(*a, **k)
            return call

    router = HAProxyRouter(Path(tempfile.mkdtemp()) / "haproxy", f"127.0.0.1:{free_port()}",
                           service="shop", host=Counted())
    router.ensure_running()
    try:
        router.apply(RoutingTable(1, (RevisionRoute("r1", 100, (
            Backend("shop-r1-s0", "127.0.0.1:9"), Backend("shop-r1-s1", "127.0.0.1:10"))),)))
        router.apply(RoutingTable(2, (RevisionRoute("r2", 100, (
            Backend("shop-r2-s0", "127.0.0.1:11"),)),)))
        print(f"{args.tree} (load average {os.getloadavg()[0]:.1f})")
        for what, look in (("drained", lambda: router.drained("shop-r1-s0")),
                           ("stats", router.stats)):
            times, before = [], len(calls)
            for _ in range(args.n):
                t0 = time.perf_counter()
                look()
                times.append(time.perf_counter() - t0)
            times.sort()
            print(f"  {what:8} median {statistics.median(times) * 1000:.2f} ms  "
                  f"p90 {times[int(len(times) * 0.9)] * 1000:.2f} ms  "
                  f"calls {(len(calls) - before) / args.n:g}")
    finally:
        router.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
