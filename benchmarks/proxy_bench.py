"""Data-plane benchmark: zerodown's embedded proxy against HAProxy and nginx.

Run from the repository root:

    .venv/bin/python benchmarks/proxy_bench.py
    .venv/bin/python benchmarks/proxy_bench.py --only haproxy,nginx --duration 5
    .venv/bin/python benchmarks/proxy_bench.py --connections 64,256 --json out.json
    .venv/bin/python benchmarks/proxy_bench.py --only haproxy,haproxy-zd,nginx,nginx-zd

One nginx master (1 worker) serves two small backends on free 127.0.0.1
ports. Each proxy in turn -- HAProxy (nbthread 1), nginx (1 worker, upstream
keep-alive) and `python -m zerodown proxy` (1 process, with routing rules and
a weighted split applied) -- is started, warmed up, loaded by wrk (1 thread,
browser-like headers from browser_headers.lua) at each connection count, and
stopped, so no two proxies compete for the two cores. Every child process is
started here and stopped by PID on the way out, Ctrl-C included.

"With zerodown attached" (only when named in --only): `haproxy-zd` is HAProxy
started and driven by zerodown's HAProxyRouter (managed mode), `nginx-zd` nginx
by NginxRouter (1 worker), each serving the same table as the zerodown proxy
(90/10 split, header and cookie rules) in the configuration zerodown
generates; the report sets each beside its hand-written twin. HAProxyRouter's
configuration sets no nbthread (HAProxy would start one thread per CPU), so
`-f one-thread.cfg` (`nbthread 1`) is appended to its command line, as the
plain variant has. Otherwise they run as zerodown configures them, which is
what the ratio measures: HAProxy with L7 retries and its lane/map routing,
nginx with a JSON access log (its stats), an upstream keep-alive pool of 32
per revision (the plain nginx keeps 64) and X-Forwarded-* headers. Those two
variants import zerodown; the rest is stdlib but for reading /proc/PID/stat
(zerodown.hosts.local.proc_stat).

Beside req/s and latency each run reports the CPU time (user + system, from
/proc/PID/stat) the proxy's processes -- master and workers included -- spent
during the measured wrk run, per completed request: unlike req/s it does not
depend on whether the scheduler gave the proxy a core to itself.

Run it on a quiet machine: with two cores, any other busy process moves the
figures by 20% or more. Needs /usr/sbin/nginx, /usr/sbin/haproxy and wrk on
PATH.
"""

from __future__ import annotations

import argparse
import statistics
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LUA = HERE / "browser_headers.lua"
NGINX = "/usr/sbin/nginx"
HAPROXY = "/usr/sbin/haproxy"
WRK = "wrk"
TARGETS = ("haproxy", "haproxy-zd", "nginx", "nginx-zd", "zerodown")  # the order they run in
DEFAULT_TARGETS = ("haproxy", "nginx", "zerodown")
LABELS = {"haproxy": "HAProxy", "nginx": "nginx", "zerodown": "zerodown",
          "haproxy-zd": "HAProxy+zd", "nginx-zd": "nginx+zd"}
ATTACHED = {"haproxy": "haproxy-zd", "nginx": "nginx-zd"}  # plain -> driven by zerodown
RPS_TARGET = 0.8   # zerodown req/s >= 0.8x HAProxy
P99_TARGET = 1.5   # zerodown p99 <= 1.5x HAProxy


# ---------------------------------------------------------------- processes

class Child:
    """A child process we own; stop() ends it by PID, politely first."""

    def __init__(self, name: str, argv: list[str], log: Path, cwd: Path | None = None):
        self.name, self.log = name, log
        # A session of its own: Ctrl-C reaches only us, and we stop children in order.
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=cwd,
                                         start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The proxy's own pid (taskset execs it, so --pin does not change it)."""
        return self.proc.pid if self.alive() else None

    def output(self, limit: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-limit:].strip()

    def stop(self, grace: float = 5.0) -> None:
        if not self.alive():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(port: int) -> int | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/")
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def wait_ready(child: Child, port: int, timeout: float = 10.0) -> None:
    """Wait until `port` answers 200; else stop the child and say why."""
    try:
        poll_ready(child, port, timeout)
    except BaseException:
        child.stop()
        raise


def poll_ready(child: Child, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited with code {child.proc.returncode}: "
                               f"{child.output()}")
        status = http_status(port)
        if status == 200:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{child.name} did not answer 200 on 127.0.0.1:{port} within "
                       f"{timeout:.0f}s (last: {status or 'no connection'})")


# ---------------------------------------------------------------- configs

def nginx_common(tmp: Path, name: str) -> str:
    temps = "\n".join(f"    {kind}_temp_path {tmp}/{name}-{kind};"
                      for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (f"daemon off;\nmaster_process on;\nworker_processes 1;\n"
            f"pid {tmp}/{name}.pid;\nerror_log {tmp}/{name}-error.log warn;\n"
            f"worker_rlimit_nofile 16384;\nevents {{ worker_connections 8000; }}\n"
            f"http {{\n    access_log off;\n{temps}\n")


def backend_conf(tmp: Path, ports: list[int]) -> str:
    servers = "".join(
        f"    server {{\n        listen 127.0.0.1:{port};\n"
        f"        keepalive_requests 100000;\n"
        f"        location / {{ return 200 \"hello from backend {i}\\n\"; }}\n    }}\n"
        for i, port in enumerate(ports, 1))
    return nginx_common(tmp, "backends") + "    default_type text/plain;\n" + servers + "}\n"


def nginx_proxy_conf(tmp: Path, port: int, backends: list[int]) -> str:
    upstream = "".join(f"        server 127.0.0.1:{p};\n" for p in backends)
    return nginx_common(tmp, "nginx-proxy") + (
        f"    upstream backends {{\n{upstream}"
        f"        keepalive 64;\n        keepalive_requests 100000;\n    }}\n"
        f"    server {{\n        listen 127.0.0.1:{port};\n"
        f"        keepalive_requests 100000;\n"
        f"        location / {{\n            proxy_pass http://backends;\n"
        f"            proxy_http_version 1.1;\n"
        f"            proxy_set_header Connection \"\";\n        }}\n    }}\n}}\n")


def haproxy_conf(port: int, backends: list[int]) -> str:
    servers = "".join(f"    server b{i} 127.0.0.1:{p}\n" for i, p in enumerate(backends, 1))
    return (
        "global\n    nbthread 1\n    maxconn 8000\n\n"
        "defaults\n    mode http\n    option http-keep-alive\n    http-reuse always\n"
        "    maxconn 8000\n    timeout connect 5s\n    timeout client 30s\n"
        "    timeout server 30s\n    timeout http-request 10s\n"
        "    timeout http-keep-alive 30s\n\n"
        f"frontend fe\n    bind 127.0.0.1:{port}\n    default_backend be\n\n"
        f"backend be\n    balance roundrobin\n{servers}")


def zerodown_table(backends: list[int]) -> dict:
    p1, p2 = backends
    return {
        "version": 1,
        "revisions": [
            {"name": "stable", "weight": 90, "backends": [
                {"id": "b1", "address": f"127.0.0.1:{p1}"},
                {"id": "b2", "address": f"127.0.0.1:{p2}"}]},
            {"name": "canary", "weight": 10, "backends": [
                {"id": "b1c", "address": f"127.0.0.1:{p1}"}]},
        ],
        "rules": [
            {"revision": "canary", "header": "X-Canary", "equals": "1"},
            {"revision": "canary", "cookie": "beta", "equals": "yes"},
        ],
    }


# ---------------------------------------------------------------- starting

PINNING: dict[str, str] = {}  # role -> CPU list for taskset; empty: the scheduler decides


def pinned(role: str, argv: list[str]) -> list[str]:
    """With --pin, the proxy under test gets CPU 1 to itself; wrk and backends share CPU 0."""
    cpus = PINNING.get(role)
    return ["taskset", "-c", cpus, *argv] if cpus else argv


def start_nginx(tmp: Path, name: str, conf: str) -> Child:
    path = tmp / f"{name}.conf"
    path.write_text(conf)
    role = "load" if name == "backends" else "proxy"
    return Child(name, pinned(role, [NGINX, "-p", str(tmp), "-e", str(tmp / f"{name}-error.log"),
                                     "-c", str(path)]), tmp / f"{name}.out")


def start_backends(tmp: Path, ports: list[int]) -> Child:
    child = start_nginx(tmp, "backends", backend_conf(tmp, ports))
    for port in ports:
        wait_ready(child, port)
    return child


def start_haproxy(tmp: Path, port: int, backends: list[int]) -> Child:
    path = tmp / "haproxy.cfg"
    path.write_text(haproxy_conf(port, backends))
    child = Child("haproxy", pinned("proxy", [HAPROXY, "-db", "-f", str(path)]), tmp / "haproxy.out")
    wait_ready(child, port)
    return child


def start_nginx_proxy(tmp: Path, port: int, backends: list[int]) -> Child:
    child = start_nginx(tmp, "nginx-proxy", nginx_proxy_conf(tmp, port, backends))
    wait_ready(child, port)
    return child


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a unix socket (the proxy's admin API)."""

    def __init__(self, path: str, timeout: float = 5.0):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def admin_call(sock: Path, method: str, path: str, body: dict | None = None):
    conn = UnixHTTPConnection(str(sock))
    try:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data else {}
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


def put_table(child: Child, sock: Path, table: dict, timeout: float = 10.0) -> None:
    """PUT the routing table once the admin socket accepts connections."""
    deadline = time.monotonic() + timeout
    last = "admin socket never appeared"
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"exited with code {child.proc.returncode}: {child.output()}")
        try:
            status, text = admin_call(sock, "PUT", "/table", table)
        except OSError as exc:
            last = f"admin socket: {exc}"
            time.sleep(0.1)
            continue
        if status == 200:
            return
        raise RuntimeError(f"PUT /table answered {status}: {text[:300]}")
    raise RuntimeError(f"could not apply the routing table within {timeout:.0f}s ({last})")


def start_zerodown(tmp: Path, port: int, backends: list[int]) -> Child:
    sock = tmp / "admin.sock"
    argv = [str(REPO / ".venv/bin/python"), "-m", "zerodown", "proxy",
            "--listen", f"127.0.0.1:{port}", "--admin", f"unix:{sock}",
            "--state", str(tmp / "state.json")]
    child = Child("zerodown proxy", pinned("proxy", argv), tmp / "zerodown.out", cwd=REPO)
    try:
        put_table(child, sock, zerodown_table(backends))
        wait_ready(child, port)
    except BaseException:
        child.stop()
        raise
    return child


def zerodown_stats(tmp: Path) -> dict | None:
    try:
        status, text = admin_call(tmp / "admin.sock", "GET", "/stats")
        return json.loads(text) if status == 200 else {"status": status, "body": text[:300]}
    except (OSError, ValueError) as exc:
        return {"error": str(exc)}


def stats_totals(stats) -> dict[str, int] | None:
    """Requests, 5xx and proxy errors summed over the revisions in GET /stats
    (per backend counts would count the same requests twice)."""
    revisions = stats.get("revisions") if isinstance(stats, dict) else None
    if not isinstance(revisions, dict):
        return None
    rows = list(revisions.values())
    return {"requests": sum(r.get("requests", 0) for r in rows),
            "5xx": sum(r.get("responses", {}).get("5xx", 0) for r in rows),
            "errors": sum(r.get("errors", 0) for r in rows)}


# ---------------------------------------------------------------- driven by zerodown's routers

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


def import_zerodown() -> None:
    """The -zd variants drive zerodown's routers from this checkout."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))


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


# ---------------------------------------------------------------- CPU time

CLK_TCK = os.sysconf("SC_CLK_TCK")

# pid -> (kernel start time, utime, stime), in clock ticks
Snapshot = dict[int, tuple[int, int, int]]


def read_stat(pid: int) -> tuple[int, int, int, int] | None:
    """(ppid, start time, utime, stime) from /proc/<pid>/stat; None once it is gone."""
    import_zerodown()
    from zerodown.hosts.local import proc_stat
    fields = proc_stat(pid)
    if fields is None:
        return None
    return int(fields[1]), int(fields[19]), int(fields[11]), int(fields[12])


def cpu_snapshot(root: int | None) -> Snapshot:
    """CPU ticks so far of `root` and all its descendants (nginx and HAProxy workers)."""
    if root is None:
        return {}
    stats = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (stat := read_stat(int(entry.name))) is not None:
            stats[int(entry.name)] = stat
    if root not in stats:
        return {}
    found, todo = {}, [root]
    while todo:
        pid = todo.pop()
        _, started, utime, stime = stats[pid]
        found[pid] = (started, utime, stime)
        todo += [child for child, stat in stats.items() if stat[0] == pid and child not in found]
    return found


def cpu_used(before: Snapshot, after: Snapshot) -> tuple[float, float, int] | None:
    """(user s, system s, processes) spent between two snapshots by the processes
    present in `after`; one started in between counts from zero."""
    if not after:
        return None
    user = system = 0
    for pid, (started, utime, stime) in after.items():
        then = before.get(pid)
        if then is not None and then[0] == started:  # the same process, not a reused pid
            utime, stime = utime - then[1], stime - then[2]
        user, system = user + utime, system + stime
    return user / CLK_TCK, system / CLK_TCK, len(after)


# ---------------------------------------------------------------- wrk

@dataclass
class Result:
    target: str
    connections: int
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    warmup_requests: int
    socket_errors: int
    non_2xx: int
    # CPU time of the proxy's processes during the measured run, per completed request
    cpu_us_per_req: float | None = None
    user_us_per_req: float | None = None
    sys_us_per_req: float | None = None

    @property
    def errors(self) -> int:
        return self.socket_errors + self.non_2xx


UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def to_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text).groups()
    return float(number) * UNITS_MS[unit]


def parse_wrk(target: str, connections: int, out: str, warmup_requests: int = 0) -> Result:
    def find(pattern: str, default=None):
        match = re.search(pattern, out, re.MULTILINE)
        if match is None and default is None:
            raise RuntimeError(f"could not find /{pattern}/ in wrk output:\n{out}")
        return match.group(1) if match else default
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return Result(
        target=target, connections=connections,
        rps=float(find(r"^Requests/sec:\s+([\d.]+)")),
        p50_ms=to_ms(find(r"^\s+50%\s+(\S+)")),
        p99_ms=to_ms(find(r"^\s+99%\s+(\S+)")),
        requests=count_requests(out), warmup_requests=warmup_requests,
        socket_errors=sum(map(int, sock.groups())) if sock else 0,
        non_2xx=int(find(r"Non-2xx or 3xx responses: (\d+)", "0")))


def count_requests(out: str) -> int:
    match = re.search(r"^\s+(\d+) requests in", out, re.MULTILINE)
    return int(match.group(1)) if match else 0


def run_wrk(port: int, connections: int, duration: float, lua: Path | None = None) -> str:
    argv = [WRK, "-t", "1", "-c", str(connections), "-d", f"{duration:g}s", "--latency",
            "--timeout", "5s", "-s", str(lua or LUA), f"http://127.0.0.1:{port}/"]
    done = subprocess.run(pinned("load", argv), capture_output=True, text=True,
                          timeout=duration + 30)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def with_cpu(result: Result, used: tuple[float, float, int] | None) -> Result:
    if used is None or not result.requests:
        return result
    user, system, _ = used
    per = 1e6 / result.requests
    return replace(result, cpu_us_per_req=(user + system) * per,
                   user_us_per_req=user * per, sys_us_per_req=system * per)


def fmt_us(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "-"


def measure(target: str, port: int, args, proxy) -> list[Result]:
    """wrk at each connection count against `proxy` (a Child or RouterLB: its .pid is
    the root of the processes whose CPU time is counted)."""
    results = []
    for conns in args.connections:
        warm = count_requests(run_wrk(port, conns, args.warmup)) if args.warmup > 0 else 0
        before = cpu_snapshot(proxy.pid)
        out = run_wrk(port, conns, args.duration)
        used = cpu_used(before, cpu_snapshot(proxy.pid))
        result = with_cpu(parse_wrk(target, conns, out, warm), used)
        cpu = (f"cpu {fmt_us(result.cpu_us_per_req)} µs/req (user "
               f"{fmt_us(result.user_us_per_req)}, sys {fmt_us(result.sys_us_per_req)}; "
               f"{used[0] + used[1]:.2f} s in {used[2]} process(es))" if used
               else "cpu: proxy process not found")
        print(f"  {LABELS[target]:10} c={conns:<4} {result.rps:10.0f} req/s  "
              f"p50 {result.p50_ms:.2f} ms  p99 {result.p99_ms:.2f} ms  "
              f"errors {result.errors} (socket {result.socket_errors}, "
              f"non-2xx/3xx {result.non_2xx})  {cpu}", flush=True)
        results.append(result)
    return results


# ---------------------------------------------------------------- report

def ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def fmt_ratio(value: float | None) -> str:
    return f"{value:.2f}x" if value is not None else "-"


def cpu_ratio(a: Result, b: Result) -> float | None:
    """a's CPU per request over b's (lower is better); None unless both were measured."""
    if a.cpu_us_per_req is None or b.cpu_us_per_req is None:
        return None
    return ratio(a.cpu_us_per_req, b.cpu_us_per_req)


def verdict(zd: Result, ha: Result) -> dict:
    rps, p99 = ratio(zd.rps, ha.rps), ratio(zd.p99_ms, ha.p99_ms)
    ok = rps is not None and p99 is not None and rps >= RPS_TARGET and p99 <= P99_TARGET
    # cpu_ratio is informational: not part of "pass"
    return {"connections": zd.connections, "rps_ratio": rps, "p99_ratio": p99,
            "cpu_ratio": cpu_ratio(zd, ha), "pass": ok}


def print_table(results: list[Result], connections: list[int],
                wanted: list[str]) -> list[dict]:
    verdicts = []
    header = (f"{'target':10} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
              f"{'req/s vs HA':>12} {'p99 vs HA':>10} {'cpu µs/req':>11} {'cpu vs HA':>10}")
    for conns in connections:
        rows = {r.target: r for r in results if r.connections == conns}
        ha = rows.get("haproxy")
        if not rows:
            continue
        print(f"\n{conns} connections, wrk -t 1\n{header}\n{'-' * len(header)}")
        for target in TARGETS:
            r = rows.get(target)
            if r is None:
                continue
            rps = ratio(r.rps, ha.rps) if ha else None
            p99 = ratio(r.p99_ms, ha.p99_ms) if ha else None
            cpu = cpu_ratio(r, ha) if ha else None
            print(f"{LABELS[target]:10} {r.rps:10.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} "
                  f"{r.errors:7d} {fmt_ratio(rps):>12} {fmt_ratio(p99):>10} "
                  f"{fmt_us(r.cpu_us_per_req):>11} {fmt_ratio(cpu):>10}")
        for line in attached_lines(rows):
            print(line)
        if ha and "zerodown" in rows:
            v = verdict(rows["zerodown"], ha)
            verdicts.append(v)
            print(f"target: zerodown >= {RPS_TARGET}x HAProxy req/s and p99 <= "
                  f"{P99_TARGET}x HAProxy: {'PASS' if v['pass'] else 'MISS'}")
            spends = (f"{v['cpu_ratio']:.2f}×" if v["cpu_ratio"] is not None
                      else "(not measured)")
            print(f"efficiency: zerodown spends {spends} HAProxy's CPU per request "
                  f"(≤ {1 / RPS_TARGET:.2f}× ≈ {RPS_TARGET}× the throughput on equal CPU)")
        elif ha and "zerodown" in wanted:
            print(f"target: zerodown >= {RPS_TARGET}x HAProxy req/s and p99 <= "
                  f"{P99_TARGET}x HAProxy: not measured")
    return verdicts


def attached_ratios(rows: dict[str, Result]) -> list[dict]:
    """Per load balancer measured both ways: with zerodown attached / without."""
    out = []
    for plain, attached in ATTACHED.items():
        if plain in rows and attached in rows:
            a, b = rows[attached], rows[plain]
            out.append({"lb": plain, "connections": a.connections,
                        "rps_ratio": ratio(a.rps, b.rps), "p99_ratio": ratio(a.p99_ms, b.p99_ms),
                        "cpu_ratio": cpu_ratio(a, b)})
    return out


def attached_lines(rows: dict[str, Result]) -> list[str]:
    return [f"{LABELS[r['lb']]} with zerodown attached / without: req/s "
            f"{fmt_ratio(r['rps_ratio'])}, p99 {fmt_ratio(r['p99_ratio'])}, "
            f"cpu/req {fmt_ratio(r['cpu_ratio'])}"
            for r in attached_ratios(rows)]


# ---------------------------------------------------------------- main

STARTERS = {"haproxy": start_haproxy, "nginx": start_nginx_proxy,
            "zerodown": start_zerodown, "haproxy-zd": start_haproxy_zd,
            "nginx-zd": start_nginx_zd}


def bench_target(target: str, tmp: Path, backends: list[int], args, report: dict):
    port = free_port()
    print(f"\n{LABELS[target]} on 127.0.0.1:{port}", flush=True)
    try:
        child = STARTERS[target](tmp, port, backends)
    except RuntimeError as exc:
        if target != "zerodown":
            raise
        report["zerodown_error"] = str(exc)
        print(f"zerodown proxy failed to start: {exc}", flush=True)
        return []
    if target == "zerodown":  # compiled (mypyc) or plain Python: say which was measured
        hot = re.search(r"hot-path=(\w+)", child.output(4000))
        report["zerodown_hot_path"] = hot.group(1) if hot else "unknown"
        print(f"  zerodown hot path: {report['zerodown_hot_path']}", flush=True)
    try:
        results = measure(target, port, args, child)
        if target == "zerodown":
            report_zerodown_stats(child, tmp, results, report)
        return results
    finally:
        child.stop()


def report_zerodown_stats(child: Child, tmp: Path, results: list[Result],
                          report: dict) -> None:
    stats = zerodown_stats(tmp)
    totals = stats_totals(stats)
    report["zerodown_stats"] = stats
    sent = sum(r.requests + r.warmup_requests for r in results)
    if totals is None:
        print(f"  zerodown GET /stats: no per-revision counts in {str(stats)[:200]}\n"
              f"  proxy output (tail):\n{child.output(1500)}")
        return
    print(f"  zerodown GET /stats counted {totals['requests']} requests "
          f"({totals['5xx']} 5xx, {totals['errors']} proxy errors); wrk completed {sent} "
          f"(warm-ups included, readiness probe not)", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=10.0, help="seconds per run (10)")
    p.add_argument("--warmup", type=float, default=2.0,
                   help="seconds of discarded warm-up before each run (2; 0 to skip)")
    p.add_argument("--connections", default="64,256", help="comma list (64,256)")
    p.add_argument("--only", default=",".join(DEFAULT_TARGETS),
                   help=f"comma list from {','.join(TARGETS)} (default "
                        f"{','.join(DEFAULT_TARGETS)})")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--pin", action="store_true",
                   help="proxy under test alone on CPU 1; wrk and backends on CPU 0")
    p.add_argument("--rounds", type=int, default=3,
                   help="interleaved rounds; figures are medians (3)")
    args = p.parse_args(argv)
    args.connections = [int(c) for c in args.connections.split(",") if c]
    if args.pin:
        PINNING.update(proxy="1", load="0")
    args.only = [t.strip() for t in args.only.split(",") if t.strip()]
    unknown = set(args.only) - set(TARGETS)
    if unknown:
        p.error(f"unknown target(s) {', '.join(sorted(unknown))}; choose from {TARGETS}")
    return args


def run(args) -> dict:
    report = {"duration_s": args.duration, "warmup_s": args.warmup,
              "connections": args.connections, "wrk_threads": 1, "cpus": os.cpu_count()}
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="zerodown-bench-") as name:
        tmp = Path(name)
        tmp.chmod(0o755)  # nginx workers run as nobody when we are root
        backends = [free_port(), free_port()]
        print(f"backends: nginx (1 worker) on 127.0.0.1:{backends[0]} and :{backends[1]}")
        backend = start_backends(tmp, backends)
        try:
            # Rounds interleave the targets, so a drift in background load hits all alike;
            # each figure is then the median of its rounds.
            for n in range(args.rounds):
                print(f"\n=== round {n + 1} of {args.rounds}", flush=True)
                for target in TARGETS:
                    if target in args.only:
                        results += bench_target(target, tmp, backends, args, report)
        finally:
            backend.stop()
    report["results"] = [asdict(r) | {"errors": r.errors} for r in results]
    report["medians"] = [asdict(r) | {"errors": r.errors} for r in medians(results)]
    report["verdicts"] = print_table(medians(results), args.connections, args.only)
    report["attached"] = [r for conns in args.connections for r in attached_ratios(
        {m.target: m for m in medians(results) if m.connections == conns})]
    return report


def medians(results: list[Result]) -> list[Result]:
    """Per target and connection count: median req/s, p50, p99 and CPU per request
    (each its own median, over the rounds that measured it); errors summed."""
    out = []
    for key in dict.fromkeys((r.target, r.connections) for r in results):
        runs = [r for r in results if (r.target, r.connections) == key]
        mid = sorted(runs, key=lambda r: r.rps)[len(runs) // 2]
        out.append(replace(mid, p50_ms=statistics.median(r.p50_ms for r in runs),
                           p99_ms=statistics.median(r.p99_ms for r in runs),
                           cpu_us_per_req=median_of(r.cpu_us_per_req for r in runs),
                           user_us_per_req=median_of(r.user_us_per_req for r in runs),
                           sys_us_per_req=median_of(r.sys_us_per_req for r in runs),
                           socket_errors=sum(r.socket_errors for r in runs),
                           non_2xx=sum(r.non_2xx for r in runs)))
    return out


def median_of(values) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so finally blocks run
    args = parse_args(argv)
    try:
        report = run(args)
    except KeyboardInterrupt:
        print("\ninterrupted; every child process was stopped", file=sys.stderr)
        return 130
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nresults written to {args.json}")
    if "zerodown_error" in report:
        last = report["zerodown_error"].strip().splitlines()[-1]
        print(f"\nzerodown proxy failed to start: {last}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
