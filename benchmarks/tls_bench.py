"""TLS benchmark: zerodown's embedded proxy against HAProxy, the same certificate, same run.

    .venv/bin/python benchmarks/tls_bench.py --duration 3 --connections 32

Two figures per proxy, each from wrk (1 thread) over https to 127.0.0.1:
  keep-alive   requests per second over `--connections` kept-alive TLS connections;
  handshakes   requests per second when every request carries `Connection: close`,
               so each one is a new TCP connection and a full TLS handshake (wrk
               does not resume sessions): new handshakes per second.
The certificate is an ECDSA P-256 leaf made here with openssl; HAProxy runs
with nbthread 1 and the same TLS 1.2+ floor; both add X-Forwarded-Proto. The
backends and the process handling come from proxy_bench.py. Beside the rates it
reports each proxy's CPU time per request (keep-alive) and per handshake, which a
busy machine moves far less than req/s. Run it on a quiet
machine: two cores shared with anything else move the figures by 20% or more.
"""

from __future__ import annotations

import argparse
import http.client
import json
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import proxy_bench as pb  # noqa: E402  (a sibling script, not a package)

TARGETS = ("haproxy", "zerodown")


def make_cert(tmp: Path) -> tuple[Path, Path, Path]:
    """(cert, key, cert+key in one file for HAProxy), self-signed for 127.0.0.1."""
    cert, key = tmp / "tls.pem", tmp / "tls.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=bench.test",
                    "-addext", "subjectAltName=DNS:bench.test,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    both = tmp / "haproxy.pem"
    both.write_text(cert.read_text() + key.read_text())
    return cert, key, both


def haproxy_tls_conf(port: int, backends: list[int], pem: Path) -> str:
    plain = pb.haproxy_conf(port, backends)
    return (plain.replace("global\n", "global\n    ssl-default-bind-options ssl-min-ver TLSv1.2\n")
            .replace(f"bind 127.0.0.1:{port}\n",
                     f"bind 127.0.0.1:{port} ssl crt {pem} alpn http/1.1\n"
                     f"    http-request set-header X-Forwarded-Proto https\n"))


def poll_https(child: pb.Child, port: int, timeout: float = 10.0) -> None:
    """Until GET / over TLS answers 200 (the certificate is not checked: it is ours)."""
    ctx = ssl._create_unverified_context()
    deadline = time.monotonic() + timeout
    last = "no connection"
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited: {child.output()}")
        try:
            conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=2, context=ctx)
            conn.request("GET", "/")
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return
            last = str(status)
        except OSError as e:
            last = str(e)
        time.sleep(0.1)
    child.stop()
    raise RuntimeError(f"{child.name} did not answer 200 over TLS within {timeout:g}s ({last})")


def start_haproxy(tmp: Path, port: int, backends: list[int], pem: Path) -> pb.Child:
    path = tmp / "haproxy-tls.cfg"
    path.write_text(haproxy_tls_conf(port, backends, pem))
    child = pb.Child("haproxy", [pb.HAPROXY, "-db", "-f", str(path)], tmp / "haproxy.out")
    poll_https(child, port)
    return child


def start_zerodown(tmp: Path, port: int, backends: list[int], cert: Path, key: Path) -> pb.Child:
    sock = tmp / "admin.sock"
    argv = [str(pb.REPO / ".venv/bin/python"), "-m", "zerodown", "proxy",
            "--listen", f"127.0.0.1:{port}", "--admin", f"unix:{sock}",
            "--state", str(tmp / "state.json"), "--tls-cert", str(cert), "--tls-key", str(key)]
    child = pb.Child("zerodown proxy", argv, tmp / "zerodown.out", cwd=pb.REPO)
    pb.put_table(child, sock, pb.zerodown_table(backends))
    poll_https(child, port)
    return child


def wrk(port: int, connections: int, duration: float, close: bool) -> pb.Result:
    argv = [pb.WRK, "-t", "1", "-c", str(connections), "-d", f"{duration:g}s", "--latency",
            "--timeout", "5s", *(["-H", "Connection: close"] if close else []),
            f"https://127.0.0.1:{port}/"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    return pb.parse_wrk("x", connections, done.stdout)


def cpu_per_request(before, child: pb.Child, result: pb.Result) -> float:
    """The proxy's CPU time (user + system, all its processes) per request of `result`:
    unlike req/s it hardly depends on what else the machine runs."""
    used = pb.cpu_used(before, pb.cpu_snapshot(child.pid))
    return (used[0] + used[1]) * 1e6 / max(result.requests, 1) if used else float("nan")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--json", help="write the figures here too")
    args = p.parse_args(argv)
    report: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="zd-tls-bench-") as d:
        tmp = Path(d)
        cert, key, both = make_cert(tmp)
        ports = [pb.free_port(), pb.free_port()]
        backends = pb.start_backends(tmp, ports)
        try:
            for target in TARGETS:
                port = pb.free_port()
                child = (start_haproxy(tmp, port, ports, both) if target == "haproxy"
                         else start_zerodown(tmp, port, ports, cert, key))
                try:
                    wrk(port, args.connections, 1.0, close=False)  # warm-up
                    before = pb.cpu_snapshot(child.pid)
                    ka = wrk(port, args.connections, args.duration, close=False)
                    ka_cpu = cpu_per_request(before, child, ka)
                    before = pb.cpu_snapshot(child.pid)
                    hs = wrk(port, args.connections, args.duration, close=True)
                    hs_cpu = cpu_per_request(before, child, hs)
                finally:
                    child.stop()
                report[target] = {"keepalive_rps": ka.rps, "keepalive_p99_ms": ka.p99_ms,
                                  "keepalive_errors": ka.errors, "keepalive_cpu_us": ka_cpu,
                                  "handshakes_per_s": hs.rps, "handshake_errors": hs.errors,
                                  "handshake_cpu_us": hs_cpu}
                print(f"{target:9} keep-alive {ka.rps:9.0f} req/s (p99 {ka.p99_ms:.2f} ms, "
                      f"cpu {ka_cpu:.1f} µs/req, errors {ka.errors})   new handshakes "
                      f"{hs.rps:7.0f}/s (cpu {hs_cpu:.0f} µs each, errors {hs.errors})",
                      flush=True)
        finally:
            backends.stop()
    zd, ha = report["zerodown"], report["haproxy"]
    ratios = {"keepalive": zd["keepalive_rps"] / ha["keepalive_rps"],
              "handshakes": zd["handshakes_per_s"] / ha["handshakes_per_s"]}
    print(f"zerodown/HAProxy: keep-alive {ratios['keepalive']:.2f}x (target >= 0.7), "
          f"handshakes {ratios['handshakes']:.2f}x (target >= 0.5); CPU per request "
          f"{zd['keepalive_cpu_us'] / ha['keepalive_cpu_us']:.2f}x, per handshake "
          f"{zd['handshake_cpu_us'] / ha['handshake_cpu_us']:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": report, "ratios": ratios}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
