"""A call's timeout bounds the whole call, the wait for a host's connection included: a
2 s look (`zerodown status`) at a host being reconnected takes 2 s, not
runtime.connect_timeout (10 s) more. Against a real socket on 127.0.0.1 that accepts and
never speaks (a host whose link went silent while its connection is re-opened); the
opening is shared by the calls and goes on by itself up to connect_timeout."""

from __future__ import annotations

import socket
import time

import pytest

from tests.support.net import silent_listener
from zerodown.hosts.connections import Connections, HostUnreachable
from zerodown.runtimes.ssh_options import parse_options

CONNECT_TIMEOUT = 10


@pytest.fixture
def silent():
    """(address, accepted connections) of a listener that never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    with silent_listener(server) as held:
        yield f"127.0.0.1:{server.getsockname()[1]}", held


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


class _Gone:
    """A connection that closed after it was handed out: asyncssh's peername is None then."""

    def __init__(self, peer):
        self.peer = peer

    def is_closed(self) -> bool:
        return False

    def get_extra_info(self, name):
        return self.peer

    def close(self) -> None:
        pass

    async def wait_closed(self) -> None:
        pass


def test_a_host_s_address_from_a_connection_that_just_closed(pool):
    """A host that crashed mid-deployment: its connection closed between the look for an
    open one and the read of its address. The address it reached before is kept; with none
    known, the host is unreachable (a HostFailure: the deployment's on_host_failure), never
    a TypeError that fails the deployment (it did, in a fleet test)."""
    pool._conns["h1"] = _Gone(None)
    with pytest.raises(HostUnreachable, match="host h1: its SSH connection closed"):
        pool.peer_address("h1")
    pool._conns["h1"] = _Gone(("10.77.0.2", 22))
    assert pool.peer_address("h1") == "10.77.0.2"
    pool._conns["h1"] = _Gone(None)
    assert pool.peer_address("h1") == "10.77.0.2"
