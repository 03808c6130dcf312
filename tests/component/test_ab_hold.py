"""An A/B test's hold waits for a person's decision, against the real controller, proxy and
instances: `zerodown resume` there went past the hold (B won, for good, no one having
decided), and `pause` was refused with "(resume, promote or abort it)", inviting that
resume. Now both are refused naming the decision (exit 2; the API 409), and the test goes
on; a pause before the hold, then a resume, goes on to the hold, not past it."""

from __future__ import annotations

from tests.component.test_api import Raw, api  # noqa: F401 (the fixture: a served v1)
from tests.support import get
from tests.support.net import wait_until

HOLDS = ("the A/B test holds for a decision: `zerodown promote` makes B (r2) everyone's, "
         "`zerodown abort` keeps A (r1)")


def at_hold(raw: Raw, id: int) -> bool:
    d = raw.ok("GET", f"/api/v1/deployments/{id}")
    return (d["phase"] == "paused" and d["step_started"] is not None
            and d["step_text"].startswith("pause until promoted or aborted: A/B test r2"))


def sides(port: int, users: int = 40) -> set[str]:
    """The versions `users` new users (no cookie yet) are given."""
    return {get(port, "/").headers["x-version"] for _ in range(users)}


def test_resume_or_pause_at_the_hold_is_refused_and_the_test_goes_on(api):  # noqa: F811
    raw, s = Raw(api), api
    id = raw.ok("POST", "/api/v1/deployments", {"version": "v2", "strategy": "ab-test",
                                                "set": ["strategy.split=50"]})["id"]
    wait_until(lambda: at_hold(raw, id), timeout=30, what="the A/B test at its hold")
    for verb in ("resume", "pause"):
        refused = s.run(verb, code=2).stderr
        assert f"cannot {verb} deployment {id}: {HOLDS}" in refused, refused
        status, _, answer = raw("POST", f"/api/v1/deployments/{id}/{verb}", {})
        assert status == 409 and HOLDS in answer["error"]["message"], (status, answer)
    assert at_hold(raw, id)
    events = raw.ok("GET", f"/api/v1/events?deployment={id}&limit=1000")["events"]
    assert not [e for e in events if e["kind"] == "step.finished" and "resumed" in e["text"]]
    assert sides(s.port) == {"v1", "v2"}  # half the new users on each side: still split
    assert "aborted" in s.run("abort").stdout  # the decision: A stays
    assert s.text() == "hello from v1\n"


def test_a_pause_before_the_hold_then_resume_goes_on_to_the_hold(api):  # noqa: F811
    raw, s = Raw(api), api
    id = raw.ok("POST", "/api/v1/deployments", {
        "version": "v2", "strategy": "ab-test",
        "set": ["strategy.split=50", "app.env.APP_START_DELAY=2"]})["id"]
    wait_until(lambda: raw.ok("GET", f"/api/v1/deployments/{id}")["phase"] == "running",
               timeout=30, what="the A/B test starting B")
    assert f"deployment {id} paused" in s.run("pause").stdout  # B not healthy yet
    assert "controller (pid" in s.run("resume").stdout
    wait_until(lambda: at_hold(raw, id), timeout=30, what="the A/B test at its hold")
    assert sides(s.port) == {"v1", "v2"}
    assert "goes past its pause" in s.run("promote").stdout  # the decision: B wins
    wait_until(lambda: raw.ok("GET", f"/api/v1/deployments/{id}")["phase"] == "succeeded",
               timeout=30, what="B everyone's")
    assert s.text() == "hello from v2\n"
