"""A keep-alive backend that answers every request head at once with fixed bytes.

The fastest backend loopback allows, from threads: what the proxy adds is then all
a measurement sees (tests/component/test_proxy_latency_clock.py times sub-millisecond
requests; benchmarks/proxy_instructions.py counts the proxy's instructions per request).
Request bodies are not expected: each head (up to its blank line) gets one `response`,
`delay` seconds after it arrived (busy-waited: a sleep's wake-up is the scheduler's).
"""

from __future__ import annotations

import socket
import threading
import time


class QuickBackend:
    def __init__(self, response: bytes, host: str = "127.0.0.1", delay: float = 0.0):
        self.response, self.delay = response, delay
        self.sock = socket.create_server((host, 0), backlog=64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            buf = b""
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while b"\r\n\r\n" in buf:
                    _, buf = buf.split(b"\r\n\r\n", 1)
                    if self.delay:
                        until = time.perf_counter() + self.delay
                        while time.perf_counter() < until:
                            pass
                    conn.sendall(self.response)

    def close(self) -> None:
        self.sock.close()
