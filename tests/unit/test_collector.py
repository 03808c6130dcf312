"""The cyclic collector held off a deployment's objects while deployments run
(zerodown/engine/collector.py), and given them back when the last one ends."""

from __future__ import annotations

import gc
import threading

from zerodown.engine import collector


class Cycle:
    def __init__(self):
        self.me = self


def test_what_is_alive_when_a_deployment_begins_is_frozen_until_it_ends():
    before = gc.get_freeze_count()
    alive = Cycle()
    with collector.held_off():
        assert gc.get_freeze_count() > before
        assert gc.is_tracked(alive)
    assert gc.get_freeze_count() == 0, "unfrozen when the last deployment ended"


def test_a_cycle_that_died_during_the_deployment_is_collected_after_it():
    seen = threading.Event()
    doomed = Cycle()
    doomed.flag = seen
    doomed.__class__ = type("Noticed", (Cycle,), {"__del__": lambda self: self.flag.set()})
    with collector.held_off():
        del doomed  # garbage, but frozen: a full pass does not walk it
        gc.collect()
        assert not seen.is_set()
    gc.collect()
    assert seen.is_set()


def test_overlapping_deployments_unfreeze_only_when_the_last_ends():
    first, second = collector.held_off(), collector.held_off()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_freeze_count() > 0, "the other deployment still runs"
    second.__exit__(None, None, None)
    assert gc.get_freeze_count() == 0


def test_a_deployment_that_raises_still_unfreezes():
    try:
        with collector.held_off():
            raise RuntimeError("the step failed")
    except RuntimeError:
        pass
    assert gc.get_freeze_count() == 0


def test_garbage_made_during_one_deployment_is_not_frozen_by_the_next_one_s_start():
    """The daemon runs a deployment per service: they may overlap for days (a paused
    canary beside others). Each start froze what the ones before had made, garbage
    included, so while any ran, the cycles that died meanwhile were never collected."""
    seen = threading.Event()
    first, second = collector.held_off(), collector.held_off()
    automatic = gc.isenabled()
    gc.disable()  # no pass of its own between the drop and the second start
    first.__enter__()
    try:
        doomed = Cycle()
        doomed.flag = seen
        doomed.__class__ = type("Noticed", (Cycle,), {"__del__": lambda self: self.flag.set()})
        del doomed  # made and dropped while the first runs
        second.__enter__()
        try:
            first.__exit__(None, None, None)
            first = None
            gc.collect()
            assert seen.is_set(), "a cycle made during a deployment stayed frozen"
        finally:
            second.__exit__(None, None, None)
    finally:
        if first is not None:
            first.__exit__(None, None, None)
        if automatic:
            gc.enable()
    assert gc.get_freeze_count() == 0
