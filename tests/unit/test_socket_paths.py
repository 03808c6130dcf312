"""A state directory too deep for a unix socket is refused by name before anything starts
(sun_path holds 107 bytes): counting the names the programs really bind — the proxy's
handover socket beside its state file, HAProxy's `<path>.<pid>.tmp` before its rename."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from zerodown.errors import RouterError
from zerodown.routers.embedded import EmbeddedRouter
from zerodown.routers.haproxy import HAProxyRouter


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


def test_the_embedded_proxy_counts_its_handover_socket(deep):
    # "/proxy.sock" adds 11 bytes, "/proxy.json.handover" 20: at 107 - 20 both fit
    EmbeddedRouter(deep(107 - 20), "127.0.0.1:1")
    with pytest.raises(RouterError) as e:   # one byte more: the admin socket fits, not this
        EmbeddedRouter(deep(107 - 19), "127.0.0.1:1")
    assert "handover socket path" in str(e.value) and "proxy.json.handover" in str(e.value)
    assert "use a shorter state directory" in str(e.value)


def test_haproxy_counts_the_temporary_name_it_binds_first(deep):
    # "/master.sock" and "/haproxy.sock" add 12 and 13 bytes, ".4194304.tmp" 12 more
    HAProxyRouter(deep(107 - 25), "127.0.0.1:1")
    with pytest.raises(RouterError) as e:
        HAProxyRouter(deep(107 - 24), "127.0.0.1:1")
    assert "haproxy.sock.4194304.tmp" in str(e.value)
    assert "over the 107-byte limit" in str(e.value)


def test_haproxy_attached_checks_only_the_users_socket_as_it_is(deep):
    # attach mode binds nothing: the user's HAProxy made its socket, master.sock is unused
    state = deep(107 - 13)   # "/haproxy.sock" fits as a path, not with a temporary name
    options = {"socket": str(state / "haproxy.sock"), "backend": "app"}
    HAProxyRouter(state, "127.0.0.1:1", options=options)


def test_nginx_counts_the_shadow_comparators_socket(deep):
    from zerodown.routers.nginx import NginxRouter
    # "/shadow.sock" adds 12 bytes: nginx's own files are not sockets
    NginxRouter(deep(107 - 12), "127.0.0.1:1")
    with pytest.raises(RouterError) as e:
        NginxRouter(deep(107 - 11), "127.0.0.1:1")
    assert "shadow comparator socket path" in str(e.value)
