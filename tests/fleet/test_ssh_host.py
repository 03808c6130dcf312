"""The SSH host (zerodown/hosts/ssh.py) on the real fleet: the local Host's guarantees, remotely."""

from __future__ import annotations

import threading
import time

import pytest

from tests.support.net import wait_until
from zerodown.errors import RuntimeFailure
from zerodown.hosts.ssh import SshHost
from zerodown.protocols import Host
from tests.fleet.test_connections import pool

STATE = "/srv/zerodown"


@pytest.fixture
def conns(healthy_fleet):
    c = pool(healthy_fleet)
    yield c
    c.close()


def serve(host: SshHost, address: str, port: int = 8000):
    return host.spawn(["python3", "-m", "http.server", "-b", address, str(port)], cwd="/tmp",
                      env={"PATH": "/usr/bin:/bin"}, log_path=f"{STATE}/logs/web.log",
                      banner="web")


def test_a_process_started_over_ssh_outlives_the_session_and_stops_by_pid_and_start_time(
        conns, healthy_fleet):
    fleet = healthy_fleet
    a = SshHost(conns, fleet.hosts[0].name, STATE)
    assert isinstance(a, Host)
    web = serve(a, fleet.hosts[0].address)
    assert web.start_time is not None and a.running(web.pid, web.start_time)
    conns.close()   # the SSH session ends: the process stays
    conns2 = pool(fleet)
    try:
        a2 = SshHost(conns2, fleet.hosts[0].name, STATE)
        assert a2.running(web.pid, web.start_time)
        assert not a2.running(web.pid, web.start_time + 1), "another start time: a stranger"
        b = SshHost(conns2, fleet.hosts[1].name, STATE)
        assert not b.running(web.pid, web.start_time), "another host's /proc is not this one's"
        assert any(argv[:3] == ["python3", "-m", "http.server"] for _, argv in a2.processes())
        assert wait_until(lambda: a2.tail(f"{STATE}/logs/web.log", 5), timeout=5)
        a2.terminate(web.pid, web.start_time, grace=2, what="web")
        assert not a2.running(web.pid, web.start_time)
    finally:
        conns2.close()


def test_the_agent_is_sent_once_per_content(conns, healthy_fleet):
    host = healthy_fleet.hosts[2]
    first = SshHost(conns, host.name, STATE)
    first.install()
    ok = host.srv / first.agent_dir.removeprefix("/srv/") / "ok"
    before = ok.stat().st_mtime_ns
    SshHost(conns, host.name, STATE).install()
    assert ok.stat().st_mtime_ns == before


def test_calls_are_answered_by_one_agent_kept_running_on_the_host(conns, healthy_fleet):
    target = healthy_fleet.hosts[0]

    def agents() -> set[str]:  # other tests' connections may still have theirs
        return target.agent_sessions()
    before = agents()
    host = SshHost(conns, target.name, STATE)
    for _ in range(10):
        assert host.running(1, 0) is False
    assert len(agents() - before) == 1, "sequential calls reuse one session of the agent"


def test_an_unanswered_question_is_an_error_never_not_running(conns, healthy_fleet):
    fleet = healthy_fleet
    target = fleet.hosts[1]
    host = SshHost(conns, target.name, STATE)
    web = serve(host, target.address)
    fleet.partition(target)
    with pytest.raises(RuntimeFailure, match=f"host {target.name}"):
        host.running(web.pid, web.start_time)
    fleet.heal(target)
    assert host.running(web.pid, web.start_time)
    fleet.crash(target)   # every process gone, /srv kept: the record no longer matches
    fleet.boot(target)
    assert not host.running(web.pid, web.start_time)


def test_a_step_that_hangs_ends_at_command_timeout_as_unknown_then_a_new_connection_works(
        healthy_fleet):
    """The host's sshd serving our connection is frozen (SIGSTOP): the TCP connection stays
    up, a channel opened on it never answers."""
    fleet = healthy_fleet
    target = fleet.hosts[0]
    conns = pool(fleet, command_timeout=1)
    try:
        host = SshHost(conns, target.name, STATE)
        assert host.running(1, 0) is False   # connected, agent installed
        # every process on that host is ours (its own PID namespace): the per-connection sshd
        frozen = target.run("ps -eo pid=,args= | awk '/sshd: root@notty/ && !/awk/ {print $1}'"
                            ).stdout.split()
        assert frozen
        target.run(f"kill -STOP {' '.join(frozen)}")
        started = time.monotonic()
        with pytest.raises(RuntimeFailure, match=r"host zdf1: running has an unknown outcome"):
            host.running(1, 0)
        assert time.monotonic() - started < 4
        assert host.running(1, 0) is False, "a new connection is opened for the next step"
    finally:
        target.run("ps -eo pid=,stat=,args= | awk '$2 ~ /T/ {print $1}' | xargs -r kill -CONT")
        conns.close()


def test_a_new_agent_prunes_old_ones_but_never_one_a_process_on_the_host_runs_in(
        conns, healthy_fleet):
    """zerodown/hosts/code_dirs.py on a real host (its own PID namespace and /proc): after
    a new install the 3 newest agent folders stay, and an older one a process runs in."""
    target = healthy_fleet.hosts[2]
    state = "/srv/zd-prune"
    target.run(f"rm -rf {state}")
    old = [f"{i:016x}" for i in range(5)]  # old[0] the oldest
    for age, name in zip((500, 400, 300, 200, 100), old):
        target.run(f"mkdir -p {state}/agent/{name} && touch -d '-{age} minutes' "
                   f"{state}/agent/{name}/ok")
    user = target.run(f"cd {state}/agent/{old[0]} && "
                      f"{{ sleep 120 </dev/null >/dev/null 2>&1 & echo $!; }}").stdout.strip()
    host = SshHost(conns, target.name, state)
    try:
        host.install()
        left = set(target.run(f"ls {state}/agent").stdout.split())
        current = host.agent_dir.rsplit("/", 1)[1]
        assert left == {current, old[4], old[3], old[0]}, left  # old[0]: a process's cwd
        assert host.running(1, 0) is False, "the new agent answers"
    finally:
        target.run(f"kill {user}; rm -rf {state}")


def test_an_agent_removed_since_it_was_put_there_is_put_back_and_asked_again(
        conns, healthy_fleet):
    """This process remembers the agent it installed for its connection's life; another
    zerodown's install prunes all but the 3 newest agent folders once no agent runs there.
    The agent's command then finds no folder: it says so (AGENT_MISSING, nothing ran), and
    the call puts the agent back and is asked again, not failed with a `cd` error."""
    target = healthy_fleet.hosts[1]
    state = "/srv/zd-removed"
    target.run(f"rm -rf {state}")

    def agents() -> set[str]:  # ours: their working folder is under `state`
        return {pid for pid in target.run(
            "for p in /proc/[0-9]*; do readlink $p/cwd | grep -q '^/srv/zd-removed/' "
            "&& echo ${p#/proc/}; done").stdout.split()}
    host = SshHost(conns, target.name, state)
    try:
        assert host.running(1, 0) is False  # installed, its session kept
        mine = agents()
        assert mine, "the agent runs in its folder"
        target.run(f"kill {' '.join(mine)}")  # the agent this test's call started
        assert wait_until(lambda: not agents(), timeout=10)
        target.run(f"rm -rf {state}/agent")  # pruned, as another install would
        assert host.installed, "still remembered for this connection"
        assert host.running(1, 0) is False, "put back and asked again"
        assert target.run(f"test -e {host.agent_dir}/ok").returncode == 0
    finally:
        target.run(f"rm -rf {state}")
