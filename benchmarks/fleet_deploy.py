"""Deployments across a fleet of SSH hosts under load: failed requests and time vs the
critical path (issue 14: 3 hosts x 2 instances, 0 failed, ratio <= 1.15).

    .venv/bin/python benchmarks/fleet_deploy.py            # as root: rolling, canary, blue-green
    .venv/bin/python benchmarks/fleet_deploy.py --only rolling --steps

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
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zerodown.engine import reconciling  # noqa: E402
from zerodown.engine.proof_recorder import ProofRecorder  # noqa: E402
from zerodown.model import Slot  # noqa: E402
from zerodown.plan import Analyze, Drain, Pause, Stop, WaitHealthy  # noqa: E402
from zerodown.runtimes import release  # noqa: E402
from tests.e2e.stack import Stack  # noqa: E402
from tests.support.fleet import Fleet, available  # noqa: E402
from tests.support.net import free_port  # noqa: E402
from benchmarks.call_trace import CallTrace  # noqa: E402

HOSTS, PER_HOST = 3, 2
STRATEGIES = {
    "rolling": "{kind: rolling, max_surge: 3, max_unavailable: 0}",
    "blue-green": "{kind: blue-green, scale_down_delay: 1s}",
    "canary": "{kind: canary, steps: [{weight: 20}, {pause: 2s}, {weight: 50}, {pause: 2s}]}",
}
MARK = 59999  # the port rendered into the app's command, replaced on the host by a free one

# Run on a host (a part of the scripts below): poll the health path of the instances on
# `ports` every 5 ms from the host itself until all answer 200, or `alive()` is false, or
# 30 s passed; the ports that never answered.
AWAIT_HEALTHY = r"""
import http.client, time

def await_healthy(host, path, ports, began, alive=lambda: True):
    waiting = set(ports)
    while waiting and time.monotonic() - began < 30 and alive():
        for port in sorted(waiting):
            c = http.client.HTTPConnection(host, int(port), timeout=1)
            try:
                c.request("GET", path)
                if c.getresponse().status == 200:
                    waiting.discard(port)
            except (OSError, http.client.HTTPException):
                pass
            finally:
                c.close()
        if waiting:
            time.sleep(0.005)
    return waiting
"""

# Run on a host: start the instances together, poll each one's health path every 5 ms
# from the host itself until all answer 200, then SIGTERM them and time their exit.
APP_READY = AWAIT_HEALTHY + r"""
import json, signal, socket, subprocess, sys, time
spec = json.load(sys.stdin)
host, path, mark = spec["host"], spec["path"], spec["mark"]
held = [socket.socket() for _ in spec["instances"]]  # all bound at once: distinct ports
for sock in held:
    sock.bind((host, 0))
ports = [str(sock.getsockname()[1]) for sock in held]
for sock in held:
    sock.close()
procs = []
began = time.monotonic()
for (argv, env), port in zip(spec["instances"], ports):
    procs.append(subprocess.Popen([a.replace(mark, port) for a in argv], cwd=spec["cwd"],
                                  env={k: v.replace(mark, port) for k, v in env.items()},
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, start_new_session=True))
waiting = await_healthy(host, path, ports, began,
                        alive=lambda: all(p.poll() is None for p in procs))
ready = time.monotonic() - began
t = time.monotonic()
for p in procs:
    p.send_signal(signal.SIGTERM)
for p in procs:
    p.wait(30)
exited = [p.stderr.read().decode(errors="replace")[-300:] for p in procs if p.returncode]
print(json.dumps({"ready": ready, "exit": time.monotonic() - t, "unready": len(waiting),
                  "exited": exited}))
"""


def app_times(stack: Stack, number: int, shape: dict[str, int],
              samples: int) -> tuple[float, float]:
    """Median seconds for `shape` ({host: instances}) of revision `number` to be healthy
    when started together on their hosts, and to exit after SIGTERM: the app's own times,
    measured on the hosts."""
    runtime, config = stack.runtime, stack.config
    revision = stack.engine._revision(number)

    def on(host: str) -> dict:
        address = runtime.address_of(host)
        app = release.render(revision, Slot(0), "probe", MARK, address)
        spec = {"host": address, "path": config.health.path, "mark": str(MARK),
                "cwd": runtime.remote_dir, "instances":
                [[release.argv_of(app), release.instance_env(config, app)]] * shape[host]}
        done = runtime.connections.run(host, f"python3 -c {shlex.quote(APP_READY)}",
                                       input=json.dumps(spec), timeout=60)
        got = json.loads(done.stdout) if done.ok else None
        if got is None or got["unready"]:
            raise SystemExit(f"the app did not start on {host}: {done.stderr or got}")
        return got
    ready, exits = [], []
    with ThreadPoolExecutor(len(shape)) as pool:
        for _ in range(samples):
            got = list(pool.map(on, list(shape)))
            ready.append(max(g["ready"] for g in got))  # the batch: when all are healthy
            exits.append(max(g["exit"] for g in got))
    return statistics.median(ready), statistics.median(exits)


def critical_path(stack: Stack, number: int, steps, samples: int = 3) -> tuple[float, str]:
    """The plan's unavoidable time (see the module docstring) and how it adds up."""
    times: dict[tuple, tuple[float, float]] = {}
    total, parts = 0.0, []

    def measured(refs) -> tuple[float, float]:
        shape = Counter(stack.runtime.host_of(r.slot) for r in refs)
        key = tuple(sorted(shape.items()))
        if key not in times:
            times[key] = app_times(stack, number, dict(shape), samples)
        return times[key]
    for step in steps:
        if isinstance(step, WaitHealthy):
            ready, _ = measured(step.instances)
            total += ready
            parts.append(f"ready {ready:.2f}")
        elif isinstance(step, Pause) and step.duration:
            total += step.duration
            parts.append(f"pause {step.duration:g}")
        elif isinstance(step, Analyze):
            raise SystemExit("an Analyze step's window is not counted by this benchmark yet")
        elif isinstance(step, Drain) and not hasattr(stack.router, "unanswered"):
            raise SystemExit("a router that cannot report in-flight requests: count drain_timeout")
    if steps and isinstance(steps[-1], Stop):
        _, exit_s = measured(steps[-1].instances)
        total += exit_s
        parts.append(f"exit {exit_s:.2f}")
    return total, " + ".join(parts)


def deploy(stack: Stack, version: str, samples: int, trace: bool = False) -> dict:
    """Deploy `version`, then measure its critical path in the same conditions."""
    calls = traced(stack) if trace else None
    began, wall = time.monotonic(), time.time()
    if calls is not None:
        calls.begin()
    try:
        id = stack.engine.deploy(version)
        phase = stack.engine.run(id)
        took = time.monotonic() - began
    finally:
        if calls is not None:
            calls.undo()
    d = stack.store.deployment(id)
    path_s, parts = critical_path(stack, d.to_revision, d.steps, samples)
    return {"phase": str(phase), "deploy_s": took, "critical_path_s": path_s, "parts": parts,
            "ratio": took / path_s, "steps": timeline(stack.store, id, wall),
            "calls": calls.lines() if calls is not None else []}


def traced(stack: Stack) -> CallTrace:
    """The calls a deployment makes, timed (--trace): the engine's, the store's, the
    router's, the runtime's and each host's round trips."""
    calls = CallTrace()
    calls.wrap(stack.runtime, "start", "stop", "look", "adopt", "check_release", "alive",
               label="runtime")
    calls.wrap(stack.runtime, "_probe", label="runtime")
    for name, host in stack.runtime.hosts.items():
        host_times(calls, host, name)
        calls.wrap(host, "table", label=name)
    calls.wrap(stack.router, "apply", "stats", "in_force", "drain_state", label="router")
    calls.wrap(stack.store, "create_deployment", "begin_step", "finish_step", "stage_table",
               "set_phase", "finish", "begin_proof", "end_proof", "set_instances",
               label="store")
    calls.wrap_tx(stack.store)
    calls.wrap(stack.engine, "recover", "_settle_routing", "_await_stops", label="engine")
    calls.wrap_module(reconciling, "reconcile")
    calls.wrap_class(ProofRecorder, "__enter__", "__exit__")
    return calls


def host_times(calls: CallTrace, host, name: str) -> None:
    """The host's own times of a start, a look's wait and a stop (their answers' "at"), as
    events in the trace: "zdf1 shop-r2-s6 spawning". Set as the host's own `table`, which
    calls.wrap then wraps, so its undo removes both."""
    table = host.table

    def timed(remote_dir, op, *args, **kwargs):
        got = table(remote_dir, op, *args, **kwargs)
        if isinstance(got, dict) and isinstance(got.get("at"), dict):
            for what, wall in sorted(got["at"].items(), key=lambda kv: kv[1]):
                calls.mark(f"{name} {args[0]} {op}: {what}", wall)
        return got
    host.table = timed


def one(fleet: Fleet, name: str, samples: int, interval: str, trace: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="zd-fleet-") as tmp:
        path = Path(tmp) / "zerodown.yaml"
        text = fleet.service_config(free_port(), STRATEGIES[name], PER_HOST)
        assert "interval: 100ms" in text
        path.write_text(text.replace("interval: 100ms", f"interval: {interval}"))
        stack = Stack(path, Path(tmp) / "state")
        try:
            stack.deploy("v1")
            loaded, result = stack.under_load(lambda: deploy(stack, "v2", samples, trace),
                                              connections=8, duration=120, apart=True)
            quiet = deploy(stack, "v3", samples)
        finally:
            stack.close()
    return {"strategy": name, "failed": result.failed(), "requests": result.sent,
            "loaded": loaded, "quiet": quiet}


def timeline(store, id: int, began: float) -> list[str]:
    """Each step of deployment `id`: when it began and how long it took, from the store."""
    return [f"  {r.started_at - began:6.3f} s "
            f"+{(r.finished_at or r.started_at) - r.started_at:6.3f} s  {r.description}"
            for r in store.steps(id)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=list(STRATEGIES))
    parser.add_argument("--rounds", type=int, default=1, help="each strategy this many times")
    parser.add_argument("--samples", type=int, default=3, help="app start measurements per batch")
    parser.add_argument("--interval", default="20ms",
                        help="health.interval (as deploy_bench.py: a probe is cheap; the wait "
                             "for the next probe after an instance is ready is not counted)")
    parser.add_argument("--steps", action="store_true",
                        help="print each step's start and duration (deployment under load)")
    parser.add_argument("--trace", action="store_true",
                        help="print every call of the deployment under load: the engine's, "
                             "the store's, the router's, the runtime's, each host's round trip")
    args = parser.parse_args()
    why = available()
    if why:
        print(f"cannot build the fleet: {why}")
        return 1
    with Fleet(HOSTS) as fleet:
        for _ in range(args.rounds):
            for name in [args.only] if args.only else list(STRATEGIES):
                r = one(fleet, name, args.samples, args.interval, args.trace)
                for label, d in (("under load", r["loaded"]), ("without load", r["quiet"])):
                    print(f"{name:10} {label:12} {d['phase']:9} deploy {d['deploy_s']:5.3f} s "
                          f"critical path {d['critical_path_s']:5.3f} s ({d['parts']}) "
                          f"ratio {d['ratio']:.2f}")
                print(f"{name:10} failed {r['failed']} of {r['requests']} requests", flush=True)
                if args.steps:
                    print("\n".join(r["loaded"]["steps"]))
                if args.trace:
                    print("\n".join(r["loaded"]["calls"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
