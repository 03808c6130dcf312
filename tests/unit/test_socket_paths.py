"""A state directory too deep for a unix socket's address (sun_path holds 107 bytes): on
this machine every load balancer's sockets are given a path that fits, counting the names
the programs really bind (HAProxy's `<path>.<pid>.tmp` before its rename), through a short
link to the same folder; on another host (router.host) a path too long there is refused
by name before anything starts."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from zerodown.errors import RouterError
from zerodown.routers.common import socket_for
from zerodown.routers.embedded import EmbeddedRouter
from zerodown.routers.haproxy import HAProxyRouter
from zerodown.socket_path import UNIX_PATH_MAX


@pytest.fixture
def deep():
    """deep(n): a folder whose path is n bytes long (under a short one in /tmp: the test's
    own tmp_path may be longer than the limit being tested)."""
    base = Path(tempfile.mkdtemp(prefix="zd", dir="/tmp"))

    def make(total: int) -> Path:
        path = base / str(total)
        path = path.with_name(path.name + "d" * (total - len(str(path))))
        path.mkdir()
        assert len(str(path)) == total
        return path
    yield make
    shutil.rmtree(base)


class Remote:
    """A host that is not this machine (only what socket_for asks of it)."""
    name, remote = "lb1", True


def test_haproxy_here_is_given_paths_that_fit_with_its_temporary_name(deep):
    state = deep(150)
    router = HAProxyRouter(state, "127.0.0.1:1")
    for path in (router.cli.path, router.master.path):
        assert len(os.fsencode(path + ".4194304.tmp")) <= UNIX_PATH_MAX, path
        assert os.path.realpath(os.path.dirname(path)) == str(state), "the same folder"
    assert router.settings.stats_socket == router.cli.path, "its configuration's"
    fits = HAProxyRouter(deep(107 - 25), "127.0.0.1:1")   # fits: used as it is
    assert fits.cli.path == str(fits.state_dir / "haproxy.sock")


def test_the_embedded_proxy_here_takes_any_depth(deep):
    EmbeddedRouter(deep(200), "127.0.0.1:1")


def test_a_path_too_long_on_another_host_is_refused_naming_it(deep):
    path = "/srv/" + "d" * 90 + "/haproxy.sock"
    assert socket_for(Remote(), "/srv/zerodown/haproxy.sock") == "/srv/zerodown/haproxy.sock"
    with pytest.raises(RouterError) as e:
        socket_for(Remote(), path, "stats socket path", ".4194304.tmp")
    size = len(path) + len(".4194304.tmp")
    assert str(e.value) == (f"stats socket path {path} on lb1 is {size} bytes (bound first as "
                            f"{path}.4194304.tmp), over the 107-byte limit of unix sockets; "
                            f"use a shorter state directory there")
