"""Blue/green, canary and A/B through real processes and the real proxy, under load.

A background load counts every response through the whole of each test;
measurements at each step are separate, bounded request runs.
"""

from __future__ import annotations

import math
import threading
import time

import pytest

from zerodown.engine.lifecycle import Phase, PhaseError
from zerodown.engine.store import Store
from zerodown.loadgen import run_load_sync

from tests.e2e.stack import alive, kill_controller_then_resume
from tests.support.net import wait_until

CONNECTIONS = 6
SAMPLE = 5000  # requests per share measurement


def tolerance(weight: float, requests: int = SAMPLE, sds: float = 4.5) -> float:
    """Points a measured share may stray from `weight`: each request picks its side at random,
    so the share is binomial; 4.5 standard deviations is a false alarm in ~150,000 checks
    (a fixed ±2 was only 3 at 30% and 60%, and failed about one run in a few hundred)."""
    p = weight / 100
    return sds * 100 * math.sqrt(p * (1 - p) / requests)


def share_of(url: str, version: str, requests: int = SAMPLE, headers: dict | None = None) -> float:
    result = run_load_sync(url, connections=4, requests=requests, headers=headers)
    assert result.failed() == 0, result.summary()
    return 100 * result.by_header["X-Version"].get(version, 0) / result.sent


def version_of(url: str, headers: dict, requests: int = 4) -> set[str]:
    """The versions one user (these headers) sees over a few requests."""
    result = run_load_sync(url, connections=1, requests=requests, headers=headers)
    assert result.failed() == 0, result.summary()
    return set(result.by_header["X-Version"])


def run_in_background(stack, id: int) -> tuple[threading.Thread, list]:
    ended: list = []
    thread = threading.Thread(target=lambda: ended.append(stack.engine.run(id)), daemon=True)
    thread.start()
    return thread, ended


def wait_for_step(stack, id: int, text: str, timeout: float = 30.0) -> None:
    """Until deployment `id`'s step in progress, begun, is described with `text` in it."""
    def there() -> bool:
        d = stack.store.deployment(id)
        rec = stack.store.step_record(id, d.cursor) if d.step is not None else None
        assert not d.phase.terminal, f"deployment {id} ended {d.phase}: {d.error}"
        return rec is not None and rec.in_progress and text in d.step.describe()
    wait_until(there, timeout, f"a step like {text!r} in deployment {id}")


CANARY = ("{kind: canary, steps: [{weight: 10}, {pause: {}}, {weight: 30}, {pause: {}}, "
          "{weight: 60}, {pause: {}}], match: [{header: X-Canary, equals: '1'}]}")


def test_canary_shares_follow_each_step_rules_win_and_no_request_fails(stack_factory):
    stack = stack_factory(instances=3, strategy=CANARY)
    assert stack.deploy("v1") is Phase.SUCCEEDED
    v1 = stack.pids()

    def walk_the_steps() -> Phase:
        d = stack.engine.deploy("v2")
        for weight in (10, 30, 60):
            assert stack.engine.run(d, stop_when_paused=True) is Phase.PAUSED
            assert abs(share_of(stack.url, "v2") - weight) <= tolerance(weight), weight
            assert version_of(stack.url, {"X-Canary": "1"}, requests=50) == {"v2"}
            assert stack.pids() >= v1, "stable keeps every instance until the end"
            stack.engine.promote(d)
        return stack.engine.run(d)
    phase, result = stack.under_load(walk_the_steps, connections=CONNECTIONS, duration=110)
    assert phase is Phase.SUCCEEDED
    assert result.failed() == 0, result.summary()
    assert set(result.by_header["X-Version"]) == {"v1", "v2"}
    assert not any(alive(p) for p in v1)
    assert share_of(stack.url, "v2", 500) == 100


STICKY = ("{kind: canary, steps: [{weight: 20}, {pause: {}}, {weight: 50}, {pause: {}}], "
          "sticky: {mode: header, name: X-User}}")


def test_a_sticky_user_never_flips_and_only_moves_toward_a_growing_canary(stack_factory):
    stack = stack_factory(instances=2, strategy=STICKY)
    assert stack.deploy("v1") is Phase.SUCCEEDED
    users = [{"X-User": f"user-{i}"} for i in range(120)]
    d = stack.engine.deploy("v2")
    seen = []
    for weight in (20, 50):
        assert stack.engine.run(d, stop_when_paused=True) is Phase.PAUSED
        sides = [version_of(stack.url, u) for u in users]
        assert all(len(s) == 1 for s in sides), "a user saw both versions at one weight"
        on_canary = {i for i, s in enumerate(sides) if s == {"v2"}}
        assert abs(100 * len(on_canary) / len(users) - weight) <= 12  # 120 users: a coarse check
        seen.append(on_canary)
        stack.engine.promote(d)
    assert seen[0] <= seen[1], "a user on the canary at 20% went back to stable at 50%"
    assert stack.engine.run(d) is Phase.SUCCEEDED


@pytest.mark.parametrize("abort_after", range(0, 8))
def test_an_abort_after_any_canary_step_loses_no_request(stack_factory, abort_after):
    # Steps (2 instances): 0 start, 1 healthy, 2 route 20%, 3 pause 1s, 4 start, 5 healthy,
    # 6 route 100% (60% is squashed: nothing happens at it), 7 drain stable, 8 stop stable.
    # Up to the drain, stable still runs: the abort routes it back, starting nothing.
    stack = stack_factory(instances=2, strategy="{kind: canary, steps: [{weight: 20}, "
                          "{pause: 1s}, {weight: 60}]}")
    assert stack.deploy("v1") is Phase.SUCCEEDED
    v1 = stack.pids()
    signaller = Store(str(stack.state_dir / "zerodown.db"))

    def listener(event):
        if event.kind == "step.finished" and event.data.get("index") == abort_after:
            try:
                signaller.signal(event.deployment, "abort")
            except PhaseError:
                pass
    stack.store.listeners.append(listener)
    phase, result = stack.under_load(lambda: stack.deploy("v2"), connections=CONNECTIONS,
                                     settle=200)
    assert phase is Phase.ABORTED
    assert result.failed() == 0, result.summary()
    assert stack.pids() == v1, "the stable instances serve on, and nothing else runs"
    assert share_of(stack.url, "v1", 300) == 100


BLUE_GREEN = "{kind: blue-green, auto_promote: false, scale_down_delay: 30s}"


def test_blue_green_preview_switch_then_rollback_inside_the_window(stack_factory):
    stack = stack_factory(instances=3, strategy=BLUE_GREEN)
    assert stack.deploy("v1") is Phase.SUCCEEDED
    blue = stack.pids()

    def switch_then_roll_back() -> tuple[list, float, set[int]]:
        d = stack.engine.deploy("v2")
        assert stack.engine.run(d, stop_when_paused=True) is Phase.PAUSED  # green up, not live
        green = stack.pids() - blue
        assert len(green) == 3
        assert version_of(stack.url, {"X-Zerodown-Preview": "1"}, 20) == {"v2"}
        assert share_of(stack.url, "v2", 500) == 0, "users see blue until the switch"
        stack.engine.promote(d)
        thread, ended = run_in_background(stack, d)
        wait_for_step(stack, d, "blue kept")  # switched; blue kept for the window
        assert share_of(stack.url, "v1", 1000) == 0, "a new request reached blue after the switch"
        assert all(alive(p) for p in blue)
        asked = time.monotonic()
        stack.engine.abort(d)  # what `zerodown rollback` does inside the window
        thread.join(30)
        return ended, time.monotonic() - asked, green
    (ended, took, green), result = stack.under_load(switch_then_roll_back,
                                                    connections=CONNECTIONS, duration=110)
    assert ended == [Phase.ABORTED]
    assert took < 3.0, f"rollback inside the window took {took:.2f}s"  # incl. green's drain
    assert result.failed() == 0, result.summary()
    assert stack.pids() == blue, "rolling back to a kept blue starts no process"
    assert share_of(stack.url, "v1", 500) == 100
    assert not any(alive(p) for p in green)


def test_blue_green_auto_promote_under_load_fails_no_request(stack_factory):
    stack = stack_factory(instances=3, strategy="{kind: blue-green, scale_down_delay: 1s}")
    assert stack.deploy("v1") is Phase.SUCCEEDED
    blue = stack.pids()
    phase, result = stack.under_load(lambda: stack.deploy("v2"), connections=CONNECTIONS)
    assert phase is Phase.SUCCEEDED
    assert result.failed() == 0, result.summary()
    assert not any(alive(p) for p in blue)
    assert share_of(stack.url, "v2", 500) == 100


@pytest.mark.parametrize("strategy, kill_at", [
    ("{kind: blue-green, scale_down_delay: 2s}", 2),
    ("{kind: canary, steps: [{weight: 30}, {pause: 1s}, {weight: 60}, {pause: 1s}]}", 3),
    ("{kind: canary, steps: [{weight: 30}, {pause: 1s}, {weight: 60}, {pause: 1s}]}", 7),
])
def test_a_controller_killed_mid_way_resumes_without_loss(stack_factory, strategy, kill_at):
    stack = stack_factory(instances=2, strategy=strategy)
    assert stack.deploy("v1") is Phase.SUCCEEDED
    v1 = stack.pids()
    resumed, result = stack.under_load(lambda: kill_controller_then_resume(stack, kill_at),
                                       connections=CONNECTIONS)
    assert list(resumed.values()) == [Phase.SUCCEEDED], resumed
    assert result.failed() == 0, result.summary()
    assert not any(alive(p) for p in v1)
    assert len(stack.pids()) == 2
    assert {i.revision for i in stack.runtime.adopt("shop")} == {stack.store.stable("shop")[0]}


def test_an_ab_test_keeps_cookie_cohorts_until_b_wins(stack_factory):
    from tests.support.net import get
    stack = stack_factory(instances=2, strategy="{kind: ab-test, split: 40}")
    assert stack.deploy("v1") is Phase.SUCCEEDED
    port = int(stack.config.listen.rsplit(":", 1)[1])
    d = stack.engine.deploy("v2")
    assert stack.engine.run(d, stop_when_paused=True) is Phase.PAUSED
    cohorts = {"v1": 0, "v2": 0}
    for _ in range(100):  # each a new user: the proxy gives them a cookie, they keep it
        first = get(port, "/")
        cookie = first.headers["set-cookie"].split(";")[0]
        assert cookie.startswith("zerodown_ab=")
        seen = {get(port, "/", headers={"Cookie": cookie}).headers["x-version"] for _ in range(5)}
        assert seen == {first.headers["x-version"]}, "a user changed sides while the split held"
        cohorts[first.headers["x-version"]] += 1
    assert 25 <= cohorts["v2"] <= 55, cohorts  # 40% of 100 users, loosely
    stack.engine.promote(d)
    assert stack.engine.run(d) is Phase.SUCCEEDED
    assert share_of(stack.url, "v2", 300) == 100
