"""The embedded router driving a real `zerodown proxy` process in front of real apps."""

from __future__ import annotations

import http.client
import json
import socket
import threading

import pytest

from tests.support import HOST, free_port, get, wait_until_refused
from tests.support.proxy import table_of
from zerodown.errors import ListenMoved, RouterError
from zerodown.loadgen import LoadInBackground
from zerodown.routers.embedded import EmbeddedRouter, find_proxy
from zerodown.hosts.local import start_time
from tests.support.net import wait_until


@pytest.fixture
def router(tmp_path):
    """router(state_dir=None) -> an EmbeddedRouter on a free port; every proxy is stopped at the end."""
    made: list[EmbeddedRouter] = []

    def factory(state_dir=None, port: int | None = None) -> EmbeddedRouter:
        r = EmbeddedRouter(state_dir or tmp_path / "state", f"{HOST}:{port or free_port()}")
        made.append(r)
        return r

    yield factory
    for r in made:
        r.stop(timeout=5)


def port_of(r: EmbeddedRouter) -> int:
    return int(r.listen.rsplit(":", 1)[1])


def test_ensure_running_starts_the_proxy_once(router, tmp_path):
    r = router()
    assert not r.answers()
    pid = r.ensure_running()
    assert r.answers() and r.ensure_running() == pid
    recorded = json.loads((tmp_path / "state" / "proxy.pid").read_text())
    assert (recorded["pid"], recorded["start_time"]) == (pid, start_time(pid))
    # a restarted controller (a new router object) finds it instead of starting another
    again = router(tmp_path / "state", port_of(r))
    assert again.ensure_running() == pid
    assert find_proxy(str(tmp_path / "state" / "proxy.json")) == (pid, start_time(pid))
    assert "zerodown proxy ready" in (tmp_path / "state" / "proxy.log").read_text()
    (tmp_path / "state" / "proxy.pid").unlink()  # lost: found again by its command line
    assert router(tmp_path / "state", port_of(r)).ensure_running() == pid
    assert json.loads((tmp_path / "state" / "proxy.pid").read_text())["pid"] == pid
    with pytest.raises(RouterError, match=f"listens on {r.listen}, not"):
        router(tmp_path / "state").ensure_running()


@pytest.mark.parametrize("record", ["1", "[]", "garbage{", '{"pid": "x"}', '{"listen": "x"}',
                                    '{"pid": 99999999, "listen": "127.0.0.1:1", "argv": ["x"]}'])
def test_a_damaged_or_stale_record_is_the_record_lost(router, tmp_path, record):
    """proxy.pid cut short, edited, or left by an earlier proxy: the one running is found by
    its command line, and its own listen address is what a new listen is checked against
    (a record read as it came raised AttributeError in up and down, and one left by an
    earlier proxy refused a listen the running one has)."""
    r = router()
    pid = r.ensure_running()
    (tmp_path / "state" / "proxy.pid").write_text(record)
    assert router(tmp_path / "state", port_of(r)).ensure_running() == pid
    (tmp_path / "state" / "proxy.pid").write_text(record)
    with pytest.raises(ListenMoved) as e:
        router(tmp_path / "state").ensure_running()
    said = str(e.value)
    assert f"(pid {pid}) listens on {r.listen}, not on " in said
    assert "`zerodown down`, then `zerodown up`" in said and "proxy stop" not in said
    assert e.value.exit_code == 2
    (tmp_path / "state" / "proxy.pid").write_text(record)
    router(tmp_path / "state", port_of(r)).stop(timeout=5)
    assert find_proxy(str(tmp_path / "state" / "proxy.json")) is None


def test_apply_is_idempotent_and_traffic_flows(router, app_factory):
    r, app = router(), app_factory("v1")
    r.ensure_running()
    table = table_of(1, ("v1", 100, [app]))
    assert r.apply(table) is True
    assert r.apply(table) is False
    reply = get(port_of(r), "/")
    assert reply.status == 200 and reply.text == "hello from v1\n"
    assert r.stats()["revisions"]["v1"]["requests"] == 1


def test_drained_once_a_removed_backend_finishes_its_request(router, app_factory):
    r, a, b = router(), app_factory("v1"), app_factory("v2")
    r.ensure_running()
    r.apply(table_of(1, ("v1", 100, [a])))
    outcome = {}

    def slow_request():
        conn = http.client.HTTPConnection(HOST, port_of(r), timeout=10)
        conn.request("GET", "/slow?ms=700")
        outcome["status"] = conn.getresponse().status
        conn.close()

    t = threading.Thread(target=slow_request)
    t.start()
    backend = f"v1-{a.port}"
    wait_until(lambda: r.client.in_flight(backend) == 1, 5, "slow request in flight")
    assert not r.drained(backend)  # still routed
    r.apply(table_of(2, ("v2", 100, [b])))
    assert not r.drained(backend)
    # a whole batch in one reading: busy with 1 in flight (its answer under way: the slow
    # app sends its head at once), and a routed one that is not drained either
    state = r.drain_state([backend, f"v2-{b.port}"])
    assert state[backend][0] is False and state[backend][1][1] == 1
    assert state[f"v2-{b.port}"][0] is False
    wait_until(lambda: r.drained(backend), 5, f"{backend} drained")
    assert r.drain_state([backend])[backend] == (True, r.unanswered(backend))
    t.join(5)
    assert outcome["status"] == 200


def test_restart_under_load_loses_no_request(router, app_factory):
    r, a, b = router(), app_factory("v1"), app_factory("v1")
    old = r.ensure_running()
    r.apply(table_of(3, ("v1", 100, [a, b])))
    with LoadInBackground(f"http://{r.listen}/", connections=8, duration=30) as load:
        load.wait_for_responses(300)
        new = r.restart()
        assert new != old and start_time(old) is None and r.pid == new
        n = load.progress()[0]
        load.wait_for_responses(n + 300)
        result = load.stop()
    assert result.failed() == 0, result.summary()
    assert r.client.table().version == 3  # the new process serves the same table
    assert r.apply(table_of(3, ("v1", 100, [a, b]))) is False


def test_stop_ends_the_proxy_and_is_idempotent(router, tmp_path):
    r = router()
    pid = r.ensure_running()
    r.stop()
    assert start_time(pid) is None and not r.answers() and r.pid is None
    assert not (tmp_path / "state" / "proxy.pid").exists()
    wait_until_refused(HOST, port_of(r), 2)
    r.stop()
    assert r.ensure_running() != pid  # a stopped proxy is started afresh


def test_a_proxy_that_cannot_listen_is_reported_with_its_log(router):
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        r = router(port=taken.getsockname()[1])
        with pytest.raises(RouterError, match=r"(?s)exited with code 2 before it was ready.*cannot listen"):
            r.ensure_running()


def test_a_proxy_whose_supervisor_was_killed_is_adopted_by_ensure_running(router, app_factory):
    import os
    import signal
    r, app = router(), app_factory("v1")
    first = r.ensure_running()
    r.apply(table_of(1, ("v1", 100, [app])))
    orphan = r.client.health()["pid"]
    with LoadInBackground(r.url + "/", connections=8, duration=60,
                          retry_idempotent_once=True) as load:
        load.wait_for_responses(200)
        os.kill(first, signal.SIGKILL)  # the supervisor alone: its serving process goes on
        wait_until(lambda: r.client.health()["supervisor"] is None, 5, "the supervisor gone")
        assert find_proxy(str(r.state_file))[0] == orphan  # the serving process, found as root
        adopted = r.ensure_running()
        assert adopted not in (first, orphan)
        assert r.client.health()["supervisor"] == adopted
        load.wait_for_responses(load.progress()[0] + 200)
        result = load.stop()
    assert result.failed() == 0, result.summary()
    assert r.client.table().version == 1 and r.ensure_running() == adopted


def test_routers_sharing_a_proxy_each_keep_their_service_and_the_last_one_stops_it(
        tmp_path, app_factory):
    """router.shared: one proxy, each EmbeddedRouter registers its service at ensure_running
    and drives only it; a conflicting one is refused naming the other file; stop() of one
    leaves the proxy serving the other, the last one stops it."""
    edge, port = tmp_path / "edge", free_port()

    def shared(service: str, hosts: list[str], config: str) -> EmbeddedRouter:
        return EmbeddedRouter(edge, f"{HOST}:{port}", service=service, shared="edge",
                              hosts=hosts, config_file=config)
    shop = shared("shop", ["shop.test"], "/srv/shop/zerodown.yaml")
    api = shared("api", ["api.test"], "/srv/api/zerodown.yaml")
    try:
        pid = shop.ensure_running()
        assert api.ensure_running() == pid  # the same proxy
        shop.apply(table_of(1, ("s1", 100, [app_factory("shop-v1")])))
        api.apply(table_of(1, ("a1", 100, [app_factory("api-v1")])))
        assert get(port, "/", headers={"Host": "shop.test"}).text == "hello from shop-v1\n"
        assert get(port, "/", headers={"Host": "api.test"}).text == "hello from api-v1\n"
        assert set(shop.stats()["revisions"]) == {"s1"} and set(api.stats()["revisions"]) == {"a1"}
        with pytest.raises(RouterError, match="/srv/shop/zerodown.yaml"):
            shared("shop2", ["shop.test"], "/srv/shop2/zerodown.yaml").ensure_running()
        other = shared("img", ["img.test"], "/srv/img/zerodown.yaml")
        other.args = ["--metrics", f"{HOST}:{free_port()}"]  # a file asking for other settings
        with pytest.raises(RouterError, match="shared proxy edge runs with other settings"):
            other.ensure_running()
        shop.stop(timeout=5)
        assert "goes on serving api" in shop.down_says
        assert get(port, "/", headers={"Host": "shop.test"}).status == 404
        assert get(port, "/", headers={"Host": "api.test"}).text == "hello from api-v1\n"
        assert api.pid == pid
        api.stop(timeout=5)
        assert "stopped it" in api.down_says and api.pid is None
        wait_until_refused(HOST, port)
    finally:  # whatever happened: the proxy itself goes
        shop.shared = None
        shop.stop(timeout=5)
