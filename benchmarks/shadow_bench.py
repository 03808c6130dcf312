"""The cost of shadow traffic to users: the embedded proxy's req/s and p99 with a shadow at
100% (every GET copied to a third backend and compared) vs none, in one run.

    .venv/bin/python benchmarks/shadow_bench.py --rounds 3 --duration 5 --connections 64

Backends are nginx (proxy_bench.py's: two serving, a third as the shadow); wrk with 1
thread and browser headers. Rounds interleave off/on so a busy machine moves both alike;
medians are reported, with the ratio on/off, wrk's non-2xx and socket errors, and the
shadow's own counts (compared, differing, dropped: a copy the queue had no room for).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from proxy_bench import (admin_call, free_port, parse_wrk, run_wrk,  # noqa: E402
                         start_backends, start_zerodown)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=64)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="shadow-bench-") as tmpdir:
        tmp = Path(tmpdir)
        ports = [free_port() for _ in range(3)]
        backends = start_backends(tmp, ports)
        port = free_port()
        proxy = start_zerodown(tmp, port, ports[:2])
        sock = tmp / "admin.sock"
        results: dict[str, list] = {"off": [], "on": []}
        shadow: dict = {}
        try:
            run_wrk(port, args.connections, 1.0)  # warm-up
            for _ in range(args.rounds):
                for mode in ("off", "on"):
                    if mode == "on":
                        status, text = admin_call(sock, "PUT", "/shadow", {
                            "address": f"127.0.0.1:{ports[2]}", "percent": 100,
                            "body": "exact"})
                        assert status == 200, text
                    out = run_wrk(port, args.connections, args.duration)
                    results[mode].append(parse_wrk(mode, args.connections, out))
                    if mode == "on":
                        status, text = admin_call(sock, "DELETE", "/shadow")
                        got = json.loads(text)
                        for key in ("offered", "compared", "differing", "dropped", "timed_out",
                                    "failed"):
                            shadow[key] = shadow.get(key, 0) + got[key]
        finally:
            proxy.stop()
            backends.stop()
    rows = {}
    for mode, runs in results.items():
        rows[mode] = {"rps": statistics.median(r.rps for r in runs),
                      "p99_ms": statistics.median(r.p99_ms for r in runs),
                      "errors": sum(r.errors for r in runs)}
        print(f"shadow {mode:3}: {rows[mode]['rps']:9.0f} req/s  p99 {rows[mode]['p99_ms']:6.2f} ms"
              f"  errors {rows[mode]['errors']}   (rounds: "
              + ", ".join(f"{r.rps:.0f}" for r in runs) + ")")
    print(f"on/off: req/s {rows['on']['rps'] / rows['off']['rps']:.3f}, "
          f"p99 {rows['on']['p99_ms'] / rows['off']['p99_ms']:.2f}")
    print("shadow counts:", json.dumps(shadow))
    return 0


if __name__ == "__main__":
    sys.exit(main())
