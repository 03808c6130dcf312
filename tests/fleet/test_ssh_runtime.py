"""The ssh runtime (zerodown/runtimes/ssh.py) on the real fleet: the local runtime's
guarantees on every host, probes from here, a cut-off host unhealthy, never stopped."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from tests.support import APP
from tests.support.net import wait_until
from zerodown.config import parse_config
from zerodown.engine.health import wait_healthy
from zerodown.engine.runner import SystemClock
from zerodown.errors import RuntimeFailure
from zerodown.model import Revision, Slot
from zerodown.runtimes import runtime_for

YAML = """\
service: shop
listen: 127.0.0.1:18080
instances: 3
app:
  command: ["{python}", "{app}", "--host", "{{host}}", "--port", "{{port}}", "--version", "{{version}}"]
health: {{path: /healthz, timeout: 1s}}
runtime:
  kind: ssh
  hosts: [zdf1, zdf2, zdf3]
  ssh_config: {ssh_config}
  known_hosts: {known_hosts}
  state_dir: /srv/zerodown
  connect_timeout: 2s
  keepalive: 1s
"""


def config(fleet, tmp_path):
    path = tmp_path / "zerodown.yaml"
    # the system python: the venv's resolves into /root, which each fleet host mounts privately
    path.write_text(YAML.format(python="/usr/bin/python3", app=APP, ssh_config=fleet.ssh_config,
                                known_hosts=fleet.known_hosts))
    return parse_config(path.read_text(), file=str(path))


@pytest.fixture
def runtimes(healthy_fleet, tmp_path):
    made = []

    def make():
        made.append(runtime_for(config(healthy_fleet, tmp_path), tmp_path / "state"))
        return made[-1]
    yield make
    for runtime in made:
        for instance in runtime.adopt("shop"):
            runtime.stop(instance, grace=1)
        runtime.close()


def test_instances_spread_over_the_hosts_survive_a_controller_restart_and_never_double(
        runtimes, healthy_fleet):
    fleet = healthy_fleet
    runtime = runtimes()
    cfg = runtime.config
    rev = Revision("shop", 1, "v1", cfg.app, cfg.health)
    runtime.check_release(cfg.app, "v1")   # the pre-flight: every host ready
    started = [runtime.start(rev, Slot(i)) for i in range(3)]
    assert [i.address.split(":")[0] for i in started] == [h.address for h in fleet.hosts]
    assert wait_until(lambda: all(runtime.healthy(i, rev)[0] for i in started), timeout=15)

    again = runtimes()   # a restarted controller: adopts, starts nothing twice
    assert [(i.id, i.pid) for i in again.adopt("shop")] == [(i.id, i.pid) for i in started]
    assert again.start(rev, Slot(1)).pid == started[1].pid

    fleet.partition(fleet.hosts[1])   # cut off: unhealthy, named; not "gone", not stopped
    ok, why = again.healthy(started[1], rev)
    assert not ok and "zdf2" in why
    with pytest.raises(RuntimeFailure, match=r"nothing was changed:\n  zdf2: "):
        runtimes().check_release(cfg.app, "v2")
    fleet.heal(fleet.hosts[1])
    assert wait_until(lambda: again.healthy(started[1], rev)[0], timeout=15)

    fleet.crash(fleet.hosts[2])   # every process gone; the host comes back with its disk
    fleet.boot(fleet.hosts[2])
    ok, why = again.healthy(started[2], rev)
    assert not ok and "(pid " in why and " on zdf3) ended" in why, why
    assert [i.id for i in again.adopt("shop")] == [started[0].id, started[1].id]
    restarted = again.start(rev, Slot(2))
    assert restarted.pid is not None
    assert wait_until(lambda: again.healthy(restarted, rev)[0], timeout=15)

    again.stop(started[0], grace=2)
    assert not again.alive(started[0])


def test_a_starting_instance_is_found_healthy_when_it_listens_not_a_health_interval_later(
        runtimes, healthy_fleet, tmp_path):
    """WaitHealthy's look waits on the instance's host for it to listen (await_listening),
    then probes from here: with a 5 s health.interval, healthy well before the second
    round of probes (which alone would find it: the first comes before the app listens)."""
    runtime = runtimes()
    cfg = runtime.config
    health = replace(cfg.health, interval=5.0)
    rev = Revision("shop", 1, "v1", cfg.app, health)
    runtime.check_release(cfg.app, "v1")
    instance = runtime.start(rev, Slot(0))
    began = time.monotonic()
    wait_healthy(runtime, SystemClock(), [(instance, rev)])
    assert time.monotonic() - began < 4.0, "found at the first round, when it listened"
    assert runtime.look(instance, rev)[:2] == (True, True), "then a probe a round, as before"
    runtime.stop(instance, grace=2)
    assert runtime.look(instance, rev)[0] is False, "stopped: gone, not waited for"


GO = "/tmp/zd-exit-go"  # the host's own /tmp
SLOW_EXIT = ("import os, signal, time\n"  # a shutdown that lasts until GO exists
             "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
             "print('ready', flush=True)\n"
             f"while not os.path.exists({GO!r}): time.sleep(0.01)\n")


def test_a_yielding_stop_lowers_the_leaving_instance_on_its_host_and_hasten_gives_it_back(
        healthy_fleet, tmp_path):
    """Through the agent: stop(yielding=True) lowers the instance's nice and autogroup on
    its host before the SIGTERM; hasten() (another session) gives them back while it
    still runs, well before half the grace (when the host would give them back itself)."""
    fleet = healthy_fleet
    cfg = config(fleet, tmp_path)
    app = replace(cfg.app, command=("/usr/bin/python3", "-c", SLOW_EXIT, "{port}"))
    cfg = replace(cfg, app=app)
    runtime = runtime_for(cfg, tmp_path / "state")
    host = fleet.hosts[0]

    def priority() -> str:
        got = host.run(f"cut -d' ' -f19 /proc/{instance.pid}/stat; "
                       f"cat /proc/{instance.pid}/autogroup").stdout.split()
        return f"{got[0]} {got[-1]}" if len(got) >= 2 else "gone"
    try:
        rev = Revision("shop", 1, "v1", cfg.app, cfg.health)
        runtime.check_release(cfg.app, "v1")
        instance = runtime.start(rev, Slot(0))
        wait_until(lambda: "ready" in host.run(
            f"cat /srv/zerodown/services/shop/logs/{instance.id}.log").stdout, 15)
        assert priority() == "0 0"
        host.run(f"rm -f {GO}")
        # a long grace: the host gives the priority back itself at half of it, which a
        # loaded machine's slow looks (an SSH login each) must not reach first (CI did, at 5 s)
        stopping = threading.Thread(target=runtime.stop, args=(instance, 60.0, True))
        stopping.start()
        wait_until(lambda: priority() == "10 10", 20, "the instance's priority lowered")
        runtime.hasten([instance])
        assert priority() == "0 0", "given back while its stop still waits for it"
        assert stopping.is_alive()
        host.run(f"touch {GO}")
        stopping.join(15)
        assert not stopping.is_alive() and not runtime.alive(instance)
    finally:
        for inst in runtime.adopt("shop"):
            runtime.stop(inst, grace=1)
        runtime.close()
