"""The haproxy router over a real HAProxy 2.6, under real load from the loadgen."""

from __future__ import annotations

import threading

import pytest

from zerodown.errors import RouterError
from zerodown.loadgen import LoadInBackground, run_load_sync
from zerodown.model import Backend, RevisionRoute, RoutingTable, Rule, Sticky
from zerodown.routers.haproxy import HAProxyRouter
from tests.support.net import free_port, get, wait_until
from tests.support.haproxy import users_haproxy
from tests.support.procs import start_app
from tests.support.installed import needs

pytestmark = needs("haproxy")


@pytest.fixture
def apps():
    started = {v: [start_app(v) for _ in range(2)] for v in ("v1", "v2")}
    yield started
    for group in started.values():
        for app in group:
            app.cleanup()


@pytest.fixture
def router(tmp_path):
    r = HAProxyRouter(tmp_path / "haproxy", f"127.0.0.1:{free_port()}", service="shop")
    r.ensure_running()
    yield r
    r.stop()


def route(name, apps, weight, indexes=(0, 1)):
    return RevisionRoute(name, weight, tuple(Backend(f"shop-{name}-{apps[i].port}",
                                                     f"127.0.0.1:{apps[i].port}")
                                             for i in indexes))


def split(apps, version, w1, rules=(), sticky=None, v1=(0, 1), v2=(0, 1)):
    return RoutingTable(version, (route("r1", apps["v1"], w1, v1),
                                  route("r2", apps["v2"], 100 - w1, v2)),
                        tuple(rules), sticky)


def test_a_90_10_split_is_observed_within_two_points(router, apps):
    router.apply(split(apps, 1, 90))
    result = run_load_sync(router.url, connections=8, requests=4000)
    assert result.failed() == 0, result.summary()
    share = result.by_header["X-Version"].get("v2", 0) / result.sent * 100
    assert 8 <= share <= 12, result.summary()
    stats = router.stats()["revisions"]
    assert stats["r1"]["requests"] + stats["r2"]["requests"] == 4000
    assert stats["r2"]["weight"] == 10


def test_a_header_rule_sends_every_matching_request_to_its_revision(router, apps):
    router.apply(split(apps, 1, 100, rules=[Rule("r2", header="X-Canary", equals="1")]))
    canary = run_load_sync(router.url, connections=4, requests=500, headers={"X-Canary": "1"})
    others = run_load_sync(router.url, connections=4, requests=500, headers={"X-Canary": "2"})
    assert canary.by_header["X-Version"] == {"v2": 500}, canary.summary()
    assert others.by_header["X-Version"] == {"v1": 500}, others.summary()


def test_a_sticky_cookie_keeps_a_user_on_one_side(router, apps):
    router.apply(split(apps, 1, 50, sticky=Sticky("cookie", "zd_split")))
    first = get(router.port, headers={})
    cookie = first.headers["set-cookie"].split(";")[0]
    seen = {get(router.port, headers={"Cookie": cookie}).headers["x-version"] for _ in range(20)}
    assert seen == {first.headers["x-version"]}


def test_twenty_table_changes_under_load_fail_no_request(router, apps):
    router.apply(split(apps, 1, 100))
    with LoadInBackground(router.url, connections=8, duration=60) as load:
        load.wait_for_responses(300)
        for version in range(2, 22):  # weights move, backends come and go, lanes are reused
            w1 = [100, 75, 50, 25, 0][version % 5]
            router.apply(split(apps, version, w1, v1=(0, 1) if version % 3 else (1,),
                               v2=(0, 1) if version % 4 else (0,)))
            load.wait_for_responses(load.progress()[0] + 100)
        result = load.stop()
    assert result.failed() == 0, result.summary()
    assert set(result.by_header["X-Version"]) == {"v1", "v2"}


def test_a_removed_backends_request_in_flight_completes_then_it_is_drained(router, apps):
    slow = apps["v1"][0]
    router.apply(RoutingTable(1, (route("r1", apps["v1"], 100, (0,)),)))
    backend = f"shop-r1-{slow.port}"
    answer = {}
    t = threading.Thread(target=lambda: answer.update(r=get(router.port, "/slow?ms=2000",
                                                            timeout=10)))
    t.start()
    wait_until(lambda: router.stats()["revisions"]["r1"]["in_flight"] == 1, 5, "request in flight")
    router.apply(RoutingTable(2, (route("r2", apps["v2"], 100, (0,)),)))
    assert router.drained(backend) is False  # still answering the slow request
    assert get(router.port).headers["x-version"] == "v2"
    t.join(10)
    assert answer["r"].status == 200
    wait_until(lambda: router.drained(backend), 5, "drained after the slow request")


def test_servers_added_at_run_time_reuse_their_connections_to_the_instances(router, apps):
    """`add server` gives a server no idle pool unless told: then every request would
    open a new connection to its instance (found by benchmarks/proxy_bench.py)."""
    from zerodown.routers.haproxy_runtime_api import parse_stat
    router.apply(split(apps, 1, 100))  # servers made through the Runtime API
    result = run_load_sync(router.url, connections=4, requests=800)
    assert result.failed() == 0, result.summary()
    rows = [r for r in parse_stat(router.cli.run("show stat"))
            if r["pxname"].startswith("zd_lane") and r["svname"] != "BACKEND"]
    connects = sum(int(r["connect"] or 0) for r in rows)
    assert sum(int(r["stot"] or 0) for r in rows) == 800
    assert connects <= 50, f"{connects} connections to the instances for 800 requests"


def test_a_reload_for_a_new_rule_header_loses_nothing_for_retrying_clients(router, apps):
    """A new header to route on changes HAProxy's configuration: a hitless reload."""
    router.apply(split(apps, 1, 100))
    pid = router.pid
    with LoadInBackground(router.url, connections=8, duration=60,
                          retry_idempotent_once=True) as load:
        load.wait_for_responses(300)
        counted = router.stats()["revisions"]["r1"]["requests"]
        router.apply(split(apps, 2, 100, rules=[Rule("r2", header="X-Beta", regex="^y")]))
        load.wait_for_responses(load.progress()[0] + 300)
        result = load.stop()
    assert result.failed() == 0, result.summary()
    assert router.pid == pid  # the same master, a new worker
    assert get(router.port, headers={"X-Beta": "yes"}).headers["x-version"] == "v2"
    # the new worker counts from zero; what the old one had counted is kept
    assert router.stats()["revisions"]["r1"]["requests"] >= counted >= 300


def test_a_new_controller_finds_the_running_haproxy_and_its_table(router, apps, tmp_path):
    t = split(apps, 3, 70)
    router.apply(t)
    again = HAProxyRouter(tmp_path / "haproxy", router.listen, service="shop")
    assert again.ensure_running() == router.pid
    assert again.table() == t and again.apply(t) is False


def test_a_restarted_haproxy_serves_the_table_it_had(router, apps):
    router.apply(split(apps, 1, 0))
    router.stop()
    assert router.ensure_running() is not None
    assert get(router.port).headers["x-version"] == "v2"


def test_attach_mode_drives_a_users_own_haproxy_through_its_stats_socket(apps, tmp_path):
    """A HAProxy zerodown did not start and whose config it never writes: only servers of the
    named backend change, through the Runtime API, and a rolling 90/10 split is served."""
    with users_haproxy(tmp_path) as theirs:
        port, socket_path, before = theirs.port, theirs.socket, theirs.config.read_text()
        router = HAProxyRouter(tmp_path / "zd", f"127.0.0.1:{port}", service="shop",
                               options={"socket": str(socket_path), "backend": "app"})
        router.ensure_running()  # attach mode starts nothing: it checks the socket answers
        assert router.pid is None
        assert router.apply(split(apps, 1, 90)) is True
        assert router.apply(split(apps, 1, 90)) is False
        assert router.apply(split(apps, 2, 90)) is True  # a new version, as in managed mode
        with LoadInBackground(f"http://127.0.0.1:{port}/", connections=4) as load:
            load.wait_for_responses(500)
            assert router.apply(split(apps, 3, 50)) is True  # a canary step, at run time
            load.wait_for_responses(load.progress()[0] + 500)
            result = load.stop()
        assert result.failed() == 0, result.summary()
        share = run_load_sync(f"http://127.0.0.1:{port}/", connections=4, requests=2000)
        assert 42 <= 100 * share.by_header["X-Version"]["v2"] / share.sent <= 58
        with pytest.raises(RouterError, match="managed"):
            router.apply(split(apps, 4, 50, rules=[Rule("r2", header="X-Canary", equals="1")]))
        assert theirs.config.read_text() == before
        assert theirs.process.alive, "zerodown never stops a HAProxy it did not start"


@pytest.fixture
def checked_haproxy(tmp_path):
    """An HAProxy the user runs, its backend `app` health-checked over HTTP: (port, socket)."""
    with users_haproxy(tmp_path, backend="    option httpchk GET /healthz\n") as theirs:
        yield theirs.port, theirs.socket


def attached(tmp_path, socket_path, port, state="zd"):
    return HAProxyRouter(tmp_path / state, f"127.0.0.1:{port}", service="shop",
                         options={"socket": str(socket_path), "backend": "app"})


def instances(version, revision, group, indexes):
    """A table of one revision: its backends named as zerodown names instances."""
    return RoutingTable(version, (RevisionRoute(f"r{revision}", 100, tuple(
        Backend(f"shop-r{revision}-s{i}", f"127.0.0.1:{group[i].port}") for i in indexes)),))


def servers_of(router):
    """The user's backend as the Runtime API shows it: name -> (maint, check status)."""
    from zerodown.routers.haproxy_runtime_api import parse_servers_state, parse_stat
    state = {s.name: s.maint for s in parse_servers_state(
        router.cli.run("show servers state app"), backend="app")}
    checks = {r["svname"]: r.get("check_status", "") for r in parse_stat(router.cli.run("show stat"))
              if r["pxname"] == "app"}
    return {name: (maint, checks.get(name, "")) for name, maint in state.items()}


def test_attach_mode_deletes_its_servers_once_drained_and_has_them_checked(apps, tmp_path,
                                                                           checked_haproxy):
    """Issue 11.15: after ~12 deploys the backend held 41 zerodown servers, 37 in MAINT, and
    none was health-checked although the backend had `option httpchk`."""
    port, socket_path = checked_haproxy
    router = attached(tmp_path, socket_path, port)
    router.ensure_running()
    groups = [apps["v1"], apps["v2"]]
    for version in range(1, 7):  # six deployments, each to new instances
        router.apply(instances(version, version, groups[version % 2], (0, 1)))
        for b in (f"shop-r{version - 1}-s0", f"shop-r{version - 1}-s1"):
            # Deadlines, not waits: generous, as a loaded 2-core machine failed at 5 s / 10 s.
            wait_until(lambda: router.drained(b), 20, f"{b} drained")
    left = servers_of(router)
    assert set(left) == {"shop-r6-s0", "shop-r6-s1"}, left
    wait_until(lambda: all(not maint and status.startswith("L7")  # an HTTP check passed
                           for maint, status in servers_of(router).values()), 30,
               f"HTTP checks of the servers zerodown added: {servers_of(router)}")
    result = run_load_sync(f"http://127.0.0.1:{port}/", connections=4, requests=200)
    assert result.failed() == 0 and result.by_header["X-Version"] == {"v1": 200}, \
        result.summary()
    assert router.stats()["revisions"]["r5"]["requests"] == 0  # deleted, still counted


def test_attach_mode_down_takes_its_servers_out_and_a_new_state_dir_reconciles(apps, tmp_path,
                                                                               checked_haproxy):
    """Issue 11.16: `down` left the last revision's servers ready, pointing at stopped
    instances; with a new state directory the old servers stayed in rotation (503s)."""
    port, socket_path = checked_haproxy
    first = attached(tmp_path, socket_path, port)
    first.ensure_running()
    first.apply(instances(1, 1, apps["v1"], (0, 1)))
    first.stop()  # zerodown down
    assert servers_of(first) == {}
    first.apply(instances(2, 2, apps["v1"], (0, 1)))
    apps["v1"][1].cleanup()  # its instance is gone; the state directory too:
    again = attached(tmp_path, socket_path, port, state="zd-new")
    again.ensure_running()  # zerodown up: the dead server goes, the live one serves on
    assert set(servers_of(again)) == {"shop-r2-s0"}
    assert again.apply(instances(1, 3, apps["v2"], (0, 1)))
    wait_until(lambda: set(servers_of(again)) == {"shop-r3-s0", "shop-r3-s1"}, 5,
               "the unknown live server drained and deleted")
    result = run_load_sync(f"http://127.0.0.1:{port}/", connections=4, requests=200)
    assert result.failed() == 0 and result.by_header["X-Version"] == {"v2": 200}, \
        result.summary()


class CountingHost:
    """This machine, each call counted: over SSH each is one round trip to the host; and
    each command sent to one of HAProxy's sockets (`commands`)."""

    def __init__(self):
        from zerodown.hosts.local import LOCAL
        self.inner, self.calls, self.commands = LOCAL, [], []

    def __getattr__(self, name):
        value = getattr(self.inner, name)
        if not callable(value):
            return value

        def counted(*args, **kwargs):
            self.calls.append(name)
            for op, op_args in [(name, args)] if name != "batch" else args[0]:
                if op == "ask_unix":
                    self.commands.append(op_args[1].strip())
                elif op == "ask_unix_many":
                    self.commands += [c.strip() for c in op_args[1]]
            return value(*args, **kwargs)
        return counted


def test_a_table_change_is_three_calls_to_haproxys_host_and_sends_only_changed_files(
        apps, tmp_path):
    host = CountingHost()
    router = HAProxyRouter(tmp_path / "haproxy", f"127.0.0.1:{free_port()}", service="shop",
                           host=host)
    router.ensure_running()
    try:
        router.apply(split(apps, 1, 90))
        config = (tmp_path / "haproxy" / "haproxy.cfg").stat().st_mtime_ns
        host.calls.clear()
        router.apply(split(apps, 2, 60))  # weights move: maps swapped, the config unchanged
        assert host.calls == ["read_text", "batch", "ask_unix_many"], host.calls
        assert (tmp_path / "haproxy" / "haproxy.cfg").stat().st_mtime_ns == config
        result = run_load_sync(router.url, connections=4, requests=1000)
        share = result.by_header["X-Version"].get("v2", 0) / result.sent * 100
        assert result.failed() == 0 and 33 <= share <= 47, result.summary()
        host.calls.clear()
        assert router.apply(split(apps, 3, 60)) is True  # a new version: nothing to change
        assert host.calls == ["read_text", "batch", "ask_unix_many"], host.calls
        # a config file changed behind its back is written again by the next start
        (tmp_path / "haproxy" / "haproxy.cfg").write_text("broken")
        router.stop()
        router.ensure_running()
        assert get(router.port).status == 200
    finally:
        router.stop()


def test_a_refused_command_stops_the_batch_and_names_the_command(router, apps):
    router.apply(split(apps, 1, 90))
    with pytest.raises(RouterError, match=r"refused `set server lane0/nope weight 3`"):
        router.cli.run_all(["set server lane0/nope weight 3", "disable frontend zd_shop"])
    assert get(router.port).status == 200  # the command after the refused one was not sent


def server_status(router) -> dict[str, str]:
    """server name -> HAProxy's status of it (UP, DOWN, MAINT, ...), from `show stat`."""
    from zerodown.routers import haproxy_runtime_api, haproxy_stats
    rows = haproxy_runtime_api.parse_stat(router.cli.run("show stat"))
    return {r["svname"]: r["status"] for r in haproxy_stats.server_rows(rows)}


def test_live_traffic_takes_out_a_server_that_refuses_connections_not_one_answering_5xx(
        router, tmp_path):
    """Passive health (`observe layer4`): `fall` connection failures on users' requests take
    a server out at once, with no controller and long before the active checks (every 60 s)
    would; one answering 500 stays in (its errors are its revision's, for the analysis)."""
    from zerodown.model import HealthCheck
    good, dead, bad = (start_app("v1"), start_app("v1"),
                       start_app("v1", env={"APP_ERROR_RATE": "1"}))
    try:
        def table(version, apps):
            return RoutingTable(version, (RevisionRoute("r1", 100, tuple(
                Backend(f"shop-r1-{a.port}", f"127.0.0.1:{a.port}") for a in apps)),),
                health_check=HealthCheck("/healthz", 60.0, 1.0, 2, 1))
        router.apply(table(1, [good, dead]))
        name = f"shop-r1-{dead.port}".replace("-", "_")
        wait_until(lambda: len(server_status(router)) == 2, timeout=10)
        dead.cleanup()   # refuses connections from now on; its active check is a minute away
        result = run_load_sync(router.url, connections=2, requests=200)
        assert result.failed() == 0, result.summary()   # retried on the other server
        status = {k.replace("-", "_"): v for k, v in server_status(router).items()}
        assert [v for k, v in status.items() if name in k] == ["DOWN"], status
        router.apply(table(2, [good, bad]))
        run_load_sync(router.url, connections=2, requests=200)  # half of them 500
        status = server_status(router)
        assert status[f"shop-r1-{bad.port}"].startswith("UP"), status
        assert router.stats()["backends"][f"shop-r1-{bad.port}"]["responses"]["5xx"] > 50
    finally:
        for app in (good, dead, bad):
            app.cleanup()


def test_an_h2c_upgrade_is_answered_as_http11_never_tunnelled(router, raw_backend, client):
    """HAProxy 2.6 passes `Upgrade: h2c` on and tunnels the backend's 101 (tried: the client's
    HTTP/2 then reached the backend unread); the rendered frontend drops the ask."""
    from tests.component.test_proxy_h2c_upgrade import hop_headers, upgrades_to_h2c
    backend = raw_backend(upgrades_to_h2c)
    backend.tunnelled = bytearray()
    router.apply(RoutingTable(1, (RevisionRoute("r1", 100, (Backend("shop-r1-0",
                                                                    backend.address),)),)))
    c = client(int(router.listen.rpartition(":")[2]))
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\n"
           b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
    assert c.read_response().status == 200
    req, = backend.requests
    assert not [h for h in hop_headers(req) if "h2c" in h.lower() or "AAMA" in h], req.head
    assert backend.tunnelled == b""


def test_a_drain_look_is_one_call_to_haproxys_host_and_one_runtime_api_command(apps,
                                                                            tmp_path):
    """drained() is polled through every drain: haproxy.json and `show stat` (servers
    only) in one call; the master is asked about old workers only while a reload left
    one finishing a request, and that request keeps its server from counting as drained."""
    host = CountingHost()
    router = HAProxyRouter(tmp_path / "haproxy", f"127.0.0.1:{free_port()}", service="shop",
                           host=host)
    router.ensure_running()
    try:
        slow = apps["v1"][0]
        router.apply(RoutingTable(1, (route("r1", apps["v1"], 100, (0,)),)))
        gone = f"shop-r1-{slow.port}"
        router.apply(RoutingTable(2, (route("r2", apps["v2"], 100, (0,)),)))
        host.calls.clear(), host.commands.clear()
        assert router.drained(gone) is True
        assert host.calls == ["batch"], host.calls
        assert len(host.commands) == 1 and "show stat" in host.commands[0], host.commands
        router.stats()
        assert host.calls == ["batch"] * 2, host.calls
        # in flight on the old worker of a reload (a new rule header reshapes HAProxy)
        router.apply(RoutingTable(3, (route("r1", apps["v1"], 100, (0,)),)))
        answer = {}
        t = threading.Thread(target=lambda: answer.update(
            r=get(router.port, "/slow?ms=2500", timeout=10)))
        t.start()
        wait_until(lambda: router.stats()["revisions"]["r1"]["in_flight"] == 1, 5,
                   "request in flight")
        router.apply(RoutingTable(4, (route("r2", apps["v2"], 100, (0,)),),
                                  (Rule("r2", header="X-Beta", regex="^y"),)))
        assert router.drained(gone) is False  # the old worker still answers it
        t.join(10)
        assert answer["r"].status == 200
        wait_until(lambda: router.drained(gone), 10, "drained once the old worker is done")
        wait_until(lambda: router.drained(gone) and not router._load().old_workers, 15,
                   "the old worker's exit seen by a drain's look (and forgotten)")
        host.calls.clear(), host.commands.clear()
        assert router.drained(gone) is True
        assert host.calls == ["batch"] and len(host.commands) == 1, (host.calls,
                                                                     host.commands)
    finally:
        router.stop()
