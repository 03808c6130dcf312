"""An idle agent on a fleet host ends by itself once its controller's heartbeats stop
(hosts/idle_sessions.py, hosts/agent.py `--idle`): cut off with the connection's reset
lost, the host's sshd would keep its session, and the agent, until its TCP keepalive
(~2 h). One its controller still holds (the daemon's kept connections hold theirs for
hours) is heartbeated, and stays."""

from __future__ import annotations

import time

from tests.fleet.test_connections import pool
from tests.support.net import wait_until
from zerodown.hosts.idle_sessions import agent_idle_limit
from zerodown.hosts.ssh import SshHost

STATE = "/srv/zerodown"
KEEPALIVE = 1.0
LIMIT = agent_idle_limit(KEEPALIVE)  # MIN_IDLE, 5 s: a short test


def agents(target) -> set[str]:
    """The pids of the agent sessions running on `target`."""
    return target.agent_sessions()


def holds(cond, seconds: float) -> bool:
    """Whether `cond` stays true for `seconds` (looked at every 0.1 s)."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        if not cond():
            return False
        time.sleep(0.1)
    return cond()


def started_agent(conns, target) -> tuple[SshHost, set[str]]:
    """An SshHost of `target` whose agent serves, and that agent's pid."""
    before = agents(target)
    host = SshHost(conns, target.name, STATE)
    assert host.running(1, 0) is False  # connected, the agent installed and serving
    mine = agents(target) - before
    assert len(mine) == 1, "one call, one agent session"
    return host, mine


def test_an_idle_agent_cut_off_from_its_controller_ends_within_its_limit(healthy_fleet):
    target = healthy_fleet.hosts[1]
    conns = pool(healthy_fleet, keepalive=KEEPALIVE)
    try:
        _, mine = started_agent(conns, target)
        healthy_fleet.partition(target)  # no reset reaches the host: its sshd keeps the session
        started = time.monotonic()
        assert wait_until(lambda: not agents(target) & mine, timeout=LIMIT + 10), \
            "the agent still waits for a controller cut off"
        assert time.monotonic() - started < LIMIT + 5
    finally:
        conns.close()


def test_an_idle_agent_its_controller_holds_is_heartbeated_and_stays(healthy_fleet):
    target = healthy_fleet.hosts[2]
    conns = pool(healthy_fleet, keepalive=KEEPALIVE)
    try:
        host, mine = started_agent(conns, target)
        assert holds(lambda: agents(target) >= mine, 2 * LIMIT), "an agent held idle ended"
        others = agents(target) - mine
        assert host.running(1, 0) is False
        assert agents(target) - others == mine, "another agent answered after the idle time"
    finally:
        conns.close()
