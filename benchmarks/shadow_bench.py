"""The cost of shadow traffic to users: the embedded proxy's req/s and p99 with a shadow at
100% (every GET copied to a third backend and compared) vs none, in one run.

    .venv/bin/python benchmarks/shadow_bench.py --rounds 3 --duration 4 --connections 64
    .venv/bin/python benchmarks/shadow_bench.py --modes off,process,process-nice0,thread,loop
    .venv/bin/python benchmarks/shadow_bench.py --delay-ms 20   # a load the machine has room for
    .venv/bin/python benchmarks/shadow_bench.py --shadow-nice 19  # a shadow that takes no user CPU
    .venv/bin/python benchmarks/shadow_bench.py --router nginx --modes off,hung,process

Backends are nginx (proxy_bench.py's): two serving, and the shadow in an nginx of its own;
wrk with 1 thread and browser headers. Rounds interleave the modes so a busy machine moves
all alike; medians are reported, with the ratio to "off", wrk's non-2xx and socket errors,
the share of users' requests whose copy was compared, the CPU per user request of the
proxy's serving process (the users' path) and of the mirror's worker process, and the
shadow's own counts (compared, differing, dropped: a copy there was no room for).

Modes: off (no shadow), process (the default: a worker process at nice 19 and the idle
scheduling class), process-nice0, thread, loop (the comparison on the proxy's own event
loop), hung (the default runner, its shadow a socket that never answers: the worker waits,
its queue stays full, and what is left is the users' path deciding to drop each copy). --delay-ms D makes each wrk
connection wait D ms between requests: an offered load below the machine's capacity, where
spare CPU is there to compare with. On 2 cores the shadow nginx competes with the users'
path for CPU; --shadow-nice 19 runs it at the lowest priority, to see the mirror's own cost.
--router nginx: nginx driven by NginxRouter in place of the embedded proxy, its shadow
through zerodown's comparator (nginx's mirror; "worker" is then the comparator's processes).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from proxy_bench import (LUA, Child, backend_conf, cpu_snapshot, cpu_used,  # noqa: E402
                         free_port, parse_wrk, run_wrk, admin_call, start_backends,
                         start_nginx_zd, start_zerodown, wait_ready)

NGINX = "/usr/sbin/nginx"
MODES = {"off": {}, "process": {"runner": "process"},
         "process-nice0": {"runner": "process", "nice": 0},
         "thread": {"runner": "thread"}, "loop": {"runner": "loop"},
         "hung": {"runner": "process", "timeout_s": 3600}}  # a shadow that never answers: the Tap stays blocked
COUNTS = ("offered", "compared", "differing", "dropped", "timed_out", "failed")


def start_shadow(tmp: Path, port: int, nice: int) -> Child:
    conf = tmp / "shadow.conf"
    conf.write_text(backend_conf(tmp, [port]).replace("-backends", "-shadow")
                    .replace("backends.pid", "shadow.pid"))
    argv = [NGINX, "-p", str(tmp), "-e", str(tmp / "shadow-error.log"), "-c", str(conf)]
    child = Child("shadow", ["nice", "-n", str(nice), *argv] if nice else argv,
                  tmp / "shadow.out")
    wait_ready(child, port)
    return child


def is_worker(pid: int) -> bool:
    """The embedded proxy's mirror worker, or the nginx comparator (front or worker)."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"zerodown.shadow.worker" in cmd or b"zerodown.shadow.comparator" in cmd


class Embedded:
    """The embedded proxy, its shadow through the admin API."""

    def __init__(self, tmp: Path, port: int, backends: list[int]):
        self.proxy, self.sock = start_zerodown(tmp, port, backends), tmp / "admin.sock"

    def shadow(self, settings: dict | None) -> dict:
        status, text = admin_call(self.sock, "PUT" if settings else "DELETE", "/shadow",
                                  settings)
        assert status == 200, text
        return json.loads(text)

    def cpu(self) -> dict:
        return cpu_snapshot(self.proxy.pid)

    def stop(self) -> None:
        self.proxy.stop()


class Nginx:
    """nginx driven by NginxRouter (1 worker), its shadow through zerodown's comparator."""

    def __init__(self, tmp: Path, port: int, backends: list[int]):
        self.lb = start_nginx_zd(tmp, port, backends)

    def shadow(self, settings: dict | None) -> dict:
        return self.lb.router.shadow(settings)

    def cpu(self) -> dict:
        """nginx's processes and, while a shadow runs, the comparator's (not nginx's children)."""
        got = cpu_snapshot(self.lb.router.pid)
        running = json.loads(p.read_text()) if (p := self.lb.router.state_dir / "shadow.json").exists() else None
        return {**got, **(cpu_snapshot(running["pid"]) if running else {})}

    def stop(self) -> None:
        self.lb.router.shadow(None)
        self.lb.stop()


def cpu_split(before: dict, after: dict, requests: int) -> tuple[float, float]:
    """µs of CPU per user request: the proxy's own processes, and the mirror's worker."""
    workers = {pid for pid in after if is_worker(pid)}
    total = cpu_used(before, after)
    worker = cpu_used(before, {p: s for p, s in after.items() if p in workers}) if workers \
        else (0.0, 0.0, 0)
    if total is None or not requests:
        return 0.0, 0.0
    w = (worker[0] + worker[1]) if worker else 0.0
    return (total[0] + total[1] - w) * 1e6 / requests, w * 1e6 / requests


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--modes", default="off,process")
    ap.add_argument("--delay-ms", type=float, default=0.0)
    ap.add_argument("--shadow-nice", type=int, default=0)
    ap.add_argument("--router", choices=("embedded", "nginx"), default="embedded")
    ap.add_argument("--percent", type=float, default=100.0, help="the share of requests copied")
    args = ap.parse_args()
    modes = args.modes.split(",")
    unknown = sorted(set(modes) - set(MODES if args.router == "embedded"
                                      else ("off", "process", "hung")))
    if unknown or "off" not in modes:
        ap.error(f"--modes: {', '.join(unknown) or 'off missing'} "
                 f"(known: {', '.join(MODES)}; off is the reference)")
    results: dict[str, list] = {mode: [] for mode in modes}
    cpu: dict[str, list] = {mode: [] for mode in modes}
    shadow: dict[str, dict] = {mode: dict.fromkeys(COUNTS, 0) for mode in modes}
    with tempfile.TemporaryDirectory(prefix="shadow-bench-") as tmpdir:
        tmp = Path(tmpdir)
        ports = [free_port() for _ in range(3)]
        backends = start_backends(tmp, ports[:2])
        shadow_nginx = start_shadow(tmp, ports[2], args.shadow_nice)
        port = free_port()
        lb = (Embedded(tmp, port, ports[:2]) if args.router == "embedded"
              else Nginx(tmp, port, ports[:2]))
        hung = socket.socket()
        hung.bind(("127.0.0.1", 0))
        hung.listen(64)  # accepted by the kernel, never read
        lua = None
        if args.delay_ms:
            lua = tmp / "paced.lua"
            lua.write_text(LUA.read_text() + f"\nfunction delay()\n  return {args.delay_ms:g}\nend\n")
        try:
            run_wrk(port, args.connections, 1.0, lua)  # warm-up
            for _ in range(args.rounds):
                for mode in modes:
                    if mode != "off":
                        to = hung.getsockname()[1] if mode == "hung" else ports[2]
                        lb.shadow({"address": f"127.0.0.1:{to}", "percent": args.percent,
                                   "body": "exact", **MODES[mode]})
                        time.sleep(0.3)  # the worker process starts
                    before = lb.cpu()
                    out = run_wrk(port, args.connections, args.duration, lua)
                    after = lb.cpu()
                    result = parse_wrk(mode, args.connections, out)
                    results[mode].append(result)
                    cpu[mode].append(cpu_split(before, after, result.requests))
                    if mode != "off":
                        time.sleep(0.1)  # the worker's last report (every 20 ms)
                        got = lb.shadow(None)
                        for key in COUNTS:
                            shadow[mode][key] += got[key]
        finally:
            lb.stop()
            hung.close()
            shadow_nginx.stop()
            backends.stop()
    print(f"router {args.router}, shadow at {args.percent:g}%, {args.connections} connections, "
          f"{args.duration:g} s x {args.rounds} rounds"
          + (f", {args.delay_ms:g} ms between a connection's requests" if args.delay_ms else "")
          + (f", shadow nginx at nice {args.shadow_nice}" if args.shadow_nice else ""))
    off_rps = statistics.median(r.rps for r in results["off"])
    off_p99 = statistics.median(r.p99_ms for r in results["off"])
    for mode in modes:
        runs = results[mode]
        rps, p99 = statistics.median(r.rps for r in runs), statistics.median(r.p99_ms for r in runs)
        proxy_us = statistics.median(c[0] for c in cpu[mode])
        worker_us = statistics.median(c[1] for c in cpu[mode])
        requests = sum(r.requests for r in runs)
        share = (f"  compared {shadow[mode]['compared'] / requests:6.1%}" if mode != "off"
                 else " " * 17)
        print(f"{mode:14}: {rps:7.0f} req/s ({rps / off_rps:.3f}x)  p99 {p99:6.2f} ms "
              f"({p99 / off_p99:.2f}x)  errors {sum(r.errors for r in runs)}{share}"
              f"  cpu/req proxy {proxy_us:5.1f} µs worker {worker_us:5.1f} µs  (rounds: "
              + ", ".join(f"{r.rps:.0f}" for r in runs) + ")")
    for mode in modes:
        if mode != "off":
            print(f"{mode} counts:", json.dumps(shadow[mode]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
