"""The embedded proxy's CPU instructions per request, counted by valgrind (callgrind).

    .venv/bin/python benchmarks/proxy_instructions.py                      # this checkout
    .venv/bin/python benchmarks/proxy_instructions.py --tree /tmp/before   # another checkout
    .venv/bin/python benchmarks/proxy_instructions.py --tls                # over HTTPS

req/s and CPU time per request move by 20% and more on a busy machine; the number of
instructions the proxy executes per request does not. The proxy (`--no-supervise`, the
compiled hot path when the tree has one built) runs under callgrind with the benchmark's
routing table (90/10 split, a header and a cookie rule); a backend in this process answers
every request; N and then 3N keep-alive GETs with browser-like headers go through it, and
instructions per request = (I(3N) - I(N)) / 2N, so start-up and shutdown cancel out. What
the event loop does on its own meanwhile (the sweeper, 4 times a second) does not: runs are
kept short, and the figure is given with the spread of --repeat runs. With --tls the clients
speak TLS to the proxy (`--tls-cert/--tls-key`, an ECDSA P-256 certificate made here): both runs
make the same 4 handshakes, so they cancel too and the figure is the HTTPS request's. With
--services the table is service `shop`'s (Host 127.0.0.1) beside a service `api` with rules
of its own: the several-services path, each request matched by Host and path. Callgrind
counts user-space instructions only: a syscall saved shows in CPU time, not here. Needs valgrind.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))
from bench_targets import zerodown_table  # noqa: E402  (the same table as the req/s benchmark)
from bench_tls import make_cert  # noqa: E402  (tls_bench.py's certificate)
from tests.support.quick_backend import QuickBackend  # noqa: E402  (the latency test's too)

BODY = b"hello\n"
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
            % (len(BODY), BODY))
REQUEST = (b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Mozilla/5.0 (X11; Linux "
           b"x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\nAccept: text/html,application/"
           b"xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\n"
           b"Accept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\nCookie: session="
           b"abc123; theme=dark\r\nUpgrade-Insecure-Requests: 1\r\n\r\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def admin_put(sock: str, body: bytes, path: str = "/table") -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(sock)
        s.sendall(b"PUT %s HTTP/1.1\r\nHost: proxy\r\nContent-Length: %d\r\nConnection: "
                  b"close\r\n\r\n%s" % (path.encode(), len(body), body))
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    if not answer.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"PUT {path}: {answer[:300]!r}")


def several_services(sock: str, backends: list[int]) -> None:
    """--services: the table served as service `shop` for Host 127.0.0.1 (the requests'),
    beside a service `api` with rules of its own, so every request is matched by Host."""
    for name, host, header in (("shop", "127.0.0.1", "X-Canary"), ("api", "api.example", "X-Api")):
        admin_put(sock, json.dumps({"hosts": [host]}).encode(), f"/services/{name}")
        table = zerodown_table(backends)
        table["rules"][0]["header"] = header
        admin_put(sock, json.dumps(table).encode(), f"/services/{name}/table")


def load(port: int, requests: int, tls: bool, connections: int = 4) -> None:
    context = ssl._create_unverified_context()  # our own certificate, made in main()

    def one(n: int) -> None:
        plain = socket.create_connection(("127.0.0.1", port))
        with context.wrap_socket(plain) if tls else plain as s:
            for _ in range(n):
                s.sendall(REQUEST)
                got = b""
                while not got.endswith(BODY):
                    got += s.recv(65536)
    threads = [threading.Thread(target=one, args=(requests // connections,))
               for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def count(tree: Path, requests: int, backends: list[int], tmp: Path,
          tls: tuple[str, ...], services: bool = False) -> int:
    """Instructions of one proxy process that served `requests` requests (over TLS when
    `tls` holds the proxy's --tls-cert/--tls-key options)."""
    port, sock, out = free_port(), str(tmp / "admin.sock"), tmp / "callgrind.out"
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
            str(tree / ".venv/bin/python"), "-m", "zerodown", "proxy",
            "--listen", f"127.0.0.1:{port}", "--admin", f"unix:{sock}",
            "--state", str(tmp / "state.json"), "--no-supervise", *tls]
    log = open(tmp / "proxy.log", "w")
    proc = subprocess.Popen(argv, cwd=tree, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while "zerodown proxy ready" not in (tmp / "proxy.log").read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"proxy did not start: {(tmp / 'proxy.log').read_text()[-2000:]}")
            time.sleep(0.2)
        compiled = "hot-path=compiled" in (tmp / "proxy.log").read_text()
        if services:
            several_services(sock, backends)
        else:
            admin_put(sock, json.dumps(zerodown_table(backends)).encode())
        load(port, requests, bool(tls))
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    text = (tmp / "proxy.log").read_text()
    m = re.search(r"Collected : (\d+)", text)
    if not m:
        raise RuntimeError(f"no instruction count in callgrind's output:\n{text[-2000:]}")
    if not compiled:
        print("  (hot path: python)", flush=True)
    return int(m.group(1))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tree", type=Path, default=HERE.parent, help="the checkout to measure")
    p.add_argument("--requests", type=int, default=2000, help="N (default 2000)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--tls", action="store_true", help="the clients speak HTTPS to the proxy")
    p.add_argument("--services", action="store_true",
                   help="two services on the listener, each request matched by its Host")
    args = p.parse_args()
    backends = [QuickBackend(RESPONSE).port, QuickBackend(RESPONSE).port]
    per_request = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            tls: tuple[str, ...] = ()
            if args.tls:
                cert, key, _ = make_cert(Path(a))
                tls = ("--tls-cert", str(cert), "--tls-key", str(key))
            small = count(args.tree, args.requests, backends, Path(a), tls, args.services)
            large = count(args.tree, 3 * args.requests, backends, Path(b), tls, args.services)
        per_request.append((large - small) / (2 * args.requests))
        print(f"  {per_request[-1]:,.0f} instructions per request", flush=True)
    print(f"{args.tree}{' (TLS)' if args.tls else ''}"
          f"{' (two services)' if args.services else ''}: median "
          f"{statistics.median(per_request):,.0f} instructions per request "
          f"(runs: {', '.join(f'{v:,.0f}' for v in per_request)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
