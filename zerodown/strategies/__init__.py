"""Pure planners: (strategy parameters, current state, target) -> Plan.

    plan_for(config.strategy, ServiceState("shop", 1, routed), Target(2, 4))

No I/O here: the engine executes plans. Blue-green and canary planners are
not written yet; asking for them raises PlanError.
"""

from __future__ import annotations

from typing import Callable

from zerodown.model import InstanceRef
from zerodown.plan import Plan, PlanError, ServiceState, Target
from zerodown.strategies import in_place, rolling
from zerodown.strategies.builder import PlanBuilder, split
from zerodown.strategies.options import InPlaceStrategy, RollingStrategy, StrategyConfig

PLANNERS: dict[type, Callable[..., Plan]] = {
    InPlaceStrategy: in_place.plan,
    RollingStrategy: rolling.plan,
}


def plan_for(strategy: StrategyConfig, state: ServiceState, target: Target) -> Plan:
    if target.instances < 1:
        raise PlanError(f"a deployment needs at least 1 instance, got {target.instances}")
    planner = PLANNERS.get(type(strategy))
    if planner is None:
        raise PlanError(f"strategy {strategy.kind} has no planner yet "
                        f"(available: {', '.join(c.kind for c in PLANNERS)})")
    return planner(strategy, state, target)


def rollback_plan(strategy: StrategyConfig, state: ServiceState, target: Target) -> Plan:
    """Back to `target` (the stable revision) from wherever a deployment got to.

    In-place and rolling go back by their own rules, so the capacity promise
    holds on the way back too. Other strategies abort at once.
    """
    if type(strategy) in PLANNERS:
        plan = plan_for(strategy, state, target)
        return Plan(f"rollback, {plan.strategy}", plan.state, plan.target, plan.steps)
    return abort_plan(state, target)


def abort_plan(state: ServiceState, target: Target) -> Plan:
    """All traffic to `target`'s routed instances in one route, then clean up.

    For blue-green and canary, where the stable revision still runs in full:
    one routing change takes every user back. Instances it lacks start after.
    """
    b = PlanBuilder(state)
    keep, other = split(b.routed, target.revision)
    if not keep:
        raise PlanError(f"cannot abort to r{target.revision}: none of its instances is routed")
    b.take_out(other + keep[target.instances:])
    b.clean_unrouted()
    missing = max(0, target.instances - len(keep))
    b.bring_in(InstanceRef(target.revision, b.slot()) for _ in range(missing))
    return b.plan("abort", target)
