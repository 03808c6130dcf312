"""Canary: give the new revision a growing share of users, judging it at each step.

The stable revision keeps every one of its instances until the end, so an
abort is one routing-table version away at every moment: all traffic back to
stable, then the canary drains and stops. The canary's own instances are a
fixed count, or scaled to each weight (ceil(instances × weight%), at least 1);
more start, and are healthy, before the weight that needs them is applied.

Who reaches the canary: a share of users by weight (sticky, if configured, so
a user stays on one side and moves only as the weight grows: stable lies
first on the split line, the canary after it), and every request matching a
rule, whatever the weight. With a preview_header, requests carrying it set to
1 reach the canary from its first instance on, before any user does (the place
for before_traffic smoke tests), and at every step after. A `shadow` step (before any weight)
copies users' requests to the canary's first instance and compares its answers with
stable's while users stay on stable. At the end the canary grows to the full count,
takes all traffic in one table version, and stable drains and stops.

A/B testing is the same plan held at a fixed split until a person decides:
`ab-test` is canary steps [{weight: split}, {pause: {}}] with sticky cohorts, its pause a
decision (Pause.decision): promote or abort ends it, a resume is refused there.
"""

from __future__ import annotations

from dataclasses import asdict

from zerodown.model import InstanceRef, Rule
from zerodown.plan import (Analyze, Drain, Pause, Plan, Route, ServiceState, Shadow, Share, Start,
                           Stop, Target, WaitHealthy, shares_of)
from zerodown.strategies.builder import PlanBuilder, split
from zerodown.strategies.options import (ABTestStrategy, AnalysisStep, CanaryStrategy, PauseStep,
                                         WeightStep)
from zerodown.strategies.shadow_options import ShadowStep, spec_of


def canary_count(strategy: CanaryStrategy, instances: int, weight: int) -> int:
    """Canary instances needed at `weight` percent: fixed, or scaled to the weight."""
    if strategy.canary_instances is not None:
        return max(1, min(instances, strategy.canary_instances.resolve(instances, round_up=True)))
    return max(1, -(-instances * weight // 100))


def plan(strategy: CanaryStrategy, state: ServiceState, target: Target,
         label: str | None = None, kind: str = "canary", decision: bool = False) -> Plan:
    """`decision`: its pauses hold for a person's promote or abort (an A/B test's hold)."""
    b = PlanBuilder(state)
    b.clean_unrouted()
    n = target.instances
    canary, stable = split(b.routed, target.revision)
    label = label or "canary " + " ".join(_step_text(s) for s in strategy.steps)
    if not stable:  # a first deployment: there is nothing to compare with or fall back to
        b.bring_in(InstanceRef(target.revision, b.slot()) for _ in range(max(0, n - len(canary))))
        return b.plan(f"{label} (first deploy: all at once)", target)
    name = f"r{target.revision}"
    preview = ((Rule(name, header=strategy.preview_header, equals="1"),)
               if strategy.preview_header else ())
    rules = tuple(Rule(name, m.header, m.cookie, m.equals, m.regex) for m in strategy.match)
    weight = 0

    def grow(count: int) -> None:
        fresh = tuple(InstanceRef(target.revision, b.slot(reuse=False))
                      for _ in range(count - len(canary)))
        if fresh:  # started and healthy before any weight or rule sends users to them
            b.steps += [Start(fresh), WaitHealthy(fresh)]
            canary.extend(fresh)

    def route(shadow: bool = False) -> Route:
        # A shadow compares the canary before any user has it: no match rule sends one there
        # meanwhile (the rules come back with the next step's route), a preview still may.
        used = () if shadow else rules
        return Route((*shares_of(stable), Share(target.revision, tuple(canary), weight)),
                     used + preview, strategy.sticky, preview=not weight and not used)

    if preview:  # open before any user gets it: where before_traffic smoke tests run
        grow(canary_count(strategy, n, 0))
        b.steps.append(route())
    for step in strategy.steps:
        if isinstance(step, WeightStep):
            weight = step.weight
        # A pause before any weight: at 0%. A shadow: at 0% always (an interrupted deployment
        # may have left users on the canary; a shadow compares it before any user has it).
        if isinstance(step, (WeightStep, ShadowStep)) or not canary:
            grow(canary_count(strategy, n, weight))
            b.steps.append(route(shadow=isinstance(step, ShadowStep)))
        if isinstance(step, PauseStep):
            b.steps.append(Pause(f"{kind} r{target.revision} at {weight}%" + _going_on(
                step, decision), step.duration, step.timeout, step.then, decision))
        elif isinstance(step, AnalysisStep):
            b.steps.append(Analyze(target.revision, asdict(step.analysis), state.stable))
        elif isinstance(step, ShadowStep):  # before any weight (validated): users on stable
            b.steps.append(Shadow(target.revision, spec_of(step.shadow)))
            if rules:  # the match rules again (a weight's route right after replaces this one)
                b.steps.append(route())
    if strategy.analysis is not None:  # no promotion without the background analysis's pass
        b.steps.append(Analyze(target.revision, {**asdict(strategy.analysis), "background": True},
                               state.stable))
    # Promotion: the canary grows to the full count, then takes every user at once.
    grow(n)
    b.steps += [Route((Share(target.revision, tuple(canary)),)), Drain(tuple(stable)),
                Stop(tuple(stable))]
    return b.plan(label, target)


def ab_plan(strategy: ABTestStrategy, state: ServiceState, target: Target) -> Plan:
    """Hold `split`% of users (sticky cohorts) on the new revision until promote or abort."""
    hold = PauseStep(None, strategy.pause_timeout, strategy.pause_then)
    canary = CanaryStrategy(steps=(WeightStep(strategy.split), hold),
                            canary_instances=strategy.canary_instances, match=strategy.match,
                            sticky=strategy.sticky)
    return plan(canary, state, target, label=f"a/b test {100 - strategy.split}/{strategy.split} "
                f"sticky by {strategy.sticky.mode} {strategy.sticky.name}", kind="A/B test",
                decision=True)


def _going_on(step: PauseStep, decision: bool) -> str:
    """What moves a pause on, in its reason: a timed one, nothing (it ends by itself)."""
    if decision:
        return " (`zerodown promote` makes B everyone's, `zerodown abort` keeps A)"
    return " (`zerodown promote` goes on)" if step.duration is None else ""


def _step_text(step) -> str:
    if isinstance(step, WeightStep):
        return f"{step.weight}%"
    if isinstance(step, PauseStep):
        return "pause" if step.duration is None else f"pause {step.duration:g}s"
    if isinstance(step, ShadowStep):
        return "shadow"
    return "analysis"
