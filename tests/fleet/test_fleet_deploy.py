"""Deployments across the real fleet (3 hosts × 2 instances) through the engine and the
embedded proxy, under load, every response counted."""

from __future__ import annotations

import json

import pytest

from tests.e2e.stack import Stack
from tests.support.net import free_port
from zerodown.controller import Controller
from zerodown.gather import status_view
from zerodown.engine.lifecycle import Phase
from zerodown.errors import RuntimeFailure

@pytest.fixture
def fleet_stack(healthy_fleet, tmp_path):
    stacks = []

    def make(strategy: str = "{kind: rolling, max_surge: 1, max_unavailable: 0}") -> Stack:
        path = tmp_path / "zerodown.yaml"
        path.write_text(healthy_fleet.service_config(free_port(), strategy))
        stacks.append(Stack(path, tmp_path / "state"))
        return stacks[-1]
    yield make
    for stack in stacks:
        stack.close()


def hosts_of(stack: Stack) -> dict[str, set[str]]:
    """Which version runs on which host (by the address the instances listen on)."""
    out: dict[str, set[str]] = {}
    for instance in stack.runtime.adopt("shop"):
        out.setdefault(instance.address.split(":")[0], set()).add(instance.version)
    return out


def test_a_rolling_deployment_across_three_hosts_fails_no_request(fleet_stack, healthy_fleet):
    stack = fleet_stack()
    assert stack.deploy("v1") is Phase.SUCCEEDED
    phase, result = stack.under_load(lambda: stack.deploy("v2"), connections=8, duration=60)
    assert phase is Phase.SUCCEEDED
    assert result.failed() == 0, result.summary()
    assert set(result.by_header["X-Version"]) == {"v1", "v2"}
    assert hosts_of(stack) == {h.address: {"v2"} for h in healthy_fleet.hosts}
    assert len(stack.runtime.adopt("shop")) == 6   # (pids repeat across hosts' namespaces)


def test_a_host_cut_off_before_the_deployment_refuses_it_naming_the_host(fleet_stack,
                                                                          healthy_fleet):
    stack = fleet_stack()
    assert stack.deploy("v1") is Phase.SUCCEEDED
    instances = lambda: [(i.id, i.pid) for i in stack.runtime.adopt("shop")]  # noqa: E731
    before = (stack.store.stable("shop"), instances())
    healthy_fleet.partition(healthy_fleet.hosts[1])
    with pytest.raises(RuntimeFailure, match=r"nothing was changed:\n  zdf2: "):
        stack.deploy("v2")
    status = status_view(Controller(str(stack.config.file), str(stack.state_dir)))
    on = {i.host: i for i in status.instances}   # status says which host does not answer
    assert on["zdf2"].healthy is False and "host zdf2" in on["zdf2"].health
    assert on["zdf1"].healthy and on["zdf3"].healthy
    healthy_fleet.heal(healthy_fleet.hosts[1])
    assert (stack.store.stable("shop"), instances()) == before


def test_zerodown_hosts_checks_every_host_and_names_the_one_cut_off(healthy_fleet, tmp_path):
    import subprocess
    import sys
    path = tmp_path / "zerodown.yaml"
    path.write_text(healthy_fleet.service_config(free_port(), "{kind: rolling}"))

    def hosts(*more):
        return subprocess.run([sys.executable, "-m", "zerodown", "hosts", "-f", str(path), *more],
                              capture_output=True, text=True, timeout=30)
    done = hosts()
    assert done.returncode == 0, done.stderr
    for host in healthy_fleet.hosts:
        assert f"{host.name}  {host.address}" in done.stdout and " yes " in done.stdout
    healthy_fleet.partition(healthy_fleet.hosts[0])
    done = hosts()
    assert done.returncode == 1
    line = next(x for x in done.stdout.splitlines() if x.startswith("zdf1"))
    assert " no " in line and "no SSH connection within 2s" in line
    done = hosts("--json")
    assert done.returncode == 1
    report = {h["host"]: h for h in json.loads(done.stdout)["hosts"]}
    assert not report["zdf1"]["ready"] and "no SSH connection" in report["zdf1"]["problem"]
    assert all(report[h.name]["ready"] for h in healthy_fleet.hosts[1:])


def test_plan_and_a_first_up_refuse_a_host_cut_off_naming_it_before_anything_starts(
        healthy_fleet, tmp_path):
    """`zerodown plan` ran no pre-flight on a fleet: it showed a plan a host cut off could
    not carry out, exit 0. It is refused as the deployment would be, naming the host; so is
    a first `up`, before its load balancer starts."""
    from tests.support.cli import Service, ours
    s = Service(tmp_path)
    s.file.write_text(healthy_fleet.service_config(s.port, "{kind: rolling}", per_host=1))
    cut = healthy_fleet.hosts[1]
    healthy_fleet.partition(cut)
    try:
        for command in (("plan", "v1"), ("up",)):
            done = s.run(*command, code=None)
            assert done.returncode != 0, (command, done.stdout)
            assert "nothing was changed:\n  zdf2: no SSH connection" in done.stderr, \
                done.stderr
            assert "Traceback" not in done.stderr and "zdf1:" not in done.stderr, done.stderr
        assert ours(s.state_dir) == {}, "no load balancer, no controller started"
    finally:
        healthy_fleet.heal(cut)
        s.cleanup()


def test_a_host_added_to_runtime_hosts_every_old_instance_is_replaced_none_left_running(
        healthy_fleet, tmp_path):
    """v1 on zdf1 and zdf2 (4 instances: slot i on host i mod 2); zdf3 added to runtime.hosts,
    6 instances, v2 deployed: slots now map i mod 3, so r1-s2 (on zdf1) and r1-s3 (on zdf2)
    were stopped on zdf3 and zdf1 — where they never ran — and kept running for ever,
    recorded, after a deployment that succeeded (and `down` missed them too). An instance
    is acted on where it runs: every v1 gone, two v2 a host, then nothing left."""
    fleet = healthy_fleet
    port = free_port()
    three = fleet.service_config(port, "{kind: rolling, max_surge: 1, max_unavailable: 0}")
    two = three.replace("instances: 6", "instances: 4").replace(
        "hosts: [zdf1, zdf2, zdf3]", "hosts: [zdf1, zdf2]")
    path = tmp_path / "zerodown.yaml"
    path.write_text(two)
    first = Stack(path, tmp_path / "state")
    stacks = [first]
    try:
        assert first.deploy("v1") is Phase.SUCCEEDED
        assert [h.app_versions() for h in fleet.hosts] == [["v1", "v1"], ["v1", "v1"], []]
        first.store.close()
        first.runtime.close()   # the controller ends; its instances and proxy run on
        path.write_text(three)
        stacks.append(Stack(path, tmp_path / "state"))
        phase, result = stacks[-1].under_load(lambda: stacks[-1].deploy("v2"),
                                              connections=6, duration=60)
        assert phase is Phase.SUCCEEDED
        assert result.failed() == 0, result.summary()
        assert [h.app_versions() for h in fleet.hosts] == [["v2", "v2"]] * 3
        assert {i.version for i in stacks[-1].runtime.adopt("shop")} == {"v2"}
        stacks[-1].close()   # stops every instance it adopts, each on its host
        assert [h.app_versions() for h in fleet.hosts] == [[], [], []]
    finally:
        fleet.kill_apps()
        stacks[-1].close()
