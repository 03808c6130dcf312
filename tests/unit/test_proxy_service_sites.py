"""zerodown/proxy/services.py: the services sharing one proxy, their sites and tables."""

from __future__ import annotations

import asyncio
import json

import pytest

from zerodown import table_json
from zerodown.errors import UsageError
from zerodown.model import Backend, RevisionRoute, RoutingTable, Rule
from zerodown.proxy.dataplane import DataPlane
from zerodown.proxy.hosts import Site
from zerodown.proxy.services import Services, SiteConflict, load, site_from
from zerodown.proxy.settings import ProxySettings


def table(version: int, name: str = "r1", port: int = 9001) -> RoutingTable:
    return RoutingTable(version, (RevisionRoute(name, 100, (Backend(f"{name}-0", f"127.0.0.1:{port}"),)),))


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def services(loop, tmp_path):
    return Services(DataPlane(loop, ProxySettings(), service="edge"), str(tmp_path / "svc"))


def head(host: str, path: str = "/") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()


def test_the_default_service_alone_never_looks_at_a_host(services):
    assert services.front.sites is None
    services.apply("edge", table(1))
    assert services.front.sites is None


def test_registered_services_are_picked_by_host_and_path_and_the_rest_is_404(services):
    services.register("shop", Site("shop", ("shop.example.com",)))
    services.register("api", Site("api", ("example.com",), "/api"))
    front, shop, api = (services.planes[n] for n in ("edge", "shop", "api"))
    assert front.sites is services and shop.sites is services and api.sites is services
    assert services.pick(b"shop.example.com", head("shop.example.com")) is shop
    assert services.pick(b"example.com", head("example.com", "/api/x")) is api
    assert services.pick(b"example.com", head("example.com", "/")) is None
    assert services.pick(None, head("x")) is None
    assert front.unknown_host == 2 and front.unrouted == 0
    assert shop.clients is front.clients and shop.errors is front.errors  # the listener's


def test_the_default_service_takes_unclaimed_hosts_only_while_it_has_a_table(services):
    services.register("shop", Site("shop", ("shop.example.com",)))
    assert services.pick(b"other.test", head("other.test")) is None
    services.apply("edge", table(1))
    assert services.pick(b"other.test", head("other.test")) is services.front
    services.register("rest", Site("rest"))  # a registered catch-all wins over the default
    assert services.pick(b"other.test", head("other.test")) is services.planes["rest"]


def test_a_second_claim_is_refused_naming_both_files_and_changes_nothing(services):
    services.register("shop", Site("shop", ("shop.example.com",)), "/a/zerodown.yaml")
    with pytest.raises(SiteConflict) as e:
        services.register("shop2", Site("shop2", ("SHOP.example.com",)), "/b/zerodown.yaml")
    assert "/a/zerodown.yaml" in str(e.value) and "/b/zerodown.yaml" in str(e.value)
    assert "shop2" not in services.planes and "shop2" not in services.sites
    with pytest.raises(SiteConflict, match="default service"):
        services.register("edge", Site("edge", ("x.test",)))


def test_removing_the_last_other_service_goes_back_to_one_service(services):
    services.register("shop", Site("shop", ("shop.example.com",)))
    shop = services.planes["shop"]
    services.apply("shop", table(1))
    assert services.remove("shop") and not services.remove("shop")
    assert services.front.sites is None and shop.removed and not shop.pools
    assert [p.service for p in services.front.planes] == ["edge", "shop"]  # until drained


def test_each_service_is_saved_before_it_serves_and_restored(services, loop, tmp_path):
    services.register("shop", Site("shop", ("shop.example.com",), "/"), "/a/zerodown.yaml")
    services.apply("shop", table(3))
    saved = load(str(tmp_path / "svc"))
    assert saved["shop"]["hosts"] == ["shop.example.com"]
    assert table_json.from_dict(saved["shop"]["table"]).version == 3
    assert services.snapshot() == saved
    again = Services(DataPlane(loop, ProxySettings(), service="edge"), str(tmp_path / "svc"))
    again.restore(saved)
    assert again.planes["shop"].table == table(3) and again.configs["shop"] == "/a/zerodown.yaml"
    assert load(str(tmp_path / "svc")) == saved  # restoring wrote nothing older
    services.remove("shop")
    assert load(str(tmp_path / "svc")) == {}


def test_a_damaged_saved_service_is_named(tmp_path):
    folder = tmp_path / "svc"
    folder.mkdir()
    (folder / "shop.json").write_text(json.dumps({"hosts": ["a b"], "table": {}}))
    with pytest.raises(UsageError, match=r"shop\.json: a saved service .* damaged"):
        load(str(folder))


@pytest.mark.parametrize("body, problem", [
    ([], "expected"),
    ({"hosts": "shop.example.com"}, "hosts: a list"),
    ({"hosts": ["shop.example.com"], "prefix": "/"}, "unknown key 'prefix'"),
    ({"hosts": ["*.*.example.com"]}, "host '*.*.example.com'"),
    ({"hosts": ["x.test"], "path_prefix": "api"}, "path prefix 'api'"),
])
def test_a_bad_site_is_refused_naming_the_key(body, problem):
    with pytest.raises(UsageError, match=problem.replace("*", r"\*").replace(".", r"\.")):
        site_from("shop", body)


def test_a_connection_last_served_by_a_removed_service_asks_again(services):
    services.register("shop", Site("shop", ("shop.example.com",)))
    shop = services.planes["shop"]
    services.remove("shop")
    assert services.front.sites is None  # the single-service path again
    assert shop.sites is services  # but a keep-alive client still on shop's plane asks
    assert services.pick(b"shop.example.com", head("shop.example.com")) is services.front


def test_every_service_on_the_listener_shares_the_marks_a_head_is_scanned_for(services):
    """A head is scanned before its service is known: while several share the listener, the
    scan flags what any of them matches on, so it need not run again once one is picked
    (server._dispatch); one service alone scans for its own rules only."""
    canary = Rule("r1", header="X-Canary", equals="1")
    services.apply("edge", RoutingTable(1, table(1).revisions, (canary,)))
    front = services.front
    assert front.marks is front.routes.marks and b"x-canary" in front.marks.names
    services.register("shop", Site("shop", ("shop.example.com",)))
    services.register("api", Site("api", ("example.com",), "/api"))
    shop, api = services.planes["shop"], services.planes["api"]
    assert front.marks is shop.marks is api.marks and b"x-canary" in shop.marks.names
    services.apply("api", RoutingTable(1, table(1).revisions, (Rule("r1", cookie="beta",
                                                                    equals="y"),)))
    assert front.marks is shop.marks is api.marks  # a table applied later joins them too
    assert api.marks.cookies == (b"beta=",) and b"x-canary" in api.marks.names
    services.remove("api")
    assert front.marks is shop.marks and front.marks.cookies == ()
    services.remove("shop")
    assert front.sites is None and front.marks is front.routes.marks
