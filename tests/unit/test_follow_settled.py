"""A followed deployment's command returns once the controller's run of it returned
(`settled`, asked with ?wait= so the controller holds the answer until then), not at its
phase; a controller of an older zerodown, which sends no `settled`, at its phase."""

from __future__ import annotations

import io

import pytest

from zerodown.commands.follow import Follower

RUNNING = {"id": 3, "kind": "deploy", "phase": "running", "from": None,
           "to": {"revision": 1, "version": "v1"}, "strategy": "rolling", "plan": "deploy",
           "step": 2, "steps": 3, "step_text": "stop shop-r0-s0", "error": None,
           "controller_pid": 9, "created": 100.0, "duration_s": 5.0, "settled": False}
ENDED = {**RUNNING, "phase": "succeeded", "step": 4, "step_text": None}


class Controller:
    """Answers a Follower's reads from a script of deployments; records what it asked."""

    def __init__(self, states):
        self.states, self.asked = list(states), []

    def get(self, path):
        if path.startswith("/api/v1/events"):
            return {"events": [], "waited": True}
        self.asked.append(path)
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]


def follow(states) -> tuple[dict, list[str]]:
    api = Controller(states)
    d = Follower(api, 3, out=io.StringIO()).follow(lambda d: d["phase"] == "succeeded")
    return d, api.asked


def test_an_ended_deployment_is_asked_again_with_wait_until_settled():
    d, asked = follow([RUNNING, ENDED, ENDED, {**ENDED, "settled": True}])
    assert d["settled"] is True
    assert asked == ["/api/v1/deployments/3"] * 2 + ["/api/v1/deployments/3?wait=1"] * 2


@pytest.mark.parametrize("ended", [{k: v for k, v in ENDED.items() if k != "settled"},
                                   {**ENDED, "settled": True}])
def test_an_older_controller_or_a_settled_deployment_ends_the_following_at_once(ended):
    d, asked = follow([RUNNING, ended])
    assert d == ended and asked == ["/api/v1/deployments/3"] * 2
