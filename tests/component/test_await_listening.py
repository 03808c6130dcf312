"""InstanceTable.await_listening (zerodown/hosts/listen_wait.py): what a WaitHealthy look of
the ssh runtime waits for on the instance's host — answered within a poll of the instance
listening or exiting, never later than asked, never about a stranger's process."""

from __future__ import annotations

import os
import re
import socket
import sys
import time

import pytest

from zerodown.hosts import instances, listen_wait
from zerodown.hosts.instances import PORT, InstanceTable
from zerodown.hosts.local import terminate

RECORD = {"service": "shop", "revision": 1, "version": "v1", "slot": 0, "host": "local"}
# listens on the claimed port after `delay` s, then sleeps; or exits after `delay` s
APP = ("import socket, sys, time; time.sleep(float(sys.argv[2]));"
       "sys.exit(3) if sys.argv[3] == 'exit' else None;"
       "s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(); time.sleep(60)")


def started(table: InstanceTable, delay: float, then: str = "listen") -> dict:
    got = table.start("shop-r1-s0", RECORD, "127.0.0.1",
                      [sys.executable, "-c", APP, PORT, str(delay), then], str(table.state_dir),
                      {}, "test")
    return got["started"]


def timed(table: InstanceTable, pid: int, wait: float) -> tuple[dict, float]:
    """await_listening's answer (looking every 5 ms) and how long it took."""
    began = time.monotonic()
    got = table.await_listening("shop-r1-s0", pid, wait, 0.005, 1)
    return got, time.monotonic() - began


def test_answers_within_a_poll_of_the_instance_listening_not_at_the_end_of_the_wait(tmp_path):
    table = InstanceTable(tmp_path)
    entry = started(table, 0.3)
    try:
        got, took = timed(table, entry["pid"], 20)
        assert got["alive"] and got["listening"] and got["owned"]
        assert got["entry"]["pid"] == entry["pid"]
        assert took < 10, f"answered when it listened, not after the 20 s wait ({took:.2f} s)"
        again = table.await_listening("shop-r1-s0", entry["pid"], 20, 0.005, 1)
        assert again["listening"] and again["owned"]
    finally:
        terminate(entry["pid"], entry["start_time"], 1, "app")


def test_nothing_listening_is_said_once_the_wait_is_over(tmp_path):
    table = InstanceTable(tmp_path)
    entry = started(table, 60)
    try:
        got, took = timed(table, entry["pid"], 0.2)
        assert took >= 0.19
        assert got["alive"] and got["listening"] is False
        assert got["seen"] == f"connection refused by 127.0.0.1:{entry['port']}"
    finally:
        terminate(entry["pid"], entry["start_time"], 1, "app")


def test_an_instance_listening_on_another_address_is_told_where_it_must_listen(tmp_path):
    """A newcomer's fleet app listened on 127.0.0.1 (no {host} in app.command): the wait
    said only "connection refused by 10.0.0.11:PORT", which read as an app that never
    started. Here: its address 127.0.0.1, the app bound to 127.0.0.2."""
    table = InstanceTable(tmp_path)
    got = table.start("shop-r1-s0", RECORD, "127.0.0.1",
                      [sys.executable, "-c", APP.replace("'127.0.0.1'", "'127.0.0.2'"), PORT,
                       "0", "listen"], str(table.state_dir), {}, "test")["started"]
    try:
        seen = ""
        for _ in range(50):  # until it listens there (each look waits 0.2 s)
            answer = table.await_listening("shop-r1-s0", got["pid"], 0.2, 0.005, 1)
            assert answer["alive"] and answer["listening"] is False, answer
            seen = answer["seen"]
            if "though" in seen:
                break
        assert seen == (f"connection refused by 127.0.0.1:{got['port']}, though the instance "
                        f"listens on port {got['port']} on another address: it must listen on "
                        "127.0.0.1 ({host} in app.command) or on every address (0.0.0.0)"), seen
    finally:
        terminate(got["pid"], got["start_time"], 1, "app")


# the app itself, or a wrapper that stays its parent (a shell script, `npm start`): the port
# held by its child, in the instance's session, where the other-address words look too
WRAPPER = ["sh", "-c", '"$0" "$@"; exit 0']  # not exec'd: sh stays


@pytest.mark.parametrize("wrapped", [[], WRAPPER], ids=["itself", "by a wrapper"])
def test_an_instance_listening_on_another_port_is_told_which_port_it_must_listen_on(
        tmp_path, wrapped):
    """A newcomer's app listened on a port of its own (9999 in app.command, not {port}): the
    wait said "connection refused by 10.0.0.11:PORT" until start_timeout, 30 s later, as if
    it never started. Here: the app bound to a free port of its choosing."""
    table = InstanceTable(tmp_path)
    app = APP.replace("int(sys.argv[1])", "0")
    got = table.start("shop-r1-s0", RECORD, "127.0.0.1",
                      [*wrapped, sys.executable, "-c", app, PORT, "0", "listen"],
                      str(table.state_dir), {}, "test")["started"]
    try:
        seen = ""
        for _ in range(50):  # until it listens (each look waits 0.2 s)
            answer = table.await_listening("shop-r1-s0", got["pid"], 0.2, 0.005, 1)
            assert answer["alive"] and answer["listening"] is False, answer
            seen = answer["seen"]
            if "though" in seen:
                break
        match = re.fullmatch(rf"connection refused by 127\.0\.0\.1:{got['port']}, though the "
                             r"instance listens on port (\d+): it must listen on the port "
                             rf"zerodown gave it, {got['port']} \(\{{port\}} in app\.command\)",
                             seen)
        assert match, seen
        assert int(match.group(1)) != got["port"]
    finally:
        terminate(got["pid"], got["start_time"], 1, "app")


def test_where_the_listeners_cannot_be_read_another_address_is_not_claimed(tmp_path,
                                                                             monkeypatch):
    """No sock_diag nor /proc/net (listening_inodes None): owns_port then trusts a probe
    that answered, but here none did; the refusal is said as it was seen, not blamed on
    an address nobody could read."""
    monkeypatch.setattr(listen_wait, "listening_inodes", lambda port: None)
    table = InstanceTable(tmp_path)
    entry = started(table, 60)
    try:
        got, _ = timed(table, entry["pid"], 0.2)
        assert got["alive"] and got["listening"] is False
        assert got["seen"] == f"connection refused by 127.0.0.1:{entry['port']}"
    finally:
        terminate(entry["pid"], entry["start_time"], 1, "app")


def test_an_instance_that_exits_while_waited_for_is_said_gone_at_once(tmp_path):
    table = InstanceTable(tmp_path)
    entry = started(table, 0.2, "exit")
    got, took = timed(table, entry["pid"], 20)
    assert got == {"alive": False}
    assert took < 10, "not at the end of the 20 s wait"


def test_a_strangers_pid_or_listener_is_never_taken_for_the_instance(tmp_path):
    table = InstanceTable(tmp_path)
    entry = started(table, 60)
    try:
        assert table.await_listening("shop-r1-s0", entry["pid"] + 1, 1, 0.005, 1) == \
            {"alive": False}, "a later incarnation or another process: not this one"
        with socket.socket() as stranger:
            stranger.bind(("127.0.0.1", entry["port"]))
            stranger.listen()
            got = table.await_listening("shop-r1-s0", entry["pid"], 1, 0.005, 1)
        assert got["listening"] and got["owned"] is False
    finally:
        terminate(entry["pid"], entry["start_time"], 1, "app")


def test_the_answers_carry_the_hosts_times_of_each_event_in_order(tmp_path):
    """The "at" of a start, a look's wait and a stop: what a trace places beside the
    controller's calls (benchmarks/fleet_deploy.py --trace) to see each batch's links."""
    table = InstanceTable(tmp_path)
    before = time.time()
    got = table.start("shop-r1-s0", RECORD, "127.0.0.1",
                      [sys.executable, "-c", APP, PORT, "0.2", "listen"], str(tmp_path), {},
                      "test")
    entry, at = got["started"], got["at"]
    try:
        assert before <= at["called"] <= at["spawning"] <= at["spawned"] <= at["answered"]
        looked = table.await_listening("shop-r1-s0", entry["pid"], 20, 0.005, 1)["at"]
        assert at["answered"] <= looked["called"] <= looked["refused"] < looked["listening"]
        assert looked["listening"] - looked["refused"] < 0.5  # a poll apart, give or take
        assert looked["listening"] - at["spawning"] >= 0.2  # the app's own delay
        assert looked["listening"] <= looked["answered"] <= time.time()
    finally:
        stopped = table.stop("shop-r1-s0", entry["pid"], 1, "app")["at"]
    assert stopped["called"] <= stopped["exited"] <= stopped["answered"]


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="Linux >= 5.3 with Python >= 3.9")
def test_between_looks_it_waits_on_the_pidfd_not_reading_proc(tmp_path, monkeypatch):
    """A look every 2 ms beside a booting app must cost it little: the process's exit is
    awaited on its pidfd between two connects, not asked of /proc at each."""
    table = InstanceTable(tmp_path)
    entry = started(table, 60)
    asked = []
    real = instances.running
    for module in (instances, listen_wait):  # the record's look, then the wait's
        monkeypatch.setattr(module, "running", lambda *a: asked.append(a) or real(*a))
    try:
        got = table.await_listening("shop-r1-s0", entry["pid"], 0.3, 0.002, 1)
        assert got["listening"] is False
        assert len(asked) <= 2, f"{len(asked)} looks at /proc in 0.3 s"
    finally:
        terminate(entry["pid"], entry["start_time"], 1, "app")


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="Linux >= 5.3 with Python >= 3.9")
def test_only_an_address_that_does_not_resolve_is_said_to_be_the_address(tmp_path, monkeypatch):
    """"listening": None names the address when it does not resolve here; a failure of the
    wait itself (the pidfd) is an error of the call, not said to be the instance's address."""
    table = InstanceTable(tmp_path)
    entry = started(table, 60)
    try:
        def unresolved(*args, **kwargs):
            raise socket.gaierror(-2, "Name or service not known")
        with monkeypatch.context() as m:
            m.setattr(listen_wait.socket, "getaddrinfo", unresolved)
            got = table.await_listening("shop-r1-s0", entry["pid"], 0.3, 0.002, 1)
        assert got["alive"] and got["listening"] is None
        assert got["seen"] == f"127.0.0.1:{entry['port']}: [Errno -2] Name or service not known"

        def broken(*args):
            raise OSError(9, "Bad file descriptor")
        monkeypatch.setattr(listen_wait, "readable", broken)
        with pytest.raises(OSError, match="Bad file descriptor"):
            table.await_listening("shop-r1-s0", entry["pid"], 0.3, 0.002, 1)
    finally:
        terminate(entry["pid"], entry["start_time"], 1, "app")

