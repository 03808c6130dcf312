"""Data-plane benchmark: zerodown's embedded proxy against HAProxy and nginx.

Run from the repository root:

    .venv/bin/python benchmarks/proxy_bench.py
    .venv/bin/python benchmarks/proxy_bench.py --only haproxy,nginx --duration 5
    .venv/bin/python benchmarks/proxy_bench.py --connections 64,256 --json out.json
    .venv/bin/python benchmarks/proxy_bench.py --only haproxy,haproxy-zd,nginx,nginx-zd

One nginx master (1 worker) serves two small backends on free 127.0.0.1
ports. Each proxy in turn -- HAProxy (nbthread 1), nginx (1 worker, upstream
keep-alive) and `python -m zerodown proxy` (1 process, with routing rules and
a weighted split applied) -- is started, warmed up, loaded by wrk (1 thread,
browser-like headers from browser_headers.lua) at each connection count, and
stopped, so no two proxies compete for the two cores. Every child process is
started here and stopped by PID on the way out, Ctrl-C included.

"With zerodown attached" (only when named in --only): `haproxy-zd` is HAProxy
started and driven by zerodown's HAProxyRouter (managed mode), `nginx-zd` nginx
by NginxRouter (1 worker), each serving the same table as the zerodown proxy
(90/10 split, header and cookie rules) in the configuration zerodown
generates; the report sets each beside its hand-written twin. HAProxyRouter's
configuration sets no nbthread (HAProxy would start one thread per CPU), so
`-f one-thread.cfg` (`nbthread 1`) is appended to its command line, as the
plain variant has. Otherwise they run as zerodown configures them, which is
what the ratio measures: HAProxy with L7 retries and its lane/map routing,
nginx with a JSON access log (its stats), an upstream keep-alive pool of 32
per revision (the plain nginx keeps 64) and X-Forwarded-* headers. Those two
variants import zerodown; the rest is stdlib but for reading /proc/PID/stat
(zerodown.hosts.local.proc_stat).

Beside req/s and latency each run reports the CPU time (user + system, from
/proc/PID/stat) the proxy's processes -- master and workers included -- spent
during the measured wrk run, per completed request: unlike req/s it does not
depend on whether the scheduler gave the proxy a core to itself.

Run it on a quiet machine: with two cores, any other busy process moves the
figures by 20% or more. Needs /usr/sbin/nginx, /usr/sbin/haproxy and wrk on
PATH. The parts other benchmarks share are sibling modules: bench_children.py (the
processes), bench_targets.py (the load balancers by hand), bench_routed.py (driven by
zerodown's routers), bench_cpu.py and bench_wrk.py.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import sys
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

from bench_children import PINNING, Child, free_port
from bench_cpu import cpu_snapshot, cpu_used
from bench_routed import start_haproxy_zd, start_nginx_zd
from bench_targets import (start_backends, start_haproxy, start_nginx_proxy, start_zerodown,
                           stats_totals, zerodown_stats)
from bench_wrk import Result, count_requests, fmt_us, parse_wrk, run_wrk, with_cpu

TARGETS = ("haproxy", "haproxy-zd", "nginx", "nginx-zd", "zerodown")  # the order they run in
DEFAULT_TARGETS = ("haproxy", "nginx", "zerodown")
LABELS = {"haproxy": "HAProxy", "nginx": "nginx", "zerodown": "zerodown",
          "haproxy-zd": "HAProxy+zd", "nginx-zd": "nginx+zd"}
ATTACHED = {"haproxy": "haproxy-zd", "nginx": "nginx-zd"}  # plain -> driven by zerodown
RPS_TARGET = 0.8   # zerodown req/s >= 0.8x HAProxy
P99_TARGET = 1.5   # zerodown p99 <= 1.5x HAProxy


def measure(target: str, port: int, args, proxy) -> list[Result]:
    """wrk at each connection count against `proxy` (a Child or RouterLB: its .pid is
    the root of the processes whose CPU time is counted)."""
    results = []
    for conns in args.connections:
        warm = count_requests(run_wrk(port, conns, args.warmup)) if args.warmup > 0 else 0
        before = cpu_snapshot(proxy.pid)
        out = run_wrk(port, conns, args.duration)
        used = cpu_used(before, cpu_snapshot(proxy.pid))
        result = with_cpu(parse_wrk(target, conns, out, warm), used)
        cpu = (f"cpu {fmt_us(result.cpu_us_per_req)} µs/req (user "
               f"{fmt_us(result.user_us_per_req)}, sys {fmt_us(result.sys_us_per_req)}; "
               f"{used[0] + used[1]:.2f} s in {used[2]} process(es))" if used
               else "cpu: proxy process not found")
        print(f"  {LABELS[target]:10} c={conns:<4} {result.rps:10.0f} req/s  "
              f"p50 {result.p50_ms:.2f} ms  p99 {result.p99_ms:.2f} ms  "
              f"errors {result.errors} (socket {result.socket_errors}, "
              f"non-2xx/3xx {result.non_2xx})  {cpu}", flush=True)
        results.append(result)
    return results


# ---------------------------------------------------------------- report

def ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def fmt_ratio(value: float | None) -> str:
    return f"{value:.2f}x" if value is not None else "-"


def cpu_ratio(a: Result, b: Result) -> float | None:
    """a's CPU per request over b's (lower is better); None unless both were measured."""
    if a.cpu_us_per_req is None or b.cpu_us_per_req is None:
        return None
    return ratio(a.cpu_us_per_req, b.cpu_us_per_req)


def verdict(zd: Result, ha: Result) -> dict:
    rps, p99 = ratio(zd.rps, ha.rps), ratio(zd.p99_ms, ha.p99_ms)
    ok = rps is not None and p99 is not None and rps >= RPS_TARGET and p99 <= P99_TARGET
    # cpu_ratio is informational: not part of "pass"
    return {"connections": zd.connections, "rps_ratio": rps, "p99_ratio": p99,
            "cpu_ratio": cpu_ratio(zd, ha), "pass": ok}


def print_table(results: list[Result], connections: list[int],
                wanted: list[str]) -> list[dict]:
    verdicts = []
    header = (f"{'target':10} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
              f"{'req/s vs HA':>12} {'p99 vs HA':>10} {'cpu µs/req':>11} {'cpu vs HA':>10}")
    for conns in connections:
        rows = {r.target: r for r in results if r.connections == conns}
        ha = rows.get("haproxy")
        if not rows:
            continue
        print(f"\n{conns} connections, wrk -t 1\n{header}\n{'-' * len(header)}")
        for target in TARGETS:
            r = rows.get(target)
            if r is None:
                continue
            rps = ratio(r.rps, ha.rps) if ha else None
            p99 = ratio(r.p99_ms, ha.p99_ms) if ha else None
            cpu = cpu_ratio(r, ha) if ha else None
            print(f"{LABELS[target]:10} {r.rps:10.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} "
                  f"{r.errors:7d} {fmt_ratio(rps):>12} {fmt_ratio(p99):>10} "
                  f"{fmt_us(r.cpu_us_per_req):>11} {fmt_ratio(cpu):>10}")
        for line in attached_lines(rows):
            print(line)
        if ha and "zerodown" in rows:
            v = verdict(rows["zerodown"], ha)
            verdicts.append(v)
            print(f"target: zerodown >= {RPS_TARGET}x HAProxy req/s and p99 <= "
                  f"{P99_TARGET}x HAProxy: {'PASS' if v['pass'] else 'MISS'}")
            spends = (f"{v['cpu_ratio']:.2f}×" if v["cpu_ratio"] is not None
                      else "(not measured)")
            print(f"efficiency: zerodown spends {spends} HAProxy's CPU per request "
                  f"(≤ {1 / RPS_TARGET:.2f}× ≈ {RPS_TARGET}× the throughput on equal CPU)")
        elif ha and "zerodown" in wanted:
            print(f"target: zerodown >= {RPS_TARGET}x HAProxy req/s and p99 <= "
                  f"{P99_TARGET}x HAProxy: not measured")
    return verdicts


def attached_ratios(rows: dict[str, Result]) -> list[dict]:
    """Per load balancer measured both ways: with zerodown attached / without."""
    out = []
    for plain, attached in ATTACHED.items():
        if plain in rows and attached in rows:
            a, b = rows[attached], rows[plain]
            out.append({"lb": plain, "connections": a.connections,
                        "rps_ratio": ratio(a.rps, b.rps), "p99_ratio": ratio(a.p99_ms, b.p99_ms),
                        "cpu_ratio": cpu_ratio(a, b)})
    return out


def attached_lines(rows: dict[str, Result]) -> list[str]:
    return [f"{LABELS[r['lb']]} with zerodown attached / without: req/s "
            f"{fmt_ratio(r['rps_ratio'])}, p99 {fmt_ratio(r['p99_ratio'])}, "
            f"cpu/req {fmt_ratio(r['cpu_ratio'])}"
            for r in attached_ratios(rows)]


# ---------------------------------------------------------------- main

STARTERS = {"haproxy": start_haproxy, "nginx": start_nginx_proxy,
            "zerodown": start_zerodown, "haproxy-zd": start_haproxy_zd,
            "nginx-zd": start_nginx_zd}


def bench_target(target: str, tmp: Path, backends: list[int], args, report: dict):
    port = free_port()
    print(f"\n{LABELS[target]} on 127.0.0.1:{port}", flush=True)
    try:
        child = STARTERS[target](tmp, port, backends)
    except RuntimeError as exc:
        if target != "zerodown":
            raise
        report["zerodown_error"] = str(exc)
        print(f"zerodown proxy failed to start: {exc}", flush=True)
        return []
    if target == "zerodown":  # compiled (mypyc) or plain Python: say which was measured
        hot = re.search(r"hot-path=(\w+)", child.output(4000))
        report["zerodown_hot_path"] = hot.group(1) if hot else "unknown"
        print(f"  zerodown hot path: {report['zerodown_hot_path']}", flush=True)
    try:
        results = measure(target, port, args, child)
        if target == "zerodown":
            report_zerodown_stats(child, tmp, results, report)
        return results
    finally:
        child.stop()


def report_zerodown_stats(child: Child, tmp: Path, results: list[Result],
                          report: dict) -> None:
    stats = zerodown_stats(tmp)
    totals = stats_totals(stats)
    report["zerodown_stats"] = stats
    sent = sum(r.requests + r.warmup_requests for r in results)
    if totals is None:
        print(f"  zerodown GET /stats: no per-revision counts in {str(stats)[:200]}\n"
              f"  proxy output (tail):\n{child.output(1500)}")
        return
    print(f"  zerodown GET /stats counted {totals['requests']} requests "
          f"({totals['5xx']} 5xx, {totals['errors']} proxy errors); wrk completed {sent} "
          f"(warm-ups included, readiness probe not)", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=10.0, help="seconds per run (10)")
    p.add_argument("--warmup", type=float, default=2.0,
                   help="seconds of discarded warm-up before each run (2; 0 to skip)")
    p.add_argument("--connections", default="64,256", help="comma list (64,256)")
    p.add_argument("--only", default=",".join(DEFAULT_TARGETS),
                   help=f"comma list from {','.join(TARGETS)} (default "
                        f"{','.join(DEFAULT_TARGETS)})")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--pin", action="store_true",
                   help="proxy under test alone on CPU 1; wrk and backends on CPU 0")
    p.add_argument("--rounds", type=int, default=3,
                   help="interleaved rounds; figures are medians (3)")
    args = p.parse_args(argv)
    args.connections = [int(c) for c in args.connections.split(",") if c]
    if args.pin:
        PINNING.update(proxy="1", load="0")
    args.only = [t.strip() for t in args.only.split(",") if t.strip()]
    unknown = set(args.only) - set(TARGETS)
    if unknown:
        p.error(f"unknown target(s) {', '.join(sorted(unknown))}; choose from {TARGETS}")
    return args


def run(args) -> dict:
    report = {"duration_s": args.duration, "warmup_s": args.warmup,
              "connections": args.connections, "wrk_threads": 1, "cpus": os.cpu_count()}
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="zerodown-bench-") as name:
        tmp = Path(name)
        tmp.chmod(0o755)  # nginx workers run as nobody when we are root
        backends = [free_port(), free_port()]
        print(f"backends: nginx (1 worker) on 127.0.0.1:{backends[0]} and :{backends[1]}")
        backend = start_backends(tmp, backends)
        try:
            # Rounds interleave the targets, so a drift in background load hits all alike;
            # each figure is then the median of its rounds.
            for n in range(args.rounds):
                print(f"\n=== round {n + 1} of {args.rounds}", flush=True)
                for target in TARGETS:
                    if target in args.only:
                        results += bench_target(target, tmp, backends, args, report)
        finally:
            backend.stop()
    report["results"] = [asdict(r) | {"errors": r.errors} for r in results]
    report["medians"] = [asdict(r) | {"errors": r.errors} for r in medians(results)]
    report["verdicts"] = print_table(medians(results), args.connections, args.only)
    report["attached"] = [r for conns in args.connections for r in attached_ratios(
        {m.target: m for m in medians(results) if m.connections == conns})]
    return report


def medians(results: list[Result]) -> list[Result]:
    """Per target and connection count: median req/s, p50, p99 and CPU per request
    (each its own median, over the rounds that measured it); errors summed."""
    out = []
    for key in dict.fromkeys((r.target, r.connections) for r in results):
        runs = [r for r in results if (r.target, r.connections) == key]
        mid = sorted(runs, key=lambda r: r.rps)[len(runs) // 2]
        out.append(replace(mid, p50_ms=statistics.median(r.p50_ms for r in runs),
                           p99_ms=statistics.median(r.p99_ms for r in runs),
                           cpu_us_per_req=median_of(r.cpu_us_per_req for r in runs),
                           user_us_per_req=median_of(r.user_us_per_req for r in runs),
                           sys_us_per_req=median_of(r.sys_us_per_req for r in runs),
                           socket_errors=sum(r.socket_errors for r in runs),
                           non_2xx=sum(r.non_2xx for r in runs)))
    return out


def median_of(values) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so finally blocks run
    args = parse_args(argv)
    try:
        report = run(args)
    except KeyboardInterrupt:
        print("\ninterrupted; every child process was stopped", file=sys.stderr)
        return 130
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nresults written to {args.json}")
    if "zerodown_error" in report:
        last = report["zerodown_error"].strip().splitlines()[-1]
        print(f"\nzerodown proxy failed to start: {last}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
