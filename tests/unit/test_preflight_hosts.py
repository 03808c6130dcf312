"""The pre-flight before a deployment asks runtime.hosts, the unlisted hosts its plan acts
on and router.host (where the load balancer routing to them runs) — by name, never "every
host the connections know", which in a long-lived controller holds every host it was once
asked about (SshRuntime.host_named: a router.host of an older config, a host removed from
the list whose instances are long gone): one of those that no longer answers would refuse
every later deployment. The engine calls its `ready` (the controller's ensure_router,
which starts the load balancer) only once that pre-flight passed: one refusal names
every host not ready, router.host among them, before anything changes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from tests.support.unit_config import shop_config
from zerodown.config import AppConfig
from zerodown.errors import ConfigError, RuntimeFailure
from zerodown.hosts.ssh_connect import HostUnreachable
from zerodown.owner import Identity
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


def runtime(router_host: str | None = None) -> SimpleNamespace:
    hosts = {n: SimpleNamespace(installed=False, name=n) for n in ("app1", "app2")}
    return SimpleNamespace(
        connections=Connections(), names=["app1", "app2"], hosts=hosts,
        options=SimpleNamespace(state_dir="/srv/zerodown"), remote_dir="/srv/zerodown/shop",
        config=SimpleNamespace(service="shop", router=SimpleNamespace(host=router_host)),
        me=Identity("c0ffee", "ana@laptop:/home/ana/.zerodown"),
        host_named=lambda n: SimpleNamespace(name=n))


def test_the_preflight_asks_the_listed_hosts_and_the_plans_unlisted_ones_only():
    rt = runtime()
    ssh_release.check_and_upload(rt, "v1", AppConfig(command=("app",)))
    assert rt.connections.asked == ["app1", "app2"]
    ssh_release.check_and_upload(rt, "v2", AppConfig(command=("app",)), unlisted=["app3"])
    assert rt.connections.asked == ["app1", "app2", "app3"]


@pytest.mark.parametrize("lb, asked", [("lb1", ["app1", "app2", "lb1"]),
                                       ("app2", ["app1", "app2"])],
                         ids=["a host of its own", "one of runtime.hosts"])
def test_the_preflight_asks_router_host_once(lb, asked):
    rt = runtime(router_host=lb)
    ssh_release.check_and_upload(rt, "v1", AppConfig(command=("app",)))
    assert rt.connections.asked == asked
    ssh_release.check_and_upload(rt, "v2", AppConfig(command=("app",)), unlisted=[lb, "app3"])
    assert rt.connections.asked == [*asked, "app3"]


class Agent:
    """An installed agent that answers its pre-flight, or is cut off."""

    installed = True

    def __init__(self, name: str, cut: bool = False):
        self.name, self.cut = name, cut

    def call(self, op, *args, timeout=None):
        if self.cut:
            raise HostUnreachable(f"host {self.name} did not answer", self.name)
        ready = {"problem": None, "free_mb": 1000, "unshared": []}
        return ready if op == "preflight" else [ready, {"owner": None}, []]


def test_router_host_cut_off_is_refused_in_the_batch_of_agents_that_answer():
    """A deployment after the first (every agent installed): router.host is asked beside
    the batch, and its silence refuses the deployment naming it, with the others'."""
    rt = runtime(router_host="lb1")
    rt.hosts = {"app1": Agent("app1"), "app2": Agent("app2", cut=True),
                "lb1": Agent("lb1", cut=True)}
    rt.every_host = ThreadPoolExecutor(4)
    rt.prefetched = lambda answers: None
    with pytest.raises(RuntimeFailure) as refused:
        ssh_release.check_and_upload(rt, "v1", AppConfig(command=("app",)))
    named = [line.split(":")[0].strip() for line in str(refused.value).splitlines()[1:]]
    assert named == ["app2", "lb1"] and str(refused.value).count("did not answer") == 2


def test_ready_runs_after_the_preflight_passed_and_never_after_a_refusal(world):
    e = world.engine(shop_config(instances="2"))
    made: list[int] = []
    e.run(e.deploy("v1", ready=lambda: made.append(len(e.store.deployments("shop")))))
    e.runtime.missing = {"v2"}
    with pytest.raises(ConfigError):
        e.deploy("v2", ready=lambda: made.append(-1))
    e.runtime.missing = set()
    e.run(e.deploy("v2"))
    e.run(e.rollback(ready=lambda: made.append(len(e.store.deployments("shop")))))
    assert made == [0, 2]   # before each deployment was created; not when refused
