"""The nginx router (zerodown/routers/nginx.py) on a real nginx, real backends, real load."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from zerodown.errors import RouterError, StaleTableError
from zerodown.loadgen import LoadInBackground, run_load_sync
from zerodown.model import Backend, RevisionRoute, RoutingTable, Rule, Sticky
from zerodown.routers.nginx import NginxRouter
from zerodown.routers.nginx_render import render_main
from zerodown.routers.nginx_options import NginxOptions
from tests.support.net import free_port, request, wait_until
from tests.support.procs import start_app

if shutil.which("nginx") is None and os.environ.get("CI") != "true":
    pytest.skip("nginx is not installed (bash scripts/setup.sh installs it); never skipped "
                "under CI", allow_module_level=True)


@pytest.fixture
def apps():
    started = {"v1": start_app("v1"), "v1b": start_app("v1"), "v2": start_app("v2")}
    yield {k: f"127.0.0.1:{a.port}" for k, a in started.items()}
    for a in started.values():
        a.cleanup()


@pytest.fixture
def nginx(tmp_path):
    router = NginxRouter(tmp_path / "nginx", f"127.0.0.1:{free_port()}", service="shop")
    router.ensure_running()
    yield router
    try:
        router.shadow(None)  # a shadow's comparator process, if a test left one
    except RouterError:
        pass  # nginx is gone: so is what mirrored to it
    router.stop()


def split(version: int, apps, w1: float, *, rules=(), v1=("v1", "v1b")) -> RoutingTable:
    return RoutingTable(version, (
        RevisionRoute("r1", w1, tuple(Backend(f"shop-r1-{k}", apps[k]) for k in v1)),
        RevisionRoute("r2", 100 - w1, (Backend("shop-r2-v2", apps["v2"]),))), tuple(rules))


def versions(result) -> dict[str, int]:
    return result.by_header.get("X-Version", {})


def test_a_90_10_split_holds_within_2_points(nginx, apps):
    nginx.apply(split(1, apps, 90))
    result = run_load_sync(nginx.url + "/", connections=4, requests=4000)
    assert result.failed() == 0, result.summary()
    share = versions(result).get("v2", 0) / result.sent * 100
    assert 8 <= share <= 12, result.summary()
    wait_until(lambda: sum(r["requests"] for r in nginx.stats()["revisions"].values()) >= 4000,
               5.0, "4000 requests in nginx's log")
    stats = nginx.stats()["revisions"]
    assert stats["r2"]["requests"] == versions(result).get("v2", 0)
    assert stats["r1"]["responses"]["2xx"] == versions(result).get("v1", 0)


def test_a_header_rule_always_wins_over_the_weights(nginx, apps):
    nginx.apply(split(1, apps, 100, rules=[Rule("r2", header="X-Canary", equals="on")]))
    canary = run_load_sync(nginx.url + "/", connections=2, requests=400,
                           headers={"X-Canary": "on"})
    assert versions(canary) == {"v2": 400}, canary.summary()
    other = run_load_sync(nginx.url + "/", connections=2, requests=200,
                          headers={"X-Canary": "ON"})  # equals is exact, like the embedded proxy
    assert versions(other) == {"v1": 200}, other.summary()
    assert versions(run_load_sync(nginx.url + "/", connections=2, requests=200)) == {"v1": 200}


def test_sticky_users_keep_to_one_side(nginx, apps):
    base = split(1, apps, 50)
    nginx.apply(RoutingTable(1, base.revisions, sticky=Sticky("cookie", "zd_split", 600)))
    port = int(nginx.listen.rsplit(":", 1)[1])
    first = request("GET", port, "/")
    cookie = first.headers["set-cookie"].split(";")[0]
    assert cookie.startswith("zd_split=") and "Max-Age=600" in first.headers["set-cookie"]
    seen = {request("GET", port, "/", headers={"Cookie": cookie}).headers["x-version"]
            for _ in range(30)}
    assert seen == {first.headers["x-version"]}
    assert "set-cookie" not in request("GET", port, "/", headers={"Cookie": cookie}).headers
    nginx.apply(RoutingTable(2, base.revisions, sticky=Sticky("header", "X-User")))
    by_user = {}
    for user in range(40):
        got = {request("GET", port, "/", headers={"X-User": f"u{user}"}).headers["x-version"]
               for _ in range(3)}
        assert len(got) == 1, f"user u{user} moved: {got}"
        by_user[user] = got.pop()
    assert set(by_user.values()) == {"v1", "v2"}  # the users spread over both sides


def test_20_table_changes_under_load_fail_nothing_for_a_retrying_client(nginx, apps):
    nginx.apply(split(1, apps, 100))
    members = [("v1", "v1b"), ("v1",), ("v1b",)]
    with LoadInBackground(nginx.url + "/", connections=4, retry_idempotent_once=True) as retrying, \
            LoadInBackground(nginx.url + "/", connections=4) as raw:
        retrying.wait_for_responses(200)
        raw.wait_for_responses(200)
        for i in range(20):
            assert nginx.apply(split(2 + i, apps, (90, 50, 0, 100)[i % 4], v1=members[i % 3]))
            retrying.wait_for_responses(retrying.progress()[0] + 50)
        retried, plain = retrying.stop(), raw.stop()
    print(f"\n20 reloads under load: retrying client {retried.failed()} failed of {retried.sent} "
          f"({retried.retried} retried once); raw client {plain.failed()} failed of {plain.sent} "
          f"{plain.errors}")
    assert retried.failed() == 0, retried.summary()
    assert set(versions(retried)) == {"v1", "v2"}
    assert plain.failed() <= 20 * 8, plain.summary()  # at most: every idle connection, each reload


def test_a_slow_request_on_a_removed_backend_completes(nginx, apps):
    nginx.apply(RoutingTable(1, (RevisionRoute("r1", 100, (Backend("shop-r1-v1", apps["v1"]),)),)))
    port = int(nginx.listen.rsplit(":", 1)[1])
    replies = []
    slow = threading.Thread(target=lambda: replies.append(
        request("GET", port, "/slow?ms=2000", timeout=10)))
    slow.start()
    wait_until(lambda: _in_flight(apps["v1"]) == 1, 5.0, "the slow request reaching its backend")
    nginx.apply(RoutingTable(2, (RevisionRoute("r2", 100, (Backend("shop-r2-v2", apps["v2"]),)),)))
    assert request("GET", port, "/").headers["x-version"] == "v2"  # the new table serves
    assert nginx.drained("shop-r1-v1") is False  # its old worker still carries the request
    slow.join(10)
    assert replies and replies[0].status == 200
    wait_until(lambda: nginx.drained("shop-r1-v1"), 5.0, "the removed backend drained")


def _in_flight(address: str) -> int:
    host, port = address.rsplit(":", 1)
    return json.loads(request("GET", int(port), "/stats", host=host).text)["in_flight"]


def test_a_restarted_controller_finds_nginx_and_its_table(nginx, apps, tmp_path):
    table = split(4, apps, 90)
    nginx.apply(table)
    again = NginxRouter(tmp_path / "nginx", nginx.listen, service="shop")
    assert again.ensure_running() == nginx.pid
    assert again.table() == table and again.apply(table) is False
    with pytest.raises(StaleTableError):
        again.apply(split(3, apps, 50))


def test_a_new_version_of_the_same_routing_needs_no_reload(nginx, apps):
    from zerodown.routers import nginx_process
    nginx.apply(split(1, apps, 90))
    def every() -> set:
        return {w.key for w in nginx_process.workers(nginx.pid)}
    # All workers, the first reload's predecessors too: they take "shutting down" a moment
    # after the new ones are up, so a snapshot of only the serving ones could shrink later.
    workers = every()
    same = split(2, apps, 90)
    assert nginx.apply(same) is True and nginx.table() == same
    assert every() <= workers  # no worker started: nobody reloaded
    nginx.apply(split(3, apps, 80))
    # A real change reloads: the old workers are told to quit and say so in their
    # title as each handles the signal — a moment after the new ones are up.
    wait_until(lambda: not workers & {w.key for w in nginx_process.workers(nginx.pid)
                                      if not w.shutting_down},
               timeout=5, what="every old worker gone or shutting down")


def test_nginx_outlives_the_controller_that_started_it(tmp_path):
    listen = f"127.0.0.1:{free_port()}"
    script = ("import sys; sys.path.insert(0, %r); from zerodown.routers.nginx import NginxRouter;"
              "print(NginxRouter(%r, %r).ensure_running())" % (os.getcwd(), str(tmp_path / "n"), listen))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    router = NginxRouter(tmp_path / "n", listen)
    try:
        assert router.pid == int(done.stdout.strip())
        assert request("GET", int(listen.rsplit(":", 1)[1]), "/").status == 503  # empty table
    finally:
        router.stop()
    assert router.pid is None


def test_a_lost_pid_file_does_not_lose_nginx(nginx, tmp_path):
    pid = nginx.pid
    nginx.pid_file.unlink()
    again = NginxRouter(tmp_path / "nginx", nginx.listen, service="shop")
    assert again.pid == pid and again.ensure_running() == pid


def test_a_config_nginx_refuses_leaves_the_running_one_in_force(nginx, apps):
    good = split(1, apps, 100)
    nginx.apply(good)
    bad = RoutingTable(2, (RevisionRoute("r1", 100, (Backend("x", "no-such-host.invalid:80"),)),))
    with pytest.raises(RouterError, match="host not found"):
        nginx.apply(bad)
    assert nginx.table() == good
    port = int(nginx.listen.rsplit(":", 1)[1])
    assert request("GET", port, "/").status == 200


def test_attach_mode_creates_the_include_file_so_the_users_nginx_can_start_first(apps,
                                                                                  tmp_path):
    """Issue 11.18: nginx would not start without the include file, zerodown not without a
    running nginx, and zerodown never created the file."""
    (tmp_path / "temp").mkdir()
    include, conf = tmp_path / "conf.d" / "zerodown-shop.conf", tmp_path / "nginx.conf"
    include.parent.mkdir()
    conf.write_text(render_main(f"include {include};\n", options=NginxOptions(workers="1")))
    router = NginxRouter(tmp_path / "state", f"127.0.0.1:{free_port()}", service="shop",
                         options={"config": str(include), "pid_file": str(tmp_path / "nginx.pid")})
    with pytest.raises(RouterError, match="that file is ready"):
        router.ensure_running()  # zerodown up, before the user's nginx runs
    assert include.exists()
    started = subprocess.run(["nginx", "-p", f"{tmp_path}/", "-c", str(conf), "-e", "stderr"],
                             capture_output=True, text=True)
    assert started.returncode == 0, started.stderr
    try:
        wait_until(lambda: router.pid, 5.0, "the user's nginx running")
        port = int(router.listen.rsplit(":", 1)[1])
        assert request("GET", port, "/").status == 503  # nothing deployed yet
        assert router.ensure_running() == router.pid
        assert router.apply(split(1, apps, 100))
        assert request("GET", port, "/").headers["x-version"] == "v1"
    finally:
        if router.pid:
            os.kill(router.pid, signal.SIGQUIT)


def test_attach_mode_reloads_a_master_it_did_not_start(apps, tmp_path):
    """The user's own nginx includes zerodown's file; zerodown writes it and reloads."""
    (tmp_path / "temp").mkdir()
    include, conf = tmp_path / "zerodown-shop.conf", tmp_path / "nginx.conf"
    include.write_text("")
    conf.write_text(render_main(f"include {include};\n", options=NginxOptions(workers="1")))
    router = NginxRouter(tmp_path / "state", f"127.0.0.1:{free_port()}", service="shop",
                         options={"config": str(include), "pid_file": str(tmp_path / "nginx.pid")})
    with pytest.raises(RouterError, match="never starts"):
        router.ensure_running()
    os.system(f"nginx -p {tmp_path}/ -c {conf} -e stderr")
    try:
        wait_until(lambda: router.pid, 5.0, "the user's nginx running")
        assert router.ensure_running() == router.pid
        assert router.apply(split(1, apps, 0))
        port = int(router.listen.rsplit(":", 1)[1])
        assert request("GET", port, "/").headers["x-version"] == "v2"
        assert router.table() == split(1, apps, 0)
        router.stop()  # zerodown down: the master is not ours and runs on, routing nothing
        assert router.pid is not None
        assert request("GET", port, "/").status == 503  # not 502 from stopped instances
        assert router.table() == RoutingTable(1)
        assert router.apply(split(2, apps, 100))  # the next `up` routes again
        assert request("GET", port, "/").headers["x-version"] == "v1"
    finally:
        if router.pid:
            os.kill(router.pid, signal.SIGQUIT)


def _parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError):
        return None


def shadow_settled(router: NginxRouter, copies: int, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        stats = router.shadow_stats()
        if stats["compared"] + stats["failed"] + stats["timed_out"] + stats["dropped"] >= copies:
            return stats
        assert time.monotonic() < deadline, stats
        time.sleep(0.05)


def test_a_shadow_through_the_comparator_counts_differing_answers_users_get_stable(nginx, apps,
                                                                                 tmp_path):
    """nginx's mirror sends copies to zerodown's comparator, which replays them to stable and
    to the shadow and compares (shadow(), shadow/comparator.py)."""
    nginx.apply(RoutingTable(1, (RevisionRoute("r1", 100, (Backend("shop-r1", apps["v1"]),)),)))
    assert nginx.shadow_stats() is None

    stats = nginx.shadow({"address": apps["v1b"], "ignore": ["$.pid"]})
    assert stats["address"] == apps["v1b"] and stats["stable"] == apps["v1"]
    result = run_load_sync(nginx.url + "/version", connections=4, requests=200)
    assert result.failed() == 0 and set(result.by_header["X-Version"]) == {"v1"}
    stats = shadow_settled(nginx, 200)
    assert (stats["compared"], stats["differing"]) == (200, 0), stats
    # nginx is answered at the users' priority (it holds a client's next request until its
    # mirror subrequest ends); the replays and comparisons run in an idle-class worker
    front = json.loads((tmp_path / "nginx" / "shadow.json").read_text())["pid"]
    assert os.sched_getscheduler(front) == os.SCHED_OTHER
    assert os.getpriority(os.PRIO_PROCESS, front) == 0
    [worker] = [int(p) for p in os.listdir("/proc") if p.isdigit() and _parent(int(p)) == front]
    assert os.sched_getscheduler(worker) == os.SCHED_IDLE

    stats = nginx.shadow({"address": apps["v2"], "ignore": ["$.pid"]})  # replaces the first
    result = run_load_sync(nginx.url + "/version", connections=4, requests=200)
    assert result.failed() == 0 and set(result.by_header["X-Version"]) == {"v1"}
    run_load_sync(nginx.url + "/echo", connections=1, requests=20, method="POST", body=b"x")
    stats = shadow_settled(nginx, 200)
    assert stats["differing"] == stats["compared"] == 200, stats  # POSTs never copied
    assert stats["examples"][0]["where"] == "$.version"
    assert stats["examples"][0]["request"].startswith("GET /version")

    last = nginx.shadow({"address": apps["v2"], "percent": 25})  # chosen by nginx itself
    assert last["percent"] == 25
    run_load_sync(nginx.url + "/version", connections=4, requests=800)
    wait_until(lambda: (lambda st: st["offered"] + st["dropped"])(nginx.shadow_stats()) >= 120,
               10.0, "nginx's share of 800 requests at the comparator")

    last = nginx.shadow(None)
    assert 120 <= last["offered"] + last["dropped"] <= 280, last  # 25% of 800, random
    assert nginx.shadow_stats() is None
    assert "mirror" not in (tmp_path / "nginx" / "nginx.conf").read_text()
    result = run_load_sync(nginx.url + "/version", connections=2, requests=50)
    assert result.failed() == 0


def test_a_shadow_needs_stable_and_good_settings(nginx, apps):
    with pytest.raises(RouterError, match="no revision serves users"):
        nginx.shadow({"address": apps["v2"]})
    nginx.apply(RoutingTable(1, (RevisionRoute("r1", 100, (Backend("shop-r1", apps["v1"]),)),)))
    with pytest.raises(RouterError, match="percent"):
        nginx.shadow({"address": apps["v2"], "percent": 0})
    assert nginx.shadow_stats() is None
