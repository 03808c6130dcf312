"""A shared embedded proxy on a fleet host (router: {kind: embedded, host: zdf1, shared:
edge}): two zerodown.yaml files, each with its own controller, deploy their services onto
zdf2 and zdf3 behind one proxy on zdf1, reached by Host (and path prefix) at zdf1's
address; one leaving takes only its routes, the last one stops the proxy there."""

from __future__ import annotations

import http.client
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.router_host import config_text, deploy, proxy_python
from tests.support.net import free_port
from zerodown.controller import Controller
from zerodown.engine.lifecycle import Phase
from zerodown.routers.embedded import find_proxy


def ask(address: str, host: str, path: str = "/") -> tuple[int, bytes]:
    ip, _, port = address.rpartition(":")
    conn = http.client.HTTPConnection(ip, int(port), timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.fixture
def two_services(healthy_fleet, tmp_path, monkeypatch):
    monkeypatch.setenv("ZERODOWN_SHARED_DIR", str(tmp_path / "proxies"))  # the locks here
    port, python, made = free_port(), proxy_python(), []
    for name, site in (("shop", "hosts: [shop.test]"),
                       ("api", "hosts: [example.test], path_prefix: /api")):
        folder = tmp_path / name
        folder.mkdir()
        text = config_text(healthy_fleet, port, "{kind: embedded, host: zdf1, python: "
                                                f"{python}, shared: edge, {site}}}")
        (folder / "zerodown.yaml").write_text(text.replace("service: shop",
                                                           f"service: {name}"))
        made.append(Controller(str(folder / "zerodown.yaml"), str(folder / "state")))
    yield made
    for ctl in made:
        runtime = ctl.runtime()
        for instance in runtime.adopt(ctl.config().service):
            runtime.stop(instance, grace=3)
        ctl.router().stop()
        runtime.close()


def test_two_services_share_one_proxy_on_a_fleet_host(two_services, healthy_fleet):
    shop, api = two_services
    assert deploy(shop, "v1") is Phase.SUCCEEDED
    assert deploy(api, "a1") is Phase.SUCCEEDED
    listen = shop.config().listen  # zdf1's address
    assert ask(listen, "shop.test") == (200, b"hello from v1\n")
    assert ask(listen, "example.test", "/api") == (200, b"hello from a1\n")  # stripped
    assert ask(listen, "nope.test")[0] == 404
    shop_router, api_router = shop.router(), api.router()
    assert str(shop_router.state_dir) == str(api_router.state_dir) == \
        "/srv/zerodown/proxies/edge/proxy"
    assert shop_router.pid == api_router.pid is not None  # one proxy, on zdf1
    assert set(shop_router.client.services()["services"]) == {"shop", "api"}

    api_router.stop()  # api's `down`: its routes go, the proxy stays for shop
    assert "goes on serving shop" in api_router.down_says
    assert ask(listen, "example.test", "/api")[0] == 404
    assert ask(listen, "shop.test") == (200, b"hello from v1\n")
    shop_router.stop()  # the last service: the proxy on zdf1 stops
    assert shop_router.pid is None
    assert find_proxy(str(shop_router.state_file), shop_router.host) is None


def test_validate_asks_the_shared_proxy_on_the_router_host(two_services, healthy_fleet,
                                                           tmp_path):
    """A third zerodown.yaml asking for shop's host on edge (on zdf1): `zerodown validate`
    reads the registrations on zdf1 over SSH and refuses it, naming router.hosts and shop's
    file (exit 2); with zdf1 cut off it says zdf1 was not asked (a warning, exit 0)."""
    shop, _ = two_services
    shop.ensure_router()  # shop registered on edge, on zdf1
    third = tmp_path / "third" / "zerodown.yaml"
    third.parent.mkdir()
    third.write_text(Path(shop.file).read_text().replace("service: shop", "service: shop2"))

    def validate() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "zerodown", "validate", "-f", str(third)],
                              capture_output=True, text=True, timeout=60)
    done = validate()
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "router.hosts" in done.stderr and "on shared proxy edge on zdf1" in done.stderr
    assert str(Path(shop.file).resolve()) in done.stderr, done.stderr
    healthy_fleet.partition(healthy_fleet.hosts[0])
    try:
        done = validate()
    finally:
        healthy_fleet.heal(healthy_fleet.hosts[0])
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "valid" in done.stdout
    assert "router.host zdf1 was not asked which services shared proxy edge on zdf1" \
        in done.stderr, done.stderr
