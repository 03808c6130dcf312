"""A deployment whose plan routes nothing at some step is refused before anything starts,
unless --allow-downtime; the documented examples never hit the refusal."""

from __future__ import annotations

import shlex

import pytest

from tests.support.engine_world import config  # the engine tests' service: 3 instances, rolling
from zerodown.commands import build_parser
from zerodown.commands.connect import strategy_settings
from zerodown.commands.examples import EXAMPLES
from zerodown.config import apply_overrides, parse_config, starter_yaml
from zerodown.engine.runner import Engine
from zerodown.errors import ConfigError
from zerodown.engine.store import Store
from zerodown.fakes import FakeClock, FakeRouter, FakeRuntime
from zerodown.model import InstanceRef, Slot
from zerodown.plan import DowntimePlan, ServiceState, Target
from zerodown.strategies import plan_for

def test_deploy_refuses_a_plan_that_routes_nothing_and_records_nothing(tmp_path):
    runtime, router, clock = FakeRuntime(healthy_after=1), FakeRouter(), FakeClock(limit=10_000)
    engine = Engine(Store(str(tmp_path / "zd.db")), runtime, router, clock, config(3))
    assert engine.run(engine.deploy("v1")).value == "succeeded"  # a first deploy has no users
    for setting in ('strategy={kind: in-place, batch_size: 3}',
                    'strategy={kind: rolling, max_surge: 0, max_unavailable: "100%"}'):
        with pytest.raises(DowntimePlan, match="routes nothing at step .* --allow-downtime"):
            engine.deploy("v2", overrides=[setting])
    assert len(engine.store.deployments("shop")) == 1 and len(engine.store.revisions("shop")) == 1
    id = engine.deploy("v2", overrides=['strategy={kind: in-place, batch_size: 3}'],
                       allow_downtime=True)
    assert engine.run(id).value == "succeeded"


def test_the_documented_examples_keep_serving_on_the_starter_config():
    cfg = parse_config(starter_yaml())
    serving = ServiceState(cfg.service, 1, tuple(InstanceRef(1, Slot(i))
                                                 for i in range(cfg.instances)))
    parser, checked = build_parser(), 0
    for line in EXAMPLES["deploy"] + EXAMPLES["plan"]:
        args = parser.parse_args(shlex.split(line)[1:])
        try:
            planned = apply_overrides(cfg, *strategy_settings(cfg, args))
        except ConfigError:
            continue  # an example for another strategy's config (a preview_header): not ours
        checked += 1
        plan = plan_for(planned.strategy, serving, Target(2, planned.instances))
        assert plan.outage() is None, line
    assert checked >= 4
