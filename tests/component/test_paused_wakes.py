"""A paused deployment acts on an action as soon as the daemon records it, and on each
action in the order they came (engine/doorbell.py, engine/asked.py), against the real
daemon: its runner's engine waited its 1 s poll and never heard the API's wake-up, and a
pause 0.6 s after a resume undid the resume before the engine saw it."""

from __future__ import annotations

import time

from tests.component.test_api import Raw, api  # noqa: F401 (the fixture: a served v1)
from tests.support.net import wait_until

PAUSES = ["strategy.steps=[{weight: 25}, {pause: {}}, {weight: 50}, {pause: {}}]"]
# a manual pause, then a timed one: the resume's effect (the timed pause running) lasts
# past the pause sent 50 ms after it, whichever the engine sees first
SOAK = ["strategy.steps=[{weight: 25}, {pause: {}}, {pause: 30s}, {weight: 50}]"]
QUICK = 0.5  # the old wait was ~1 s (steps.POLL); the wake-up takes milliseconds (0.5:
# room for a loaded CI machine, where the slowest measured was 0.16 s)


def held(raw: Raw, id: int, n: int) -> None:
    """Wait until deployment `id` is paused at its plan's `n`th pause."""
    def there() -> bool:
        d = raw.ok("GET", f"/api/v1/deployments/{id}")
        pauses = [s["state"] for s in d["plan_steps"] if s["text"].startswith("pause")]
        return d["phase"] == "paused" and pauses.index("current") + 1 == n \
            if "current" in pauses else False
    wait_until(there, timeout=30, what=f"deployment {id} held at its pause {n}")


def log(raw: Raw, id: int) -> list[dict]:
    return raw.ok("GET", f"/api/v1/events?deployment={id}&limit=1000")["events"]


def resumed(events: list[dict]) -> list[dict]:
    return [e for e in events if e["kind"] == "step.finished" and e["text"].endswith("resumed")]


def test_a_resume_ends_the_pause_at_once(api):  # noqa: F811
    raw = Raw(api)
    id = raw.ok("POST", "/api/v1/deployments", {"version": "v2", "strategy": "canary",
                                                "set": PAUSES})["id"]
    for n in (1, 2):
        held(raw, id, n)
        asked = time.time()
        raw.ok("POST", f"/api/v1/deployments/{id}/resume")
        wait_until(lambda: len(resumed(log(raw, id))) == n, timeout=10,
                   what=f"pause {n} ended")
        took = resumed(log(raw, id))[-1]["time"] - asked
        assert took < QUICK, f"pause {n} ended {took:.3f}s after the resume"
    wait_until(lambda: raw.ok("GET", f"/api/v1/deployments/{id}")["phase"] == "succeeded",
               timeout=30, what="the deployment's end")


def test_a_resume_then_a_pause_50ms_later_both_act_in_order(api):  # noqa: F811
    raw = Raw(api)
    id = raw.ok("POST", "/api/v1/deployments", {"version": "v2", "strategy": "canary",
                                                "set": SOAK})["id"]
    held(raw, id, 1)
    raw.ok("POST", f"/api/v1/deployments/{id}/resume")
    time.sleep(0.05)  # the gap the brief asks for, not a wait for a condition
    raw.ok("POST", f"/api/v1/deployments/{id}/pause", {"reason": "wait"})
    wait_until(lambda: resumed(log(raw, id)), timeout=10, what="the first pause ended")
    held(raw, id, 2)  # in the timed pause the resume reached, held there by the pause
    events = log(raw, id)
    phases = [(e["data"].get("asked"), e["data"]["to"]) for e in events if e["kind"] == "phase"]
    assert phases[-2:] == [("resume", "running"), ("pause", "paused")], phases
    assert [e["data"]["action"] for e in events if e["kind"] == "action"] == \
        ["deploy", "resume", "pause"]
    resumed_at = events.index(resumed(events)[0])
    paused_at = max(i for i, e in enumerate(events) if e["kind"] == "phase")
    assert events[paused_at]["time"] > events[resumed_at - 1]["time"]  # (the order asked)
    assert len(resumed(events)) == 1
