"""The benchmarks' child processes: started in a session of their own, stopped by PID.

Shared by proxy_bench.py, tls_bench.py and h2_bench.py (sibling scripts, not a
package). PINNING (set by --pin) puts the proxy under test on a CPU of its own.
"""

from __future__ import annotations

import http.client
import signal
import socket
import subprocess
import time
from pathlib import Path


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


PINNING: dict[str, str] = {}  # role -> CPU list for taskset; empty: the scheduler decides


def pinned(role: str, argv: list[str]) -> list[str]:
    """With --pin, the proxy under test gets CPU 1 to itself; wrk and backends share CPU 0."""
    cpus = PINNING.get(role)
    return ["taskset", "-c", cpus, *argv] if cpus else argv
