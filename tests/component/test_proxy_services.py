"""Several services on one real proxy (issue 16.2): by Host and path prefix each request
reaches its own service's table; an unknown host gets 404, counted apart from
`unrouted`; each service has its own stats and drain; removing one leaves the others;
a hitless restart and a killed serving process keep every service's table."""

from __future__ import annotations

import http.client
import json
import os
import signal

import pytest

from tests.support import get
from tests.support.net import wait_until
from tests.support.proxy import table_of
from zerodown.errors import RouterError
from zerodown.model import Rule
from zerodown.proxy.client import AdminClient


def client(proxy, service: str) -> AdminClient:
    return AdminClient(proxy.admin_spec, timeout=5, service=service)


@pytest.fixture
def two(proxy, app_factory):
    """shop (shop.example.com, *.shop.example.com) and api (example.com/api) on one proxy."""
    shop, api = app_factory("shop-v1"), app_factory("api-v1")
    assert client(proxy, "shop").register(["shop.example.com", "*.shop.example.com"],
                                          config="/srv/shop/zerodown.yaml")
    assert client(proxy, "api").register(["example.com"], "/api")
    client(proxy, "shop").apply(table_of(1, ("s1", 100, [shop])))
    client(proxy, "api").apply(table_of(1, ("a1", 100, [api])))
    return proxy, shop, api


def host_get(proxy, host: str, path: str = "/"):
    return get(proxy.port, path, headers={"Host": host})


def test_each_request_reaches_the_service_its_host_and_path_name(two):
    proxy, _, _ = two
    assert host_get(proxy, "shop.example.com").body == b"hello from shop-v1\n"
    assert host_get(proxy, "EU.Shop.example.com:8080", "/").body == b"hello from shop-v1\n"
    # api's app sees paths without /api (test_proxy_path_prefix.py): /v1 is its own 404,
    # which says something else than the proxy's
    assert host_get(proxy, "example.com", "/api/v1?q=1").body == b"not found\n"
    assert host_get(proxy, "example.com", "/api").body == b"hello from api-v1\n"
    stats = {name: client(proxy, name).stats() for name in ("shop", "api")}
    assert stats["shop"]["revisions"]["s1"]["requests"] == 2
    assert stats["api"]["revisions"]["a1"]["requests"] == 2
    assert "a1" not in stats["shop"]["revisions"] and "s1" not in stats["api"]["revisions"]


def test_one_connection_moving_between_services_is_routed_by_each_ones_rules(two, app_factory):
    """The head is scanned once, before its service is known: for what any service's rules
    look at (services.remark), so shop's header rule holds on a connection api served
    first, and api's header is not taken for shop's."""
    proxy, shop, _ = two
    beta = app_factory("shop-v2")
    client(proxy, "shop").apply(table_of(2, ("s1", 100, [shop]), ("s2", 0, [beta]),
                                         rules=[Rule("s2", header="X-Canary", equals="1")]))
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    sock = None
    try:
        for host, path, headers, body in (
                ("example.com", "/api", {}, b"hello from api-v1\n"),
                ("shop.example.com", "/", {"X-Canary": "1"}, b"hello from shop-v2\n"),
                ("example.com", "/api", {"X-Canary": "1"}, b"hello from api-v1\n"),
                ("shop.example.com", "/", {}, b"hello from shop-v1\n"),
                ("shop.example.com", "/", {"x-canary": "1"}, b"hello from shop-v2\n")):
            conn.request("GET", path, headers={"Host": host, **headers})
            reply = conn.getresponse()
            assert (host, reply.read()) == (host, body)
            sock = sock or conn.sock
        assert conn.sock is sock  # one connection all along
        assert client(proxy, "shop").stats()["revisions"]["s2"]["requests"] == 2
    finally:
        conn.close()


def test_a_connection_its_service_left_is_routed_by_the_default_services_rules(
        proxy, app_factory):
    """Scanned for the marks of the plane that served it last (the removed service's), a
    head the default service takes is scanned again for the default's rules."""
    shop, stable, beta = app_factory("shop-v1"), app_factory("d-v1"), app_factory("d-v2")
    assert client(proxy, "shop").register(["shop.example.com"])
    client(proxy, "shop").apply(table_of(1, ("s1", 100, [shop])))
    proxy.apply(table_of(1, ("d1", 100, [stable]), ("d2", 0, [beta]),
                         rules=[Rule("d2", header="X-Canary", equals="1")]))
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    try:
        conn.request("GET", "/", headers={"Host": "shop.example.com"})
        assert conn.getresponse().read() == b"hello from shop-v1\n"
        sock = conn.sock
        assert client(proxy, "shop").unregister() == []
        conn.request("GET", "/", headers={"Host": "shop.example.com", "X-Canary": "1"})
        assert conn.getresponse().read() == b"hello from d-v2\n"
        assert conn.sock is sock  # the same connection
    finally:
        conn.close()


def test_an_unknown_host_gets_404_counted_apart_from_unrouted(two):
    proxy, _, _ = two
    for host, path in (("nope.test", "/"), ("example.com", "/apix"), ("example.com", "/")):
        reply = host_get(proxy, host, path)
        assert (reply.status, reply.body) == (404, b"no service here for this host and path\n")
    front = proxy.stats()
    assert front["unknown_host"] == 3 and front["unrouted"] == 0
    assert client(proxy, "shop").stats()["unrouted"] == 0
    assert proxy.admin.services()["unknown_host"] == 3


def test_the_default_service_takes_what_no_site_claims_once_it_has_a_table(two, app_factory):
    proxy, _, _ = two
    assert host_get(proxy, "other.test").status == 404  # the default's table is empty
    default = app_factory("default-v1")
    proxy.apply(table_of(1, ("d1", 100, [default])))
    assert host_get(proxy, "other.test").body == b"hello from default-v1\n"
    assert host_get(proxy, "shop.example.com").body == b"hello from shop-v1\n"
    assert proxy.admin.services()["default_routed"] is True


def test_a_second_claim_on_a_host_and_prefix_is_refused_naming_both(two):
    proxy, _, _ = two
    with pytest.raises(RouterError) as e:
        client(proxy, "shop2").register(["shop.example.com"], config="/srv/shop2/zerodown.yaml")
    assert "shop2" in str(e.value) and "/srv/shop/zerodown.yaml" in str(e.value)
    assert "shop2" not in proxy.admin.services()["services"]
    status, body = proxy.admin.request("PUT", "/services/-bad", b'{"hosts": ["x.test"]}')
    assert status == 400 and b"service name '-bad'" in body
    status, body = proxy.admin.request("PUT", "/services/ok", b'{"hosts": ["no/slash"]}')
    assert status == 400 and b"host 'no/slash'" in body


def test_removing_a_service_drains_it_and_leaves_the_others(two):
    proxy, _, _ = two
    assert client(proxy, "shop").unregister() == ["api"]
    assert host_get(proxy, "shop.example.com").status == 404
    assert host_get(proxy, "example.com", "/api").body == b"hello from api-v1\n"
    assert client(proxy, "api").stats()["revisions"]["a1"]["requests"] == 1
    assert not (proxy.workdir / "proxy.services" / "shop.json").exists()
    assert client(proxy, "api").unregister() == []
    assert host_get(proxy, "anything.test").status == 503  # one service again: as it always was


def test_every_service_survives_a_handover_and_a_killed_serving_process(two):
    proxy, _, _ = two
    saved = json.loads((proxy.workdir / "proxy.services" / "shop.json").read_text())
    assert saved["hosts"] == ["shop.example.com", "*.shop.example.com"]
    assert saved["table"]["version"] == 1
    proxy.start()  # a second proxy takes the sockets over
    assert host_get(proxy, "shop.example.com").body == b"hello from shop-v1\n"
    assert host_get(proxy, "example.com", "/api/x").body == b"not found\n"
    first = proxy.serving_pid()
    os.kill(first, signal.SIGKILL)  # the supervisor forks a new one from the saved state
    wait_until(lambda: _pid_or_none(proxy) not in (None, first), what="a new serving process")
    assert host_get(proxy, "shop.example.com").body == b"hello from shop-v1\n"
    assert host_get(proxy, "nope.test").status == 404
    assert client(proxy, "api").table().version == 1


def _pid_or_none(proxy):
    try:
        return proxy.serving_pid()
    except RouterError:
        return None


def test_a_services_shadow_copies_that_services_requests_only(two, app_factory):
    """The embedded router of one service of several (AdminClient(service=...)) turns its own
    mirror on and reads its own counts; another service's requests are never copied."""
    proxy, _, _ = two
    shadow = app_factory("shop-v2")
    shop, api = client(proxy, "shop"), client(proxy, "api")
    assert shop.shadow({"address": f"127.0.0.1:{shadow.port}", "body": "exact"})["compared"] == 0
    assert api.shadow_stats() is None and proxy.admin.shadow_stats() is None
    for _ in range(5):
        host_get(proxy, "shop.example.com")
        host_get(proxy, "example.com", "/api/x")
    stats = wait_until(lambda: (lambda s: s if s["compared"] + s["failed"] >= 5 else None)(
        shop.shadow_stats()), 10, "five copies of shop's requests compared")
    assert (stats["compared"], stats["differing"]) == (5, 5)  # "hello from shop-v2"
    assert stats["examples"][-1]["request"].startswith("GET / ")
    assert shop.shadow(None)["compared"] == 5 and shop.shadow_stats() is None


def test_http2_requests_reach_their_service_by_authority(tmp_path, app_factory):
    """An h2 stream is an HTTP/1.1 request to the ClientConn (h2stream.py): its :authority
    is its Host, so several services need nothing more for HTTP/2."""
    import subprocess
    from tests.support.proxy import ProxyProcess
    proxy = ProxyProcess(tmp_path, extra=["--http2-prior-knowledge"])
    proxy.start()
    try:
        app = app_factory("shop-h2")
        client(proxy, "shop").register(["shop.example.com"])
        client(proxy, "shop").apply(table_of(1, ("s1", 100, [app])))

        def curl(host: str) -> str:
            return subprocess.run(
                ["curl", "-s", "--http2-prior-knowledge", "-o", "-", "-w", " %{http_version}",
                 "--connect-to", f"{host}:80:127.0.0.1:{proxy.port}", f"http://{host}/"],
                capture_output=True, text=True, timeout=20).stdout
        assert curl("shop.example.com") == "hello from shop-h2\n 2"
        assert curl("nope.example.com") == "no service here for this host and path\n 2"
        assert proxy.stats()["unknown_host"] == 1
    finally:
        proxy.cleanup()
