"""A fleet deployment's critical path: what no deployment tool could avoid along its plan,
the app's own times measured on the hosts themselves (benchmarks/fleet_deploy.py's
docstring says what is counted and why; benchmarks/fleet_cli_deploy.py uses it too)."""

from __future__ import annotations

import json
import shlex
import statistics
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from zerodown.model import Slot
from zerodown.plan import Analyze, Drain, Pause, Stop, WaitHealthy
from zerodown.runtimes import release
from tests.e2e.stack import Stack

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

# Run on a host (a part of the scripts below): read the spec from stdin; `ports(k)` k free
# ports of the host's address, `launch(port)` the app (spec["app"]: argv and env, the
# MARK in them replaced by the port) in a session of its own.
SPAWN = r"""
import json, os, signal, socket, subprocess, sys, time
spec = json.load(sys.stdin)
host, path, mark, (argv, env) = spec["host"], spec["path"], spec["mark"], spec["app"]

def ports(k):
    held = [socket.socket() for _ in range(k)]  # all bound at once: distinct ports
    for sock in held:
        sock.bind((host, 0))
    got = [str(sock.getsockname()[1]) for sock in held]
    for sock in held:
        sock.close()
    return got

def launch(port):
    return subprocess.Popen([a.replace(mark, port) for a in argv], cwd=spec["cwd"],
                            env={k: v.replace(mark, port) for k, v in env.items()},
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
"""

# Run on a host: start the instances together, poll each one's health path every 5 ms
# from the host itself until all answer 200, then SIGTERM them and time their exit. With
# "beside": k, k instances are first started and made healthy, then SIGTERMed at the
# moment the batch starts (a rolling plan's previous batch leaving while this one boots).
APP_READY = AWAIT_HEALTHY + SPAWN + r"""
old_ports = ports(spec["beside"])
old = [launch(port) for port in old_ports]
if await_healthy(host, path, old_ports, time.monotonic()):
    raise SystemExit("the instances to stop beside the batch did not start")
new_ports = ports(spec["instances"])
began = time.monotonic()
for p in old:
    os.killpg(p.pid, signal.SIGTERM)
procs = [launch(port) for port in new_ports]
waiting = await_healthy(host, path, new_ports, began,
                        alive=lambda: all(p.poll() is None for p in procs))
ready = time.monotonic() - began
for p in old:
    p.wait(30)
t = time.monotonic()
for p in procs:
    p.send_signal(signal.SIGTERM)
for p in procs:
    p.wait(30)
exited = [p.stderr.read().decode(errors="replace")[-300:] for p in procs if p.returncode]
print(json.dumps({"ready": ready, "exit": time.monotonic() - t, "unready": len(waiting),
                  "exited": exited}))
"""


def run_on_host(stack: Stack, revision, host: str, script: str, **spec) -> dict:
    """Run a script made of SPAWN on `host` with the app of `revision` and `spec`; its
    answer (one JSON line)."""
    runtime, config = stack.runtime, stack.config
    address = runtime.address_of(host)
    app = release.render(revision, Slot(0), "probe", MARK, address)
    spec |= {"host": address, "path": config.health.path, "mark": str(MARK),
             "cwd": runtime.remote_dir,
             "app": [release.argv_of(app), release.instance_env(config, app)]}
    done = runtime.connections.run(host, f"python3 -c {shlex.quote(script)}",
                                   input=json.dumps(spec), timeout=60)
    if not done.ok:
        raise SystemExit(f"{host}: {done.stderr}")
    return json.loads(done.stdout)


def app_times(stack: Stack, number: int, shape: dict[str, int], beside: dict[str, int],
              samples: int) -> tuple[float, float]:
    """Median seconds for `shape` ({host: instances}) of revision `number` to be healthy
    when started together on their hosts, `beside` ({host: instances}) SIGTERMed at that
    moment, and for the batch to exit after SIGTERM: the app's own times, measured on the
    hosts."""
    revision = stack.engine._revision(number)

    def on(host: str) -> dict:
        got = run_on_host(stack, revision, host, APP_READY, instances=shape.get(host, 0),
                          beside=beside.get(host, 0))
        if got["unready"]:
            raise SystemExit(f"the app did not start on {host}: {got}")
        return got
    ready, exits = [], []
    hosts = sorted(set(shape) | set(beside))
    with ThreadPoolExecutor(len(hosts)) as pool:
        for _ in range(samples):
            got = list(pool.map(on, hosts))
            ready.append(max(g["ready"] for g in got))  # the batch: when all are healthy
            exits.append(max(g["exit"] for g in got))
    return statistics.median(ready), statistics.median(exits)


def critical_path(stack: Stack, number: int, steps, samples: int = 3,
                  beside_stops: bool = False) -> tuple[float, str]:
    """The plan's unavoidable time (see the module docstring) and how it adds up.
    `beside_stops`: a batch whose wait follows a Stop of the plan's (since the wait before)
    is measured with as many instances SIGTERMed on each host as it boots — the app's own
    exits, which the plan runs beside that boot on the same cores."""
    times: dict[tuple, tuple[float, float]] = {}
    total, parts = 0.0, []
    stopping: list = []

    def measured(refs, leaving=()) -> tuple[float, float]:
        shape = Counter(stack.runtime.host_of(r.slot) for r in refs)
        beside = Counter(stack.runtime.host_of(r.slot) for r in leaving)
        key = (tuple(sorted(shape.items())), tuple(sorted(beside.items())))
        if key not in times:
            times[key] = app_times(stack, number, dict(shape), dict(beside), samples)
        return times[key]
    for step in steps:
        if isinstance(step, Stop):
            stopping.extend(step.instances)
        elif isinstance(step, WaitHealthy):
            ready, _ = measured(step.instances, stopping if beside_stops else ())
            stopping = []
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


def critical_paths(stack: Stack, d, samples: int) -> dict:
    """Deployment `d`'s critical path, and in the plan's conditions (critical_path), with
    how each adds up."""
    path_s, parts = critical_path(stack, d.to_revision, d.steps, samples)
    plan_s, plan_parts = critical_path(stack, d.to_revision, d.steps, samples,
                                       beside_stops=True)
    return {"critical_path_s": path_s, "parts": parts, "plan_path_s": plan_s,
            "plan_parts": plan_parts}
