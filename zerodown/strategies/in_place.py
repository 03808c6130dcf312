"""In-place: replace instances in their own slots, a batch at a time.

Per batch: route the batch out → drain → stop → start the new revision in
the same slots → wait healthy → route in. Serving capacity dips by the batch
size; nothing extra is ever started. Rolling back is the same plan towards
the old revision, which is why it is as slow as the deployment was.
"""

from __future__ import annotations

from zerodown.model import InstanceRef
from zerodown.plan import Plan, ServiceState, Target
from zerodown.strategies.builder import PlanBuilder, batches, split
from zerodown.strategies.options import InPlaceStrategy
from zerodown.strategies.placement import by_host, hosts_at_once


def batch_size(strategy: InPlaceStrategy, instances: int) -> int:
    """Instances replaced at once: a percentage rounds down, but at least 1."""
    return max(1, min(instances, strategy.batch_size.resolve(instances, round_up=False)))


def host_batches(strategy: InPlaceStrategy, refs: list[InstanceRef],
                 hosts: tuple[str, ...]) -> list[list[InstanceRef]]:
    """batch_by: host — every instance of `batch_size` hosts at a time, hosts in the order of
    their first instance (Kamal's boot.limit): those hosts are replaced whole while the
    others serve."""
    if not hosts:
        return [[r] for r in refs]
    return by_host(refs, len(hosts), hosts_at_once(strategy.batch_size, len(hosts)))


def plan(strategy: InPlaceStrategy, state: ServiceState, target: Target) -> Plan:
    b = PlanBuilder(state)
    b.clean_unrouted()
    n, size = target.instances, batch_size(strategy, target.instances)
    current, old = split(b.routed, target.revision)
    replace = old[:max(0, n - len(current))]
    # Scaling up: new slots cost no capacity, so they start first and all at once,
    # and the batches below then take out of a larger pool.
    missing = n - len(current) - len(replace)
    b.bring_in(InstanceRef(target.revision, b.slot()) for _ in range(max(0, missing)))
    for batch in (host_batches(strategy, replace, target.hosts) if strategy.batch_by == "host"
                  else batches(replace, size)):
        b.take_out(batch)
        b.bring_in(InstanceRef(target.revision, b.claim(r.slot)) for r in batch)
    # Scaling down: what is left over goes once the new revision serves in full.
    b.take_out(old[len(replace):] + current[n:])
    return b.plan(f"in-place batch_size={strategy.batch_size}", target)
