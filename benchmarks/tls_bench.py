"""TLS benchmark: zerodown's embedded proxy against HAProxy, the same certificate, same run.

    .venv/bin/python benchmarks/tls_bench.py --duration 3 --connections 32

Two figures per proxy, each from wrk (1 thread) over https to 127.0.0.1:
  keep-alive   requests per second over `--connections` kept-alive TLS connections;
  handshakes   requests per second when every request carries `Connection: close`,
               so each one is a new TCP connection and a full TLS handshake (wrk
               does not resume sessions): new handshakes per second.
The certificate is an ECDSA P-256 leaf made here with openssl; HAProxy runs
with nbthread 1 and the same TLS 1.2+ floor; both add X-Forwarded-Proto. The
backends and the process handling come from proxy_bench.py's modules, the run's
shape from bench_tls.py. Beside the rates it
reports each proxy's CPU time per request (keep-alive) and per handshake, which a
busy machine moves far less than req/s. Run it on a quiet
machine: two cores shared with anything else move the figures by 20% or more.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# sibling scripts, not a package
from bench_children import Child  # noqa: E402
from bench_cpu import cpu_snapshot, cpu_used  # noqa: E402
from bench_targets import HAPROXY, haproxy_conf, start_zerodown  # noqa: E402
from bench_tls import Certs, each_target, options, poll_https, write_json  # noqa: E402
from bench_wrk import WRK, Result, parse_wrk  # noqa: E402

TARGETS = ("haproxy", "zerodown")


def haproxy_tls_conf(port: int, backends: list[int], pem: Path) -> str:
    plain = haproxy_conf(port, backends)
    return (plain.replace("global\n", "global\n    ssl-default-bind-options ssl-min-ver TLSv1.2\n")
            .replace(f"bind 127.0.0.1:{port}\n",
                     f"bind 127.0.0.1:{port} ssl crt {pem} alpn http/1.1\n"
                     f"    http-request set-header X-Forwarded-Proto https\n"))


def start_haproxy(tmp: Path, port: int, backends: list[int], pem: Path) -> Child:
    path = tmp / "haproxy-tls.cfg"
    path.write_text(haproxy_tls_conf(port, backends, pem))
    child = Child("haproxy", [HAPROXY, "-db", "-f", str(path)], tmp / "haproxy.out")
    poll_https(child, port)
    return child


def start(target: str, tmp: Path, port: int, backends: list[int], certs: Certs) -> Child:
    cert, key, both = certs
    if target == "haproxy":
        return start_haproxy(tmp, port, backends, both)
    return start_zerodown(tmp, port, backends, ("--tls-cert", str(cert), "--tls-key", str(key)),
                          poll_https)


def wrk(port: int, connections: int, duration: float, close: bool) -> Result:
    argv = [WRK, "-t", "1", "-c", str(connections), "-d", f"{duration:g}s", "--latency",
            "--timeout", "5s", *(["-H", "Connection: close"] if close else []),
            f"https://127.0.0.1:{port}/"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    return parse_wrk("x", connections, done.stdout)


def cpu_per_request(before, child: Child, result: Result) -> float:
    """The proxy's CPU time (user + system, all its processes) per request of `result`:
    unlike req/s it hardly depends on what else the machine runs."""
    used = cpu_used(before, cpu_snapshot(child.pid))
    return (used[0] + used[1]) * 1e6 / max(result.requests, 1) if used else float("nan")


def main(argv: list[str] | None = None) -> int:
    args = options(__doc__, connections=32).parse_args(argv)

    def measure(target: str, port: int, child: Child) -> dict:
        wrk(port, args.connections, 1.0, close=False)  # warm-up
        before = cpu_snapshot(child.pid)
        ka = wrk(port, args.connections, args.duration, close=False)
        ka_cpu = cpu_per_request(before, child, ka)
        before = cpu_snapshot(child.pid)
        hs = wrk(port, args.connections, args.duration, close=True)
        hs_cpu = cpu_per_request(before, child, hs)
        print(f"{target:9} keep-alive {ka.rps:9.0f} req/s (p99 {ka.p99_ms:.2f} ms, "
              f"cpu {ka_cpu:.1f} µs/req, errors {ka.errors})   new handshakes "
              f"{hs.rps:7.0f}/s (cpu {hs_cpu:.0f} µs each, errors {hs.errors})", flush=True)
        return {"keepalive_rps": ka.rps, "keepalive_p99_ms": ka.p99_ms,
                "keepalive_errors": ka.errors, "keepalive_cpu_us": ka_cpu,
                "handshakes_per_s": hs.rps, "handshake_errors": hs.errors,
                "handshake_cpu_us": hs_cpu}

    report = each_target("zd-tls-bench-", TARGETS, start, measure)
    zd, ha = report["zerodown"], report["haproxy"]
    ratios = {"keepalive": zd["keepalive_rps"] / ha["keepalive_rps"],
              "handshakes": zd["handshakes_per_s"] / ha["handshakes_per_s"]}
    print(f"zerodown/HAProxy: keep-alive {ratios['keepalive']:.2f}x (target >= 0.7), "
          f"handshakes {ratios['handshakes']:.2f}x (target >= 0.5); CPU per request "
          f"{zd['keepalive_cpu_us'] / ha['keepalive_cpu_us']:.2f}x, per handshake "
          f"{zd['handshake_cpu_us'] / ha['handshake_cpu_us']:.2f}x")
    write_json(args.json, report, ratios)
    return 0


if __name__ == "__main__":
    sys.exit(main())
