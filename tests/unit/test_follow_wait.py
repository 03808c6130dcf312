"""A followed deployment's news as it is written: the follower asks the controller to hold
its events request (?wait=) instead of asking every POLL seconds, and paces itself only
for a controller that answers at once (an older one, which ignores wait)."""

from __future__ import annotations

import io

import pytest

from zerodown.commands import follow
from zerodown.commands.follow import Follower, watch

RUNNING = {"id": 3, "created": 100.0, "summary": "", "phase": "running", "strategy": "rolling",
           "error": None, "step_text": None}
DONE = {**RUNNING, "phase": "succeeded"}
PROOF = {"failed": 0}  # as the follower sees it: shown by render.proof_line (stubbed here)


class Controller:
    """Answers a follower's requests from a script: each events request gets the next
    batch; the deployment is DONE (with its proof once asked for `proof_after` times)."""

    def __init__(self, batches: list[list[dict]], waits: bool, proof_after: int = 0):
        self.batches, self.waits, self.proof_after = batches, waits, proof_after
        self.asked: list[str] = []

    def get(self, path: str) -> dict:
        self.asked.append(path)
        if path.startswith("/api/v1/events"):
            events = self.batches.pop(0) if self.batches else []
            waited = {"waited": True} if self.waits and "&wait=" in path else {}
            return {"events": events} | waited
        if not self.batches:
            asked = sum(p.startswith("/api/v1/deployments") for p in self.asked)
            return DONE | {"proof": None if asked <= self.proof_after else PROOF}
        return RUNNING


def event(id: int, kind: str = "step.started") -> dict:
    return {"id": id, "time": 101.0, "kind": kind, "text": f"event {id}"}


def test_a_controller_that_waits_is_asked_again_at_once_with_wait(monkeypatch):
    monkeypatch.setattr(follow.time, "sleep", pytest.fail)  # never paced by a sleep
    api = Controller([[event(1)], [event(2)], [event(3, "phase")]], waits=True)
    d = Follower(api, 3, out=io.StringIO()).follow(lambda d: d["phase"] == "succeeded")
    assert d["phase"] == "succeeded"
    events = [p for p in api.asked if p.startswith("/api/v1/events")]
    assert "&wait=" not in events[0]  # the first look: at once
    assert all(p.endswith(f"&wait={follow.WAIT:g}") for p in events[1:]), events


def test_an_older_controller_is_asked_every_poll(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(follow.time, "sleep", slept.append)
    api = Controller([[event(1)], [], [], [event(2, "phase")]], waits=False)
    Follower(api, 3, out=io.StringIO()).follow(lambda d: d["phase"] == "succeeded")
    # the first request with wait answered at once, without "waited": paced from then on
    assert slept == [follow.POLL, follow.POLL]


def test_the_proof_is_waited_for_by_its_event(monkeypatch):
    monkeypatch.setattr(follow.time, "sleep", pytest.fail)
    api = Controller([[event(1, "phase")]], waits=True, proof_after=1)
    monkeypatch.setattr(follow, "result_line", lambda d: "done")
    monkeypatch.setattr(follow, "fails_requirement", lambda proof: False)
    monkeypatch.setattr(follow.render, "proof_line", lambda proof: f"proof {proof}")
    assert watch(api, 3) == 0
    # the end seen, then one held events request (the proof's event), then the proof read
    assert [p.split("?")[0] for p in api.asked[-3:]] == [
        "/api/v1/deployments/3", "/api/v1/events", "/api/v1/deployments/3"]
    assert api.asked[-2].endswith(f"&wait={follow.WAIT:g}")
