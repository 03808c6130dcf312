"""A load balancer that fails on its FIRST start says what is true: nothing serves on the
listen address (there is no previous configuration to stay in force), and what to fix —
for each router, on real nginx, HAProxy and the embedded proxy. A configuration refused
while one runs still says the running one keeps its own."""

from __future__ import annotations

import re
import socket

import pytest

from tests.support.installed import needs
from tests.support.net import free_port, request
from tests.support.procs import start_app
from zerodown.errors import RouterError
from zerodown.model import Backend, RevisionRoute, RoutingTable
from zerodown.routers.embedded import EmbeddedRouter
from zerodown.routers.haproxy import HAProxyRouter
from zerodown.routers.nginx import NginxRouter

HOST = "127.0.0.1"
ROUTERS = {"nginx": NginxRouter, "haproxy": HAProxyRouter,
           "embedded": lambda d, listen, service: EmbeddedRouter(d, listen)}
UNTRUE = re.compile(r"stays in force|previous|keeps serving", re.I)


@pytest.mark.parametrize("kind", [pytest.param("nginx", marks=needs("nginx")),
                                  pytest.param("haproxy", marks=needs("haproxy")), "embedded"])
def test_a_first_start_on_a_taken_port_says_nothing_serves(tmp_path, kind):
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        listen = f"{HOST}:{taken.getsockname()[1]}"
        router = ROUTERS[kind](tmp_path / kind, listen, service="shop")
        try:
            with pytest.raises(RouterError) as e:
                router.ensure_running()
        finally:
            router.stop()
    text = str(e.value)
    assert f"nothing serves on {listen}" in text, text
    assert not UNTRUE.search(text), f"it speaks of a previous configuration: {text}"


@pytest.fixture
def app():
    a = start_app("v1")
    yield f"{HOST}:{a.port}"
    a.cleanup()


@needs("nginx")
def test_nginx_refusing_the_config_of_a_start_says_it_was_not_started(tmp_path, app):
    """The table in force names a host that no longer resolves (nginx resolves at load)."""
    router = NginxRouter(tmp_path / "nginx", f"{HOST}:{free_port()}", service="shop")
    router.ensure_running()
    router.apply(RoutingTable(1, (RevisionRoute("r1", 100, (Backend("a", app),)),)))
    router.stop()
    conf = router.conf_path
    conf.write_text(conf.read_text().replace(app, "no-such-host.invalid:80"))
    try:
        with pytest.raises(RouterError, match="host not found") as e:
            router.ensure_running()
    finally:
        router.stop()
    text = str(e.value)
    assert f"nginx refused the configuration; nginx was not started: nothing serves on " \
           f"{router.listen}" in text, text
    assert not UNTRUE.search(text), text


@needs("nginx")
def test_nginx_refusing_a_change_says_the_running_one_keeps_its_own(tmp_path, app):
    router = NginxRouter(tmp_path / "nginx", f"{HOST}:{free_port()}", service="shop")
    router.ensure_running()
    try:
        router.apply(RoutingTable(1, (RevisionRoute("r1", 100, (Backend("a", app),)),)))
        bad = RoutingTable(2, (RevisionRoute("r1", 100, (Backend("x", "no-such-host.invalid:80"),)),))
        with pytest.raises(RouterError, match="host not found") as e:
            router.apply(bad)
        assert f"the running nginx keeps its previous configuration on {router.listen}" \
            in str(e.value)
        assert request("GET", int(router.listen.rsplit(":", 1)[1]), "/").status == 200
    finally:
        router.stop()
