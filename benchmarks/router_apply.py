"""How long from Router.apply() to the load balancer serving the new table.

    .venv/bin/python benchmarks/router_apply.py haproxy [-n 20]
    .venv/bin/python benchmarks/router_apply.py all       # embedded, haproxy, nginx in turn

Two example apps (v1, v2) behind the router; each round applies a table that
moves all traffic to the other version and polls with requests on fresh
connections until that version answers. Prints the median and p90 of
apply() alone and of apply-to-served, in milliseconds. One function per
router kind (`bench_<kind>`), so routers can be added side by side; `all`
runs each in turn (never two at once) and prints them in one table, with the
1-minute load average taken just before each, since the machine is shared.
"""

from __future__ import annotations

import argparse
import os
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
    failures: dict[str, int] = {}
    router.apply(table(1, "r1", apps["v1"].port))
    for i in range(n):
        want = "v2" if i % 2 == 0 else "v1"
        t = table(i + 2, f"r{i + 2}", apps[want].port)
        start = time.perf_counter()
        router.apply(t)
        applied.append((time.perf_counter() - start) * 1000)
        while served_version(listen_port, failures) != want:
            if time.perf_counter() - start > POLL_DEADLINE:
                raise SystemExit(f"round {i}: {want} not served within {POLL_DEADLINE:g}s")
        served.append((time.perf_counter() - start) * 1000)
    if failures:  # a poll on a fresh connection should never fail across a switch
        print(f"  {sum(failures.values())} polls failed: {dict(failures)}", flush=True)
    return applied, served


def served_version(port: int, failures: dict) -> str | None:
    """The x-version of one answer on a fresh connection; a failed poll is counted, not fatal."""
    try:
        return get(port, timeout=2).headers.get("x-version")
    except OSError as exc:
        key = type(exc).__name__
        failures[key] = failures.get(key, 0) + 1
        return None


def bench_router(make_router, n: int) -> dict[str, list[float]]:
    """Start the router `make_router(state_dir, listen)` builds, switch it n times, stop it."""
    apps = {v: start_app(v) for v in ("v1", "v2")}
    port = free_port()
    try:
        with tempfile.TemporaryDirectory(prefix="zd-bench-") as folder:
            router = make_router(folder, f"127.0.0.1:{port}")
            try:
                router.ensure_running()
                applied, served = rounds(router, port, apps, n)
            finally:
                router.stop()
    finally:
        for app in apps.values():
            app.cleanup()
    return {"apply": applied, "served": served}


def bench_haproxy(n: int) -> dict[str, list[float]]:
    from zerodown.routers.haproxy import HAProxyRouter
    return bench_router(lambda folder, listen: HAProxyRouter(folder, listen, service="bench"), n)


def bench_embedded(n: int) -> dict[str, list[float]]:
    from zerodown.routers.embedded import EmbeddedRouter
    return bench_router(lambda folder, listen: EmbeddedRouter(folder, listen, service="bench"), n)


def bench_nginx(n: int) -> dict[str, list[float]]:
    from zerodown.routers.nginx import NginxRouter
    return bench_router(lambda folder, listen: NginxRouter(folder, listen, service="bench"), n)


BENCHES = {"embedded": bench_embedded, "haproxy": bench_haproxy, "nginx": bench_nginx}


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]


def print_one(kind: str, figures: dict[str, list[float]]) -> None:
    for what, values in figures.items():
        print(f"{kind} {what:>7}: median {statistics.median(values):7.2f} ms, "
              f"p90 {p90(values):7.2f} ms, n={len(values)}")


def print_side_by_side(rows: dict[str, tuple[float, dict[str, list[float]]]]) -> None:
    """One row per router: load before it ran, apply() and apply-to-served (ms)."""
    header = (f"{'router':9} {'load 1m':>7} {'apply med':>10} {'apply p90':>10} "
              f"{'served med':>11} {'served p90':>11} {'n':>4}")
    print(f"\n{header}\n{'-' * len(header)}")
    for kind, (load, f) in rows.items():
        print(f"{kind:9} {load:7.2f} {statistics.median(f['apply']):10.2f} "
              f"{p90(f['apply']):10.2f} {statistics.median(f['served']):11.2f} "
              f"{p90(f['served']):11.2f} {len(f['apply']):4d}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("router", choices=[*sorted(BENCHES), "all"])
    parser.add_argument("-n", type=int, default=20, help="table switches (default 20)")
    args = parser.parse_args()
    kinds = sorted(BENCHES) if args.router == "all" else [args.router]
    rows = {}
    for kind in kinds:
        load = os.getloadavg()[0]
        print(f"{kind}: {args.n} switches (load average 1m {load:.2f})", flush=True)
        rows[kind] = (load, BENCHES[kind](args.n))
        print_one(kind, rows[kind][1])
    if len(rows) > 1:
        print_side_by_side(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
