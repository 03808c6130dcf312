"""Measure the latency histogram and error rate of the example app behind the real embedded
proxy, for benchmarks/analysis/run.py to simulate traffic from.

    .venv/bin/python benchmarks/analysis/measure.py [--rps 500] [--seconds 10]

Starts examples/app/app.py and `zerodown proxy` on free loopback ports, sends
`rps` requests a second through the proxy with zerodown.loadgen, reads the
revision's counters from the proxy's admin API and writes measured.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.procs import start_app  # noqa: E402
from tests.support.proxy import ProxyProcess, table_of  # noqa: E402
from zerodown.loadgen import run_load_sync  # noqa: E402

OUT = Path(__file__).with_name("measured.json")


def measure(rps: float, seconds: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="zd-measure-") as tmp:
        proxy, app = ProxyProcess(Path(tmp)), None
        try:
            proxy.start()
            app = start_app("v1")
            proxy.apply(table_of(1, ("r1", 100, [app])))
            load = run_load_sync(proxy.url + "/", connections=4, rate=rps, duration=seconds)
            stats = proxy.stats()["revisions"]["r1"]
        finally:
            if app is not None:
                app.cleanup()
            proxy.cleanup()
    return {"made_by": f"benchmarks/analysis/measure.py --rps {rps:g} --seconds {seconds:g}",
            "when": time.strftime("%Y-%m-%d %H:%M:%S"), "requests": stats["requests"],
            "failures": stats["responses"]["5xx"], "latency_ms": stats["latency_ms"],
            "bounds_s": stats["buckets"]["bounds_s"], "counts": stats["buckets"]["counts"],
            "load": load.summary()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rps", type=float, default=500)
    p.add_argument("--seconds", type=float, default=10)
    args = p.parse_args()
    data = measure(args.rps, args.seconds)
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"{data['requests']} requests, {data['failures']} failed, latency {data['latency_ms']}"
          f" -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
