"""What the TLS and HTTP/2 benchmarks (tls_bench.py, h2_bench.py) share: a certificate,
readiness over TLS, their command line and the shape of a run (the backends started
once, then each proxy in turn started on a free port, measured and stopped).
"""

from __future__ import annotations

import argparse
import http.client
import json
import ssl
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

from bench_children import Child, free_port
from bench_targets import start_backends

Certs = tuple[Path, Path, Path]  # make_cert(): certificate, key, both in one file


def options(doc: str, connections: int) -> argparse.ArgumentParser:
    """--duration, --connections (default `connections`), --json; a bench adds its own."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--connections", type=int, default=connections)
    p.add_argument("--json", help="write the figures here too")
    return p


def each_target(prefix: str, targets: tuple[str, ...],
                start: Callable[[str, Path, int, list[int], Certs], Child],
                measure: Callable[[str, int, Child], dict]) -> dict[str, dict]:
    """{target: measure(target, port, child)}, every child stopped by PID on the way out."""
    report: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix=prefix) as d:
        tmp = Path(d)
        certs = make_cert(tmp)
        ports = [free_port(), free_port()]
        backends = start_backends(tmp, ports)
        try:
            for target in targets:
                port = free_port()
                child = start(target, tmp, port, ports, certs)
                try:
                    report[target] = measure(target, port, child)
                finally:
                    child.stop()
        finally:
            backends.stop()
    return report


def write_json(path: str | None, report: dict, ratios: dict) -> None:
    if path:
        Path(path).write_text(json.dumps({"results": report, "ratios": ratios}, indent=2))


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


def poll_https(child: Child, port: int, timeout: float = 10.0) -> None:
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
