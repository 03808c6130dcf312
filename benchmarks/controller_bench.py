"""The controller's figures (issue 13): `zerodown status` round trip, API latency while a
deployment runs under load, and how soon a SIGKILLed controller holds its deployment again.

    .venv/bin/python benchmarks/controller_bench.py            # 30 status runs, 10 s of API load
    .venv/bin/python benchmarks/controller_bench.py --status-runs 10 --api-seconds 5

Targets: status ≤ 150 ms (median, whole process: fork to exit, measured from outside),
API p99 ≤ 20 ms while a canary deployment runs under 8 connections of load, a killed
controller resumed ≤ 2 s after the next CLI call started.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from zerodown import example  # noqa: E402
from zerodown.controller import lock_holder  # noqa: E402

ENDPOINTS = ("/api/v1/status", "/api/v1/deployments/current", "/api/v1/events?after=0&limit=100",
             "/api/v1/metrics?window=300", "/api/v1/table", "/api/v1/deployments?limit=20")
CANARY = ["--strategy", "canary", "--set",
          "strategy.steps=[{weight: 20}, {pause: 4s}, {weight: 50}, {pause: 4s}]"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    def __init__(self, folder: Path):
        self.folder, self.port = folder, free_port()
        self.file = folder / "zerodown.yaml"
        self.file.write_text(example.config_text(
            "shop", f"127.0.0.1:{self.port}", instances=3, health_interval="100ms",
            start_timeout="10s", drain_timeout="5s", stop_grace="3s"))
        self.state = folder / ".zerodown"
        self.env = {**os.environ, "PYTHONPATH": str(REPO)}

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "zerodown", "-f", str(self.file), *args]

    def run(self, *args: str) -> str:
        done = subprocess.run(self.argv(*args), env=self.env, cwd=self.folder, text=True,
                              capture_output=True, timeout=120)
        if done.returncode:
            raise SystemExit(f"zerodown {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout

    def get(self, path: str) -> tuple[float, dict]:
        conn = http.client.HTTPConnection("localhost", timeout=10)
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(str(self.state / "controller.sock"))
        conn.sock = sock
        started = time.perf_counter()
        conn.request("GET", path)
        body = conn.getresponse().read()
        took = time.perf_counter() - started
        conn.close()
        return took * 1000, json.loads(body)


def status_round_trips(s: Service, runs: int, argv: list[str] | None = None
                       ) -> tuple[list[float], list[float]]:
    """(wall ms, CPU ms) of each `zerodown status` process (or `argv`), fork to exit."""
    wall, cpu = [], []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.Popen(argv or s.argv("status"), env=s.env, cwd=s.folder,
                                stdout=subprocess.DEVNULL)
        _, code, usage = os.wait4(proc.pid, 0)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((usage.ru_utime + usage.ru_stime) * 1000)
        proc.returncode = os.waitstatus_to_exitcode(code)
        assert proc.returncode == 0
    return wall, cpu


def api_under_deployment(s: Service, seconds: float) -> tuple[dict[str, list[float]], dict]:
    """Each endpoint asked in turn, one request at a time (a fresh connection each, as the
    dashboard's page does on load), while a canary deploys under load (the load generator
    in a process of its own: in this one it would hold the GIL the timing thread waits for).
    Returns the samples and the load's result."""
    samples: dict[str, list[float]] = {e: [] for e in ENDPOINTS}
    load = subprocess.Popen([sys.executable, "-m", "zerodown.loadgen", "-c", "8", "-d",
                             str(seconds + 20), "--json", f"http://127.0.0.1:{s.port}/"],
                            env=s.env, stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)
    s.run("deploy", "v2", "--detach", *CANARY)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for path in ENDPOINTS:
            took, _ = s.get(path)
            samples[path].append(took)
    while s.get("/api/v1/status")[1]["deployment"] is not None:
        time.sleep(0.2)
    out, _ = load.communicate(timeout=120)  # it runs its duration out
    try:
        result = json.loads(out)
    except ValueError:
        result = {"output": out[-300:]}
    return samples, result


def restart(s: Service) -> float:
    """SIGKILL the controller mid-canary; seconds from the next CLI call's start until a new
    controller holds the deployment (the service's lock)."""
    s.run("deploy", "v3", "--detach", *CANARY)
    time.sleep(1.0)
    lock = str(s.state / "zerodown.db-shop.lock")
    old = lock_holder(lock)
    os.kill(old, signal.SIGKILL)
    while lock_holder(lock) == old:
        time.sleep(0.005)
    started = time.perf_counter()
    cli = subprocess.Popen(s.argv("status"), env=s.env, cwd=s.folder,
                           stdout=subprocess.DEVNULL)
    while lock_holder(lock) in (None, old):
        time.sleep(0.005)
    took = time.perf_counter() - started
    cli.wait()
    while s.get("/api/v1/status")[1]["deployment"] is not None:
        time.sleep(0.2)
    return took


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--status-runs", type=int, default=30)
    p.add_argument("--api-seconds", type=float, default=10.0)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="zd-ctl-") as tmp:
        s = Service(Path(tmp))
        s.run("up")
        try:
            status, cpu = status_round_trips(s, args.status_runs)
            # the same machine's cost of starting Python at all, measured alongside
            bare, bare_cpu = status_round_trips(s, args.status_runs, [sys.executable, "-c", "0"])
            api, load = api_under_deployment(s, args.api_seconds)
            resumed = restart(s)
        finally:
            s.run("down")
    busy = os.getloadavg()[0]
    every = [t for v in api.values() for t in v]
    print(f"machine load average (1 min) at the end: {busy:.1f} on {os.cpu_count()} cores")
    print(f"zerodown status, whole process, {len(status)} runs: median "
          f"{statistics.median(status):.0f} ms, p90 {pct(status, 90):.0f} ms, max "
          f"{max(status):.0f} ms (target ≤ 150 ms median): "
          f"{'PASS' if statistics.median(status) <= 150 else 'FAIL'}; its CPU time (user + "
          f"system): median {statistics.median(cpu):.0f} ms")
    print(f"  python -c 0 alongside (Python starting, nothing else): median "
          f"{statistics.median(bare):.0f} ms, CPU {statistics.median(bare_cpu):.0f} ms")
    print(f"API during a canary under load, {len(every)} requests: p50 {pct(every, 50):.1f} ms, "
          f"p99 {pct(every, 99):.1f} ms, max {max(every):.1f} ms (target p99 ≤ 20 ms): "
          f"{'PASS' if pct(every, 99) <= 20 else 'FAIL'}")
    print(f"  the load meanwhile: {load.get('sent', '?')} requests, statuses "
          f"{load.get('statuses', load)}, errors {load.get('errors', {})}")
    for path, values in api.items():
        print(f"  {path:40} n={len(values):4}  p50 {pct(values, 50):5.1f}  "
              f"p99 {pct(values, 99):5.1f}  max {max(values):5.1f} ms")
    print(f"killed controller holding its deployment again {resumed:.2f} s after the next CLI "
          f"call started (target ≤ 2 s): {'PASS' if resumed <= 2 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
