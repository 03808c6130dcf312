"""HTTP/2 benchmark: zerodown's embedded proxy beside nginx, same backends, same run.

    .venv/bin/python benchmarks/h2_bench.py --duration 5 --connections 8 --streams 10

h2load (Debian's nghttp2-client) sends GET / over TLS with ALPN h2 to each proxy
in turn: `--connections` connections, `--streams` concurrent streams on each
(-m), one thread, for `--duration` seconds after a 1 s warm-up. The same h2load
with `--h1` (HTTP/1.1 over TLS, one request at a time per connection) runs
against each too, so the table shows what choosing h2 costs or gains on each
proxy. nginx: 1 worker, `listen ... ssl http2`, upstream keep-alive; zerodown:
`--tls-cert --http2`, its table with rules and a 90/10 split (bench_targets.py);
both proxy to the same two nginx backends (HTTP/1.1). The certificate is an
ECDSA P-256 leaf (bench_tls.py). Each proxy's CPU time per request is printed
beside the rate: a busy machine moves it far less than req/s.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# sibling scripts, not a package
from bench_children import Child  # noqa: E402
from bench_cpu import cpu_snapshot, cpu_used  # noqa: E402
from bench_targets import nginx_proxy_conf, start_nginx, start_zerodown  # noqa: E402
from bench_tls import Certs, each_target, options, poll_https, write_json  # noqa: E402

H2LOAD = shutil.which("h2load") or "h2load"
TARGETS = ("nginx", "zerodown")


def nginx_h2_conf(tmp: Path, port: int, backends: list[int], cert: Path, key: Path) -> str:
    plain = nginx_proxy_conf(tmp, port, backends)
    return plain.replace(
        f"listen 127.0.0.1:{port};\n",
        f"listen 127.0.0.1:{port} ssl http2;\n        ssl_certificate {cert};\n"
        f"        ssl_certificate_key {key};\n        ssl_protocols TLSv1.2 TLSv1.3;\n"
        f"        http2_max_requests 100000;\n")


def start(target: str, tmp: Path, port: int, backends: list[int], certs: Certs) -> Child:
    cert, key, _ = certs
    if target == "nginx":
        child = start_nginx(tmp, "nginx-h2", nginx_h2_conf(tmp, port, backends, cert, key))
        poll_https(child, port)
        return child
    return start_zerodown(tmp, port, backends, ("--tls-cert", str(cert), "--tls-key", str(key),
                                                "--http2"), poll_https)


def h2load(port: int, connections: int, streams: int, duration: float, h1: bool) -> dict:
    argv = [H2LOAD, "-t", "1", "-c", str(connections), "-m", str(1 if h1 else streams),
            "-D", f"{duration:g}", *(["--h1"] if h1 else []), f"https://127.0.0.1:{port}/"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    out = done.stdout
    rate = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out)
    counts = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, "
                       r"(\d+) failed, (\d+) errored", out)
    proto = re.search(r"Application protocol: (\S+)", out)
    if done.returncode != 0 or not rate or not counts:
        raise RuntimeError(f"h2load failed ({done.returncode}): {out[-800:]} {done.stderr[-400:]}")
    return {"rps": float(rate.group(1)), "done": int(counts.group(2)),
            "failed": int(counts.group(4)) + int(counts.group(5)),
            "protocol": proto.group(1) if proto else "?"}


def main(argv: list[str] | None = None) -> int:
    p = options(__doc__, connections=8)
    p.add_argument("--streams", type=int, default=10, help="concurrent streams per connection")
    args = p.parse_args(argv)

    def measure(target: str, port: int, child: Child) -> dict:
        h2load(port, args.connections, args.streams, 1.0, h1=False)  # warm-up
        row = {}
        for name, h1 in (("h2", False), ("h1", True)):
            before = cpu_snapshot(child.pid)
            r = h2load(port, args.connections, args.streams, args.duration, h1)
            used = cpu_used(before, cpu_snapshot(child.pid))
            r["cpu_us"] = (used[0] + used[1]) * 1e6 / max(r["done"], 1) if used else float("nan")
            row[name] = r
        print(f"{target:9} h2 {row['h2']['rps']:8.0f} req/s ({row['h2']['protocol']}, "
              f"cpu {row['h2']['cpu_us']:.0f} µs/req, failed {row['h2']['failed']})   "
              f"https/1.1 {row['h1']['rps']:8.0f} req/s (cpu {row['h1']['cpu_us']:.0f} "
              f"µs/req, failed {row['h1']['failed']})", flush=True)
        return row

    report = each_target("zd-h2-bench-", TARGETS, start, measure)
    zd, ng = report["zerodown"], report["nginx"]
    ratios = {"h2_vs_nginx": zd["h2"]["rps"] / ng["h2"]["rps"],
              "h2_vs_own_https1": zd["h2"]["rps"] / zd["h1"]["rps"]}
    print(f"zerodown/nginx over h2: {ratios['h2_vs_nginx']:.2f}x req/s, CPU per request "
          f"{zd['h2']['cpu_us'] / ng['h2']['cpu_us']:.2f}x; zerodown h2 vs its own https/1.1: "
          f"{ratios['h2_vs_own_https1']:.2f}x")
    write_json(args.json, report, ratios)
    return 0


if __name__ == "__main__":
    sys.exit(main())
