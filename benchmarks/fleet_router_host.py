"""A router driven on this machine vs on a fleet host (router.host): what a table change costs.

    .venv/bin/python benchmarks/fleet_router_host.py               # 3 kinds, 20 applies each (root)
    .venv/bin/python benchmarks/fleet_router_host.py --applies 10 --kinds haproxy

Builds the test fleet (tests/support/fleet.py), then for each router kind, first here and
then on fleet host zdf1 (over the ssh runtime's connection, as `router: {host: zdf1}`
does): starts the load balancer, applies `--applies` tables that move weight between two
revisions (each a real change: nginx reloads, HAProxy swaps a map, the proxy swaps its
table), and times apply(), stats() and drained() — the calls a deployment makes — and
counts the calls of each to the remote host (each a round trip over SSH; drained() of a
backend that left the table, its whole look). No traffic: the
figure is the driver's own round trips, which SSH adds to.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.fleet import Fleet, available  # noqa: E402
from tests.support.router_host import proxy_python  # noqa: E402
from zerodown.controller import Controller  # noqa: E402
from zerodown.model import Backend, RevisionRoute, RoutingTable  # noqa: E402


def config(fleet, port: int, router: str) -> str:
    text = fleet.service_config(port, "{kind: rolling}", per_host=1)
    return text + f"router: {router}\n"


def tables(n: int, fleet) -> list[RoutingTable]:
    backends = [Backend(f"shop-r{r}-s{i}", f"{h.address}:{9000 + i}")
                for r in (1, 2) for i, h in enumerate(fleet.hosts)]
    out = []
    for v in range(1, n + 1):
        share = (v * 10) % 100
        out.append(RoutingTable(v, (RevisionRoute("r1", 100 - share, tuple(backends[:3])),
                                    RevisionRoute("r2", share, tuple(backends[3:])))))
    # a backend of the first table only: drained() of it is a whole look (a server that
    # left), not the shortcut for a backend never routed
    left = RevisionRoute("r0", 0, (Backend(DRAINED, f"{fleet.hosts[0].address}:8999"),))
    out[0] = RoutingTable(1, (left, *out[0].revisions))
    return out


DRAINED = "shop-r0-s0"


def count_calls(host) -> list[str]:
    """Every call the router makes to its remote host (one round trip each), as it goes."""
    calls: list[str] = []
    if host.remote:
        inner = host._call

        def counted(op, *args, **kwargs):
            calls.append(op)
            return inner(op, *args, **kwargs)
        host._call = counted
    return calls


def measure(fleet, kind: str, remote: bool, applies: int) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="zd-bench-lb-"))
    router_text = {"embedded": "{kind: embedded%s}", "haproxy": "{kind: haproxy%s}",
                   "nginx": "{kind: nginx%s}"}[kind]
    extra = ""
    if remote:
        extra = ", host: zdf1" + (f", python: {proxy_python()}" if kind == "embedded" else "")
    (folder / "zerodown.yaml").write_text(config(fleet, 18000 + applies, router_text % extra))
    ctl = Controller(str(folder / "zerodown.yaml"), str(folder / "state"))
    try:
        t0 = time.monotonic()
        ctl.ensure_router()
        start = time.monotonic() - t0
        router = ctl.router()
        calls = count_calls(router.host)
        apply_t, stats_t, drained_t = [], [], []
        apply_calls, stats_calls, drained_calls = [], [], []
        for table in tables(applies, fleet):
            t0, n = time.monotonic(), len(calls)
            router.apply(table)
            apply_t.append(time.monotonic() - t0)
            apply_calls.append(len(calls) - n)
            t0, n = time.monotonic(), len(calls)
            router.stats()
            stats_t.append(time.monotonic() - t0)
            stats_calls.append(len(calls) - n)
            t0, n = time.monotonic(), len(calls)
            router.drained(DRAINED)
            drained_t.append(time.monotonic() - t0)
            drained_calls.append(len(calls) - n)
        router.stop()
        median = statistics.median
        return {"start": start, "apply": median(apply_t),
                "calls": median(apply_calls) if remote else 0,
                "stats_calls": median(stats_calls) if remote else 0,
                "drained_calls": median(drained_calls) if remote else 0,
                "stats": median(stats_t), "drained": median(drained_t)}
    finally:
        if "runtime" in ctl._drivers:
            ctl.runtime().close()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applies", type=int, default=20)
    parser.add_argument("--kinds", nargs="+", default=["embedded", "haproxy", "nginx"])
    args = parser.parse_args()
    why = available()
    if why:
        print(f"cannot build the fleet: {why}")
        return 1
    with Fleet(3) as fleet:
        print(f"{'kind':9} {'where':6} {'start s':>8} {'apply ms':>9} {'stats ms':>9} "
              f"{'drained ms':>11} {'calls/apply':>11} {'/stats':>6} {'/drained':>8}   "
              f"(medians of {args.applies})")
        for kind in args.kinds:
            for remote in (False, True):
                m = measure(fleet, kind, remote, args.applies)
                print(f"{kind:9} {'zdf1' if remote else 'here':6} {m['start']:8.2f} "
                      f"{m['apply'] * 1000:9.1f} {m['stats'] * 1000:9.1f} "
                      f"{m['drained'] * 1000:11.1f} {m['calls'] or '':>11} "
                      f"{m['stats_calls'] or '':>6} {m['drained_calls'] or '':>8}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
