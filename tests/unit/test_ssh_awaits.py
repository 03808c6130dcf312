"""The ssh runtime's WaitHealthy looks (zerodown/runtimes/ssh.py): a starting instance is
awaited on its host, at most AWAITS at once per host — its other looks are plain ones, so
a host's starts and stops keep SSH sessions (8 per host) while a big batch starts; and what
the looks learn of an instance goes with its stop."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from zerodown.config import parse_config
from zerodown.model import Instance, Revision, Slot
from zerodown.runtimes import ssh, ssh_look

YAML = """\
service: shop
listen: 127.0.0.1:18080
instances: 8
app: {command: [app, --port, "{port}"]}
health: {path: /healthz, interval: 20ms, timeout: 1s}
runtime: {kind: ssh, hosts: [app1]}
"""


class Host:
    """app1, answering the looks: await_listening waits until released (nothing listens)."""

    name = "app1"

    def __init__(self):
        self.lock = threading.Lock()
        self.awaiting = self.most = 0
        self.release = threading.Event()
        self.plain = 0

    def table(self, state_dir, method, name, pid, *args, timeout=None):
        if method == "ended":  # how a gone one ended: its exit unknown, its log empty
            return {"how": {}, "tail": []}
        if method == "live_entry":
            with self.lock:
                self.plain += 1
            return None  # (gone: the look ends there)
        assert method == "await_listening"
        with self.lock:
            self.awaiting += 1
            self.most = max(self.most, self.awaiting)
        self.release.wait(10)
        with self.lock:
            self.awaiting -= 1
        return {"alive": True, "listening": False, "entry": {}, "seen": "refused"}


def test_at_most_awaits_starting_instances_are_awaited_at_once_per_host(tmp_path):
    config = parse_config(YAML, file=str(tmp_path / "zerodown.yaml"))
    runtime = ssh.SshRuntime(tmp_path, config)
    host = runtime.hosts["app1"] = Host()
    rev = Revision("shop", 1, "v1", config.app, config.health)
    instances = [Instance("shop", 1, Slot(i), f"10.0.0.1:{4000 + i}", 100 + i)
                 for i in range(8)]
    try:
        with ThreadPoolExecutor(8) as pool:
            looks = [pool.submit(runtime.look, i, rev) for i in instances]
            deadline = time.monotonic() + 10
            while (host.plain < 8 - ssh_look.AWAITS or host.awaiting < ssh_look.AWAITS) and \
                    time.monotonic() < deadline:
                time.sleep(0.01)
            host.release.set()
            seen = [f.result(10) for f in looks]
    finally:
        runtime.close()
    assert host.most == ssh_look.AWAITS, "AWAITS waiting on the host at once, no more"
    assert host.plain == 8 - ssh_look.AWAITS, "the others looked plainly"
    assert sum(alive for alive, _, _ in seen) == ssh_look.AWAITS, "the awaited: not listening yet"


class Listening(Host):
    """app1 whose instances listen at once (their port their own); stops answer."""

    def table(self, state_dir, method, name, pid, *args, timeout=None):
        if method == "await_listening":
            return {"alive": True, "listening": True, "owned": True,
                    "entry": {"pid": pid, "port": 4000}}
        assert method == "owns_port", method
        return True

    def owned(self, state_dir, me, op, method, *args, timeout=None):
        assert (op, method) == ("table", "stop")
        return {"at": {}}


def test_what_the_looks_learnt_of_an_instance_goes_with_its_stop_and_is_bounded(
        tmp_path, monkeypatch):
    """A daemon's runtime starts instances for months: what its looks remember of each
    must not grow with them."""
    config = parse_config(YAML, file=str(tmp_path / "zerodown.yaml"))
    runtime = ssh.SshRuntime(tmp_path, config)
    runtime.hosts["app1"] = Listening()
    monkeypatch.setattr(runtime, "_probe", lambda address, health: (True, "HTTP 200"))
    monkeypatch.setattr(ssh_look, "KEPT", 5)
    rev = Revision("shop", 1, "v1", config.app, config.health)
    try:
        for n in range(12):
            inst = Instance("shop", 1, Slot(0), "10.0.0.1:4000", 100 + n, runs_on="app1")
            assert runtime.look(inst, rev)[1]
            if n % 2:
                runtime.stop(inst, 1)
        kept = runtime.looks._listening
        assert len(kept) <= 5, kept
        assert not any(pid % 2 for _, pid in kept), f"a stopped one kept: {kept}"
    finally:
        runtime.close()
