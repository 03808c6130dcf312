"""A silent host that comes back by itself, through the command line and the controller
service (on_host_return; zerodown/daemon/host_watch.py): the deployment paused for it
goes on with nobody typing `zerodown resume`, and says why."""

from __future__ import annotations

from tests.support.cli import Service
from tests.support.net import wait_until
from zerodown.controller import Controller

CANARY = "{kind: canary, steps: [{weight: 34}, {pause: {}}]}"  # a person's pause first, then the rest


def deployment(s: Service) -> dict | None:
    return s.status()["deployment"]


def test_a_deployment_paused_for_a_silent_host_resumes_by_itself_once_it_answers(
        healthy_fleet, tmp_path):
    s = Service(tmp_path)
    s.file.write_text(healthy_fleet.service_config(s.port, CANARY, per_host=1))
    victim = None
    try:
        s.run("up")
        s.run("deploy", "v2", "--detach")
        at_pause = wait_until(lambda: (d := deployment(s)) and d["phase"] == "paused" and d,
                              timeout=60, what="the canary's pause")
        canary_hosts = {i["host"] for i in s.status()["instances"] if i["version"] == "v2"}
        victim = next(h for h in healthy_fleet.hosts if h.name not in canary_hosts)
        healthy_fleet.partition(victim)
        s.run("promote")  # past the person's pause: the next steps need the victim
        paused = wait_until(lambda: (d := deployment(s)) and d["phase"] == "paused"
                            and d["step"] > at_pause["step"] and d, timeout=60,
                            what="the pause for the silent host")
        assert f"host {victim.name} stopped answering" in paused["error"], paused
        store = Controller(str(s.file), str(s.state_dir)).store()
        assert not store.events("shop", paused["id"], kind="host.reachable")
        healthy_fleet.heal(victim)
        # the end, and the old instances gone: the phase ends once their stops are sent, its
        # rows `stopping` until each stop is confirmed (engine/stopping.py); no command
        # waits for this run (deployed --detach, resumed by the controller)
        done = wait_until(lambda: (d := s.status())["deployment"] is None and all(
            i["version"] == "v2" for i in d["instances"]) and d, timeout=60,
                          what="the deployment's end with nobody resuming it, v1 stopped")
        assert {(i["host"], i["version"]) for i in done["instances"]} == {
            (h.name, "v2") for h in healthy_fleet.hosts}
        store = Controller(str(s.file), str(s.state_dir)).store()
        (back,) = store.events("shop", paused["id"], kind="host.reachable")
        assert back.data["host"] == victim.name and "resuming it" in back.message
        resumed = [e for e in store.events("shop", paused["id"], kind="action")
                   if e.data.get("who") == "controller" and e.data.get("origin") == "host"]
        assert len(resumed) == 1 and resumed[0].data["action"] == "resume", resumed
        assert store.deployment(paused["id"]).phase.value == "succeeded"
    finally:
        if victim is not None:
            healthy_fleet.heal(victim)
        s.cleanup()
