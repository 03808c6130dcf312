"""Wherever the controller's API answers a deployment (its list, one deployment, the status
document) it says who asked for it and why, as `history` does (its deploy or rollback
action's event), and whether it settled: ended, and its last old instances exited (the
status: of the service's latest deployment, its `deployment` being the active one only).
A real controller, asked by `zerodown deploy --reason` and by the API's own body; v1's
instances ignore SIGTERM, so their stops last GRACE after the phase's end, every time."""

from __future__ import annotations

import json
import os
import pwd

import pytest

from tests.support.cli import Service, alive
from tests.support.net import wait_until
from zerodown.api.client import Client

GRACE = 3.0  # seconds each stop of a v1 instance lasts: the window of "ended, not settled"
STEPS = "strategy.steps=[{weight: 25}, {pause: {}}]"
WHY = "ship the new checkout"


@pytest.fixture
def served(tmp_path):
    s = Service(tmp_path)
    s.up_deaf_to_sigterm(GRACE)
    yield s
    s.run("abort", code=None)
    left = s.cleanup()
    assert not left, f"processes left after the test: {left}"


def listed(api: Client, id: int) -> dict:
    return next(d for d in api.get("/api/v1/deployments")["deployments"] if d["id"] == id)


def asked(d: dict | None) -> tuple:
    return None if d is None else (d["by"], d["reason"])


def settled(api: Client, id: int) -> bool:
    return api.get(f"/api/v1/deployments/{id}?wait=1")["settled"]


def paused(api: Client, id: int) -> bool:
    return api.get(f"/api/v1/deployments/{id}")["phase"] == "paused"


def test_who_asked_and_why_in_the_list_one_deployment_and_the_status(served):
    s, me = served, pwd.getpwuid(os.getuid()).pw_name
    api = Client(socket_path=str(s.state_dir / "controller.sock"))
    assert asked(listed(api, 1)) == (me, None)  # `up`'s: its words are no person's reason
    s.run("deploy", "v2", "--detach", "--reason", WHY, "--strategy", "canary", "--set", STEPS)
    wait_until(lambda: paused(api, 2), timeout=30, what="v2 held at its pause")
    assert asked(listed(api, 2)) == asked(api.get("/api/v1/deployments/2")) == (me, WHY)
    assert asked(api.get("/api/v1/status?fresh=1")["deployment"]) == (me, WHY)
    wait_until(lambda: asked(api.get("/api/v1/status")["deployment"]) == (me, WHY), timeout=5,
               what="the status's last look (the stream's) saying who and why")
    history = json.loads(s.run("history", "--json").stdout)["deployments"]
    assert [asked(d) for d in history][:2] == [(me, WHY), (me, None)]  # the same words

    body = {"version": "v3", "reason": "from a script", "strategy": "canary", "set": [STEPS]}
    api.post("/api/v1/deployments/2/promote", {"full": True})
    wait_until(lambda: settled(api, 2), timeout=30, what="v2 promoted to its end")
    v3 = api.post("/api/v1/deployments", body)["id"]
    wait_until(lambda: paused(api, v3), timeout=30, what="v3 held at its pause")
    assert asked(api.get("/api/v1/status?fresh=1")["deployment"]) == (me, "from a script")
    api.post(f"/api/v1/deployments/{v3}/abort", {"reason": "not today"})  # not the deploy's why
    wait_until(lambda: settled(api, v3), timeout=30, what="v3 aborted")
    assert asked(listed(api, v3)) == asked(api.get(f"/api/v1/deployments/{v3}")) == \
        (me, "from a script")
    back = api.post("/api/v1/rollback", {"to": "v1", "reason": "v1 it is"})["id"]
    assert asked(api.get(f"/api/v1/deployments/{back}")) == asked(listed(api, back)) \
        == (me, "v1 it is")
    wait_until(lambda: settled(api, back), timeout=30, what="the rollback's end")


def test_settled_in_the_list_and_the_status_once_the_old_instances_exited(served):
    s = served
    api = Client(socket_path=str(s.state_dir / "controller.sock"))
    old = s.pids(revision=1)
    assert listed(api, 1)["settled"] is True and api.get("/api/v1/status")["settled"] is True
    id = api.post("/api/v1/deployments", {"version": "v2"})["id"]
    assert listed(api, id)["settled"] is False
    assert api.get("/api/v1/status?fresh=1")["settled"] is False  # (it runs)
    wait_until(lambda: listed(api, id)["phase"] == "succeeded", timeout=30,
               what="its phase's end")
    # in the stops' window: ended, the document's deployment gone, the old ones exiting
    status, item = api.get("/api/v1/status?fresh=1"), listed(api, id)
    assert any(alive(pid) for pid in old), "the old instances exited already: no window shown"
    assert (status["deployment"], status["settled"], item["settled"]) == (None, False, False)
    assert api.get(f"/api/v1/deployments/{id}?wait=10")["settled"] is True
    assert not [pid for pid in old if alive(pid)]
    assert listed(api, id)["settled"] is True
    assert api.get("/api/v1/status?fresh=1")["settled"] is True
    wait_until(lambda: api.get("/api/v1/status")["settled"] is True, timeout=5,
               what="the status's last look (the stream's) settled")
