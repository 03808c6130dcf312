"""Canary deployments judged by analysis, on real processes and the real proxy, under load:
a bad canary is aborted by itself, a good one promoted by itself, no traffic pauses."""

from __future__ import annotations

import re

import time

from zerodown.engine.lifecycle import Phase
from zerodown.loadgen import LoadInBackground

ANALYSIS = "{max_success_rate_drop: 0.01, min_requests: 50, max_duration: %s, interval: 2s}"
CANARY = "{kind: canary, steps: [{weight: 20}, {analysis: %s}]}"


def canary(max_duration: str = "60s") -> str:
    return CANARY % (ANALYSIS % max_duration)


def analysis_events(stack) -> dict[str, str]:
    return {e.kind: e.message for e in stack.store.events("shop") if e.kind.startswith("analysis.")}


def test_a_canary_failing_one_request_in_ten_is_aborted_by_itself(stack_factory):
    stack = stack_factory(instances=2, strategy=canary())
    assert stack.deploy("v1", strategy="rolling") is Phase.SUCCEEDED
    with LoadInBackground(stack.url, connections=4, rate=500, duration=90) as load:
        load.wait_for_responses(300)
        began = time.monotonic()
        phase = stack.deploy("v2", overrides=["app.env.APP_ERROR_RATE=0.1"])
        took = time.monotonic() - began
        after = load.progress()[0]
        load.wait_for_responses(after + 300)
        result = load.stop()
    assert phase is Phase.ABORTED, stack.store.deployments("shop", limit=1)[0].error
    events = analysis_events(stack)
    assert re.search(r"r2 fails [\d.]+% of requests vs stable [\d.]+% .*: failed after", events["analysis.failed"]), events
    assert took < 30, f"the whole canary, from start to abort, took {took:.1f}s"
    # Every failure was the bad revision's own 500; nothing failed because of the deployment.
    assert result.failed() == result.statuses.get(500, 0), result.summary()
    assert set(result.by_header["X-Version"]) == {"v1", "v2"}
    assert stack.router.stats()["revisions"].get("r2", {}).get("weight", 0) == 0


def test_a_good_canary_is_promoted_by_itself(stack_factory):
    stack = stack_factory(instances=2, strategy=canary("90s"))
    assert stack.deploy("v1", strategy="rolling") is Phase.SUCCEEDED
    phase, result = stack.under_load(lambda: stack.deploy("v2"), connections=4, rate=500,
                                     duration=120)
    assert phase is Phase.SUCCEEDED, stack.store.deployments("shop", limit=1)[0].error
    assert re.search(r"r2 fails [\d.]+% of requests vs stable [\d.]+% .*: passed after", analysis_events(stack)["analysis.passed"])
    assert result.failed() == 0, result.summary()


def test_without_traffic_an_inconclusive_analysis_takes_the_canary_weight_back(stack_factory):
    """Undecided with a weight on the canary: a pause would leave its users there (issue 11)."""
    stack = stack_factory(instances=2, strategy=canary("3s"))
    assert stack.deploy("v1", strategy="rolling") is Phase.SUCCEEDED
    phase = stack.deploy("v2")
    assert phase is Phase.ABORTED
    d = stack.store.deployments("shop", limit=1)[0]
    assert "inconclusive" in d.error and "0 requests, 50 needed" in d.error
    assert "analysis.inconclusive" in analysis_events(stack)
    assert stack.router.stats()["revisions"].get("r2", {}).get("weight", 0) == 0


def test_a_canary_that_hangs_on_requests_is_aborted_by_its_unanswered_requests(stack_factory):
    """Issue 11: a version that accepts and never answers counted no requests; the analysis
    said 'inconclusive' and paused with users on it. Unanswered ones now count as failed."""
    analysis = ("{max_success_rate_drop: 0.01, min_requests: 50, max_duration: 60s, "
                "unanswered_after: 2s}")
    stack = stack_factory(instances=2, strategy=CANARY % analysis)
    assert stack.deploy("v1", strategy="rolling") is Phase.SUCCEEDED
    with LoadInBackground(stack.url, connections=32, rate=300, duration=60, timeout=30) as load:
        load.wait_for_responses(300)
        began = time.monotonic()
        phase = stack.deploy("v2", overrides=["app.env.APP_LATENCY_MS=600000"])
        took = time.monotonic() - began
        after = load.progress()[0]
        load.wait_for_responses(after + 300)  # users are served again: by the stable
        load.stop()
    d = stack.store.deployments("shop", limit=1)[0]
    assert phase is Phase.ABORTED, d.error
    assert re.search(r"r2 fails [\d.]+% of requests vs stable [\d.]+% .*: failed after", d.error), d.error
    assert took < 30, f"from start to abort took {took:.1f}s"
    assert stack.router.stats()["revisions"].get("r2", {}).get("weight", 0) == 0


def test_a_good_canary_waits_for_its_background_analysis_to_pass_then_is_promoted(stack_factory):
    """Issue 17: background rounds that were each inconclusive let a canary through with
    exit 0. Now the plan's gate before the promotion waits for the pooled verdict."""
    strategy = ("{kind: canary, steps: [{weight: 20}, {pause: 1s}], "
                "analysis: {max_success_rate_drop: 0.01, min_requests: 50}}")
    stack = stack_factory(instances=2, strategy=strategy)
    assert stack.deploy("v1", strategy="rolling") is Phase.SUCCEEDED
    phase, result = stack.under_load(lambda: stack.deploy("v2"), connections=4, rate=500,
                                     duration=120)
    d = stack.store.deployments("shop", limit=1)[0]
    assert phase is Phase.SUCCEEDED, d.error
    steps = [s.description for s in stack.store.steps(d.id)]
    assert any(s.startswith("wait for the background analysis of r2") for s in steps), steps
    events = analysis_events(stack)
    assert " req/s on r2 these checks need ~" in events["analysis.planned"]
    assert re.search(r"r2 fails [\d.]+% of requests vs stable [\d.]+% .*: passed after", events["analysis.passed"])
    assert result.failed() == 0, result.summary()
