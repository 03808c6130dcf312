"""The load balancers measured "with zerodown attached": HAProxy and nginx started and
driven by zerodown's own routers (HAProxyRouter, NginxRouter), serving the same table
as the zerodown proxy in the configuration zerodown generates.
"""

from __future__ import annotations

import http.client
import shlex
import shutil
import tempfile
import time
from pathlib import Path

from bench_children import PINNING, http_status
from bench_targets import HAPROXY, NGINX, import_zerodown, zerodown_table


class RouterLB:
    """A load balancer a zerodown router started; stop() is the router's own (it ends
    the master by the PID it recorded, workers with it), then the state goes."""

    def __init__(self, name: str, router, log: Path):
        self.name, self.router, self.log = name, router, log

    def alive(self) -> bool:
        return self.router.pid is not None

    @property
    def pid(self) -> int | None:
        """The master the router started (the wrapper script execs it); workers are its children."""
        return self.router.pid

    def output(self, limit: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-limit:].strip()
        except FileNotFoundError:
            return ""

    def stop(self, grace: float = 10.0) -> None:
        try:
            self.router.stop(timeout=grace)
        finally:  # nginx-zd's access log grows by ~100 bytes a request
            if not self.alive():
                shutil.rmtree(self.router.state_dir, ignore_errors=True)


def zerodown_model_table(backends: list[int]):
    """zerodown_table() as the RoutingTable a router is given: the same table, the same check."""
    import_zerodown()
    from zerodown import table_json
    return table_json.from_dict(zerodown_table(backends))


def lb_binary(tmp: Path, name: str, binary: str, extra: list[str]) -> str:
    """A script standing in for `binary`, since a router's command line is its own: it
    appends `extra` to every call and, under --pin, runs on the proxy's CPU."""
    cpus = PINNING.get("proxy")
    run = f"taskset -c {cpus} {binary}" if cpus else binary
    path = tmp / f"{name}-wrapper.sh"
    path.write_text(f'#!/bin/sh\nexec {run} "$@" {shlex.join(extra)}\n')
    path.chmod(0o755)
    return str(path)


def canary_bodies(port: int, tries: int = 6) -> set[str]:
    """What answers requests carrying X-Canary: 1 (the rule sends them to b1c, backend 1)."""
    bodies = set()
    for _ in range(tries):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", "/", headers={"X-Canary": "1"})
            bodies.add(conn.getresponse().read().decode(errors="replace").strip())
        finally:
            conn.close()
    return bodies


def start_routed(lb: RouterLB, port: int, backends: list[int], timeout: float = 15.0) -> RouterLB:
    """Start the router's load balancer, apply the table, wait until it serves it."""
    try:
        lb.router.ensure_running()
        lb.router.apply(zerodown_model_table(backends))
        deadline = time.monotonic() + timeout
        while (status := http_status(port)) != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{lb.name} did not answer 200 on 127.0.0.1:{port} within "
                                   f"{timeout:.0f}s (last: {status or 'no connection'}): "
                                   f"{lb.output()}")
            time.sleep(0.1)
        if (bodies := canary_bodies(port)) != {"hello from backend 1"}:
            raise RuntimeError(f"{lb.name}: the X-Canary rule is not in force: {bodies}")
    except BaseException:
        lb.stop()
        raise
    return lb


def start_haproxy_zd(tmp: Path, port: int, backends: list[int]) -> RouterLB:
    import_zerodown()
    from zerodown.routers.haproxy import HAProxyRouter
    from zerodown.routers.haproxy_render import Shape
    one_thread = tmp / "one-thread.cfg"
    one_thread.write_text("global\n    nbthread 1\n")  # a second global section adds to the first
    binary = lb_binary(tmp, "haproxy", HAPROXY, ["-f", str(one_thread)])
    # The rules' header and cookie reserved from the start, as router_for() does for a
    # strategy with match rules: applying the table then needs no reload.
    reserve = Shape(0, (("header", "X-Canary"), ("cookie", "beta")))
    router = HAProxyRouter(tempfile.mkdtemp(prefix="haproxy-zd-", dir=tmp), f"127.0.0.1:{port}",
                           service="bench", options={"binary": binary}, reserve=reserve)
    lb = start_routed(RouterLB("HAProxy via HAProxyRouter", router, router.log_path),
                      port, backends)
    try:
        info = dict(line.split(": ", 1) for line in router.cli.run("show info").splitlines()
                    if ": " in line)
        print(f"  HAProxy+zd: master pid {router.pid}, Nbthread {info.get('Nbthread')}, "
              f"Maxconn {info.get('Maxconn')} (show info)", flush=True)
        if info.get("Nbthread") != "1":
            raise RuntimeError(f"HAProxy+zd runs {info.get('Nbthread')} threads, not 1")
    except BaseException:
        lb.stop()
        raise
    return lb


def start_nginx_zd(tmp: Path, port: int, backends: list[int]) -> RouterLB:
    import_zerodown()
    from zerodown.routers import nginx_process
    from zerodown.routers.nginx import NginxRouter
    options = {"workers": 1, "nginx": lb_binary(tmp, "nginx", NGINX, [])}
    router = NginxRouter(tempfile.mkdtemp(prefix="nginx-zd-", dir=tmp), f"127.0.0.1:{port}",
                         service="bench", options=options)
    lb = start_routed(RouterLB("nginx via NginxRouter", router, router.error_log),
                      port, backends)
    serving = [w for w in nginx_process.workers(router.pid) if not w.shutting_down]
    print(f"  nginx+zd: master pid {router.pid}, {len(serving)} worker(s) serving", flush=True)
    return lb
