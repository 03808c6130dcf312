"""How long from Router.apply() to the load balancer serving the new table.

    .venv/bin/python benchmarks/router_apply.py haproxy [-n 20]

Two example apps (v1, v2) behind the router; each round applies a table that
moves all traffic to the other version and polls with requests on fresh
connections until that version answers. Prints the median and p90 of
apply() alone and of apply-to-served, in milliseconds. One function per
router kind (`bench_<kind>`), so routers can be added side by side.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zerodown.model import Backend, RevisionRoute, RoutingTable  # noqa: E402
from tests.support.net import free_port, get  # noqa: E402
from tests.support.procs import start_app  # noqa: E402

POLL_DEADLINE = 10.0


def table(version: int, name: str, port: int) -> RoutingTable:
    return RoutingTable(version, (RevisionRoute(name, 100, (Backend(f"bench-{name}-{port}",
                                                                    f"127.0.0.1:{port}"),)),))


def rounds(router, listen_port: int, apps: dict, n: int) -> tuple[list[float], list[float]]:
    """(apply() ms, apply-to-served ms) for n switches between v1 and v2."""
    applied, served = [], []
    router.apply(table(1, "r1", apps["v1"].port))
    for i in range(n):
        want = "v2" if i % 2 == 0 else "v1"
        t = table(i + 2, f"r{i + 2}", apps[want].port)
        start = time.perf_counter()
        router.apply(t)
        applied.append((time.perf_counter() - start) * 1000)
        while get(listen_port, timeout=2).headers.get("x-version") != want:
            if time.perf_counter() - start > POLL_DEADLINE:
                raise SystemExit(f"round {i}: {want} not served within {POLL_DEADLINE:g}s")
        served.append((time.perf_counter() - start) * 1000)
    return applied, served


def bench_haproxy(n: int) -> dict[str, list[float]]:
    from zerodown.routers.haproxy import HAProxyRouter
    apps = {v: start_app(v) for v in ("v1", "v2")}
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="zd-bench-") as folder:
        router = HAProxyRouter(folder, f"127.0.0.1:{port}", service="bench")
        try:
            router.ensure_running()
            applied, served = rounds(router, port, apps, n)
        finally:
            router.stop()
            for app in apps.values():
                app.cleanup()
    return {"apply": applied, "served": served}


BENCHES = {"haproxy": bench_haproxy}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("router", choices=sorted(BENCHES))
    parser.add_argument("-n", type=int, default=20, help="table switches (default 20)")
    args = parser.parse_args()
    figures = BENCHES[args.router](args.n)
    for what, values in figures.items():
        ordered = sorted(values)
        p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
        print(f"{args.router} {what:>7}: median {statistics.median(values):7.2f} ms, "
              f"p90 {p90:7.2f} ms, n={len(values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
