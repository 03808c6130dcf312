"""A load balancer's host that goes silent mid-call (router.host, its SSH channel dead or
timed out): every router gives the host's HostFailure, naming it — on_host_failure's to
handle (a pause) — never a RouterError (a rollback through that silent host) nor success.

The host is this machine, seen through SilentHost: it answers like the SSH host (the same
calls) until silenced, then every call raises HostFailure as SshHost does for an answer
that did not come. The load balancers are real (HAProxy, nginx)."""

from __future__ import annotations

import socket
import threading

import pytest

from tests.support.installed import needs
from tests.support.net import free_port
from tests.support.procs import start_app
from zerodown.errors import HostFailure
from zerodown.hosts.done import Done
from zerodown.hosts.local import LOCAL
from zerodown.hosts.ssh import SshHost
from zerodown.model import Backend, RevisionRoute, RoutingTable


class SilentHost:
    """This machine as router host `lb1`; silent (every call a HostFailure) from the call
    after the `after`-th call of `op` on, once armed. Its unix sockets are reached through
    a relay, as over SSH: silent, it closes each connection at once (connections._relay)."""

    name = "lb1"
    remote = False

    def __init__(self, folder=None):
        self.armed: tuple[str, int] | None = None
        self.silent = False
        self.calls: list[str] = []
        self.folder = folder

    def unix_path(self, path: str) -> str:
        relay = f"{self.folder}/relay.sock"
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(relay)
        server.listen(16)
        threading.Thread(target=self._serve, args=(server, path), daemon=True).start()
        return relay

    def _serve(self, server, path: str) -> None:
        while True:
            near, _ = server.accept()
            if self.silent:
                near.close()
                continue
            far = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                far.connect(path)
            except OSError:
                near.close()
                continue
            for a, b in ((near, far), (far, near)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    def silence_after(self, op: str, count: int = 1) -> None:
        self.armed = (op, count)

    def __getattr__(self, name):
        value = getattr(LOCAL, name)
        if not callable(value):
            return value

        def call(*args, **kwargs):
            if self.silent:
                raise HostFailure(f"host lb1: {name} has an unknown outcome: no answer from "
                                  f"lb1 within 5s", "lb1")
            self.calls.append(name)
            out = value(*args, **kwargs)
            if self.armed and self.armed[0] == name:
                left = self.armed[1] - 1
                self.armed = (name, left) if left else None
                self.silent = not left
            return out
        return call


def _pipe(src, dst) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


@pytest.fixture
def apps():
    started = [start_app("v1"), start_app("v2")]
    yield [f"127.0.0.1:{a.port}" for a in started]
    for a in started:
        a.cleanup()


def table(version: int, address: str) -> RoutingTable:
    return RoutingTable(version, (RevisionRoute(f"r{version}", 100, (
        Backend(f"shop-r{version}-s0", address),)),))


def comes_back(host: SilentHost, router, address: str) -> None:
    """The host answers again: the table that met its silence goes out (idempotently)."""
    host.silent = False
    router.apply(table(2, address))
    assert [r.name for r in router.in_force().revisions] == ["r2"]


@needs("haproxy")
@pytest.mark.parametrize("op,after", [("read_text", 1),   # between the state read and the batch
                                      ("batch", 1)])      # between the batch and the commands
def test_haproxy_on_a_host_gone_silent_mid_apply_is_that_hosts_failure(tmp_path, apps, op,
                                                                       after):
    from zerodown.routers.haproxy import HAProxyRouter
    host = SilentHost()
    router = HAProxyRouter(tmp_path / "haproxy", f"127.0.0.1:{free_port()}", service="shop",
                           host=host)
    router.ensure_running()
    try:
        router.apply(table(1, apps[0]))
        host.silence_after(op, after)
        with pytest.raises(HostFailure, match=r"host lb1") as caught:
            router.apply(table(2, apps[1]))
        assert caught.value.host == "lb1"
        comes_back(host, router, apps[1])
        host.silent = True  # a drain's look (one call) meets silence
        with pytest.raises(HostFailure, match=r"stats socket .*: host lb1"):
            router.drained("shop-r1-s0")
        host.silent = False
        assert router.drained("shop-r1-s0") is True
    finally:
        host.silent = False
        router.stop()


@needs("nginx")
def test_nginx_on_a_host_gone_silent_mid_apply_is_that_hosts_failure(tmp_path, apps):
    from zerodown.routers.nginx import NginxRouter
    host = SilentHost()
    router = NginxRouter(tmp_path / "nginx", f"127.0.0.1:{free_port()}", service="shop",
                         host=host, local_dir=tmp_path / "nginx-lock")
    router.ensure_running()
    try:
        router.apply(table(1, apps[0]))
        host.silence_after("write_text")  # the new configuration written, then nothing
        with pytest.raises(HostFailure, match=r"host lb1") as caught:
            router.apply(table(2, apps[1]))
        assert caught.value.host == "lb1"
        comes_back(host, router, apps[1])
    finally:
        host.silent = False
        router.stop()


def test_the_embedded_proxy_on_a_host_gone_silent_mid_apply_is_that_hosts_failure(
        tmp_path, apps):
    """Its admin API unreachable through the relay, the driver asks the host whether the
    proxy still runs (to start one if not): no answer there is the host's failure."""
    from zerodown.routers.embedded import EmbeddedRouter
    host = SilentHost(tmp_path)
    router = EmbeddedRouter(tmp_path / "proxy", f"127.0.0.1:{free_port()}", service="shop",
                            host=host)
    router.ensure_running()
    try:
        router.apply(table(1, apps[0]))
        host.silent = True
        for call in (lambda: router.apply(table(2, apps[1])), lambda: router.drained("x"),
                     router.stats):
            with pytest.raises(HostFailure, match=r"host lb1") as caught:
                call()
            assert caught.value.host == "lb1"
        comes_back(host, router, apps[1])
    finally:
        host.silent = False
        router.stop()


class _Connections:
    """An SSH connection whose answer to a command is `done`."""

    class options:
        command_timeout = 5.0
        keepalive = 15.0

    def __init__(self, done: Done):
        self.done = done
        self.agents: dict[str, set[str]] = {}

    def ask(self, host, command, line, *, timeout=None, heartbeat=False):
        return self.done


def test_a_command_run_on_an_ssh_host_that_did_not_answer_is_a_host_failure():
    """Host.run's exit code None means it could not run there; an answer that never came
    is the host's silence (HostFailure), the same as every other call of SshHost."""
    host = SshHost(_Connections(Done(None, "", "the connection to lb1 failed mid-command")),
                   "lb1", "/srv/zerodown")
    host._found()
    with pytest.raises(HostFailure, match="lb1") as caught:
        host.run(["nginx", "-t"], 5.0)
    assert caught.value.host == "lb1"
    host.connections = _Connections(Done(1, "", "agent: no python3"))  # the agent failed there
    host._found()
    code, said = host.run(["nginx", "-t"], 5.0)
    assert code is None and "no python3" in said


def test_a_router_host_silent_at_the_pre_flight_is_named_and_nothing_changed():
    from zerodown.routers.common import require
    host = SilentHost()
    host.silent = True
    with pytest.raises(HostFailure, match=r"router.host lb1 did not answer the load "
                                          r"balancer's pre-flight \(host lb1: .*\); nothing "
                                          r"was changed") as caught:
        require(host, ["haproxy", "-v"], "no haproxy there", "install it")
    assert caught.value.host == "lb1"
