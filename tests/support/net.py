"""Sockets for tests: free ports, waiting for a listener, one-shot HTTP."""

from __future__ import annotations

from http.client import HTTPConnection
import socket
import time
from dataclasses import dataclass

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Poll until something accepts on host:port; TimeoutError past the deadline."""
    deadline = time.monotonic() + timeout
    last: OSError | None = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError as e:
            last = e
        time.sleep(0.01)
    raise TimeoutError(f"nothing accepted connections on {host}:{port} "
                       f"within {timeout:g}s (last: {last})")


def wait_until(cond, timeout: float = 10.0, what: str = "condition"):
    """Poll `cond` until truthy; its value, or AssertionError past the deadline."""
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout:g}s")
        time.sleep(0.01)
    return value


def wait_until_refused(host: str, port: int, timeout: float = 10.0) -> None:
    """Poll until connecting to host:port is refused; TimeoutError past the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not port_open(host, port):
            return
        time.sleep(0.01)
    raise TimeoutError(f"{host}:{port} still accepted connections after {timeout:g}s")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]   # lower-cased names
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()


def request(method: str, port: int, path: str = "/", *, body: bytes | None = None,
         headers: dict | None = None, host: str = HOST, timeout: float = 5.0) -> Reply:
    """One request on a fresh connection."""
    conn = HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def get(port: int, path: str = "/", **kwargs) -> Reply:
    return request("GET", port, path, **kwargs)
