"""Deployment phases as data: every transition, every signal, every plan surgery, as tables."""

from __future__ import annotations

import itertools

import pytest

from zerodown.engine.lifecycle import (ACTIVE, END_OF, PLAN_OF, RUNNABLE, TRANSITIONS, Phase,
                                       PhaseError, exit_code, held_for, holds_for, promoted,
                                       signal, splice, teardown, transition)
from zerodown.model import InstanceRef, Slot
from zerodown.plan import Analyze, Drain, Pause, Route, ServiceState, Share, Start, Stop, WaitHealthy

P = Phase
# The spec, written out independently of the module's table.
ALLOWED = {
    (P.PENDING, P.RUNNING), (P.PENDING, P.ABORTED), (P.PENDING, P.FAILED),
    (P.RUNNING, P.PAUSED), (P.RUNNING, P.PROMOTING), (P.RUNNING, P.ROLLING_BACK),
    (P.RUNNING, P.ABORTING), (P.RUNNING, P.SUCCEEDED), (P.RUNNING, P.FAILED),
    (P.PAUSED, P.RUNNING), (P.PAUSED, P.PROMOTING), (P.PAUSED, P.ABORTING),
    (P.PROMOTING, P.PAUSED), (P.PROMOTING, P.ROLLING_BACK), (P.PROMOTING, P.ABORTING),
    (P.PROMOTING, P.SUCCEEDED), (P.PROMOTING, P.FAILED),
    (P.ROLLING_BACK, P.ROLLED_BACK), (P.ROLLING_BACK, P.FAILED),
    (P.ABORTING, P.ABORTED), (P.ABORTING, P.FAILED),
}
TERMINAL = {P.SUCCEEDED, P.FAILED, P.ROLLED_BACK, P.ABORTED}


@pytest.mark.parametrize("current, to", list(itertools.product(Phase, Phase)),
                         ids=lambda p: p.value)
def test_every_pair_of_phases_is_allowed_or_refused_by_the_table(current, to):
    if (current, to) in ALLOWED:
        assert transition(7, current, to) is to
    else:
        with pytest.raises(PhaseError, match=f"^cannot .* deployment 7: it is {current.value}"):
            transition(7, current, to)


def test_the_module_table_is_the_spec():
    assert {(a, b) for a, tos in TRANSITIONS.items() for b in tos} == ALLOWED
    assert {p for p in Phase if p.terminal} == TERMINAL
    assert ACTIVE == set(Phase) - TERMINAL
    assert RUNNABLE == ACTIVE - {P.PAUSED}


@pytest.mark.parametrize("current, to, verb, message", [
    (P.SUCCEEDED, P.RUNNING, "resume", "cannot resume deployment 7: it is succeeded (finished; "
     "`zerodown rollback` goes back to the previous revision)"),
    (P.ROLLING_BACK, P.PAUSED, None, "cannot pause deployment 7: it is rolling_back and will end "
     "by itself"),
    (P.PAUSED, P.PAUSED, None, "cannot pause deployment 7: it is paused (resume, promote or "
     "abort it)"),
    (P.RUNNING, P.RUNNING, "resume", "cannot resume deployment 7: it is running"),
    (P.ABORTED, P.ABORTING, None, "cannot abort deployment 7: it is aborted (finished; "),
])
def test_refusals_name_the_deployment_its_phase_and_what_can_be_done(current, to, verb, message):
    with pytest.raises(PhaseError) as e:
        transition(7, current, to, verb)
    assert str(e.value).startswith(message)


SIGNALS = [  # verb, phase, at a timed pause step, -> (phase, request) or an error fragment
    ("pause", P.RUNNING, False, (P.PAUSED, None)),
    ("pause", P.PROMOTING, False, (P.PAUSED, None)),
    ("pause", P.PENDING, False, "cannot pause deployment 7: it is pending"),
    ("pause", P.ABORTING, False, "cannot pause deployment 7: it is aborting"),
    ("resume", P.PAUSED, False, (P.RUNNING, None)),
    ("resume", P.RUNNING, False, "cannot resume deployment 7: it is running"),
    ("resume", P.PENDING, False, "cannot resume deployment 7: it is pending"),
    ("resume", P.SUCCEEDED, False, "cannot resume deployment 7: it is succeeded"),
    ("promote", P.PAUSED, False, (P.RUNNING, "promote")),
    ("promote", P.RUNNING, True, (P.RUNNING, "promote")),
    ("promote", P.PROMOTING, True, (P.PROMOTING, "promote")),
    ("promote", P.RUNNING, False, "not at a pause (`promote --full`"),
    ("promote", P.SUCCEEDED, False, "cannot promote deployment 7: it is succeeded"),
    ("promote-full", P.RUNNING, False, (P.PROMOTING, None)),
    ("promote-full", P.PAUSED, False, (P.PROMOTING, None)),
    ("promote-full", P.PROMOTING, False, "cannot promote deployment 7: it is promoting"),
    ("promote-full", P.ROLLING_BACK, False, "cannot promote deployment 7: it is rolling_back"),
    ("abort", P.PENDING, False, (P.ABORTED, None)),
    ("abort", P.RUNNING, False, (P.ABORTING, None)),
    ("abort", P.PAUSED, False, (P.ABORTING, None)),
    ("abort", P.PROMOTING, False, (P.ABORTING, None)),
    ("abort", P.ROLLING_BACK, False, "cannot abort deployment 7: it is rolling_back"),
    ("abort", P.ABORTED, False, "cannot abort deployment 7: it is aborted"),
    ("restart", P.RUNNING, False, "unknown command 'restart'"),
]


@pytest.mark.parametrize("verb, current, at_pause, expected", SIGNALS)
def test_signals(verb, current, at_pause, expected):
    if isinstance(expected, str):
        with pytest.raises(PhaseError, match=expected.replace("(", r"\(")):
            signal(7, verb, current, at_pause)
    else:
        assert signal(7, verb, current, at_pause) == expected


HOLD = Pause("A/B test r5 at 50%", decision=True)
TIMED = Pause("A/B test r5 at 50%", timeout=3600, then="promote", decision=True)


@pytest.mark.parametrize("verb, expected", [
    ("resume", "cannot resume deployment 7: the A/B test holds for a decision: `zerodown "
               "promote` makes B (r5) everyone's, `zerodown abort` keeps A (r4)"),
    ("pause", "cannot pause deployment 7: the A/B test holds for a decision: `zerodown "
              "promote` makes B (r5) everyone's, `zerodown abort` keeps A (r4)"),
    ("promote", (P.RUNNING, "promote")), ("promote-full", (P.PROMOTING, None)),
    ("abort", (P.ABORTING, None))])
def test_at_an_ab_tests_hold_only_a_decision_is_taken(verb, expected):
    holds = held_for(HOLD, 4, 5)
    if isinstance(expected, str):
        with pytest.raises(PhaseError) as refused:
            signal(7, verb, P.PAUSED, holds=holds)
        assert str(refused.value) == expected
    else:
        assert signal(7, verb, P.PAUSED, holds=holds) == expected


def test_only_a_reached_ab_hold_holds_for_a_decision():
    """holds_for: the store's refusal and the API's deployments (the dashboard, deploy
    --wait) read it alike."""
    assert holds_for(P.PAUSED, HOLD, "ab-test", "deploy", True, 4, 5) == held_for(HOLD, 4, 5)
    # a plan stored by an older zerodown had no decision flag: the strategy says what it is
    old = Pause("A/B test r5 at 50%")
    assert holds_for(P.PAUSED, old, "ab-test", "deploy", True, 4, 5) == held_for(old, 4, 5)
    assert holds_for(P.PAUSED, old, "ab-test", "rollback", True, 4, 5) is None
    assert holds_for(P.PAUSED, old, "canary", "deploy", True, 4, 5) is None  # a canary's
    assert holds_for(P.PAUSED, HOLD, "ab-test", "deploy", False, 4, 5) is None  # before it
    assert holds_for(P.RUNNING, HOLD, "ab-test", "deploy", True, 4, 5) is None
    assert holds_for(P.PAUSED, None, "ab-test", "deploy", True, 4, 5) is None  # no step


def test_a_timed_hold_says_what_it_does_by_itself():
    assert held_for(TIMED, 4, 5).endswith("keeps A (r4); with neither, it will promote by "
                                          "itself 3600s after it began")
    assert TIMED.describe() == ("pause until promoted or aborted (or promote after 3600s): "
                                "A/B test r5 at 50%")


def test_every_plan_kind_can_end_from_the_phase_that_runs_it():
    runs_in = {"deploy": P.RUNNING, **{kind: phase for phase, kind in PLAN_OF.items()}}
    for kind, end in END_OF.items():
        assert end in TRANSITIONS[runs_in[kind]], kind


@pytest.mark.parametrize("phase, error, code", [
    (P.SUCCEEDED, None, 0), (P.PAUSED, None, 0), (P.PAUSED, "instance x did not ...", 1),
    (P.ROLLED_BACK, "x", 1), (P.ABORTED, None, 1), (P.FAILED, "x", 1)])
def test_exit_codes(phase, error, code):
    assert exit_code(phase, error) == code


# --- plan surgery -----------------------------------------------------------------

def ref(rev: int, slot: int) -> InstanceRef:
    return InstanceRef(rev, Slot(slot))


def route(*weights: tuple[int, float]) -> Route:
    return Route(tuple(Share(rev, (ref(rev, rev),), w) for rev, w in weights))


CANARY = (Start((ref(2, 2),)), WaitHealthy((ref(2, 2),)), route((1, 90), (2, 10)),
          Pause("look", None), Analyze(2), route((1, 50), (2, 50)), Pause("again", 60.0),
          route((2, 100)), Drain((ref(1, 1),)), Stop((ref(1, 1),)))


@pytest.mark.parametrize("steps, expected", [
    (CANARY, (CANARY[0], CANARY[1], CANARY[7], CANARY[8], CANARY[9])),
    (CANARY[3:], (CANARY[7], CANARY[8], CANARY[9])),
    (CANARY[8:], CANARY[8:]),  # nothing to skip
    ((Pause("x"),), ()),
    # A route separated from the next by a drain stays: no stop before its route-out.
    ((route((1, 100)), Drain((ref(1, 1),)), route((2, 100))),
     (route((1, 100)), Drain((ref(1, 1),)), route((2, 100)))),
])
def test_promoted_drops_pauses_and_analyses_and_squashes_to_the_final_weights(steps, expected):
    assert promoted(steps) == expected


@pytest.mark.parametrize("state, expected", [
    (ServiceState("shop", None), (Route(()),)),
    (ServiceState("shop", None, (ref(1, 0),), (ref(1, 1),)),
     (Route(()), Drain((ref(1, 0), ref(1, 1))), Stop((ref(1, 0), ref(1, 1))))),
])
def test_teardown_routes_nothing_then_drains_and_stops_everything(state, expected):
    assert teardown(state) == expected


@pytest.mark.parametrize("cursor, started, plan, at", [
    (2, False, ("a", "b", "X", "Y"), 2),       # between steps: the new plan takes the cursor's place
    (2, True, ("a", "b", "c", "X", "Y"), 3),   # a step in progress stays in the log, interrupted
    (0, False, ("X", "Y"), 0),
    (4, False, ("a", "b", "c", "d", "X", "Y"), 4),  # the plan had ended
])
def test_splice_keeps_the_history_and_points_at_the_new_steps(cursor, started, plan, at):
    assert splice(("a", "b", "c", "d"), cursor, started, ("X", "Y")) == (plan, at)
