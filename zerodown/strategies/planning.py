"""Pure planners: (strategy parameters, current state, target) -> Plan.

    plan_for(config.strategy, ServiceState("shop", 1, routed), Target(2, 4))

No I/O here: the engine executes plans. `hooks` names the lifecycle
moments that have hooks configured; the plan gets a Hook step at each
(zerodown/strategies/moments.py). Named from the package (`from zerodown.strategies
import plan_for`), which loads this module on first use (its __init__ says why).
"""

from __future__ import annotations

from typing import AbstractSet, Callable

from zerodown.model import InstanceRef, fleet_hosts
from zerodown.plan import (DowntimePlan, Plan, PlanError, ServiceState, Target, WaitHealthy,
                           route_of)
from zerodown.strategies import blue_green, canary, in_place, rolling
from zerodown.strategies.builder import PlanBuilder, split
from zerodown.strategies.moments import with_hooks
from zerodown.strategies.options import (ABTestStrategy, BlueGreenStrategy, CanaryStrategy,
                                         InPlaceStrategy, RollingStrategy, StrategyConfig)

PLANNERS: dict[type[StrategyConfig], Callable[..., Plan]] = {
    InPlaceStrategy: in_place.plan,
    RollingStrategy: rolling.plan,
    BlueGreenStrategy: blue_green.plan,
    CanaryStrategy: canary.plan,
    ABTestStrategy: canary.ab_plan,
}
# Strategies that go back the way they came (replacing instances); the others keep
# the stable revision running until the end, so going back is a table switch.
GO_BACK_BY_OWN_RULES = (InPlaceStrategy, RollingStrategy)


def target_for(cfg, revision: int, placed_by=None) -> Target:
    """What a plan aims at for a ServiceConfig: `instances` of `revision`, on the fleet's
    hosts when the runtime is ssh (in-place's batch_by: host groups by them). `placed_by`:
    the runtime section that places instances (the engine's own config's), when it is not
    `cfg`'s — a rollback goes to a revision recorded with another runtime.hosts, but its
    instances start where today's runtime puts them, so its batches are by those hosts."""
    hosts = fleet_hosts(placed_by or cfg.runtime)
    return Target(revision, instances_on(cfg, hosts), hosts)


def instances_on(cfg, hosts: tuple[str, ...]) -> int:
    """How many instances `cfg` runs on `hosts`: its runtime.instances_per_host on each
    (a per-host rule: a revision recorded on 3 hosts × 2, rolled back to on today's 2,
    runs 4, not its day's 6 crowded 3 to a host), else its `instances` (a fleet total,
    spread over whatever hosts there are)."""
    per = cfg.runtime.options.get("instances_per_host") if cfg.runtime.kind == "ssh" else None
    return per * len(hosts) if isinstance(per, int) and hosts else cfg.instances


def plan_for(strategy: StrategyConfig, state: ServiceState, target: Target,
             hooks: AbstractSet[str] = frozenset(), *, allow_downtime: bool = False) -> Plan:
    """The plan; a DowntimePlan error if it would route nothing at some step while the
    service serves (e.g. in-place with batch_size = instances), unless `allow_downtime`."""
    return refuse_downtime(_plan(strategy, state, target, hooks), strategy, allow_downtime)


def refuse_downtime(plan: Plan, strategy: StrategyConfig, allow: bool) -> Plan:
    """The plan, if it keeps at least one instance routed at every step while the
    service serves (or the downtime is allowed); else a DowntimePlan error."""
    step = plan.outage()
    if step is not None and not allow:
        raise DowntimePlan(
            f"this {strategy.kind} plan routes nothing at step {step} of {len(plan.steps)} "
            f"(every request gets 503 until a new instance is routed): "
            f"{_downtime_hint(strategy)}, or allow the outage with --allow-downtime")
    return plan


def _downtime_hint(strategy: StrategyConfig) -> str:
    if isinstance(strategy, InPlaceStrategy):
        return "make strategy.batch_size smaller than instances (or use rolling with max_surge)"
    if isinstance(strategy, RollingStrategy):
        return "make strategy.max_unavailable smaller than instances (or use max_surge)"
    return "keep at least one instance routed"


def _plan(strategy: StrategyConfig, state: ServiceState, target: Target,
          hooks: AbstractSet[str]) -> Plan:
    if target.instances < 1:
        raise PlanError(f"a deployment needs at least 1 instance, got {target.instances}")
    planner = PLANNERS.get(type(strategy))
    if planner is None:
        raise PlanError(f"strategy {strategy.kind} has no planner "
                        f"(available: {', '.join(c.kind for c in PLANNERS)})")
    plan = planner(strategy, state, target)
    return Plan(plan.strategy, plan.state, plan.target,
                with_hooks(plan.steps, target.revision, hooks))


def rollback_plan(strategy: StrategyConfig, state: ServiceState, target: Target,
                  hooks: AbstractSet[str] = frozenset(), *, allow_downtime: bool = False) -> Plan:
    """Back to `target` (the stable revision) from wherever a deployment got to.

    In-place and rolling go back by their own rules, so the capacity promise
    holds on the way back too. Blue/green and canary abort: a table switch
    while the stable revision still runs.
    """
    strategy = rollback_strategy(strategy, state, target)
    if not isinstance(strategy, GO_BACK_BY_OWN_RULES):
        return abort_plan(state, target, hooks)
    plan = plan_for(strategy, state, target, allow_downtime=allow_downtime)
    return Plan(f"rollback, {plan.strategy}", plan.state, plan.target,
                with_hooks(plan.steps, target.revision, hooks, undo=True))


def rollback_strategy(strategy: StrategyConfig, state: ServiceState,
                      target: Target) -> StrategyConfig:
    """The strategy rollback_plan goes back by: `strategy` itself (in-place and rolling by
    their rules, the others by a table switch), or rolling when the others cannot switch
    because nothing of the target runs any more. What a rollback records as its strategy."""
    if isinstance(strategy, GO_BACK_BY_OWN_RULES) or _target_runs(state, target):
        return strategy
    return RollingStrategy()


def _target_runs(state: ServiceState, target: Target) -> bool:
    """Whether an instance of `target` runs, in the table or out of it: what abort_plan
    needs, and what rollback_strategy asks before it chooses an abort."""
    return any(r.revision == target.revision for r in (*state.routed, *state.unrouted))


def abort_plan(state: ServiceState, target: Target,
               hooks: AbstractSet[str] = frozenset()) -> Plan:
    """All traffic to `target`'s instances in one route, then clean up.

    For blue-green and canary, where the stable revision still runs in full:
    one routing change takes every user back. Instances of it that run
    outside the table (blue after the switch, kept for this) are probed
    once and routed back in the same change, starting no process.
    Instances it lacks start after.
    """
    if not _target_runs(state, target):
        raise PlanError(f"cannot abort to r{target.revision}: none of its instances runs")
    keep, other = split(state.routed, target.revision)
    idle = [r for r in sorted(state.unrouted) if r.revision == target.revision]
    idle = idle[:max(0, target.instances - len(keep))]
    # Idle ones count as routed from here: probed first, they join the one route below.
    b = PlanBuilder(ServiceState(state.service, state.stable, (*state.routed, *idle),
                                 tuple(r for r in state.unrouted if r not in idle)))
    if idle:
        b.steps.append(WaitHealthy(tuple(idle)))
        keep += idle
    out = other + keep[target.instances:]
    if out:
        b.take_out(out)
    elif idle:
        b.steps.append(route_of(b.routed))
    b.clean_unrouted()
    missing = max(0, target.instances - len(keep))
    b.bring_in(InstanceRef(target.revision, b.slot()) for _ in range(missing))
    plan = b.plan("abort", target)
    return Plan(plan.strategy, state, target,
                with_hooks(plan.steps, target.revision, hooks, undo=True))
