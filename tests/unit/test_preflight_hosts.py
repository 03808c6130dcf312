"""The pre-flight before a deployment asks runtime.hosts and the unlisted hosts its plan
acts on — by name, never "every host the connections know", which in a long-lived
controller holds every host it was once asked about (SshRuntime.host_named: router.host,
a host removed from the list whose instances are long gone): one of those that no longer
answers would refuse every later deployment."""

from __future__ import annotations

from types import SimpleNamespace

from zerodown.config import AppConfig
from zerodown.runtimes import ssh_release


class Connections:
    """Knows more hosts than the deployment concerns; records which it was asked to open."""

    def __init__(self):
        self.specs = {"app1": None, "app2": None, "lb1": None, "gone": None}
        self.options = SimpleNamespace(hosts=[SimpleNamespace(name="app1"),
                                              SimpleNamespace(name="app2")])
        self.asked: list[str] = []

    def connect_all(self, names=None):
        names = list(self.specs) if names is None else list(names)
        self.asked = names
        return {n: None for n in names}

    def run(self, host, command, timeout=None):
        return SimpleNamespace(status=0, stdout="/dev/x 1000000 1 900000 1% /\n", stderr="")


def runtime() -> SimpleNamespace:
    hosts = {n: SimpleNamespace(installed=False, name=n) for n in ("app1", "app2")}
    return SimpleNamespace(
        connections=Connections(), names=["app1", "app2"], hosts=hosts,
        options=SimpleNamespace(state_dir="/srv/zerodown"),
        config=SimpleNamespace(service="shop"),
        host_named=lambda n: SimpleNamespace(name=n))


def test_the_preflight_asks_the_listed_hosts_and_the_plans_unlisted_ones_only():
    rt = runtime()
    ssh_release.check_and_upload(rt, "v1", AppConfig(command=("app",)))
    assert rt.connections.asked == ["app1", "app2"]
    ssh_release.check_and_upload(rt, "v2", AppConfig(command=("app",)), unlisted=["app3"])
    assert rt.connections.asked == ["app1", "app2", "app3"]
