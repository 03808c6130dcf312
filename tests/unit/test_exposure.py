"""What a plan risks at each moment: exposure to the new revision and the way back."""

from __future__ import annotations

from zerodown.model import InstanceRef, Slot
from zerodown.plan import ServiceState, Target
from zerodown.strategies import plan_for
from zerodown.strategies.exposure import exposure, restarts_to_undo
from zerodown.strategies.options import (Amount, BlueGreenStrategy, CanaryStrategy,
                                         InPlaceStrategy, PauseStep, RollingStrategy, WeightStep)

STATE = ServiceState("shop", 1, tuple(InstanceRef(1, Slot(i)) for i in range(4)))


def plan(strategy):
    return plan_for(strategy, STATE, Target(2, 4))


def test_blue_green_exposes_nobody_early_and_keeps_the_way_back_a_switch_until_it_ends():
    p = plan(BlueGreenStrategy(scale_down_delay=30))
    assert exposure(p.steps, 2) == 0
    moments = restarts_to_undo(p.steps, 1, 4)
    assert moments[:-1] == [0] * len(p.steps) and moments[-1] == 4  # blue stops last


def test_a_canary_exposes_its_largest_weight_and_never_stops_stable_before_the_end():
    p = plan(CanaryStrategy(steps=(WeightStep(10), PauseStep(60), WeightStep(40))))
    assert exposure(p.steps, 2) == 40
    assert max(restarts_to_undo(p.steps, 1, 4)[:-1]) == 0


def test_in_place_and_rolling_stop_stable_as_they_go():
    p = plan(InPlaceStrategy(Amount(1)))
    # Just before the end: the last old instance is out, three serve, two of them new.
    assert round(exposure(p.steps, 2), 1) == 66.7
    assert max(restarts_to_undo(p.steps, 1, 4)[:-1]) == 4  # the last old one stopped, new not up
    p = plan(RollingStrategy(Amount(1), Amount(0)))
    assert 0 < exposure(p.steps, 2) < 100
    assert restarts_to_undo(p.steps, 1, 4)[-1] == 4
