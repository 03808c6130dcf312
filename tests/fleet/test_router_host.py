"""The load balancer on a fleet host (router.host): a rolling deployment with the router on
zdf1 and the instances on zdf2 and zdf3, under load sent from this machine to zdf1's
address, every response counted; the table in force read back from the remote router."""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import subprocess
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.net import free_port, wait_until
from zerodown import render
from zerodown.controller import Controller
from zerodown.gather import status_view
from zerodown.engine.lifecycle import Phase
from zerodown.errors import HostFailure, RouterError, RuntimeFailure
from zerodown.hosts.local import LOCAL
from zerodown.loadgen import LoadInBackground
from zerodown.model import Revision
from zerodown.routers.embedded import find_proxy
from zerodown.runtimes.health import probe

# An interpreter the fleet hosts can run that has the proxy's modules: Debian's python3
# in a venv that sees this environment's site-packages (the hosts mount /root, where
# this venv's own python lives, privately). What a user does with `pip install` there.
PROXY_PYTHON = Path("/var/tmp/zerodown-lb-python")


def proxy_python() -> str:
    python = PROXY_PYTHON / "bin" / "python3"
    if not python.exists():
        subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(PROXY_PYTHON)],
                       check=True, timeout=60)
    found = subprocess.run([str(python), "-c", "import sysconfig; "
                            "print(sysconfig.get_paths()['purelib'])"],
                           capture_output=True, text=True, check=True).stdout.strip()
    # every time: the venv outlives the environment (a worktree) that made it
    Path(found, "zerodown-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return str(python)


def config_text(fleet, port: int, router: str) -> str:
    """Instances on zdf2 and zdf3 (two each), the load balancer on zdf1 (a Host of the
    ssh_config, not one of runtime.hosts), listening on zdf1's address."""
    lb = fleet.hosts[0]
    text = fleet.service_config(port, "{kind: rolling, max_surge: 1, max_unavailable: 0}")
    text = text.replace(f"listen: 127.0.0.1:{port}", f"listen: {lb.address}:{port}")
    text = text.replace(f"instances: {2 * fleet.size}", "instances: 4")
    text = text.replace(f"hosts: [{', '.join(h.name for h in fleet.hosts)}]",
                        f"hosts: [{', '.join(h.name for h in fleet.hosts[1:])}]")
    return text + f"router: {router}\n"


@pytest.fixture
def lb_stack(healthy_fleet, tmp_path):
    made = []

    def make(router: str, text=config_text) -> Controller:
        path = tmp_path / "zerodown.yaml"
        path.write_text(text(healthy_fleet, free_port(), router))
        made.append(Controller(str(path), str(tmp_path / "state")))
        return made[-1]
    yield make
    for ctl in made:
        runtime = ctl.runtime()
        for instance in runtime.adopt("shop"):
            runtime.stop(instance, grace=3)
        ctl.router().stop()
        runtime.close()


def deploy(ctl: Controller, version: str) -> Phase:
    ctl.ensure_router()
    engine = ctl.engine()
    return engine.run(engine.deploy(version))


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


def test_haproxy_commands_on_a_host_cut_off_fail_never_answer_empty(lb_stack, healthy_fleet):
    """A Runtime API command that got no answer is the host's failure naming the socket and
    the host: an empty answer would read as success (HAProxy says nothing to many
    commands), a RouterError as HAProxy's refusal (a rollback through the silent host)."""
    ctl = lb_stack("{kind: haproxy, host: zdf1}")
    ctl.ensure_router()
    router = ctl.router()
    assert "Name: HAProxy" in router.cli.raw("show info")
    healthy_fleet.partition(healthy_fleet.hosts[0])
    try:
        started = time.monotonic()
        with pytest.raises(HostFailure, match=r"cannot talk to HAProxy's stats socket "
                                              r"/srv/zerodown/routers/shop/haproxy/haproxy.sock"
                                              r": host zdf1"):
            router.cli.run("set server lane0/x weight 1")
        assert time.monotonic() - started < 15   # bounded by the command's timeout
        with pytest.raises(HostFailure, match=r"cannot talk to HAProxy's stats socket .*"
                                              r": host zdf1"):  # an apply's batch of them
            router.cli.run_all(["set server lane0/x weight 1", "show stat"])
    finally:
        healthy_fleet.heal(healthy_fleet.hosts[0])
    assert router.answers()


def test_a_router_host_without_the_load_balancer_is_refused_before_anything_changes(
        lb_stack, healthy_fleet):
    ctl = lb_stack("{kind: haproxy, host: zdf1, binary: /usr/sbin/no-haproxy}")
    # what runs already (an earlier fault test's start on a cut-off host may have run late)
    before = {i.id for i in ctl.runtime().adopt("shop")}
    with pytest.raises(RouterError, match=r"router.host zdf1 cannot run the load balancer: "
                                          r"no /usr/sbin/no-haproxy there.*nothing was changed"):
        ctl.ensure_router()
    assert {i.id for i in ctl.runtime().adopt("shop")} == before  # no instance started


def test_a_deployment_with_the_router_host_cut_off_is_refused_by_the_hosts_preflight(
        lb_stack, healthy_fleet):
    """zdf1 (router.host, not one of runtime.hosts) cut off: the deployment's pre-flight
    asks it beside zdf2 and zdf3 and refuses naming it, before the load balancer's own
    check (ready: as the controller's request calls it) and before anything changed."""
    ctl = lb_stack("{kind: haproxy, host: zdf1}")
    assert deploy(ctl, "v1") is Phase.SUCCEEDED
    engine, lb = ctl.engine(), healthy_fleet.hosts[0]
    checked: list = []
    healthy_fleet.partition(lb)
    try:
        with pytest.raises(RuntimeFailure) as refused:
            engine.deploy("v2", ready=lambda: checked.append(ctl.ensure_router()))
    finally:
        healthy_fleet.heal(lb)
    assert str(refused.value).startswith("the fleet is not ready, nothing was changed:")
    assert [line.split(":")[0].strip() for line in str(refused.value).splitlines()[1:]] \
        == ["zdf1"], str(refused.value)
    assert not checked and len(engine.store.deployments("shop")) == 1
    assert [r.name for r in ctl.router().in_force().revisions if r.weight] == ["r1"]


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


def test_the_router_host_cut_off_mid_deployment_pauses_even_with_skip(lb_stack,
                                                                      healthy_fleet):
    """router.host zdf1 also runs instances and on_host_failure is skip: the deployment
    cannot go on without its load balancer (it went round skipping zdf1 for ever); it
    pauses naming the router host, and once zdf1 answers, resume finishes it."""
    lb = healthy_fleet.hosts[0]

    def text(fleet, port, router):
        return (fleet.service_config(port, "{kind: rolling, max_surge: 1, max_unavailable: 0}",
                                     per_host=1)
                .replace(f"listen: 127.0.0.1:{port}", f"listen: {lb.address}:{port}")
                + f"on_host_failure: skip\nrouter: {router}\n")
    ctl = lb_stack("{kind: haproxy, host: zdf1}", text)
    assert deploy(ctl, "v1") is Phase.SUCCEEDED
    engine = ctl.engine()
    cut: list = []

    def at_route(event):  # as the first route step of v2 begins: the router host goes silent
        if not cut and event.kind == "step.started" and "route" in event.message:
            healthy_fleet.partition(lb)
            cut.append(event.data.get("index"))
    engine.store.listeners.append(at_route)
    d = engine.deploy("v2")
    began = time.monotonic()
    try:
        assert engine.run(d) is Phase.PAUSED
        assert cut, "the router host was never cut: the test proves nothing"
        assert time.monotonic() - began < 120
        error = engine.store.deployment(d).error
        assert "router host zdf1" in error and "cannot be skipped" in error, error
        assert not engine.store.events("shop", d, kind="host.skipped")
    finally:
        healthy_fleet.heal(lb)
    engine.resume(d)
    assert engine.run(d) is Phase.SUCCEEDED
    assert [r.name for r in ctl.router().in_force().revisions if r.weight] == ["r2"]


# Where each router's apply is cut: after reading its state there, before it changes
# anything there (object path on the router, method, cut after the call or before it).
CUTS = {"haproxy": ("", "_load", True),               # haproxy.json read; the batch next
        "nginx": ("", "_write_tested", False),        # nginx.conf read, its master found
        "embedded": ("client", "apply", False)}       # the admin API's PUT /table next


@pytest.mark.parametrize("kind", ["haproxy", "nginx", "embedded"])
def test_the_router_host_silent_between_an_applys_state_read_and_its_change_pauses(
        lb_stack, healthy_fleet, kind):
    """The load balancer on zdf1, instances on zdf2 and zdf3: zdf1 goes silent in a route
    step of v2, after the apply read its state there and before it changed anything. The
    host's failure (on_host_failure), not the load balancer's: the deployment pauses naming
    zdf1 and rolls nothing back over the dead link (with HAProxy it went back, failed, and
    ended FAILED); healed, the controller's host watch resumes it (on_host_return: resume)
    and it ends on v2. The load, sent from here through zdf1, fails nothing wherever it
    can reach zdf1: up to the cut, and from the heal to the end."""
    from zerodown.daemon.host_watch import HostWatch
    from zerodown.engine.host_failure import paused_for_host
    lb = healthy_fleet.hosts[0]
    extra = f", python: {proxy_python()}" if kind == "embedded" else ""
    ctl = lb_stack(f"{{kind: {kind}, host: zdf1{extra}}}")
    assert deploy(ctl, "v1") is Phase.SUCCEEDED
    engine = ctl.engine()
    router, url = engine.router, f"http://{ctl.config().listen}/"
    load = LoadInBackground(url, connections=6, duration=120).start()
    load.wait_for_responses(200)
    routing: list = []
    until_cut: list = []
    engine.store.listeners.append(lambda e: routing.append(e) if e.kind == "step.started"
                                  and "route" in e.message else None)

    def cut() -> None:
        if routing and not until_cut:
            until_cut.append(load.stop())
            healthy_fleet.partition(lb)
    path, name, after = CUTS[kind]
    where = getattr(router, path) if path else router
    original = getattr(where, name)

    def cut_there(*args, **kwargs):
        if not after:
            cut()
        out = original(*args, **kwargs)
        if after:
            cut()
        return out
    setattr(where, name, cut_there)
    d = engine.deploy("v2")
    try:
        assert engine.run(d) is Phase.PAUSED
        assert until_cut, "zdf1 was never cut: the test proves nothing"
        assert until_cut[0].failed() == 0, until_cut[0].summary()
        error = engine.store.deployment(d).error
        assert "router host zdf1" in error and "host zdf1" in error.split(":", 1)[1], error
        if kind == "haproxy":
            assert "cannot talk to HAProxy" in error, error
        found = paused_for_host(engine.store, "shop", engine.store.deployment(d))
        assert found is not None and found[0] == "zdf1"
        went = [e.data.get("to") for e in engine.store.events("shop", d, kind="phase")]
        assert not {"rolling_back", "aborting", "failed"} & set(went), went
        assert engine.store.deployment(d).plan_kind == "deploy"
    finally:
        vars(where).pop(name)
        healthy_fleet.heal(lb)
    wait_until(lambda: _answers(url), 30, f"{kind} on zdf1 serving again after the heal")
    with LoadInBackground(url, connections=6, duration=120) as load:
        load.wait_for_responses(200)
        # the controller's host watch, with a controller of its own as the service's has
        # (its runtime knows runtime.hosts, not zdf1: an ssh_config Host)
        watch = HostWatch(lambda: Controller(ctl.file, str(ctl.state_dir)), "shop",
                          wake=lambda: None, log=lambda _: None)
        watch.check(engine.store)  # what the controller does every few seconds (each look
        # builds its own controller and closes it: nothing of it to close here)
        assert engine.store.deployment(d).phase is Phase.RUNNING
        assert engine.run(d) is Phase.SUCCEEDED
        load.wait_for_responses(load.progress()[0] + 200)
        result = load.stop()
    assert result.failed() == 0, result.summary()
    assert "v2" in result.by_header["X-Version"]
    assert [r.name for r in router.in_force().revisions if r.weight] == ["r2"]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False
