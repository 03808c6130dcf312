"""Rolling: move from the old revision to the new a few instances at a time.

`max_surge` instances may run above the target count and `max_unavailable`
below it, as in Kubernetes. Surge > 0 starts new instances before removing
old ones (the seed's variant 1); surge 0 replaces them in turn in their own
slots (variant 2); both mix. Each wave takes out as many old instances as
the capacity floor allows, then starts as many new ones as the surge
ceiling allows: in the slots just freed when replacing in turn, in new ones
when surging.
"""

from __future__ import annotations

from zerodown.model import InstanceRef
from zerodown.plan import Plan, PlanError, ServiceState, Target
from zerodown.strategies.builder import PlanBuilder, split
from zerodown.strategies.options import RollingStrategy
from zerodown.strategies.rolling_fleet import waves


def budgets(strategy: RollingStrategy, instances: int) -> tuple[int, int]:
    """(surge, unavailable) as counts: surge rounds up, unavailable down.

    When both come to 0 (e.g. 10% of 4 and 0), unavailable becomes 1, as in
    Kubernetes: otherwise no instance could ever be replaced.
    """
    surge = strategy.max_surge.resolve(instances, round_up=True)
    unavailable = strategy.max_unavailable.resolve(instances, round_up=False)
    return surge, (1 if surge == 0 and unavailable == 0 else unavailable)


def plan(strategy: RollingStrategy, state: ServiceState, target: Target) -> Plan:
    b = PlanBuilder(state)
    b.clean_unrouted()
    n = target.instances
    surge, unavailable = budgets(strategy, n)
    new, old = split(b.routed, target.revision)
    new, old = new[:n], old + new[n:]  # scaling down: extra new ones go like old ones
    first = min((r.slot for r in state.routed), default=None)
    default_host = first.host if first else "local"
    if target.hosts:
        waves(b, strategy, target, new, old, surge, unavailable, default_host)
        return b.plan(label(strategy), target)
    while len(new) < n or old:
        # Take out what the capacity floor allows: routed now minus the floor.
        out = min(len(old), max(0, len(new) + len(old) - (n - unavailable)))
        b.take_out(old[:out])
        old = old[out:]
        # Start what the ceiling allows: target + surge minus what still runs.
        start = max(0, min(n - len(new), n + surge - len(new) - len(old)))
        # A brand-new slot goes on the host of an old instance it replaces. Replacing in
        # turn (surge 0) reuses the slot just freed; surge takes new slots, so a new
        # instance never waits for an old one to finish exiting in the same slot. (The
        # first `start` old ones only: every wave reading all of them made planning O(N²).)
        hosts = [r.slot.host for r in old[:start]] + [default_host] * start
        fresh = [InstanceRef(target.revision, b.slot(hosts[i], reuse=surge == 0))
                 for i in range(start)]
        b.bring_in(fresh, early=True)  # not before a stop in its own slot: see builder.py
        new += fresh
        if not out and not start:  # unreachable while budgets() keeps one of them > 0
            raise PlanError(f"rolling plan stuck with surge={surge} unavailable={unavailable}")
    return b.plan(label(strategy), target)


def label(strategy: RollingStrategy) -> str:
    text = f"rolling max_surge={strategy.max_surge} max_unavailable={strategy.max_unavailable}"
    if strategy.max_surge_per_host is not None:
        text += f" max_surge_per_host={strategy.max_surge_per_host}"
    if strategy.batch_by == "host":
        text += f" batch_by=host batch_size={strategy.batch_size}"
    return text
