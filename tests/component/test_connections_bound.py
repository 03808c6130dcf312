"""A call's timeout bounds the whole call, the wait for a host's connection included: a
2 s look (`zerodown status`) at a host being reconnected takes 2 s, not
runtime.connect_timeout (10 s) more. Against a real socket on 127.0.0.1 that accepts and
never speaks (a host whose link went silent while its connection is re-opened); the
opening is shared by the calls and goes on by itself up to connect_timeout."""

from __future__ import annotations

import re
import threading
import time

import pytest

from tests.support.net import silent  # noqa: F401 (a fixture)
from zerodown.hosts.connections import Connections
from zerodown.hosts.ssh_connect import HostUnreachable
from zerodown.runtimes.ssh_options import parse_options

CONNECT_TIMEOUT = 10


@pytest.fixture
def pool(silent, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text("")
    c = Connections(parse_options({"hosts": [silent[0]], "known_hosts": str(known),
                                   "connect_timeout": CONNECT_TIMEOUT}))
    yield c
    c.close()


@pytest.mark.parametrize("call", ["run", "ask"])
def test_a_call_on_a_host_being_connected_ends_at_its_own_timeout(silent, pool, call):
    address, accepted = silent
    began = time.monotonic()
    with pytest.raises(HostUnreachable) as e:
        if call == "run":
            pool.run(address, "true", timeout=0.5)
        else:
            pool.ask(address, "cat", "hello", timeout=0.5)
    took = time.monotonic() - began
    assert took < 2, f"waited {took:.1f}s: the connect_timeout, not the call's 0.5s"
    assert f"host {address}: no SSH connection within 0.5s" in str(e.value)
    assert "runtime.connect_timeout" in str(e.value)


def test_calls_share_one_opening_that_outlives_them(silent, pool):
    address, accepted = silent
    for _ in range(3):
        with pytest.raises(HostUnreachable):
            pool.run(address, "true", timeout=0.2)
    assert len(accepted) == 1, "each call opened a connection of its own"


def test_a_look_through_the_agent_is_bounded_by_its_own_timeout_install_check_included(
        silent, pool):
    """A controller just (re)started looks at a host before it knows its agent is there:
    that check counts in the look's bound too (`zerodown status`: 2 s, not 10 or 60)."""
    from zerodown.errors import HostFailure
    from zerodown.hosts.ssh import SshHost
    address, _ = silent
    host = SshHost(pool, address, "/var/lib/zerodown")
    began = time.monotonic()
    with pytest.raises(HostFailure, match=f"host {address}: no SSH connection within 0.5s"):
        host.table("/var/lib/zerodown/shop", "live_entry", "shop-r1-s0", 123, timeout=0.5)
    assert time.monotonic() - began < 2


class _Conn:
    """An opened connection; `peer` None once it closed (asyncssh's peername is None then)."""

    def __init__(self, peer):
        self.peer = peer
        self.aborted = False

    def is_closed(self) -> bool:
        return False   # closed after the look for an open one: the crash's race

    def get_extra_info(self, name):
        return self.peer if name == "peername" else None

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        pass


def test_a_host_s_address_is_the_one_its_connection_reached_when_it_opened(pool, monkeypatch):
    """A host that crashed mid-deployment: its connection closed after it was handed out,
    and its address read then was None (a TypeError failed the deployment, in a fleet
    test). The address is recorded as the connection opens, so it is known however the
    connection ends; one lost before its address could be read is a failed opening (a
    HostUnreachable: the deployment's on_host_failure decides), never a TypeError."""
    lost, kept = _Conn(None), _Conn(("10.77.0.2", 22))
    opened = [lost, kept]

    async def open_(name):
        return opened.pop(0)
    monkeypatch.setattr(pool, "_open", open_)
    with pytest.raises(HostUnreachable, match="host h1: its SSH connection closed as it opened"):
        pool.peer_address("h1")
    assert lost.aborted and "h1" not in pool._conns
    assert pool.peer_address("h1") == "10.77.0.2"
    kept.peer = None   # the host crashed: the connection closed under us
    assert pool.peer_address("h1") == "10.77.0.2"
    assert opened == [], "both openings were made, and no more"


def test_a_known_address_is_answered_without_the_connections_loop(pool, monkeypatch):
    """Each start asks its host's address: once known it is answered in the caller's
    thread, not after a hop to the connections' loop (busy, under load, for milliseconds;
    here blocked outright)."""
    async def open_(name):
        return _Conn(("10.77.0.2", 22))
    monkeypatch.setattr(pool, "_open", open_)
    assert pool.peer_address("h1") == "10.77.0.2"  # the first: the loop opens the connection
    blocked, free, over = threading.Event(), threading.Event(), threading.Event()

    def block():
        blocked.set()
        free.wait(10)
        over.set()
    pool._loop.call_soon_threadsafe(block)
    try:
        assert blocked.wait(5)
        assert pool.peer_address("h1") == "10.77.0.2"
        assert not over.is_set(), "answered only once the loop was free again"
    finally:
        free.set()


def test_a_missing_known_hosts_names_the_keyscan_line_with_the_host_s_port(tmp_path):
    """The hint for a missing runtime.known_hosts fetched the key from port 22 of a host
    listed with another port (the host-key mismatch's hint had it right)."""
    c = Connections(parse_options({"hosts": ["deploy@10.77.0.9:2222"],
                                   "known_hosts": str(tmp_path / "missing")}))
    try:
        with pytest.raises(HostUnreachable, match=r"cannot read runtime\.known_hosts .*"
                                                  r"\(ssh-keyscan -p 2222 10\.77\.0\.9 >> it"):
            c.connect("deploy@10.77.0.9:2222")
    finally:
        c.close()


def test_a_call_that_joined_an_opening_begun_before_it_does_not_take_its_bound_as_its_own(
        silent, tmp_path):
    """A status look (2 s) that joined the opening an earlier look began said `no SSH
    connection within 10s (runtime.connect_timeout)` when that opening gave up, as if the
    look had waited 10 s: it had waited its own 2 s at most, and now says so."""
    address, _ = silent
    known = tmp_path / "known_hosts"
    known.write_text("")
    pool = Connections(parse_options({"hosts": [address], "known_hosts": str(known),
                                      "connect_timeout": 1}))
    try:
        with pytest.raises(HostUnreachable, match="within 0.3s"):  # begins the opening
            pool.run(address, "true", timeout=0.3)
        began = time.monotonic()
        with pytest.raises(HostUnreachable) as e:
            pool.run(address, "true", timeout=5)
        assert time.monotonic() - began < 1, "waited for more than the opening had left"
        assert re.fullmatch(
            rf"host {address}: no SSH connection \(an opening begun before this call gave up "
            r"at runtime.connect_timeout, 1s, 0\.\ds into this call's own 5s\)", str(e.value))
        with pytest.raises(HostUnreachable, match=r"within 1s \(runtime.connect_timeout\)"):
            pool.run(address, "true", timeout=5)  # its own opening: its bound is the opening's
    finally:
        pool.close()
