"""Who listens on a port (zerodown/hosts/listeners.py): sock_diag and /proc/net/tcp name
the same listening sockets, and a process's session is told from a stranger's."""

from __future__ import annotations

import os
import socket

import pytest

from zerodown.hosts import listeners


@pytest.mark.parametrize("family, address", [(socket.AF_INET, "127.0.0.1"),
                                             (socket.AF_INET6, "::1")])
def test_sock_diag_finds_the_listener_of_a_port_as_proc_net_does(family, address):
    with socket.socket(family) as ls, socket.socket(family) as other:
        ls.bind((address, 0))
        ls.listen()
        port = ls.getsockname()[1]
        other.bind((address, 0))  # bound, not listening: not a listener
        found = listeners.listening_inodes(port)
        assert found == listeners._proc_listeners(port) and len(found) == 1
        assert found == {str(socket_inode(ls))}
        assert listeners.listening_inodes(other.getsockname()[1]) == set()
        assert listeners.session_holds(os.getsid(0), found)


def test_without_sock_diag_proc_net_answers(monkeypatch):
    def refused(*_):
        raise OSError(2, "sock_diag: No such file or directory")
    monkeypatch.setattr(listeners, "_diag_listeners", refused)
    with socket.socket() as ls:
        ls.bind(("127.0.0.1", 0))
        ls.listen()
        assert listeners.listening_inodes(ls.getsockname()[1]) == {str(socket_inode(ls))}


def socket_inode(s: socket.socket) -> int:
    return int(os.readlink(f"/proc/self/fd/{s.fileno()}")[len("socket:["):-1])
