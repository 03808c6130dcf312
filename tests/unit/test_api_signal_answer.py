"""A steering request's answer (POST /api/v1/deployments/{id}/promote, pause, resume,
abort) is the phase its signal set. The doorbell's ring wakes the controller's engine at
once (engine/doorbell.py), and the answer was read again after it: a promote at a manual
pause was answered "paused" — the next pause, reached by the woken engine meanwhile
(test_api.py's test_actions_recorded_with_who_and_why_and_streamed_live failed so)."""

from __future__ import annotations

from zerodown.daemon.actions import Actions
from zerodown.engine import store_deployments
from zerodown.engine.lifecycle import Phase
from zerodown.fakes import FakeRuntime

from tests.unit.test_controller_threads import controllers


def test_a_promote_answers_running_though_the_woken_engine_reached_the_next_pause(
        tmp_path, monkeypatch):
    fresh = controllers(tmp_path, monkeypatch, FakeRuntime())
    actions = Actions(fresh, lambda: None, "shop")
    id = actions.deploy({"version": "v1"}, "test", "unit")["id"]  # no runner here: pending
    engine = fresh().store()  # what the controller's engine writes
    engine.set_phase(id, Phase.RUNNING, "started")
    engine.set_phase(id, Phase.PAUSED, "at a manual pause")
    ring = store_deployments.doorbell.ring

    def woken_engine_reaches_the_next_pause(path):
        ring(path)
        engine.set_phase(id, Phase.PAUSED, "at the next manual pause")
    monkeypatch.setattr(store_deployments.doorbell, "ring", woken_engine_reaches_the_next_pause)
    assert actions.signal(id, "promote", {"reason": "looks good"}, "test", "unit") == \
        {"id": id, "phase": "running"}
    assert engine.deployment(id).phase is Phase.PAUSED  # (the engine did move on)
