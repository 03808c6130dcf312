"""The load balancer on a fleet host (router.host): a rolling deployment with the router on
zdf1 and the instances on zdf2 and zdf3, under load sent from this machine to zdf1's
address, every response counted; the table in force read back from the remote router,
health probed from zdf1, TLS served there. Its faults: test_router_host_faults.py."""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import time

import pytest

from tests.support.net import wait_until
from tests.support.router_host import deploy, proxy_python
from zerodown import render
from zerodown.controller import Controller
from zerodown.gather import status_view
from zerodown.engine.lifecycle import Phase
from zerodown.hosts.local import LOCAL
from zerodown.loadgen import LoadInBackground
from zerodown.model import Revision
from zerodown.routers.embedded import find_proxy
from zerodown.runtimes.health import probe


def roll_under_load(ctl: Controller, fleet) -> None:
    """v1, then v2 under load through the router on zdf1: no request fails, and the table
    the remote router serves has v2's instances on zdf2 and zdf3 only."""
    assert deploy(ctl, "v1") is Phase.SUCCEEDED
    url = f"http://{ctl.config().listen}/"
    with LoadInBackground(url, connections=6, duration=60) as load:
        load.wait_for_responses(200)
        assert deploy(ctl, "v2") is Phase.SUCCEEDED
        load.wait_for_responses(load.progress()[0] + 200)
        result = load.stop()
    assert result.failed() == 0, result.summary()
    assert set(result.by_header["X-Version"]) == {"v1", "v2"}
    table = ctl.router().in_force()  # asked of the router on zdf1
    assert [r.name for r in table.revisions if r.weight] == ["r2"]
    hosts = {b.address.split(":")[0] for r in table.revisions for b in r.backends}
    assert hosts == {fleet.hosts[1].address, fleet.hosts[2].address}
    view = status_view(ctl)  # `zerodown status` says where the load balancer runs
    assert view.proxy.running and view.proxy.host == "zdf1"
    assert f"(proxy pid {view.proxy.pid} on zdf1" in render.status_text(view, now=time.time())


def netns(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/net")


def runs_on(fleet, pid: int) -> str:
    """The command line of `pid` in zdf1's PID namespace ('' if none)."""
    return fleet.hosts[0].run(f"tr '\\0' ' ' < /proc/{pid}/cmdline || true").stdout


def test_the_embedded_proxy_on_a_fleet_host_serves_a_rolling_deployment(lb_stack,
                                                                        healthy_fleet):
    ctl = lb_stack(f"{{kind: embedded, host: zdf1, python: {proxy_python()}}}")
    roll_under_load(ctl, healthy_fleet)
    router = ctl.router()
    assert "zerodown proxy" in runs_on(healthy_fleet, router.pid)
    assert str(router.state_dir).startswith("/srv/zerodown/routers/shop")
    # this machine sees every host's processes (nested PID namespaces): the proxy found
    # from here runs in zdf1's network namespace, not this one
    pid, _ = find_proxy(str(router.state_file), LOCAL)
    assert netns(pid) == netns(healthy_fleet.hosts[0].init_pid()) != netns(os.getpid())
    assert router.stats()["revisions"]["r2"]["requests"] > 0  # counters over the forward
    table, old = router.in_force(), router.pid
    new = router.restart()   # hitless handover on zdf1, watched through its log there
    assert new != old and router.pid == new and router.in_force() == table


def test_haproxy_on_a_fleet_host_serves_a_rolling_deployment(lb_stack, healthy_fleet):
    ctl = lb_stack("{kind: haproxy, host: zdf1}")
    roll_under_load(ctl, healthy_fleet)
    router = ctl.router()
    assert "haproxy" in runs_on(healthy_fleet, router.pid)
    # HAProxy's own Runtime API, over the forwarded stats socket: v2's servers are live
    live = router.cli.run("show servers state")
    for host in healthy_fleet.hosts[1:]:
        assert host.address in live
    assert healthy_fleet.hosts[0].address not in live


def test_nginx_on_a_fleet_host_serves_a_rolling_deployment(lb_stack, healthy_fleet):
    ctl = lb_stack("{kind: nginx, host: zdf1}")
    roll_under_load(ctl, healthy_fleet)
    router = ctl.router()
    assert runs_on(healthy_fleet, router.pid).startswith("nginx: master process")
    assert router.stats()["revisions"]["r2"]["requests"] > 0  # its access log, read there


def test_the_router_is_reached_again_after_its_ssh_connection_died(lb_stack, healthy_fleet):
    """The forwarded admin socket opens a channel per connection over the host's
    connection of the moment: one that died is opened again, the router answers."""
    ctl = lb_stack(f"{{kind: embedded, host: zdf1, python: {proxy_python()}}}")
    assert deploy(ctl, "v1") is Phase.SUCCEEDED
    router, connections = ctl.router(), ctl.runtime().connections
    before = router.in_force()
    connections._call(_abort(connections, "zdf1"), 5)
    assert router.in_force() == before   # a new connection, the same proxy
    assert router.apply(before) is False  # idempotent through it too


async def _abort(connections, host: str) -> None:
    connections._conns.pop(host).abort()


def test_health_is_probed_from_where_the_load_balancer_runs(lb_stack, healthy_fleet):
    """zdf1 (the load balancer) cut off from zdf2 only: zdf2's instance is unhealthy as zdf1
    sees it, though this machine still reaches it; zdf3's stays healthy."""
    ctl = lb_stack("{kind: haproxy, host: zdf1}")
    assert deploy(ctl, "v1") is Phase.SUCCEEDED
    cfg, runtime = ctl.config(), ctl.runtime()
    rev = Revision("shop", 1, "v1", cfg.app, cfg.health)
    on = {runtime.host_of(i.slot): i for i in runtime.adopt("shop")}
    ok, seen = runtime.healthy(on["zdf2"], rev)
    assert ok and seen.endswith("(probed from zdf1)"), seen
    lb, cut = healthy_fleet.hosts[0], healthy_fleet.hosts[1]
    healthy_fleet.partition_between(lb, cut)
    try:
        ok, seen = runtime.healthy(on["zdf2"], rev)
        assert not ok and f"no answer from {on['zdf2'].address}/healthz" in seen, seen
        assert "(probed from zdf1)" in seen
        assert probe(on["zdf2"].address, cfg.health)[0]   # from here it answers
        assert runtime.healthy(on["zdf3"], rev)[0]
    finally:
        healthy_fleet.heal(lb)
    assert runtime.healthy(on["zdf2"], rev)[0]


@pytest.mark.parametrize("kind", ["nginx", "embedded"])
def test_tls_on_a_router_host_serves_this_machines_certificate(lb_stack, healthy_fleet,
                                                                tmp_path, kind):
    """tls: with the load balancer on zdf1: the certificate and key are sent there (copies
    of this machine's files) and served to users who reach zdf1's address; renewed here,
    the refresh the controller runs (tls_refresh.py) sends the new copies there and the
    load balancer serves them."""
    from tests.component.test_proxy_tls import presented_serial
    from tests.support.certs import TestCA
    from zerodown import tls_refresh
    ca = TestCA(tmp_path / "ca")
    leaf = ca.leaf("shop.test", stem="shop")
    extra = f", python: {proxy_python()}" if kind == "embedded" else ""
    ctl = lb_stack(f"{{kind: {kind}, host: zdf1{extra}}}\n"
                   f"tls: {{cert: {leaf.cert}, key: {leaf.key}}}")
    assert deploy(ctl, "v1") is Phase.SUCCEEDED
    address, port = ctl.config().listen.rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(ca.ca))
    conn = http.client.HTTPSConnection(address, int(port), timeout=5, context=context)
    conn.sock = context.wrap_socket(socket.create_connection((address, int(port)), timeout=5),
                                    server_hostname="shop.test")
    conn.request("GET", "/", headers={"Host": "shop.test"})
    answer = conn.getresponse()
    assert (answer.status, answer.read()) == (200, b"hello from v1\n")
    conn.close()
    copy = healthy_fleet.hosts[0].run("cat /srv/zerodown/routers/shop/tls/key.pem").stdout
    assert copy == leaf.key.read_text()
    renewed = ca.leaf("shop.test", stem="shop")
    assert tls_refresh.refresh(ctl.router(), ctl.config().tls).handed
    wait_until(lambda: presented_serial(int(port), "shop.test", ca.ca, host=address)
               == renewed.serial,
               timeout=15, what="the renewed certificate served on zdf1")
    copy = healthy_fleet.hosts[0].run("cat /srv/zerodown/routers/shop/tls/key.pem").stdout
    assert copy == renewed.key.read_text()
