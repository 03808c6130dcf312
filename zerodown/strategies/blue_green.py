"""Blue/green: start the whole new (green) set beside the old (blue), then switch at once.

    start green → wait healthy → preview route (header → green; users stay on blue)
    → [pre-promotion shadow: users' requests copied to green, answers compared]
    → [pre-promotion analysis] → [pause until `zerodown promote`]
    → switch: one routing-table version, every user to green, none to blue
    → [post-promotion analysis] → keep blue for scale_down_delay → drain and stop blue
      (or keep it running outside the table: keep_previous)

While blue runs, going back is a table switch only: an abort (or `zerodown
rollback` inside the window) re-checks blue's health and routes it back in
one table version, starting no process. What an earlier deployment left
running outside the table (a kept blue, or an interrupted deployment's
instances) is stopped last, once green serves: until then it is the way back.
"""

from __future__ import annotations

from dataclasses import asdict

from zerodown.model import InstanceRef, Rule
from zerodown.plan import (Analyze, Drain, Pause, Plan, Route, ServiceState, Shadow, Share, Start,
                           Stop, Target, WaitHealthy, shares_of)
from zerodown.strategies.builder import PlanBuilder, split
from zerodown.strategies.options import BlueGreenStrategy
from zerodown.strategies.shadow_options import spec_of


def plan(strategy: BlueGreenStrategy, state: ServiceState, target: Target) -> Plan:
    b = PlanBuilder(state)
    n = target.instances
    green, blue = split(b.routed, target.revision)
    fresh = tuple(InstanceRef(target.revision, b.slot(reuse=False))
                  for _ in range(n - len(green)))
    if fresh:
        b.steps += [Start(fresh), WaitHealthy(fresh)]
    green = [*green, *fresh]
    extra, green = green[n:], green[:n]
    if blue and strategy.preview_header:
        b.steps.append(Route((*shares_of(blue), Share(target.revision, tuple(green), 0)),
                             (Rule(f"r{target.revision}", header=strategy.preview_header,
                                   equals="1"),), preview=True))
    if blue and strategy.pre_promotion_shadow is not None:  # users' requests copied to green
        if not strategy.preview_header:  # no preview route above: green at 0%, no user on it
            b.steps.append(Route((*shares_of(blue), Share(target.revision, tuple(green), 0)),
                                 preview=True))
        b.steps.append(Shadow(target.revision, spec_of(strategy.pre_promotion_shadow)))
    if strategy.pre_promotion_analysis is not None:
        b.steps.append(Analyze(target.revision, asdict(strategy.pre_promotion_analysis),
                               state.stable))
    if blue and not strategy.auto_promote:
        b.steps.append(Pause(f"green r{target.revision} is up"
                             + (f" (preview: {strategy.preview_header}: 1)"
                                if strategy.preview_header else "")
                             + "; `zerodown promote` switches traffic",
                             None, strategy.pause_timeout, strategy.pause_then))
    b.steps.append(Route((Share(target.revision, tuple(green)),)))
    if strategy.post_promotion_analysis is not None:
        b.steps.append(Analyze(target.revision, asdict(strategy.post_promotion_analysis),
                               state.stable))
    old = tuple(sorted((*blue, *extra)))
    if old and strategy.scale_down_delay > 0:
        b.steps.append(Pause(f"blue kept {strategy.scale_down_delay:g}s for an instant rollback",
                             strategy.scale_down_delay))
    if old and strategy.keep_previous:
        # Out of the table but running: confirmed healthy, it is the next rollback's target.
        b.steps += [Drain(old), WaitHealthy(old)]
    elif old:
        b.steps += [Drain(old), Stop(old)]
    b.clean_unrouted()  # what an earlier deployment kept, now that green serves
    return b.plan(_label(strategy), target)


def _label(s: BlueGreenStrategy) -> str:
    parts = ["blue-green", "auto_promote" if s.auto_promote else "manual promote",
             f"scale_down_delay={s.scale_down_delay:g}s"]
    if s.keep_previous:
        parts.append("keep_previous")
    if s.preview_header:
        parts.append(f"preview={s.preview_header}")
    return " ".join(parts)
