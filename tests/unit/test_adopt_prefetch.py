"""The release check before a deployment asks each host's adopt in the same round trip
(the agent's batch), and the deployment's adopt that follows uses those answers instead
of asking again: one round trip less before the first step. Only while nothing was
started or stopped since, within PREFETCH_FRESH, and once."""

from __future__ import annotations

import pytest

from zerodown.config import parse_config
from zerodown.model import Instance, Slot
from zerodown.runtimes import ssh, ssh_release

YAML = """\
service: shop
listen: 127.0.0.1:18080
instances: 2
app: {command: [app, --port, "{port}"], release: "releases/{version}"}
runtime: {kind: ssh, hosts: [zdf1, zdf2]}
"""


def entry(slot: int, host: str) -> dict:
    return {"service": "shop", "revision": 1, "slot": slot, "host": "local",
            "address": f"10.9.0.1{slot}:4000", "pid": 100 + slot, "version": "v1"}


class Host:
    """A host's agent with one instance: the calls it was asked."""

    installed = True

    def __init__(self, name: str, slot: int):
        self.name, self.slot, self.calls = name, slot, []

    def call(self, op, *args, timeout=None):
        self.calls.append(op)
        assert op == "batch"
        ops = [c[0] if c[0] != "owned" else c[1][3][0] for c in args[0]]
        assert ops in (["preflight", "owner", "adopt", "release_prepare"],
                       ["preflight", "owner", "adopt"]), ops
        me = args[0][1][1][1]   # the owner op's: this controller recorded already (a
        return [{"problem": None, "free_mb": 1000, "unshared": []}, {"owner": me},  # 2nd run)
                [entry(self.slot, self.name)], {"done": True, "missing": []}][:len(ops)]

    def owned(self, service_dir, my_id, op, method, *args, timeout=None):
        self.calls.append(method)
        return [entry(self.slot, self.name)] if method == "adopt" else {}


def runtime(tmp_path, yaml: str = YAML) -> ssh.SshRuntime:
    (tmp_path / "releases" / "v2").mkdir(parents=True)
    (tmp_path / "releases" / "v2" / "app.py").write_text("app\n")
    rt = ssh.SshRuntime(tmp_path / "state",
                        parse_config(yaml, file=str(tmp_path / "zerodown.yaml")))
    rt.hosts = {"zdf1": Host("zdf1", 0), "zdf2": Host("zdf2", 1)}
    return rt


def check(rt) -> None:
    ssh_release.check_and_upload(rt, "v2", rt.config.app)


def calls(rt) -> dict:
    return {n: h.calls for n, h in rt.hosts.items()}


@pytest.mark.parametrize("release", [True, False], ids=["app.release", "no release"])
def test_the_adopt_after_a_release_check_asks_no_host_again(tmp_path, release):
    rt = runtime(tmp_path, YAML if release else YAML.replace(', release: "releases/{version}"',
                                                            ""))
    check(rt)
    found = rt.adopt("shop")
    assert calls(rt) == {"zdf1": ["batch"], "zdf2": ["batch"]}
    assert [(i.slot.index, i.runs_on) for i in found] == [(0, "zdf1"), (1, "zdf2")]
    rt.adopt("shop")   # once: the next adopt asks
    assert calls(rt) == {"zdf1": ["batch", "adopt"], "zdf2": ["batch", "adopt"]}


def test_a_stop_since_or_an_old_answer_is_asked_again(tmp_path, monkeypatch):
    rt = runtime(tmp_path)
    check(rt)
    rt.stop(Instance("shop", 1, Slot(0), "10.9.0.10:4000", 100, runs_on="zdf1"), 1.0)
    rt.adopt("shop")
    assert calls(rt) == {"zdf1": ["batch", "stop", "adopt"], "zdf2": ["batch", "adopt"]}
    check(rt)
    monkeypatch.setattr(ssh, "PREFETCH_FRESH", -1.0)   # older than it may be
    rt.adopt("shop")
    assert calls(rt)["zdf2"] == ["batch", "adopt", "batch", "adopt"]


def test_through_the_controller_the_requests_check_serves_the_runs_adopt(tmp_path):
    """The daemon checks in a request's runtime and runs in another: both over the kept
    connections (runtimes/kept.py), where the answers are kept."""
    from zerodown.runtimes.kept import KeptConnections
    kept = KeptConnections()
    request = runtime(tmp_path)
    request.connections.close()
    request.connections = ssh.connections_for(request.config, kept)
    run = ssh.SshRuntime(tmp_path / "state", request.config, kept)
    run.hosts = {"zdf1": Host("zdf1", 0), "zdf2": Host("zdf2", 1)}
    check(request)
    assert len(run.adopt("shop")) == 2
    assert calls(run) == {"zdf1": [], "zdf2": []}
    kept.close()


def test_an_agent_found_over_the_kept_connections_is_known_to_every_runtime_over_them(
        tmp_path):
    """The daemon builds a runtime per request and per run: the agent one found on a host
    is known to the next, whose release check then takes the agent's batch (with the adopt
    the run uses) instead of the shell's pre-flight, until the host's connection is
    opened anew (it may reach another machine then)."""
    from zerodown.errors import HostFailure
    from zerodown.runtimes.kept import KeptConnections
    kept = KeptConnections()
    cfg = parse_config(YAML, file=str(tmp_path / "zerodown.yaml"))
    request, run = (ssh.SshRuntime(tmp_path / "state", cfg, kept) for _ in range(2))
    try:
        request.hosts["zdf1"]._found()
        assert run.hosts["zdf1"].installed and not run.hosts["zdf2"].installed
        with pytest.raises(HostFailure):   # no such host here: opening it fails, after
            run.connections._call(run.connections._open("zdf1"), 10)   # forgetting
        assert not request.hosts["zdf1"].installed
    finally:
        kept.close()
