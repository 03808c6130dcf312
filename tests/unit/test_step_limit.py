"""The bound of the step in progress, which status and deploy count against."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from zerodown.config import load_config
from zerodown.gather import step_limit
from zerodown.hooks_model import Hooks, HookSpec
from zerodown.model import InstanceRef, Slot
from zerodown.plan import Analyze, Drain, Hook, Pause, Start, Stop, WaitHealthy

CFG = load_config(str(Path(__file__).parents[2] / "examples" / "zerodown.yaml"))
CFG = replace(CFG, drain_timeout=7.0, stop_grace=3.0,
              health=replace(CFG.health, start_timeout=11.0),
              hooks=Hooks(before_traffic=(HookSpec(command="true", timeout=5.0),
                                          HookSpec(http="http://x/", timeout=2.5))))
ONE = (InstanceRef(2, Slot(0)),)


@pytest.mark.parametrize("step, cfg, limit", [
    (WaitHealthy(ONE), CFG, 11.0), (Drain(ONE), CFG, 7.0), (Stop(ONE), CFG, 3.0),
    (Hook("before_traffic"), CFG, 7.5), (Hook("after_promote"), CFG, None),
    (Pause("x", 30.0), None, 30.0), (Pause("x", None, 600.0, "promote"), None, 600.0),
    (Pause("x"), CFG, None), (Start(ONE), CFG, None), (Analyze(2), CFG, None),
    (WaitHealthy(ONE), None, None),
])
def test_step_limit(step, cfg, limit):
    assert step_limit(step, cfg) == limit
