"""Shadow traffic in a deployment, on real processes and the embedded proxy, under load
(issue 15, part 2): users' requests are copied to the new revision while every user stays
on stable; one that answers differently on 1% of requests is stopped in its shadow step
with no user request answered by it, one that answers alike passes and is deployed.

Users are counted per revision twice: at the load generator (each answer's X-Version)
and by the deployment's proof (the proxy's own counters)."""

from __future__ import annotations

import threading

import pytest

from zerodown import render
from zerodown.gather import shadow_view
from zerodown.engine.lifecycle import Phase
from zerodown.engine.store import Store
from zerodown.loadgen import LoadInBackground

# 0.002 rather than the docs' 0.001: the test passes an identical revision after ~3,600
# compared copies instead of ~7,600 (seconds, on a shared machine); a 1% one fails after ~800.
CHECK = "{duration: 40s, ignore: ['$.time', '$.request_id'], max_diff_rate: 0.002}"
SHADOW = "{kind: canary, steps: [{shadow: %s}, {weight: 50}, {pause: 1s}]}" % CHECK
BLUE_GREEN = "{kind: blue-green, scale_down_delay: 0s, pre_promotion_shadow: %s}" % CHECK


def deploy_under_load(stack, *overrides: str, seen: list | None = None):
    """`seen`: filled with what status showed of the shadow while the deployment ran."""
    done = threading.Event()

    def watch():
        with Store(str(stack.db)) as store:  # another process's view: the status command's
            while not done.wait(0.2):
                seen.append(shadow_view(store, "shop", stack.router))
    watcher = threading.Thread(target=watch, daemon=True)
    if seen is not None:
        watcher.start()
    with LoadInBackground(stack.url + "item?id=7", connections=4, rate=1000,
                          duration=90) as load:
        load.wait_for_responses(300)
        try:
            phase = stack.deploy("v2", overrides=list(overrides))
        finally:
            done.set()
            if seen is not None:
                watcher.join(5)
        load.wait_for_responses(load.progress()[0] + 300)
        result = load.stop()
    d = stack.store.deployments("shop", limit=1)[0]
    return phase, result, d


@pytest.mark.parametrize("strategy", [SHADOW, BLUE_GREEN], ids=["canary", "blue-green"])
def test_a_revision_differing_on_one_request_in_a_hundred_is_stopped_before_any_user(
        stack_factory, strategy):
    stack = stack_factory(instances=2, strategy=strategy)
    assert stack.deploy("v1", strategy="rolling") is Phase.SUCCEEDED
    phase, result, d = deploy_under_load(stack, "app.env.APP_DIFF_RATE=0.01")
    assert phase is Phase.ABORTED, d.error
    assert "shadow of r2 failed" in d.error and "unlike stable" in d.error, d.error
    failed_at = [s for s in stack.store.steps(d.id) if s.description.startswith("shadow:")]
    assert failed_at and "shadow of r2 failed" in failed_at[0].outcome, failed_at
    # Not one user's request was answered by r2: at the load generator, and by the proxy.
    assert result.failed() == 0, result.summary()
    assert result.by_header["X-Version"].get("v2", 0) == 0, result.by_header
    assert result.by_header["X-Version"].get("v1", 0) > 300
    proof = stack.store.proofs([d.id])[d.id]
    assert proof["revisions"].get("r2", {}).get("requests", 0) == 0, proof
    events = stack.store.events("shop", deployment=d.id)
    differs = [e.message for e in events if e.kind == "shadow.differs"]
    assert differs and "GET /item?id=7 HTTP/1.1: $.price: stable 259 · shadow 260" in differs[0]
    ended = [e for e in events if e.kind == "shadow.ended"][-1]
    assert ended.data["verdict"] == "fail" and ended.data["differing"] > 0
    assert stack.router.shadow_stats() is None  # the mirror is off
    shown = "\n".join(render.shadow_lines(shadow_view(stack.store, "shop")))  # zerodown status
    assert f"shadow of r2 (deployment {d.id}): failed; " in shown
    assert "GET /item?id=7 HTTP/1.1: $.price: stable 259 · shadow 260" in shown


def test_a_revision_answering_alike_passes_its_shadow_and_is_deployed(stack_factory):
    stack = stack_factory(instances=2, strategy=SHADOW)
    assert stack.deploy("v1", strategy="rolling") is Phase.SUCCEEDED
    seen: list = []
    phase, result, d = deploy_under_load(stack, seen=seen)
    assert phase is Phase.SUCCEEDED, d.error
    live = [v for v in seen if v is not None and v.state == "running" and v.compared > 0]
    assert live and live[-1].deployment == d.id, seen  # status showed it live, counting
    assert result.failed() == 0, result.summary()
    ended = [e for e in stack.store.events("shop", deployment=d.id)
             if e.kind == "shadow.ended"][-1]
    assert ended.data["verdict"] == "pass" and ended.data["differing"] == 0
    assert ended.data["compared"] >= 3000, ended.data
    assert stack.router.shadow_stats() is None


def test_through_nginx_a_differing_revision_is_stopped_by_the_comparator(stack_factory):
    """nginx mirrors to zerodown's comparator, which replays each copy to stable and to the
    canary (routers/nginx.py shadow): the same verdict, no user answered by r2."""
    stack = stack_factory(instances=2, strategy=SHADOW, router="{kind: nginx}")
    assert stack.deploy("v1", strategy="rolling") is Phase.SUCCEEDED
    phase, result, d = deploy_under_load(stack, "app.env.APP_DIFF_RATE=0.01")
    assert phase is Phase.ABORTED and "shadow of r2 failed" in d.error, d.error
    assert result.failed() == 0, result.summary()
    assert result.by_header["X-Version"].get("v2", 0) == 0, result.by_header
    ended = [e for e in stack.store.events("shop", deployment=d.id)
             if e.kind == "shadow.ended"][-1]
    assert ended.data["verdict"] == "fail" and ended.data["runner"] == "comparator"
    assert stack.router.shadow_stats() is None
    assert "mirror" not in (stack.router.conf_path).read_text()
