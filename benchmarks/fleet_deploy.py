"""Deployments across a fleet of SSH hosts under load: failed requests and time vs the
critical path (issue 14: 3 hosts x 2 instances, 0 failed, ratio <= 1.15).

    .venv/bin/python benchmarks/fleet_deploy.py            # as root: rolling, canary, blue-green
    .venv/bin/python benchmarks/fleet_deploy.py --only rolling --steps
    .venv/bin/python benchmarks/fleet_deploy.py --only rolling --start-delay 1

Builds the test fleet (tests/support/fleet.py), runs the example app on every host
(runtime: ssh, slot i on host i mod 3) behind the embedded proxy on this machine,
deploys v1, then v2 with each strategy while a load generator (8 connections) counts
every response, then v3 without load. The load runs in a process of its own: a user's
clients are never inside the controller's process, sharing its interpreter lock.

The critical path is what no deployment tool could avoid, summed along the plan's steps
(each waits for the one before): for every WaitHealthy, the app's own time from its
start to its first healthy answer, the batch's instances started together on their
hosts, measured on each host itself (spawned there directly, /healthz polled every 5 ms
from the host: no SSH, no controller); every timed pause as configured (an Analyze
window likewise); a drain counts 0 (the embedded proxy reports when in-flight requests
are done, within milliseconds; drain_timeout would count where a router cannot tell);
routing and stops count 0 (stops run in the background), but the deployment's last
stop counts the old instances' exit after SIGTERM (measured the same way), since
run() returns once they are gone. Each batch shape is measured under the same load as
the deployment it is the critical path of (v2 under load, v3 without).

"In the plan's conditions" (printed where it differs): the same, but a batch that the
plan boots while it stops the previous batch's old instances (rolling with surge: Stop,
then WaitHealthy) is measured with as many of the app's instances SIGTERMed on each host
at its start. Their exit is the app's own CPU, which the plan runs beside that boot; on
the test fleet the 3 hosts share this machine's 2 cores, so it slows the boot here where
hosts with cores of their own would not feel it. Neither path counts the controller.

Every row also prints the overhead, deployment - critical path, in milliseconds. With
--start-delay S each round deploys the example app as above and then, beside it, the app
made ready S seconds after its start (APP_START_DELAY, like a service that loads for a
second): its critical path grows by S per batch, the deployment's own work does not, so
its overhead shows as the same milliseconds where its ratio tends to 1.

Each row also prints the floor (benchmarks/fleet_floor.py): the links any controller that
drives the hosts over SSH and the load balancer over its admin interface pays along the
plan at the least, measured right after the deployment in its conditions, and the ratio
such a controller could show at best.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zerodown.engine import applying, reconciling  # noqa: E402
from zerodown.engine.proof_recorder import ProofRecorder  # noqa: E402
from tests.e2e.stack import Stack  # noqa: E402
from tests.support.fleet import Fleet, available  # noqa: E402
from tests.support.net import free_port  # noqa: E402
from benchmarks.call_trace import CallTrace  # noqa: E402
from benchmarks import fleet_floor  # noqa: E402
from benchmarks.fleet_path import critical_paths  # noqa: E402

HOSTS, PER_HOST = 3, 2
STRATEGIES = {
    "rolling": "{kind: rolling, max_surge: 3, max_unavailable: 0}",
    "blue-green": "{kind: blue-green, scale_down_delay: 1s}",
    "canary": "{kind: canary, steps: [{weight: 20}, {pause: 2s}, {weight: 50}, {pause: 2s}]}",
}
LABELS = {"loaded": "under load", "quiet": "without load"}

def deploy(stack: Stack, version: str, samples: int, trace: bool = False) -> dict:
    """Deploy `version`, then measure its critical path in the same conditions."""
    calls = traced(stack) if trace else None
    began, wall, cpu = time.monotonic(), time.time(), controller_cpu()
    if calls is not None:
        calls.begin()
    try:
        id = stack.engine.deploy(version)
        phase = stack.engine.run(id)
        took = time.monotonic() - began
        cpu = controller_cpu() - cpu
    finally:
        if calls is not None:
            calls.undo()
    d = stack.store.deployment(id)
    paths = critical_paths(stack, d, samples)
    least, how = fleet_floor.floor(stack, d.steps)
    return {"phase": str(phase), "deploy_s": took, **paths, "floor_s": least, "floor": how,
            "ratio": took / paths["critical_path_s"], "controller_cpu_s": cpu,
            "plan_ratio": took / paths["plan_path_s"], "steps": timeline(stack.store, id, wall),
            "calls": calls.lines() if calls is not None else []}



def controller_cpu() -> float:
    """CPU seconds of this process (the controller: engine, store, SSH connections; the
    load is in a process of its own) and of its children that ended (none here)."""
    mine = resource.getrusage(resource.RUSAGE_SELF)
    return mine.ru_utime + mine.ru_stime


def traced(stack: Stack) -> CallTrace:
    """The calls a deployment makes, timed (--trace): the engine's, the store's, the
    router's, the runtime's and each host's round trips, and the collector's passes."""
    calls = CallTrace()
    calls.wrap(stack.runtime, "start", "stop", "look", "adopt", "check_release", "alive",
               label="runtime")
    calls.wrap(stack.runtime, "_probe", label="runtime")
    for name, host in stack.runtime.hosts.items():
        host_times(calls, host, name)
        calls.wrap(host, "table", "owned", "call", label=name)
    calls.wrap(stack.router, "apply", "stats", "in_force", "drain_state", "drain_look",
               label="router")
    calls.wrap(stack.store, "create_deployment", "begin_step", "finish_step", "stage_table",
               "set_phase", "finish", "begin_proof", "end_proof", "set_instances",
               label="store")
    calls.wrap_tx(stack.store)
    calls.watch_gc()
    idle = stack.runtime.connections._idle
    take = idle.take

    def taken(host, command, conn):
        found = take(host, command, conn)
        if found is None:  # a new session opens: a channel, the host's python3 starting
            calls.mark(f"{host}: a new session", time.time())
        return found
    idle.take = taken
    calls._undo.append((idle, "take", None))
    calls.wrap(stack.engine, "recover", "_await_stops", label="engine")
    calls.wrap_module(applying, "settle")
    calls.wrap_module(reconciling, "reconcile")
    calls.wrap_class(ProofRecorder, "__enter__", "__exit__")
    return calls


def host_times(calls: CallTrace, host, name: str) -> None:
    """The host's own times of a start, a look's wait and a stop (their answers' "at"), as
    events in the trace: "zdf1 shop-r2-s6 spawning". Set as the host's own `table` and
    `owned` (a start or stop: "owned" <id> "table" <method>), which calls.wrap then wraps,
    so its undo removes both."""
    table, owned = host.table, host.owned

    def mark(op, args, got):
        if isinstance(got, dict) and isinstance(got.get("at"), dict):
            for what, wall in sorted(got["at"].items(), key=lambda kv: kv[1]):
                calls.mark(f"{name} {args[0]} {op}: {what}", wall)
        return got

    def timed(remote_dir, op, *args, **kwargs):
        return mark(op, args, table(remote_dir, op, *args, **kwargs))

    def timed_owned(service_dir, my_id, op, *args, **kwargs):
        got = owned(service_dir, my_id, op, *args, **kwargs)
        return mark(args[0], args[1:], got) if op == "table" and args else got
    host.table, host.owned = timed, timed_owned


def config_text(fleet: Fleet, name: str, interval: str, start_delay: float = 0) -> str:
    """The benchmark's zerodown.yaml: the test fleet's service with strategy `name`,
    health.interval `interval`, the app ready `start_delay` seconds after its start."""
    text = fleet.service_config(free_port(), STRATEGIES[name], PER_HOST)
    env = 'env: {APP_DRAIN_TIMEOUT: "5"}'
    assert "interval: 100ms" in text and env in text
    text = text.replace("interval: 100ms", f"interval: {interval}")
    if start_delay:
        text = text.replace(env, f'env: {{APP_DRAIN_TIMEOUT: "5", '
                                 f'APP_START_DELAY: "{start_delay:g}"}}')
    return text


def one(fleet: Fleet, name: str, samples: int, interval: str, trace: bool = False,
        start_delay: float = 0, rate: float | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="zd-fleet-") as tmp:
        path = Path(tmp) / "zerodown.yaml"
        path.write_text(config_text(fleet, name, interval, start_delay))
        fleet.forget_owners()  # each round's state folder is another controller (hosts/owner.py)
        stack = Stack(path, Path(tmp) / "state")
        try:
            stack.deploy("v1")
            loaded, result = stack.under_load(lambda: deploy(stack, "v2", samples, trace),
                                              connections=8, duration=120, apart=True,
                                              rate=rate)
            quiet = deploy(stack, "v3", samples, trace)
        finally:
            stack.close()
    label = f"{name} +{start_delay:g}s" if start_delay else name
    return {"strategy": label, "failed": result.failed(), "requests": result.sent,
            "loaded": loaded, "quiet": quiet}


def timeline(store, id: int, began: float) -> list[str]:
    """Each step of deployment `id`: when it began and how long it took, from the store."""
    return [f"  {r.started_at - began:6.3f} s "
            f"+{(r.finished_at or r.started_at) - r.started_at:6.3f} s  {r.description}"
            for r in store.steps(id)]


def report(r: dict, steps: bool, trace: bool) -> None:
    """One strategy's rows: each deployment's time, its critical path, their ratio and
    the overhead (deployment - path) in ms; its steps and calls when asked."""
    name = r["strategy"]
    for label, d in ((LABELS[k], r[k]) for k in ("loaded", "quiet")):
        print(f"{name:10} {label:12} {d['phase']:9} deploy {d['deploy_s']:5.3f} s "
              f"critical path {d['critical_path_s']:5.3f} s ({d['parts']}) "
              f"ratio {d['ratio']:.2f}, overhead "
              f"{(d['deploy_s'] - d['critical_path_s']) * 1000:.0f} ms, the controller's CPU "
              f"{d['controller_cpu_s'] * 1000:.0f} ms")
        if d["plan_parts"] != d["parts"]:
            print(f"{'':10} {'':12} {'':9} {'':14} in the plan's conditions "
                  f"{d['plan_path_s']:5.3f} s ({d['plan_parts']}) ratio {d['plan_ratio']:.2f}, "
                  f"overhead {(d['deploy_s'] - d['plan_path_s']) * 1000:.0f} ms")
        print(f"{'':10} {'':12} {'':9} {'':14} the floor {d['floor_s'] * 1000:.0f} ms "
              f"({d['floor']}): at best ratio "
              f"{(d['critical_path_s'] + d['floor_s']) / d['critical_path_s']:.2f}")
    print(f"{name:10} failed {r['failed']} of {r['requests']} requests", flush=True)
    for label in ("loaded", "quiet"):
        if steps:
            print(f"{name} {LABELS[label]}, its steps:")
            print("\n".join(r[label]["steps"]))
        if trace:
            print(f"{name} {LABELS[label]}, its calls:")
            print("\n".join(r[label]["calls"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=list(STRATEGIES))
    parser.add_argument("--rounds", type=int, default=1, help="each strategy this many times")
    parser.add_argument("--samples", type=int, default=3, help="app start measurements per batch")
    parser.add_argument("--interval", default="20ms",
                        help="health.interval (as deploy_bench.py: a probe is cheap; the wait "
                             "for the next probe after an instance is ready is not counted)")
    parser.add_argument("--steps", action="store_true",
                        help="print each step's start and duration")
    parser.add_argument("--trace", action="store_true",
                        help="print every call of each deployment: the engine's, "
                             "the store's, the router's, the runtime's, each host's round trip")
    parser.add_argument("--start-delay", type=float, default=0, metavar="S",
                        help="also deploy, after the example app, the app ready S seconds "
                             "after its start (APP_START_DELAY): the overhead in ms apart "
                             "from the app's boot")
    parser.add_argument("--rate", type=float, default=None, metavar="R",
                        help="the load paced at R requests a second (all 8 connections "
                             "together) instead of as fast as the machine answers")
    args = parser.parse_args()
    if not 0 <= args.start_delay < 8:   # the test fleet's health.start_timeout is 10 s
        parser.error(f"--start-delay {args.start_delay:g}: 0 to 8 seconds (the test fleet's "
                     f"instances must be healthy within 10 s of their start)")
    why = available()
    if why:
        print(f"cannot build the fleet: {why}")
        return 1
    delays = [0.0] + ([args.start_delay] if args.start_delay else [])
    with Fleet(HOSTS) as fleet:
        for _ in range(args.rounds):
            for name in [args.only] if args.only else list(STRATEGIES):
                for delay in delays:
                    report(one(fleet, name, args.samples, args.interval, args.trace, delay,
                               args.rate),
                           args.steps, args.trace)
    return 0


if __name__ == "__main__":
    sys.exit(main())
