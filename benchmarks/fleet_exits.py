"""How a batch's start is slowed by the previous batch's exits beside it (issue 14's
rolling figure), on the test fleet, under load and without:

    .venv/bin/python benchmarks/fleet_exits.py --samples 5

On each of the 3 hosts, measured there (no SSH, no controller, as fleet_deploy.py's
critical path): `--per` instances of the example app become healthy
- alone: nothing else starts or stops on the hosts;
- beside: as many old instances (already running) are SIGTERMed at the same moment;
- low: the same, the old ones first given a low CPU priority (their process group's
  nice and their session's autogroup nice, --nice, 10 as zerodown/hosts/priority.py);
- lowexit: the old ones at that low priority SIGTERMed, nothing starting (how long
  such an exit takes beside the load alone).
Printed per mode: the batch's ready time (all hosts), the old instances' exit time
(from the SIGTERM at the batch's start), and the CPU the exit took (the old processes'
CPU after SIGTERM, median per instance); alone: the batch's own exit after SIGTERM with
nothing beside it (with --per 2: two batches' exits at once, a plan's tail that stopped
the previous batch only at the end).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.stack import Stack  # noqa: E402
from tests.support.fleet import Fleet, available  # noqa: E402
from tests.support.net import free_port  # noqa: E402
from benchmarks.fleet_deploy import (AWAIT_HEALTHY, HOSTS, PER_HOST, SPAWN,  # noqa: E402
                                     STRATEGIES, run_on_host)

BATCH = AWAIT_HEALTHY + SPAWN + r"""
import threading
n, mode = spec["n"], spec["mode"]

def ready(ps, began):
    if await_healthy(host, path, ps, began):
        raise SystemExit(f"the app did not answer on {host} within 30 s")
    return time.monotonic() - began

def cpu_ns(pid):
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{t}/schedstat") as f:
            total += int(f.read().split()[0])
    return total

old = []
if mode != "alone":
    ops = ports(n)
    old = [launch(p) for p in ops]
    ready(ops, time.monotonic())
    time.sleep(0.05)
nps = ports(n)
before = {}
began = time.monotonic()
for p in old:
    if mode in ("low", "lowexit"):
        os.setpriority(os.PRIO_PGRP, p.pid, spec["nice"])
        with open(f"/proc/{p.pid}/autogroup", "w") as f:
            f.write(str(spec["nice"]))
    before[p.pid] = cpu_ns(p.pid)
    os.killpg(p.pid, signal.SIGTERM)
exits, cpus = [], []

def reap(p):
    _, status, usage = os.wait4(p.pid, 0)
    exits.append(time.monotonic() - began)
    cpus.append((usage.ru_utime + usage.ru_stime) - before[p.pid] / 1e9)
reapers = [threading.Thread(target=reap, args=(p,)) for p in old]
for t in reapers:
    t.start()
new = [launch(p) for p in nps] if mode != "lowexit" else []
took = ready(nps, began) if new else 0.0
for t in reapers:
    t.join()
t = time.monotonic()
for p in new:
    p.send_signal(signal.SIGTERM)
for p in new:
    p.wait(30)
alone = time.monotonic() - t  # the new ones' exit, nothing beside it
print(json.dumps({"ready": took, "exit": max(exits) if exits else alone, "cpu": cpus}))
"""


def batch(stack: Stack, mode: str, per: int, nice: int) -> dict:
    revision = stack.engine._revision(stack.store.deployments(stack.config.service)[-1]
                                      .to_revision)

    def on(host: str) -> dict:
        return run_on_host(stack, revision, host, BATCH, n=per, mode=mode, nice=nice)
    with ThreadPoolExecutor(HOSTS) as pool:
        got = list(pool.map(on, list(stack.runtime.names)))
    return {"ready": max(g["ready"] for g in got), "exit": max(g["exit"] for g in got),
            "cpu": [c for g in got for c in g["cpu"]]}


def report(label: str, runs: dict[str, list[dict]]) -> None:
    for mode, rs in runs.items():
        ready = statistics.median(r["ready"] for r in rs)
        ex = statistics.median(r["exit"] for r in rs)
        line = f"{label:12} {mode:6} ready {ready * 1000:6.1f} ms"
        if mode == "alone":
            line += f"  its exit alone {ex * 1000:6.1f} ms"
        elif mode == "lowexit":
            line = f"{label:12} {mode:7} the old ones' exit at their low nice, nothing " \
                   f"starting: {ex * 1000:6.1f} ms"
            print(line, flush=True)
            continue
        else:
            cpu = statistics.median(c for r in rs for c in r["cpu"])
            line += f"  old exited {ex * 1000:6.1f} ms  exit CPU {cpu * 1000:5.1f} ms/instance"
        line += "  (each: " + ", ".join(f"{r['ready'] * 1000:.0f}" for r in rs) + ")"
        print(line, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--per", type=int, default=1, help="instances per host in a batch")
    parser.add_argument("--nice", type=int, default=10, help="the nice of the low modes")
    args = parser.parse_args()
    why = available()
    if why:
        print(f"cannot build the fleet: {why}")
        return 1
    modes = ("alone", "beside", "low", "lowexit")
    with Fleet(HOSTS) as fleet, tempfile.TemporaryDirectory(prefix="zd-exits-") as tmp:
        path = Path(tmp) / "zerodown.yaml"
        path.write_text(fleet.service_config(free_port(), STRATEGIES["rolling"], PER_HOST))
        stack = Stack(path, Path(tmp) / "state")
        try:
            stack.deploy("v1")

            def measure() -> dict[str, list[dict]]:
                runs: dict[str, list[dict]] = {m: [] for m in modes}
                for _ in range(args.samples):
                    for m in modes:  # interleaved
                        runs[m].append(batch(stack, m, args.per, args.nice))
                return runs
            report("without load", measure())
            loaded, result = stack.under_load(measure, connections=8, duration=120,
                                              apart=True)
            report("under load", loaded)
            print(f"load: {result.sent} requests, {result.failed()} failed")
        finally:
            stack.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
