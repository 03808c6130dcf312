"""The load generator counts every outcome, against real servers."""

import asyncio
import json
import os
import socket
import struct
import subprocess
import sys
import time

import pytest

from tests.support import REPO, free_port, get, wait_until
from zerodown.errors import UsageError
from zerodown.loadgen import (LoadInBackground, LoadInProcess, LoadResult, new_event_loop,
                              run_load, run_load_sync)

KNOWN_ERRORS = {"connect refused", "connect timeout", "closed before response",
                "closed mid-response", "reset before response", "reset mid-response",
                "timeout"}


def run_in_uvloop(coro):
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(coro)


def test_counts_every_response(app_factory):
    app = app_factory("v3")
    result = run_load_sync(app.url + "/", connections=8, requests=3000)

    assert (result.sent, result.ok, result.failed()) == (3000, 3000, 0)
    assert result.statuses == {200: 3000} and result.errors == {}
    assert result.by_header == {"X-Version": {"v3": 3000}}
    assert len(result.latencies_ms) == 3000 and 0 < result.p50() <= result.p99()
    served = json.loads(get(app.port, "/stats").body)["requests"]["/"]
    assert served == 3000   # the server saw exactly what we counted


def test_head_requests_end_at_their_headers(app_factory):
    """A HEAD's answer carries the Content-Length of the GET it stands for and no body:
    each used to wait for that body until its timeout."""
    app = app_factory("v3")
    started = time.monotonic()
    result = run_load_sync(app.url + "/", connections=2, requests=200, method="HEAD", timeout=5)
    assert (result.sent, result.ok, result.failed()) == (200, 200, 0), result.summary()
    assert result.by_header == {"X-Version": {"v3": 200}}
    assert time.monotonic() - started < 5  # not one request waited for its timeout


def test_duration_bounds_the_run(app_factory):
    app = app_factory()
    result = run_load_sync(app.url + "/", connections=4, duration=0.5)
    assert result.sent > 0 and result.failed() == 0
    assert 0.5 <= result.duration_s < 2.0


def test_counts_500s_from_error_rate(app_factory):
    app = app_factory(env={"APP_ERROR_RATE": "0.5"})
    result = run_load_sync(app.url + "/", connections=4, requests=1000)

    assert set(result.statuses) == {200, 500}
    assert result.statuses[200] + result.statuses[500] == result.sent == 1000
    assert result.failed() == result.statuses[500] and result.ok == result.statuses[200]
    assert 0.4 < result.statuses[500] / 1000 < 0.6
    assert result.by_header == {"X-Version": {"v1": 1000}}


def test_counts_errors_when_the_server_is_killed_mid_load(app_factory):
    app = app_factory()
    with LoadInBackground(app.url + "/", connections=8, timeout=2) as load:
        load.wait_for_responses(500)
        app.kill()
        sent_at_kill = load.progress()[0]
        load.wait_for_responses(sent_at_kill + 50)
    result = load.result

    assert result.errors and set(result.errors) <= KNOWN_ERRORS
    assert result.errors.get("connect refused", 0) > 0
    assert result.sent == result.ok + result.failed()
    assert result.sent == sum(result.statuses.values()) + sum(result.errors.values())
    assert result.ok >= 500 and set(result.statuses) == {200}


@pytest.mark.parametrize("kind", [LoadInBackground, LoadInProcess])
def test_a_load_elsewhere_stops_by_itself_at_max_duration(app_factory, kind):
    app = app_factory()
    load = kind(app.url + "/", connections=2, max_duration=0.3).start()
    deadline = time.monotonic() + 10
    while load.running:
        assert time.monotonic() < deadline, f"{kind.__name__} outlived its max_duration"
        time.sleep(0.01)
    result = load.stop()
    assert result.sent > 0 and result.failed() == 0 and result.duration_s < 2
    with pytest.raises(RuntimeError, match="load ended"):
        load.wait_for_responses(result.sent + 1)



def sockets_of_this_process() -> int:
    links = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            links.append(os.readlink(f"/proc/self/fd/{fd}"))
        except FileNotFoundError:   # the listing's own descriptor, closed since
            pass
    return sum(1 for link in links if link.startswith("socket:"))


def test_a_load_in_its_own_process_counts_every_response_from_outside_this_one(app_factory):
    app = app_factory()
    before = sockets_of_this_process()
    with LoadInProcess(app.url + "/", connections=4, duration=30) as load:
        load.wait_for_responses(500)
        sent, ok, failed = load.progress()
        during = sockets_of_this_process()   # its 4 connections are not ours
        # without retries every request in flight is unguarded, and the gauge comes across
        in_flight = wait_until(load.unguarded, 5, "a request in flight, seen from here")
    result = load.result

    assert 1 <= in_flight <= 4 and load.unguarded() == 0

    assert sent >= 500 and ok >= 500 - 4 and failed <= 4
    assert during == before
    assert result.sent >= sent and result.sent == result.ok and result.failed() == 0
    assert result.by_header == {"X-Version": {"v1": result.sent}}
    assert load.progress()[:2] == (result.sent, result.ok) and not load.running


def test_a_load_in_its_own_process_says_at_start_what_was_wrong():
    with pytest.raises(UsageError, match="only http"):
        LoadInProcess("ftp://127.0.0.1/", connections=1, duration=1).start()

def test_rate_paces_requests(app_factory):
    app = app_factory()
    result = run_load_sync(app.url + "/", connections=4, requests=40, rate=100)
    assert result.sent == result.ok == 40
    assert 0.35 <= result.duration_s < 3


def test_post_with_body(app_factory):
    app = app_factory()
    result = run_load_sync(app.url + "/echo", method="POST", body=b"x" * 1000,
                           headers={"Content-Type": "text/plain"}, requests=200)
    assert result.ok == 200 and result.failed() == 0


def test_a_run_needs_a_bound():
    with pytest.raises(UsageError):
        run_in_uvloop(run_load("http://127.0.0.1:1/"))


# --- a tiny server that misbehaves on the 2nd request of each connection ----------

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
OK_CLOSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


async def handle(mode: str, reader, writer, on_request=lambda: None):
    served = 0
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            on_request()
            length = [int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                      if line.startswith(b"content-length:")]
            await reader.readexactly(length[0] if length else 0)
            served += 1
            if mode == "close-each":
                writer.write(OK_CLOSE)
                return
            if mode == "eof-framed":   # no Content-Length: the close ends the body
                writer.write(b"HTTP/1.1 200 OK\r\n\r\nbody until close")
                return
            if served == 2:
                if mode == "reset":
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    struct.pack("ii", 1, 0))
                    writer.transport.abort()
                elif mode == "partial":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Le")
                return   # "close": not a byte of response
            writer.write(OK)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def load_flaky_server(mode: str, on_request=lambda: None, **kwargs):
    server = await asyncio.start_server(lambda r, w: handle(mode, r, w, on_request),
                                        "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        return await run_load(f"http://127.0.0.1:{port}/", connections=1, requests=10,
                              timeout=5, **kwargs)


@pytest.mark.parametrize("mode, method, retry, ok, errors, retried", [
    ("close", "GET", False, 5, {"closed before response": 5}, 0),
    ("close", "GET", True, 10, {}, 9),
    ("close", "POST", True, 5, {"closed before response": 5}, 0),
    ("reset", "GET", False, 5, {"reset before response": 5}, 0),
    ("reset", "GET", True, 10, {}, 9),
    ("partial", "GET", True, 5, {"closed mid-response": 5}, 0),
    ("close-each", "GET", False, 10, {}, 0),
    ("eof-framed", "GET", False, 10, {}, 0),
])
def test_closed_connections_are_errors_unless_safely_retried(
        mode, method, retry, ok, errors, retried):
    result = run_in_uvloop(load_flaky_server(mode, method=method,
                                             retry_idempotent_once=retry))
    assert (result.sent, result.ok, result.errors, result.retried) == \
        (10, ok, errors, retried)
    assert result.sent == result.ok + result.failed()


@pytest.mark.parametrize("retry, gauges", [
    # a first request on a new connection and a retry have no retry left; a request on a
    # reused connection has one
    (True, [1] + [0, 1] * 9),
    (False, [1] * 10),
])
def test_the_unguarded_gauge_counts_requests_in_flight_without_a_retry_left(retry, gauges):
    result, seen = LoadResult(), []   # the gauge as each request reaches the server
    run_in_uvloop(load_flaky_server("close", lambda: seen.append(result.unguarded),
                                    retry_idempotent_once=retry, into=result))
    assert seen == gauges
    assert result.unguarded == 0 and result.sent == 10


# --- the command line ---------------------------------------------------------------

def loadgen_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zerodown.loadgen", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=30)


def test_cli_prints_a_summary(app_factory):
    app = app_factory("v4")
    done = loadgen_cli(app.url + "/", "-c", "2", "-n", "200", "-H", "X-Test: 1")
    assert done.returncode == 0, done.stderr
    assert "200 passed, 0 failed" in done.stdout and "v4: 200" in done.stdout

    done = loadgen_cli(app.url + "/", "-c", "2", "-d", "0.3", "--json")
    summary = json.loads(done.stdout)
    assert summary["sent"] == summary["ok"] > 0 and summary["failed"] == 0


def test_cli_exits_1_when_requests_fail():
    done = loadgen_cli(f"http://127.0.0.1:{free_port()}/", "-c", "1", "-n", "5")
    assert done.returncode == 1
    assert "0 passed, 5 failed" in done.stdout and "connect refused: 5" in done.stdout
