"""Deployments across a fleet of SSH hosts under load: failed requests and time vs the
critical path (issue 14: 3 hosts x 2 instances, 0 failed, ratio <= 1.15).

    .venv/bin/python benchmarks/fleet_deploy.py                  # as root: rolling, canary, blue-green
    .venv/bin/python benchmarks/fleet_deploy.py --only rolling

Builds the test fleet (tests/support/fleet.py), runs the example app on every host
(runtime: ssh, slot i on host i mod 3) behind the embedded proxy on this machine,
deploys v1, then v2 with each strategy while a load generator (8 connections) counts
every response, then v3 without load (the load generator shares the 2 cores: the
critical path is measured without it too). The critical path is measured on the same fleet: the median time for
one batch (max_surge instances, one per host) to start and pass its health check,
times the number of batches (for blue/green: one batch of all 6; canary adds its pauses).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from deploy_bench import start_plus_health  # noqa: E402  (slots 1000+: one per host in turn)

from tests.e2e.stack import Stack  # noqa: E402
from tests.support.fleet import Fleet, available  # noqa: E402
from tests.support.net import free_port  # noqa: E402

HOSTS, PER_HOST = 3, 2
STRATEGIES = {  # name: (strategy, batches, pauses in seconds)
    "rolling": ("{kind: rolling, max_surge: 3, max_unavailable: 0}", 2, 0.0),
    "blue-green": ("{kind: blue-green, scale_down_delay: 1s}", 1, 1.0),  # the delay waits
    "canary": ("{kind: canary, steps: [{weight: 20}, {pause: 2s}, {weight: 50}, {pause: 2s}]}",
               None, 4.0),
}


def one(fleet: Fleet, name: str) -> dict:
    strategy, batches, pauses = STRATEGIES[name]
    with tempfile.TemporaryDirectory(prefix="zd-fleet-") as tmp:
        path = Path(tmp) / "zerodown.yaml"
        path.write_text(fleet.service_config(free_port(), strategy, PER_HOST))
        stack = Stack(path, Path(tmp) / "state")
        try:
            stack.deploy("v1")
            size = HOSTS if name == "rolling" else HOSTS * PER_HOST
            batch = start_plus_health(stack.runtime, stack.config, size, samples=3)
            def timed():
                began = time.monotonic()
                return stack.deploy("v2"), time.monotonic() - began
            (phase, took), result = stack.under_load(timed, connections=8, duration=120)
            began = time.monotonic()
            stack.deploy("v3")
            quiet = time.monotonic() - began
        finally:
            stack.close()
            stack.runtime.close()
    # canary: the new set comes up in one batch (its first weight), then pauses
    path_s = (batches or 1) * batch + pauses
    return {"strategy": name, "phase": str(phase), "failed": result.failed(),
            "requests": result.sent, "deploy_s": took, "critical_path_s": path_s,
            "ratio": took / path_s, "batch_s": batch, "quiet_s": quiet,
            "quiet_ratio": quiet / path_s}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=list(STRATEGIES))
    args = parser.parse_args()
    why = available()
    if why:
        print(f"cannot build the fleet: {why}")
        return 1
    with Fleet(HOSTS) as fleet:
        for name in [args.only] if args.only else list(STRATEGIES):
            r = one(fleet, name)
            print(f"{r['strategy']:10} {r['phase']:18} failed {r['failed']} of {r['requests']} "
                  f"requests; deploy {r['deploy_s']:.2f} s, "
                  f"critical path {r['critical_path_s']:.2f} s (batch {r['batch_s']:.2f} s), "
                  f"ratio {r['ratio']:.2f}; without load (v3) {r['quiet_s']:.2f} s, "
                  f"ratio {r['quiet_ratio']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
