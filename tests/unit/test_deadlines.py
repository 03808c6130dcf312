"""engine/deadlines.py: which deadline applies to a deployment in which state (pure)."""

from __future__ import annotations

import pytest

from zerodown.config import parse_config
from zerodown.engine.deadlines import Due, due
from zerodown.engine.lifecycle import Phase
from zerodown.model import InstanceRef, Slot
from zerodown.plan import Analyze, Pause, Start, WaitHealthy
from zerodown.plan_data import step_from_data, step_to_data

REF = (InstanceRef(2, Slot(0)),)
HELD = Pause("canary r2 at 10%", None, timeout=60, then="promote")


@pytest.mark.parametrize("phase, step, started, changed, now, expect", [
    # a step stuck past the deadline: abort (on_failure rollback) ...
    (Phase.RUNNING, WaitHealthy(REF), 100, 100, 700, Due("abort", "step 'wait until healthy: "
                                                     "shop-r2-s0' made no progress within "
                                                     "progress_deadline 600s")),
    (Phase.RUNNING, Start(REF), 100, 100, 699.9, None),  # not yet
    (Phase.PROMOTING, Start(REF), 100, 100, 701, "abort"),
    # a resume (a write to the deployment) counts as progress
    (Phase.RUNNING, Start(REF), 100, 650, 700, None),
    # pauses and analyses have clocks of their own; going back is never cut short
    (Phase.RUNNING, Pause("x", 3600), 100, 100, 9000, None),
    (Phase.RUNNING, Analyze(2), 100, 100, 9000, None),
    (Phase.ABORTING, Start(REF), 100, 100, 9000, None),
    (Phase.ROLLING_BACK, Start(REF), 100, 100, 9000, None),
    (Phase.RUNNING, Start(REF), None, 100, 9000, None),  # not begun
    # a held pause with a timeout: then, once it is over; not before; not without a timeout
    (Phase.PAUSED, HELD, 100, 100, 160, Due("promote", "the pause timed out after 60s "
                                                       "(then: promote)")),
    (Phase.PAUSED, HELD, 100, 100, 159, None),
    (Phase.PAUSED, Pause("held", None), 100, 100, 99999, None),
    # paused by a person in the middle of another step: no deadline runs while paused
    (Phase.PAUSED, Start(REF), 100, 100, 99999, None),
])
def test_due(phase, step, started, changed, now, expect):
    found = due(phase, step, started, changed, now, 600.0, "rollback", "shop")
    if isinstance(expect, str):
        assert found is not None and found.verb == expect
    else:
        assert found == expect


def test_progress_deadline_pauses_with_on_failure_pause_and_none_turns_it_off():
    assert due(Phase.RUNNING, Start(REF), 0, 0, 31, 30.0, "pause").verb == "pause"
    assert due(Phase.RUNNING, Start(REF), 0, 0, 10 ** 9, None, "rollback") is None


def test_a_paused_step_keeps_its_timeout_in_the_store():
    assert step_from_data(step_to_data(HELD)) == HELD
    assert step_from_data({"step": "Pause", "reason": "old", "duration": None}).timeout is None
    assert HELD.describe() == "pause until resumed (or promote after 60s): canary r2 at 10%"


BASE = "service: s\nlisten: 127.0.0.1:1\napp: {command: [x]}\n"


def test_the_keys_parse_with_defaults_and_errors_name_the_key():
    cfg = parse_config(BASE + "strategy: {kind: canary, steps: [{weight: 10}, "
                              "{pause: {timeout: 2m, then: promote}}]}\nprogress_deadline: 30s\n")
    assert cfg.progress_deadline == 30.0
    assert (cfg.strategy.steps[1].timeout, cfg.strategy.steps[1].then) == (120.0, "promote")
    assert parse_config(BASE).progress_deadline == 600.0
    assert parse_config(BASE + "progress_deadline: null\n").progress_deadline is None
    for bad, message in (
            ("{pause: {timeout: 2s, then: explode}}", "pause.then: must be one of abort, promote"),
            ("{pause: {duration: 1s, timeout: 2s}}", "pause.timeout: is for a pause held"),
            ("{pause: {then: abort}}", "pause.then: needs timeout"),
            ("{pause: {timout: 1s}}", 'pause.timout: unknown key "timout"')):
        with pytest.raises(Exception, match=message.replace("(", r"\(")):
            parse_config(BASE + f"strategy: {{kind: canary, steps: [{{weight: 10}}, {bad}]}}\n")


@pytest.mark.parametrize("strategy", [
    "{kind: blue-green, auto_promote: false, pause_timeout: 90s, pause_then: promote}",
    "{kind: ab-test, split: 20, pause_timeout: 90s, pause_then: promote}"])
def test_the_manual_pause_of_blue_green_and_an_ab_test_carries_its_timeout(strategy):
    """Issue 13.2: a manual pause may carry a timeout — blue/green's wait for `promote`
    (auto_promote: false) and an A/B test's hold too, not only a canary's pause step."""
    from zerodown.plan import ServiceState, Target
    from zerodown.strategies import plan_for
    cfg = parse_config(BASE + f"instances: 2\nstrategy: {strategy}\n")
    state = ServiceState("s", 1, tuple(InstanceRef(1, Slot(i)) for i in range(2)))
    plan = plan_for(cfg.strategy, state, Target(2, 2))
    held = [s for s in plan.steps if isinstance(s, Pause) and s.duration is None]
    assert [(s.timeout, s.then) for s in held] == [(90.0, "promote")]
    assert due(Phase.PAUSED, held[0], 100, 100, 190, 600, "abort").verb == "promote"
    assert "or promote after 90s" in held[0].describe("s")


@pytest.mark.parametrize("strategy, message", [
    ("{kind: blue-green, pause_timeout: 1m}", "pause_timeout: is for the pause of auto_promote: false"),
    ("{kind: blue-green, auto_promote: false, pause_then: promote}", "pause_then: needs pause_timeout"),
    ("{kind: ab-test, pause_timeout: 1m, pause_then: later}", "pause_then: must be one of abort, promote"),
    ("{kind: canary, steps: [{weight: 5}], pause_timeout: 1m}", "is an option of strategy kind")])
def test_a_pause_timeout_that_cannot_apply_is_refused_naming_the_key(strategy, message):
    with pytest.raises(Exception, match=message):
        parse_config(BASE + f"strategy: {strategy}\n")
