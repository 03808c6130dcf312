"""How a fleet host is named in what zerodown says about it (zerodown/hosts/connections.py):
its name, which holds the address it is reached at (`[user@]host[:port]`), said once."""

from __future__ import annotations

import socket

import pytest

from zerodown.hosts.connections import Connections
from zerodown.hosts.ssh_connect import HostUnreachable
from zerodown.runtimes.ssh_options import parse_options


def test_a_host_that_refuses_the_connection_is_named_once(tmp_path):
    with socket.socket() as s:  # a port nothing listens on (bound, never listening)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        known = tmp_path / "known_hosts"
        known.write_text("")
        connections = Connections(parse_options(
            {"hosts": [f"127.0.0.1:{port}"], "known_hosts": str(known),
             "connect_timeout": "5s"}))
        try:
            with pytest.raises(HostUnreachable) as e:
                connections.connect(f"127.0.0.1:{port}")
        finally:
            connections.close()
    assert str(e.value).startswith(f"host 127.0.0.1:{port}: cannot connect: "), e.value
