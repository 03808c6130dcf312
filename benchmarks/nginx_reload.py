"""nginx under load: N routing changes by zerodown vs N plain `nginx -s reload`.

    .venv/bin/python benchmarks/nginx_reload.py                  # N=20, 4+4 connections
    .venv/bin/python benchmarks/nginx_reload.py --changes 50 --connections 8

Each scenario flips all traffic between two example apps (v1, v2) N times
while two zerodown.loadgen clients run, side by side in the same run: a raw
one, and one that retries an idempotent request once when a reused keep-alive
connection closes before any response byte (retry_idempotent_once, as
browsers and urllib3 do). Scenarios:

  baseline        nginx defaults (keepalive_timeout 75s, HTTP/1.0 upstreams,
                  no upstream keep-alive), config rewritten, `nginx -s reload`
  zerodown        NginxRouter.apply(table) with its defaults (keepalive_timeout
                  0: no idle client connection for a reload to close, at the
                  price of a TCP connection per request)
  zerodown-ka75   NginxRouter with router.keepalive_timeout: 75s (nginx's
                  default: client connections kept between requests)

Two times from the call (apply / nginx -s reload): "first new", until a fresh
connection first gets the new version, and "old retired", until every worker
of the old config is gone or shutting down (so no new connection can get the
old version). nginx's master waits 100 ms after starting the new workers
before it retires the old ones; apply() returns at "old retired". For the
zerodown scenarios "first new" is polled only once apply() has returned, so it
is at least the apply time and not comparable with the baseline's.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from zerodown.loadgen import LoadInBackground  # noqa: E402
from zerodown.model import Backend, RevisionRoute, RoutingTable  # noqa: E402
from zerodown.routers import nginx_process  # noqa: E402
from zerodown.routers.nginx import NginxRouter  # noqa: E402
from tests.support.net import free_port, request  # noqa: E402
from tests.support.procs import start_app  # noqa: E402

BASELINE = """pid nginx.pid;
error_log error.log;
events {{}}
http {{
    upstream app {{ server {address}; }}
    server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://app; }} }}
}}
"""


def served(port: int, version: str, since: float, timeout: float = 10.0) -> float:
    """Seconds from `since` until a fresh connection is answered by `version`."""
    while time.monotonic() - since < timeout:
        try:
            if request("GET", port, "/", timeout=2).headers.get("x-version") == version:
                return time.monotonic() - since
        except OSError:
            pass
    raise RuntimeError(f"{version} not served within {timeout:g}s")


def retired(master: int, before: set, since: float, timeout: float = 10.0) -> float:
    """Seconds from `since` until no worker of `before` accepts any more."""
    while time.monotonic() - since < timeout:
        if nginx_process.reloaded(nginx_process.workers(master), before):
            return time.monotonic() - since
        time.sleep(0.001)
    raise RuntimeError(f"old workers still accept {timeout:g}s after the reload")


def run(changes: int, connections: int, port: int, flip) -> dict:
    """`flip(i) -> (seconds to first new, seconds to old retired)`, N times under two loads."""
    url = f"http://127.0.0.1:{port}/"
    times = []
    with LoadInBackground(url, connections=connections, retry_idempotent_once=True) as retrying, \
            LoadInBackground(url, connections=connections) as raw:
        retrying.wait_for_responses(500)
        for i in range(changes):
            times.append(flip(i))
            retrying.wait_for_responses(retrying.progress()[0] + 200)
        r, p = retrying.stop(), raw.stop()
    ms = lambda k: statistics.median(t[k] for t in times) * 1000  # noqa: E731
    return {"raw": (p.failed(), p.sent, p.errors), "retrying": (r.failed(), r.sent, r.retried),
            "ms": (ms(0), ms(1)), "rps": (p.rps() + r.rps())}


def baseline(folder: Path, apps: dict, changes: int, connections: int) -> dict:
    port = free_port()
    conf, prefix = folder / "nginx.conf", f"{folder}/"
    write = lambda v: conf.write_text(BASELINE.format(address=apps[v], port=port))  # noqa: E731
    write("v1")
    subprocess.run(["nginx", "-p", prefix, "-c", str(conf), "-e", "stderr"], check=True)
    served(port, "v1", time.monotonic())
    master = int((folder / "nginx.pid").read_text())

    def flip(i: int) -> tuple[float, float]:
        version = "v2" if i % 2 == 0 else "v1"
        write(version)
        before = {w.key for w in nginx_process.workers(master)}
        t0 = time.monotonic()
        subprocess.run(["nginx", "-s", "reload", "-p", prefix, "-c", str(conf), "-e", "stderr"],
                       check=True, stderr=subprocess.DEVNULL)
        return served(port, version, t0), retired(master, before, t0)
    try:
        return run(changes, connections, port, flip)
    finally:
        subprocess.run(["nginx", "-s", "quit", "-p", prefix, "-c", str(conf), "-e", "stderr"],
                       stderr=subprocess.DEVNULL)


def zerodown(folder: Path, apps: dict, changes: int, connections: int, options: dict) -> dict:
    port = free_port()
    router = NginxRouter(folder, f"127.0.0.1:{port}", service="bench", options=options)
    router.ensure_running()

    def table(version: int, app: str) -> RoutingTable:
        return RoutingTable(version, (RevisionRoute(app, 100, (Backend(app, apps[app]),)),))
    router.apply(table(1, "v1"))

    def flip(i: int) -> tuple[float, float]:
        version = "v2" if i % 2 == 0 else "v1"
        t0 = time.monotonic()
        router.apply(table(i + 2, version))
        done = time.monotonic() - t0
        return served(port, version, t0), done
    try:
        return run(changes, connections, port, flip)
    finally:
        router.stop()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--changes", type=int, default=20)
    p.add_argument("--connections", type=int, default=4, help="per client (two clients run)")
    args = p.parse_args()
    procs = {"v1": start_app("v1"), "v2": start_app("v2")}
    apps = {v: f"127.0.0.1:{a.port}" for v, a in procs.items()}
    results = {}
    try:
        with tempfile.TemporaryDirectory(prefix="zd-nginx-bench-") as tmp:
            for name, go in (
                    ("baseline", lambda f: baseline(f, apps, args.changes, args.connections)),
                    ("zerodown", lambda f: zerodown(f, apps, args.changes, args.connections, {})),
                    ("zerodown-ka75", lambda f: zerodown(f, apps, args.changes,
                                                         args.connections,
                                                         {"keepalive_timeout": "75s"}))):
                folder = Path(tmp) / name
                (folder / "temp").mkdir(parents=True)
                results[name] = go(folder)
    finally:
        for a in procs.values():
            a.cleanup()
    print(f"{args.changes} routing changes under 2 x {args.connections} keep-alive connections")
    print(f"{'scenario':14} {'raw failed/sent':>16} {'retrying failed/sent (retried)':>31} "
          f"{'req/s':>7} {'first new ms':>13} {'old retired ms':>15}  raw errors")
    for name, r in results.items():
        raw, retrying, ms = r["raw"], r["retrying"], r["ms"]
        print(f"{name:14} {f'{raw[0]}/{raw[1]}':>16} "
              f"{f'{retrying[0]}/{retrying[1]} ({retrying[2]})':>31} {r['rps']:7.0f} "
              f"{ms[0]:13.0f} {ms[1]:15.0f}  {raw[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
