"""`zerodown demo`: the data plane shifting live traffic without a failed request.

Starts the embedded proxy in front of two instances of the example service
(v1), keeps a load generator running throughout, and then: brings up v2 and
sends it a 10% canary share, 50%, then all traffic; drains and stops v1;
restarts the proxy itself (hitless handover). At the end it prints, per
phase, how many requests were served and how many failed.

The control-plane issue turns this into real deployments (in-place, rolling,
blue/green, canary) driven by `zerodown deploy`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from zerodown.loadgen import LoadInBackground
from zerodown.model import Backend, RevisionRoute, RoutingTable
from zerodown.proxy.client import AdminClient

APP = Path(__file__).resolve().parent.parent / "examples" / "app" / "app.py"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_for(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout:g}s")
        time.sleep(0.02)


def answers(port: int, path: str = "/healthz") -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


@dataclass
class Child:
    popen: subprocess.Popen
    port: int
    name: str

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


class Demo:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.children: list[Child] = []
        self.proxy_port = free_port()
        self.admin = AdminClient(f"unix:{workdir / 'admin.sock'}")
        self.version = 0

    def start_app(self, version: str) -> Child:
        port = free_port()
        log = open(self.workdir / f"{version}-{port}.log", "wb")
        popen = subprocess.Popen([sys.executable, str(APP), "--port", str(port), "--version", version],
                                 stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        child = Child(popen, port, f"{version}-{port}")
        self.children.append(child)
        wait_for(lambda: answers(port), 10, f"instance {child.name} becoming healthy")
        return child

    def start_proxy(self) -> Child:
        log = open(self.workdir / "proxy.log", "ab")
        popen = subprocess.Popen(
            [sys.executable, "-m", "zerodown", "proxy", "--listen", f"{HOST}:{self.proxy_port}",
             "--admin", f"unix:{self.workdir / 'admin.sock'}", "--state", str(self.workdir / "proxy.json")],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        child = Child(popen, self.proxy_port, f"proxy-{popen.pid}")
        self.children.append(child)
        marker = f"pid={popen.pid}"
        wait_for(lambda: marker in (self.workdir / "proxy.log").read_text(), 10, "the proxy starting")
        return child

    def route(self, shares: list[tuple[str, float, list[Child]]]) -> None:
        self.version += 1
        self.admin.apply(RoutingTable(self.version, tuple(
            RevisionRoute(name, weight, tuple(Backend(c.name, f"{HOST}:{c.port}") for c in apps))
            for name, weight, apps in shares)))

    def cleanup(self) -> None:
        for child in reversed(self.children):
            child.stop()


def run(workdir: Path) -> int:
    demo = Demo(workdir)
    rows: list[tuple[str, float, int, int, str]] = []
    try:
        print("starting the proxy and two instances of v1 ...", flush=True)
        old_proxy = demo.start_proxy()
        v1 = [demo.start_app("v1"), demo.start_app("v1")]
        demo.route([("v1", 100, v1)])
        with LoadInBackground(f"http://{HOST}:{demo.proxy_port}/", connections=8, duration=90) as load:
            def phase(name: str, action) -> None:
                sent0, _, failed0 = load.progress()
                began = time.monotonic()
                action()
                load.wait_for_responses(load.progress()[0] + 1500, timeout=30)
                sent, _, failed = load.progress()
                seen = dict(load._live.by_header.get("X-Version", {}))
                rows.append((name, time.monotonic() - began, sent - sent0, failed - failed0,
                             ", ".join(f"{k} {v}" for k, v in sorted(seen.items()))))
                print(f"  {name} ... done", flush=True)

            load.wait_for_responses(500)
            v2: list[Child] = []
            phase("start two v2 instances", lambda: v2.extend([demo.start_app("v2"), demo.start_app("v2")]))
            phase("canary: v2 takes 10%", lambda: demo.route([("v1", 90, v1), ("v2", 10, v2)]))
            phase("canary: v2 takes 50%", lambda: demo.route([("v1", 50, v1), ("v2", 50, v2)]))
            phase("promote: v2 takes 100%", lambda: demo.route([("v2", 100, v2)]))

            def drain_v1() -> None:
                wait_for(lambda: all(demo.admin.in_flight(c.name) == 0 for c in v1), 30, "v1 draining")
                for c in v1:
                    c.stop()
            phase("drain and stop v1", drain_v1)

            def restart_proxy() -> None:
                demo.start_proxy()  # takes over the listening socket from the running one
                old_proxy.popen.wait(30)
            phase("restart the proxy (hitless)", restart_proxy)
            result = load.stop()
    finally:
        demo.cleanup()
    print()
    print(f"{'phase':32} {'seconds':>8} {'requests':>9} {'failed':>7}  versions served so far")
    for name, secs, sent, failed, seen in rows:
        print(f"{name:32} {secs:8.2f} {sent:9d} {failed:7d}  {seen}")
    print()
    print(result.summary())
    return 0 if result.failed() == 0 else 1


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="zerodown-demo-") as d:
        return run(Path(d))
