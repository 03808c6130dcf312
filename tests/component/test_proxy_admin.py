"""The proxy's admin API and start-up checks, against the real proxy process:
bad tables are refused whole, versions only move forward, the API is never on
the public listener, a TCP admin needs its token, and /stats and /metrics
count what was sent."""

from __future__ import annotations

import json
import math
import os
import re
import socket
import sys
import threading

import pytest

from tests.support import HOST, ManagedProcess, free_port, get, request
from tests.support.proxy import ProxyProcess, dump, table_of
from zerodown.model import Rule
from zerodown.proxy.client import AdminClient


def admin_call(proxy, method: str, path: str, body: bytes | None = None) -> tuple[int, dict]:
    status, data = proxy.admin.request(method, path, body)
    return status, json.loads(data)


def table_doc(version: int, app, **changes) -> dict:
    doc = {"version": version,
           "revisions": [{"name": "v1", "weight": 100,
                          "backends": [{"id": f"v1-{app.port}", "address": f"{HOST}:{app.port}"}]}]}
    doc.update(changes)
    return doc


@pytest.fixture
def served(proxy, app_factory):
    """The proxy serving table version 3: all traffic to one app, v1."""
    app = app_factory("v1")
    proxy.apply(table_of(3, ("v1", 100, [app])))
    return proxy, app


def assert_table_untouched(proxy, app, before: dict, state_before: bytes) -> None:
    assert admin_call(proxy, "GET", "/table") == (200, before)
    assert proxy.state.read_bytes() == state_before
    assert get(proxy.port, "/").body == b"hello from v1\n"  # and traffic flows as before


def _revisions(app, *spec: tuple[str, float, str]) -> list[dict]:
    """[(name, weight, backend id), ...] -> revisions, every backend at `app`."""
    return [{"name": name, "weight": w, "backends": [{"id": bid, "address": f"{HOST}:{app.port}"}]}
            for name, w, bid in spec]


BAD = {
    "bad-json": (lambda app: b'{"version": 4, "revisions": [', "not valid JSON"),
    "not-an-object": (lambda app: b"[1, 2]", "must be a JSON object"),
    "unknown-revision-in-rule": (
        lambda app: table_doc(4, app, rules=[{"revision": "v9", "header": "X-Canary",
                                              "equals": "1"}]), "unknown revision 'v9'"),
    "weights-do-not-add-up": (
        lambda app: {"version": 4, "revisions": _revisions(app, ("v1", 60, "a"), ("v2", 30, "b"))},
        "weights must add up to 100, they add up to 90"),
    "duplicate-backend-ids": (
        lambda app: {"version": 4, "revisions": _revisions(app, ("v1", 50, "x"), ("v2", 50, "x"))},
        "duplicate backend id 'x'"),
    "bad-address": (
        lambda app: table_doc(4, app, revisions=[{"name": "v1", "weight": 100, "backends": [
            {"id": "a", "address": "no-port-here"}]}]), "address: must be host:port"),
}


@pytest.mark.parametrize("make, problem", BAD.values(), ids=BAD.keys())
def test_a_malformed_table_gets_400_naming_the_problem_and_changes_nothing(served, make, problem):
    proxy, app = served
    _, before = admin_call(proxy, "GET", "/table")
    state_before = proxy.state.read_bytes()
    payload = make(app)
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    status, reply = admin_call(proxy, "PUT", "/table", body)
    assert status == 400, reply
    assert problem in reply["error"], reply
    assert reply["version"] == 3
    assert_table_untouched(proxy, app, before, state_before)


def test_an_older_version_gets_409_and_changes_nothing(served, app_factory):
    proxy, app = served
    other = app_factory("v2")
    _, before = admin_call(proxy, "GET", "/table")
    state_before = proxy.state.read_bytes()
    status, reply = admin_call(proxy, "PUT", "/table",
                               dump(table_of(2, ("v2", 100, [other]))).encode())
    assert (status, reply["version"]) == (409, 3), reply
    assert "older" in reply["error"]
    # the same version with other content is stale too
    status, reply = admin_call(proxy, "PUT", "/table",
                               dump(table_of(3, ("v2", 100, [other]))).encode())
    assert status == 409, reply
    assert_table_untouched(proxy, app, before, state_before)


def test_the_same_table_twice_is_a_no_op(served):
    proxy, app = served
    assert get(proxy.port, "/").status == 200  # leaves a warm upstream connection
    _, before = admin_call(proxy, "GET", "/table")
    state_before = proxy.state.read_bytes()
    status, reply = admin_call(proxy, "PUT", "/table", json.dumps(before).encode())
    assert (status, reply) == (200, {"version": 3, "changed": False})
    assert_table_untouched(proxy, app, before, state_before)
    backend = proxy.stats()["backends"][f"v1-{app.port}"]
    assert (backend["requests"], backend["idle_connections"]) == (2, 1)  # pool kept, not rebuilt


def test_the_admin_api_is_not_on_the_public_listener(proxy, app_factory):
    # with no backend at all: 503 from the proxy, never the admin JSON
    for path in ("/table", "/stats", "/metrics", "/healthz"):
        reply = get(proxy.port, path)
        assert reply.status == 503, (path, reply)
        assert b'"version"' not in reply.body and b"zerodown_" not in reply.body
    app = app_factory("v1")
    proxy.apply(table_of(3, ("v1", 100, [app])))
    for path in ("/table", "/metrics"):
        reply = get(proxy.port, path)
        assert (reply.status, reply.headers.get("x-version")) == (404, "v1"), path
    stats = json.loads(get(proxy.port, "/stats").body)
    assert stats["pid"] == app.pid and "backends" not in stats  # the app's, not the proxy's
    hijack = dump(table_of(99, ("v1", 100, [])))
    reply = request("PUT", proxy.port, "/table", body=hijack.encode(),
                    headers={"Content-Type": "application/json"})
    assert reply.headers.get("x-version") == "v1" and reply.status in (404, 405)
    assert proxy.admin.table().version == 3


def test_the_unix_admin_socket_is_for_its_owner_only(proxy):
    mode = (proxy.workdir / "admin.sock").stat().st_mode & 0o777
    assert mode == 0o600, oct(mode)


# -- TCP admin ------------------------------------------------------------------------

def test_a_tcp_admin_refuses_requests_without_the_token(tmp_path, app_factory):
    admin_port = free_port()
    proxy = ProxyProcess(tmp_path, extra=["--admin", f"{HOST}:{admin_port}",
                                          "--admin-token", "s3cret-token"])
    try:
        proxy.start()
        app = app_factory("v1")
        table = dump(table_of(1, ("v1", 100, [app]))).encode()
        for token in (None, "wrong", "s3cret-token-but-longer", "Bearer s3cret-token"):
            anon = AdminClient(f"{HOST}:{admin_port}", token=token, timeout=5)
            for method, path, body in (("GET", "/table", None), ("GET", "/stats", None),
                                       ("GET", "/metrics", None), ("PUT", "/table", table)):
                status, data = anon.request(method, path, body)
                assert status == 401, (token, method, path, status)
                assert b"Authorization: Bearer" in data
        authed = AdminClient(f"{HOST}:{admin_port}", token="s3cret-token", timeout=5)
        assert authed.table().version == 0  # nothing was applied without the token
        assert authed.apply(table_of(1, ("v1", 100, [app]))) is True
        assert authed.table().version == 1
        assert get(proxy.port, "/").body == b"hello from v1\n"
    finally:
        proxy.cleanup()


def raw_exchange(connect, data: bytes) -> bytes:
    """Send `data`, read until the admin closes (bounded); every byte it answered."""
    with connect() as sock:
        sock.settimeout(5)
        sock.sendall(data)
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except (socket.timeout, ConnectionResetError):
            pass
        return out


def test_a_tcp_admin_refuses_a_non_ascii_token_with_401(tmp_path):
    admin_port = free_port()
    proxy = ProxyProcess(tmp_path, extra=["--admin", f"{HOST}:{admin_port}",
                                          "--admin-token", "s3cret-token"])
    try:
        proxy.start()
        reply = raw_exchange(lambda: socket.create_connection((HOST, admin_port)),
                             b"GET /table HTTP/1.1\r\nHost: a\r\n"
                             b"Authorization: Bearer s3cr\xe9t\r\nConnection: close\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 401 "), reply[:200]
    finally:
        proxy.cleanup()


MALFORMED_HTTP = {
    "content-length-not-a-number": (b"Content-Length: abc\r\n", 400),
    "content-length-over-the-limit": (b"Content-Length: %d\r\n" % (64 * 1024 * 1024), 413),
}


@pytest.mark.parametrize("header, status", MALFORMED_HTTP.values(), ids=MALFORMED_HTTP.keys())
def test_malformed_http_to_the_admin_gets_an_error_status_not_a_dropped_connection(
        served, header, status):
    proxy, app = served
    _, before = admin_call(proxy, "GET", "/table")
    state_before = proxy.state.read_bytes()

    def connect():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(proxy.workdir / "admin.sock"))
        return s
    reply = raw_exchange(connect, b"PUT /table HTTP/1.1\r\nHost: a\r\n" + header +
                         b"Connection: close\r\n\r\n{}")
    assert reply.startswith(b"HTTP/1.1 %d " % status), reply[:200] or "closed without a reply"
    assert_table_untouched(proxy, app, before, state_before)


def run_proxy_expecting_exit(tmp_path, *args: str, env=None) -> tuple[int, str]:
    argv = [sys.executable, "-m", "zerodown", "proxy", "--listen", f"{HOST}:{free_port()}",
            *args]
    proc = ManagedProcess(argv, env=env, name="proxy")
    try:
        return proc.wait(15), proc.log()
    finally:
        proc.cleanup()


def test_a_tcp_admin_without_a_token_does_not_start(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "ZERODOWN_ADMIN_TOKEN"}
    code, log = run_proxy_expecting_exit(tmp_path, "--admin", f"{HOST}:{free_port()}",
                                         "--state", str(tmp_path / "s.json"), env=env)
    assert code == 2, log
    assert "--admin-token" in log and "Traceback" not in log, log


@pytest.mark.parametrize("content", [b'{"version": 3, "revisions": [',
                                     b'{"version": 3, "revisions": [{"name": "v1", "weight": 50}]}',
                                     b""], ids=["truncated-json", "invalid-table", "empty-file"])
def test_a_damaged_state_file_stops_the_proxy_naming_the_file(tmp_path, content):
    state = tmp_path / "proxy.json"
    state.write_bytes(content)
    code, log = run_proxy_expecting_exit(tmp_path, "--admin", f"unix:{tmp_path / 'a.sock'}",
                                         "--state", str(state))
    assert code == 2, log
    assert str(state) in log and "damaged" in log and "Traceback" not in log, log
    assert state.read_bytes() == content  # left for the operator to look at


# -- /metrics and /stats --------------------------------------------------------------

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"\s*(?:,|$)')


def parse_prometheus(text: str) -> dict[str, list[tuple[dict, float]]]:
    """Samples by name; AssertionError on any line that is not valid text format 0.0.4."""
    assert text.endswith("\n")
    types: dict[str, str] = {}
    samples: dict[str, list[tuple[dict, float]]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("#"):
            parts = line.split(None, 3)
            if parts[1] == "TYPE":
                assert parts[2] not in types, f"line {n}: second TYPE for {parts[2]}"
                assert parts[3] in ("counter", "gauge", "histogram", "summary", "untyped"), line
                types[parts[2]] = parts[3]
            continue
        m = _SAMPLE.match(line)
        assert m, f"line {n} is not `name{{labels}} value`: {line!r}"
        labels_text, labels = m.group("labels") or "", {}
        pos = 0
        while pos < len(labels_text):
            lm = _LABEL.match(labels_text, pos)
            assert lm and lm.end() > pos, f"line {n}: bad labels {labels_text!r}"
            assert lm.group(1) not in labels, f"line {n}: label {lm.group(1)} twice"
            labels[lm.group(1)] = lm.group(2)
            pos = lm.end()
        value = float(m.group("value"))  # ValueError fails the test too
        name = m.group("name")
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family in types, f"line {n}: {name} has no # TYPE line before it"
        samples.setdefault(name, []).append((labels, value))
    return samples


def value_of(samples, name: str, **labels) -> float:
    found = [v for lab, v in samples.get(name, [])
             if all(lab.get(k) == x for k, x in labels.items())]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def canary_table(version, stable: list, canary: list):
    return table_of(version, ("v1", 100, stable), ("v2", 0, canary),
                    rules=[Rule(revision="v2", header="X-Canary", equals="1")])


def test_metrics_are_valid_prometheus_text_counting_what_was_sent(proxy, app_factory):
    a, b = app_factory("v1"), app_factory("v2")
    proxy.apply(canary_table(1, [a], [b]))
    for _ in range(7):
        assert get(proxy.port, "/").headers["x-version"] == "v1"
    for _ in range(3):
        assert get(proxy.port, "/", headers={"X-Canary": "1"}).headers["x-version"] == "v2"
    status, data = proxy.admin.request("GET", "/metrics")
    assert status == 200
    samples = parse_prometheus(data.decode())
    for rev, n in (("v1", 7), ("v2", 3)):
        assert value_of(samples, "zerodown_requests_total", revision=rev) == n
        assert value_of(samples, "zerodown_responses_total", revision=rev, code="2xx") == n
        assert value_of(samples, "zerodown_responses_total", revision=rev, code="5xx") == 0
        assert value_of(samples, "zerodown_in_flight", revision=rev) == 0
        assert value_of(samples, "zerodown_request_duration_seconds_count", revision=rev) == n
        buckets = [(float(lab["le"]), v) for lab, v in
                   samples["zerodown_request_duration_seconds_bucket"] if lab["revision"] == rev]
        assert [v for _, v in sorted(buckets)] == sorted(v for _, v in buckets)  # cumulative
        assert buckets[-1] == (math.inf, n)
    assert value_of(samples, "zerodown_backend_requests_total", backend=f"v1-{a.port}") == 7
    assert value_of(samples, "zerodown_backend_requests_total", backend=f"v2-{b.port}") == 3


def test_stats_report_requests_statuses_latency_and_in_flight(proxy, app_factory, poll):
    a1, a2 = app_factory("v1"), app_factory("v1")
    broken = app_factory("v2", env={"APP_ERROR_RATE": "1"})
    proxy.apply(canary_table(1, [a1, a2], [broken]))
    for _ in range(10):
        assert get(proxy.port, "/slow?ms=20").status == 200
    for _ in range(4):
        assert get(proxy.port, "/", headers={"X-Canary": "1"}).status == 500
    stats = proxy.stats()
    v1, v2 = stats["revisions"]["v1"], stats["revisions"]["v2"]
    assert (v1["requests"], v1["responses"]["2xx"], v1["responses"]["5xx"]) == (10, 10, 0)
    assert (v2["requests"], v2["responses"]["2xx"], v2["responses"]["5xx"]) == (4, 0, 4)
    assert (v1["weight"], v2["weight"]) == (100, 0)
    backends = stats["backends"]
    assert [backends[f"v1-{a.port}"]["requests"] for a in (a1, a2)] == [5, 5]  # round robin
    assert backends[f"v2-{broken.port}"]["responses"]["5xx"] == 4
    lat = v1["latency_ms"]
    assert 15 <= lat["p50"] <= lat["p99"] < 1000, lat  # /slow?ms=20 takes >= 20 ms
    assert v2["latency_ms"]["p50"] is not None

    slow = threading.Thread(target=get, args=(proxy.port, "/slow?ms=600"), daemon=True)
    slow.start()
    s = poll(lambda: (st := proxy.stats())["revisions"]["v1"]["in_flight"] == 1 and st, 5,
             "one request in flight")
    assert sum(b["in_flight"] for b in s["backends"].values()) == 1
    assert s["revisions"]["v2"]["in_flight"] == 0
    slow.join(5)
    s = poll(lambda: (st := proxy.stats())["revisions"]["v1"]["in_flight"] == 0 and st, 5,
             "the request to finish")
    assert s["revisions"]["v1"]["requests"] == 11
