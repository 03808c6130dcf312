"""Traffic through the real proxy process: splits, stickiness, rules, drain,
table changes and backend failures under load — every response counted."""

from __future__ import annotations

import http.client
import socket
import struct
import threading

from zerodown.loadgen import LoadInBackground, run_load_sync
from zerodown.model import Rule, Sticky
from tests.support.proxy import table_of
from tests.support.net import wait_until


def test_weighted_split_is_accurate_over_100k_requests(proxy, app_factory):
    a, b, c = app_factory("v1"), app_factory("v2"), app_factory("v3")
    proxy.apply(table_of(1, ("v1", 70, [a]), ("v2", 20, [b]), ("v3", 10, [c])))
    result = run_load_sync(proxy.url + "/", connections=16, requests=100_000, timeout=10)
    assert result.failed() == 0, result.summary()
    seen = result.by_header["X-Version"]
    assert sum(seen.values()) == 100_000
    for version, weight in (("v1", 70), ("v2", 20), ("v3", 10)):
        share = seen.get(version, 0) / 1000
        assert abs(share - weight) <= 1.0, (version, share, weight)
    stats = proxy.stats()["revisions"]
    assert {v: stats[v]["requests"] for v in ("v1", "v2", "v3")} == seen


def _get(port: int, headers: dict) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/", headers=headers)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp


def test_sticky_users_never_flip_while_weights_are_unchanged(proxy, app_factory):
    a, b = app_factory("v1"), app_factory("v2")
    users = [f"user-{i}" for i in range(300)]
    previous: dict[str, str] = {}
    for version, w in enumerate((10, 30, 60), start=1):
        proxy.apply(table_of(version, ("v2", w, [b]), ("v1", 100 - w, [a]),
                             sticky=Sticky("header", "X-User-Id")))
        seen = {}
        for _ in range(3):
            for u in users:
                side = _get(proxy.port, {"X-User-Id": u}).getheader("X-Version")
                assert seen.setdefault(u, side) == side, f"{u} flipped at weight {w}"
        moved_back = [u for u in users if previous.get(u) == "v2" and seen[u] == "v1"]
        assert moved_back == []  # as the canary grows users only move towards it
        share = sum(s == "v2" for s in seen.values()) / len(users) * 100
        assert abs(share - w) < 9, share
        previous = seen


def test_proxy_set_cookie_keeps_a_browser_on_one_side(proxy, app_factory):
    a, b = app_factory("v1"), app_factory("v2")
    proxy.apply(table_of(1, ("v1", 50, [a]), ("v2", 50, [b]), sticky=Sticky("cookie", "zd")))
    sides = set()
    for _ in range(40):  # 40 browsers, 10 requests each
        first = _get(proxy.port, {})
        cookie = first.getheader("Set-Cookie")
        assert cookie and cookie.startswith("zd=")
        pinned = cookie.split(";")[0]
        side = first.getheader("X-Version")
        sides.add(side)
        for _ in range(10):
            again = _get(proxy.port, {"Cookie": f"theme=dark; {pinned}"})
            assert again.getheader("X-Version") == side
            assert again.getheader("Set-Cookie") is None
    assert sides == {"v1", "v2"}


def test_header_and_cookie_rules_always_win(proxy, app_factory):
    a, b = app_factory("v1"), app_factory("v2")
    proxy.apply(table_of(1, ("v1", 100, [a]), ("v2", 0, [b]), rules=[
        Rule("v2", header="X-Canary", equals="1"), Rule("v2", cookie="beta", regex="^yes$")]))
    for headers, want in (({"X-Canary": "1"}, "v2"), ({"x-canary": "1"}, "v2"),
                          ({"Cookie": "a=1; beta=yes"}, "v2"), ({"X-Canary": "0"}, "v1"),
                          ({"Cookie": "beta=no"}, "v1"), ({}, "v1")):
        result = run_load_sync(proxy.url + "/", connections=4, requests=400, headers=headers)
        assert result.failed() == 0
        assert result.by_header["X-Version"] == {want: 400}, headers


def test_request_in_flight_when_its_backend_is_removed_completes(proxy, app_factory):
    a, b = app_factory("v1"), app_factory("v2")
    proxy.apply(table_of(1, ("v1", 100, [a])))
    outcome = {}

    def slow_request():
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        conn.request("GET", "/slow?ms=2000")
        resp = conn.getresponse()
        outcome["status"], outcome["body"] = resp.status, resp.read()

    t = threading.Thread(target=slow_request)
    t.start()
    backend = f"v1-{a.port}"
    wait_until(lambda: proxy.admin.in_flight(backend) == 1, what="request in flight")
    proxy.apply(table_of(2, ("v2", 100, [b])))  # v1's only backend leaves the table
    assert proxy.stats()["backends"][backend]["state"] == "draining"
    assert _get(proxy.port, {}).getheader("X-Version") == "v2"  # new requests: new table
    t.join(10)
    assert outcome["status"] == 200
    wait_until(lambda: backend not in proxy.stats()["backends"], what="drained backend gone")
    assert proxy.stats()["revisions"]["v1"]["requests"] == 1  # its history is kept


def test_fifty_table_changes_under_load_fail_no_request(proxy, app_factory):
    apps = [app_factory(f"v{i}") for i in (1, 2, 3)]
    proxy.apply(table_of(1, ("v1", 100, [apps[0]])))
    with LoadInBackground(proxy.url + "/", connections=16, duration=60) as load:
        load.wait_for_responses(200)
        for version in range(2, 52):
            w = (version * 7) % 101
            one, two = apps[version % 3], apps[(version + 1) % 3]
            proxy.apply(table_of(version, (f"r{version}", w, [one]),
                                 (f"s{version}", 100 - w, [two, apps[(version + 2) % 3]])))
            n = load.progress()[0]
            load.wait_for_responses(n + 20)
        result = load.stop()
    assert result.sent > 1000
    assert result.failed() == 0, result.summary()


def test_backend_killed_mid_load_costs_no_request(proxy, app_factory):
    a1, a2, b = app_factory("v1"), app_factory("v1"), app_factory("v2")
    proxy.apply(table_of(1, ("v1", 80, [a1, a2]), ("v2", 20, [b])))
    with LoadInBackground(proxy.url + "/", connections=16, duration=30) as load:
        load.wait_for_responses(500)
        a1.kill()  # SIGKILL: in-flight requests are reset, new connects refused
        n = load.progress()[0]
        load.wait_for_responses(n + 2000)
        b.kill()  # a whole revision gone: its traffic falls back to v1
        n = load.progress()[0]
        load.wait_for_responses(n + 2000)
        result = load.stop()
    assert result.failed() == 0, result.summary()
    backends = proxy.stats()["backends"]
    assert backends[f"v1-{a1.port}"]["retries"] + backends[f"v2-{b.port}"]["retries"] > 0
    assert backends[f"v1-{a1.port}"]["state"] == "ejected"


def test_no_backend_gives_503_not_a_hang(proxy):
    result = run_load_sync(proxy.url + "/", connections=2, requests=10)
    assert result.statuses == {503: 10}


def test_active_health_checks_take_a_bad_backend_out_and_back(proxy, app_factory, tmp_path):
    good = app_factory("v1")
    flag = tmp_path / "sick"
    sick = app_factory("v1", env={"APP_UNHEALTHY_FILE": str(flag)})
    from zerodown.model import HealthCheck
    import dataclasses
    table = dataclasses.replace(table_of(1, ("v1", 100, [good, sick])),
                                health_check=HealthCheck("/healthz", interval=0.1, timeout=0.5, fall=2, rise=2))
    proxy.apply(table)
    sick_id = f"v1-{sick.port}"
    flag.write_text("1")  # /healthz now answers 503, / still answers 200
    wait_until(lambda: proxy.stats()["backends"][sick_id]["state"] == "down", what="backend down")
    before = proxy.stats()["backends"][sick_id]["requests"]
    result = run_load_sync(proxy.url + "/", connections=4, requests=400)
    assert result.failed() == 0
    assert proxy.stats()["backends"][sick_id]["requests"] == before  # none went to it
    flag.unlink()
    wait_until(lambda: proxy.stats()["backends"][sick_id]["state"] == "active", what="backend back")
    run_load_sync(proxy.url + "/", connections=4, requests=400)
    assert proxy.stats()["backends"][sick_id]["requests"] > before


class _ResettingBackend:
    """Accepts every connection and resets it at once (SO_LINGER 0): to the proxy,
    a connect that succeeds and a connection that dies before it can be used —
    what a backend killed while connections to it are being opened looks like."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed: the test is over
            self.accepted += 1
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    def close(self) -> None:
        self.sock.close()


def test_a_backend_that_resets_every_connection_costs_no_request(proxy, app_factory):
    """Connects succeed and the connections die at once: each request they were
    opened for goes to the other backend (tests/unit/test_upstream_connect.py
    pins the order in which a reset can beat the connect callback)."""
    good, bad = app_factory("v1"), _ResettingBackend()
    try:
        proxy.apply(table_of(1, ("v1", 100, [good, bad])))
        result = run_load_sync(proxy.url + "/", connections=8, requests=2000, timeout=5)
    finally:
        bad.close()
    assert result.failed() == 0, result.summary()
    assert bad.accepted > 0
    assert proxy.stats()["backends"][f"v1-{bad.port}"]["state"] == "ejected"
