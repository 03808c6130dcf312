"""The test fleet (tests/support/fleet.py): built once per session, shared by every fleet test.

Tests that inflict a fault undo it (heal, boot) before they end, so the next test gets
three reachable hosts with sshd and no app running."""

from __future__ import annotations

import os

import pytest

from tests.support.fleet import Fleet, available

FLEET_SIZE = 3


@pytest.fixture(scope="session")
def fleet():
    why = available()
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the fleet tests cannot run: {why}")
        pytest.skip(why)
    with Fleet(FLEET_SIZE) as f:
        yield f


@pytest.fixture
def healthy_fleet(fleet):
    """The shared fleet, every host booted and reachable again after the test, and no app
    of the test left running: a test whose stack could not stop its instances (its host
    was cut off until the end) must not hand them to the next test's adopt."""
    yield fleet
    for host in fleet.hosts:
        fleet.heal(host)
        fleet.unslow(host)
        if host.proc is None or host.proc.poll() is not None:
            fleet.boot(host)
    fleet.kill_apps()
