"""The example service, as a real child process on a real socket."""

import json
import signal
import socket
import time
from dataclasses import dataclass
from http.client import HTTPConnection

from tests.support import get, port_open, request, wait_ready, wait_until_refused


def stats(app) -> dict:
    return json.loads(get(app.port, "/stats").body)


def wait_in_flight(app, n: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while stats(app)["in_flight"] < n:
        assert time.monotonic() < deadline, f"app never had {n} request(s) in flight"
        time.sleep(0.01)


def send_raw(port: int, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(data)
    return sock


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def read_response(stream) -> RawResponse:
    """One Content-Length framed response from a socket's file (keeps the rest buffered)."""
    status_line = stream.readline()
    assert status_line, "connection closed before a response"
    headers = {}
    for line in iter(stream.readline, b"\r\n"):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = stream.read(int(headers.get("content-length", 0)))
    return RawResponse(int(status_line.split()[1]), headers, body)


def test_routes(app_factory):
    app = app_factory("v7")

    root = get(app.port, "/")
    assert (root.status, root.text, root.headers["x-version"]) == (200, "hello from v7\n", "v7")
    assert get(app.port, "/healthz").text == "ok"
    assert json.loads(get(app.port, "/version").body) == {"version": "v7", "pid": app.pid}
    echo = request("POST", app.port, "/echo", body=b"\x00payload\xff")
    assert (echo.status, echo.body) == (200, b"\x00payload\xff")
    assert get(app.port, "/nope").status == 404
    assert request("POST", app.port, "/").status == 405

    started = time.monotonic()
    assert get(app.port, "/slow?ms=50").status == 200
    assert time.monotonic() - started >= 0.05

    assert app.stop(grace=5) == 0
    log = app.log()
    assert "listening on 127.0.0.1:" in log and "stopped on SIGTERM" in log


def test_echo_accepts_a_chunked_body(app_factory):
    app = app_factory()
    conn = HTTPConnection("127.0.0.1", app.port, timeout=5)
    conn.request("POST", "/echo", body=iter([b"hello ", b"chunked ", b"world"]),
                 encode_chunked=True)
    resp = conn.getresponse()
    assert (resp.status, resp.read()) == (200, b"hello chunked world")
    conn.close()


def test_keep_alive_reuses_one_connection(app_factory):
    app = app_factory()
    conn = HTTPConnection("127.0.0.1", app.port, timeout=5)
    conn.connect()
    sock, local = conn.sock, conn.sock.getsockname()
    for _ in range(5):
        conn.request("GET", "/")
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (200, b"hello from v1\n")
    assert conn.sock is sock and sock.getsockname() == local
    conn.close()


def test_pipelined_requests_are_answered_in_order(app_factory):
    app = app_factory()
    sock = send_raw(app.port, b"GET /slow?ms=20 HTTP/1.1\r\nHost: x\r\n\r\n"
                              b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n"
                              b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    stream = sock.makefile("rb")
    bodies = [read_response(stream).body for _ in range(3)]
    assert bodies[0] == b"slept 20 ms\n"
    assert json.loads(bodies[1])["pid"] == app.pid
    assert bodies[2] == b"hello from v1\n"
    assert stream.read(1) == b""   # closed as asked
    stream.close()
    sock.close()


def test_unhealthy_knob(app_factory):
    app = app_factory(env={"APP_UNHEALTHY": "1"}, wait="http")
    assert get(app.port, "/healthz").status == 503
    assert get(app.port, "/").status == 200


def test_error_rate_knob_is_roughly_honoured(app_factory):
    app = app_factory("v2", env={"APP_ERROR_RATE": "0.3"})
    conn = HTTPConnection("127.0.0.1", app.port, timeout=5)
    codes = []
    for _ in range(400):
        conn.request("GET", "/")
        resp = conn.getresponse()
        resp.read()
        codes.append(resp.status)
        assert resp.getheader("X-Version") == "v2"
    conn.close()
    assert set(codes) <= {200, 500}
    assert 0.18 < codes.count(500) / len(codes) < 0.42
    assert get(app.port, "/healthz").status == 200   # the knob is for `/` only


def test_latency_knob(app_factory):
    app = app_factory(env={"APP_LATENCY_MS": "150"})
    started = time.monotonic()
    assert get(app.port, "/").status == 200
    assert time.monotonic() - started >= 0.15


def test_start_delay_knob(app_factory):
    started = time.monotonic()
    app = app_factory(env={"APP_START_DELAY": "0.8"}, wait=None)
    assert not port_open(app.host, app.port)
    wait_ready(app, "healthy", timeout=10)
    assert time.monotonic() - started >= 0.8


def test_crash_after_knob(app_factory):
    app = app_factory(env={"APP_CRASH_AFTER": "0.3"}, wait=None)
    assert app.wait(10) == 3
    assert "crashing on purpose" in app.log()


def test_sigterm_finishes_in_flight_and_refuses_new_connections(app_factory):
    app = app_factory()
    idle = HTTPConnection("127.0.0.1", app.port, timeout=5)
    idle.request("GET", "/")
    idle.getresponse().read()
    busy = send_raw(app.port, b"GET /slow?ms=1000 HTTP/1.1\r\nHost: x\r\n\r\n")
    wait_in_flight(app, 1)

    app.signal(signal.SIGTERM)
    wait_until_refused(app.host, app.port, timeout=5)
    busy.setblocking(False)
    try:
        early = busy.recv(1)
    except BlockingIOError:
        early = None
    assert early is None, "the slow request was answered before new connections were refused"
    busy.setblocking(True)
    assert idle.sock.recv(1) == b"", "idle keep-alive connection was not closed"

    stream = busy.makefile("rb")
    resp = read_response(stream)
    assert (resp.status, resp.body) == (200, b"slept 1000 ms\n")
    assert resp.headers["connection"] == "close"
    assert stream.read(1) == b""
    stream.close()
    assert app.wait(5) == 0
    assert "drained 1 busy connection(s)" in app.log()
    busy.close()
    idle.close()


def test_second_signal_exits_at_once(app_factory):
    app = app_factory()
    busy = send_raw(app.port, b"GET /slow?ms=20000 HTTP/1.1\r\nHost: x\r\n\r\n")
    wait_in_flight(app, 1)
    app.signal(signal.SIGTERM)
    wait_until_refused(app.host, app.port, timeout=5)
    started = time.monotonic()
    app.signal(signal.SIGTERM)
    assert app.wait(5) == 128 + signal.SIGTERM
    assert time.monotonic() - started < 5
    assert busy.recv(1) == b""
    busy.close()
