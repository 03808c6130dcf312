"""The test fleet (tests/support/fleet.py): built once per session, shared by every fleet test.

Tests that inflict a fault undo it (heal, boot) before they end, so the next test gets
three reachable hosts with sshd and no app running; healthy_fleet checks that as each test
begins, so an app started late is blamed on the test it came from, not the next one's
counts. It also removes every service's owner record (zerodown/hosts/owner.py) as each
test begins and ends: each test's state folder is a controller of its own; and every
release on the hosts as each test begins: tests make their own `v1`, and a version's
content is never changed on a host."""

from __future__ import annotations

import os

import pytest

from tests.support.fleet import Fleet, available
from tests.support.net import free_port
from tests.support.router_host import config_text
from zerodown.controller import Controller

FLEET_SIZE = 3


_built: list[Fleet] = []  # the session's fleet, once a test asked for it


@pytest.fixture(scope="session")
def fleet():
    why = available()
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the fleet tests cannot run: {why}")
        pytest.skip(why)
    with Fleet(FLEET_SIZE) as f:
        _built.append(f)
        yield f
        _built.remove(f)


@pytest.fixture
def no_fleet_up():
    """The session's fleet (if a test built it) stopped for this test and started again
    after it: its fixed names and the machine's fleet lock are then this test's to take,
    for a fleet of its own (`zerodown demo --fleet`): this process holding the lock
    already would wait on itself."""
    aside = list(_built)
    for f in aside:
        f.stop()
    yield
    for f in aside:
        f.start()


_swept_after = ["the fleet's start"]  # the test whose end last swept the hosts


@pytest.fixture
def healthy_fleet(fleet, request):
    """The shared fleet, no app running on it (else this test fails naming the test whose
    end came before: something of it started one since), every host booted and reachable
    again after the test, and no app or agent of the test left running: a test whose stack
    could not stop its instances (its host was cut off until the end) must not hand them to
    the next test's adopt, nor a request still on its way start one there."""
    strays = {h.name: versions for h in fleet.hosts if (versions := h.app_versions())}
    if strays:
        fleet.kill_apps_and_agents()  # this test fails alone, not every one after it
        pytest.fail(f"example apps run on the fleet before this test began: {strays}; every "
                    f"app and agent was killed after {_swept_after[0]} ended, so something "
                    f"of it (or of a test before it) started them since", pytrace=False)
    fleet.forget_owners()  # (a test on the bare `fleet` fixture may have left some)
    fleet.forget_releases()  # each test's v1 is its own (a version's content never changes)
    yield fleet
    for host in fleet.hosts:
        fleet.heal(host)
        fleet.unslow(host)
        if host.proc is None or host.proc.poll() is not None:
            fleet.boot(host)
    fleet.kill_apps_and_agents()
    fleet.forget_owners()  # the next test's state folder is another controller
    _swept_after[0] = request.node.nodeid


@pytest.fixture
def lb_stack(healthy_fleet, tmp_path):
    """make(router, text=config_text) -> a Controller of the service with that router
    (test_router_host.py, test_router_host_faults.py); its instances and load balancer
    are stopped after the test."""
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
