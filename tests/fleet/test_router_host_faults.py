"""The load balancer on a fleet host (router.host) when that host fails: a Runtime API
command with no answer, a host without the load balancer, the router host cut off before
a deployment (refused), in one (paused even with skip) and between an apply's state read
and its change (paused, resumed by the host watch once it answers, the load counted)."""

from __future__ import annotations

import time
import urllib.request

import pytest

from tests.support.net import wait_until
from tests.support.router_host import deploy, proxy_python
from zerodown.controller import Controller
from zerodown.engine.lifecycle import Phase
from zerodown.errors import HostFailure, RouterError, RuntimeFailure
from zerodown.loadgen import LoadInBackground


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
