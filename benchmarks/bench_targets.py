"""The load balancers proxy_bench.py measures, started by hand: their configurations
(nginx backends, nginx and HAProxy as proxies, the zerodown proxy's table), starting
each and the zerodown proxy's admin API (PUT /table, GET /stats).
"""

from __future__ import annotations

import http.client
import json
import socket
import sys
import time
from pathlib import Path
from typing import Callable

from bench_children import Child, pinned, wait_ready

REPO = Path(__file__).resolve().parent.parent
NGINX = "/usr/sbin/nginx"
HAPROXY = "/usr/sbin/haproxy"


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


def start_zerodown(tmp: Path, port: int, backends: list[int], extra: tuple[str, ...] = (),
                   ready: Callable[[Child, int], None] = wait_ready) -> Child:
    """The zerodown proxy with zerodown_table() applied, ready when `ready` says so;
    `extra`: more of its options (tls_bench.py and h2_bench.py add TLS and HTTP/2)."""
    sock = tmp / "admin.sock"
    argv = [str(REPO / ".venv/bin/python"), "-m", "zerodown", "proxy",
            "--listen", f"127.0.0.1:{port}", "--admin", f"unix:{sock}",
            "--state", str(tmp / "state.json"), *extra]
    child = Child("zerodown proxy", pinned("proxy", argv), tmp / "zerodown.out", cwd=REPO)
    try:
        put_table(child, sock, zerodown_table(backends))
        ready(child, port)
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


def import_zerodown() -> None:
    """The -zd variants drive zerodown's routers from this checkout."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
