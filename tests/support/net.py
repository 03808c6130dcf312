"""Sockets for tests: free ports, waiting for a listener, one-shot HTTP."""

from __future__ import annotations

import collections
import contextlib
from http.client import HTTPConnection
import os
import random
import socket
import threading
import time
from dataclasses import dataclass

import pytest

HOST = "127.0.0.1"


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# Below the kernel's ephemeral range: a port the OS picks (bind to 0) is also one it
# may give the next outgoing connection's local end (load generators, a proxy's backend
# connections) before the test's server binds it — a CI run lost a test to that
# ("Address already in use"). Random, so test processes running at once rarely meet.
_PICK = random.Random(os.urandom(16))


def _range() -> tuple[int, int]:
    """Ports below the ephemeral range; with pytest-xdist workers (scripts/test.sh), each
    worker its own share of them, so one never picks a port another picked and has not
    bound yet. (A worker xdist starts in place of a crashed one gets a new number, and so
    another's share: then only the random pick and the bind test keep them apart.)"""
    low = max(1024, _ephemeral_low() - 12000)
    high = _ephemeral_low()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")      # "gw0", "gw1", ...
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
    if not worker.startswith("gw") or not worker[2:].isdigit() or count < 2:
        return low, high
    share = (high - low) // count
    start = low + int(worker[2:]) % count * share
    return start, start + share


_RANGE = _range()


# The ports handed out lately by this process: one picked and not bound yet (a test takes
# two, then starts what binds them) passes the bind test again, and was picked twice once
# (a CI run: a TLS proxy's redirect port and its own, "Address already in use").
_HANDED: collections.deque[int] = collections.deque(maxlen=512)


def free_port(host: str = HOST) -> int:
    """A TCP port nobody is bound to right now, outside the kernel's ephemeral range, and
    not one of the last 512 this process handed out."""
    for _ in range(100):
        port = _PICK.randrange(*_RANGE)
        if port in _HANDED:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            _HANDED.append(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))  # that range is full: the OS's pick
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


@contextlib.contextmanager
def silent_listener(server: socket.socket):
    """Accept on `server` (bound, any family) and never say a word: a busy controller, or
    a host whose link went quiet. Yields the list of connections accepted so far."""
    server.listen()
    server.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                pass
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield held
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


@pytest.fixture
def silent():
    """(address "127.0.0.1:PORT", connections accepted so far) of a TCP listener that never
    says a word: an SSH host whose link went silent, or that never answers. A fixture:
    imported by the tests that take it."""
    server = socket.socket()
    server.bind((HOST, 0))
    with silent_listener(server) as held:
        yield f"{HOST}:{server.getsockname()[1]}", held
