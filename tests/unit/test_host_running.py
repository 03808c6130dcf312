"""The ssh runtime acts on an instance at the host recorded with it, listed in
runtime.hosts or not: acted on at its slot's host in today's list, it was "stopped" where
it never ran (that host has no record of it: a stop there is a no-op) and kept running."""

from __future__ import annotations

from zerodown.config import parse_config
from zerodown.model import Instance, Slot
from zerodown.runtimes import ssh

YAML = """\
service: shop
listen: 127.0.0.1:18080
instances: 2
app: {command: [app, --port, "{port}"]}
runtime: {kind: ssh, hosts: [zdf3, zdf1]}
"""


class Host:
    """A host's agent: the calls it was asked."""

    def __init__(self, name: str):
        self.name, self.calls = name, []

    def table(self, state_dir, method, *args, timeout=None):
        self.calls.append((method, args[0]))
        return True

    def owned(self, service_dir, my_id, op, method, *args, timeout=None):
        assert op == "table" and my_id   # a change: asked as this controller (agent.py)
        return self.table(service_dir, method, *args, timeout=timeout)


def runtime(tmp_path) -> ssh.SshRuntime:
    rt = ssh.SshRuntime(tmp_path, parse_config(YAML, file=str(tmp_path / "zerodown.yaml")))
    rt.hosts = {name: Host(name) for name in ("zdf1", "zdf2", "zdf3")}
    return rt


def test_an_instance_on_a_host_no_longer_listed_is_stopped_there(tmp_path):
    rt = runtime(tmp_path)
    gone = Instance("shop", 1, Slot(1), "10.9.0.12:4001", 101, runs_on="zdf2")
    assert rt.host_of(gone.slot) == "zdf1"   # today's rule would name zdf1
    assert rt.host_running(gone) == "zdf2"
    rt.stop(gone, 1.0)
    assert rt.alive(gone) is True
    assert {n: h.calls for n, h in rt.hosts.items()} == {
        "zdf1": [], "zdf2": [("stop", "shop-r1-s1"), ("alive", "shop-r1-s1")], "zdf3": []}


def test_a_listed_host_recorded_wins_over_the_slot_rule(tmp_path):
    rt = runtime(tmp_path)
    moved = Instance("shop", 1, Slot(0), "10.9.0.11:4001", 102, runs_on="zdf1")
    assert rt.host_of(moved.slot) == "zdf3" and rt.host_running(moved) == "zdf1"
    rt.hasten([moved])
    assert rt.hosts["zdf1"].calls == [("hasten", ["shop-r1-s0"])]
    assert rt.hosts["zdf3"].calls == []


def test_a_row_of_an_older_store_is_placed_by_its_address_then_its_slot(tmp_path):
    rt = runtime(tmp_path)
    rt._on_address["10.9.0.11"] = "zdf1"   # as adopt() learned it
    assert rt.host_running(Instance("shop", 1, Slot(0), "10.9.0.11:4001", 103)) == "zdf1"
    assert rt.host_running(Instance("shop", 1, Slot(0), "10.9.0.99:4001", 104)) == "zdf3"
