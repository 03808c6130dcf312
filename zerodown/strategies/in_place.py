"""In-place: replace instances in their own slots, a batch at a time.

Per batch: route the batch out → drain → stop → start the new revision in
the same slots → wait healthy → route in. Serving capacity dips by the batch
size; nothing extra is ever started. Rolling back is the same plan towards
the old revision, which is why it is as slow as the deployment was.

batch_by: host (runtime: ssh) replaces the instances of `batch_size` hosts at a time,
each old instance counted on the host it runs on (recorded: placement.Fleet). Its new
instance goes on that same host: in its own slot where today's runtime.hosts places the
slot there (always, until the list changes), else in a slot of that host. Old instances
on a host the list no longer has are a batch of their own at the end; their new ones
take their slots, placed by today's list.
"""

from __future__ import annotations

from zerodown.model import InstanceRef
from zerodown.plan import ORDER, Plan, ServiceState, Target
from zerodown.strategies.builder import PlanBuilder, batches, split
from zerodown.strategies.options import InPlaceStrategy
from zerodown.strategies.placement import Fleet, by_host, fleet_of, hosts_at_once


def batch_size(strategy: InPlaceStrategy, instances: int) -> int:
    """Instances replaced at once: a percentage rounds down, but at least 1."""
    return max(1, min(instances, strategy.batch_size.resolve(instances, round_up=False)))


def host_batches(strategy: InPlaceStrategy, refs: list[InstanceRef],
                 fleet: Fleet | None) -> list[list[InstanceRef]]:
    """batch_by: host — every instance of `batch_size` hosts at a time, hosts in the order of
    their first instance (Kamal's boot.limit): those hosts are replaced whole while the
    others serve."""
    if fleet is None:
        return [[r] for r in refs]
    return by_host(refs, fleet, hosts_at_once(strategy.batch_size, fleet.listed))


def on_same_host(b: PlanBuilder, batch: list[InstanceRef], fleet: Fleet,
                 revision: int) -> list[InstanceRef]:
    """The new instances of a host batch, each on the host of the old one it replaces
    (when listed): its own slot if today's list places it there, else one of that host.
    Own slots are claimed first, so a slot of the host found free is never one of them."""
    def moves(r: InstanceRef) -> bool:  # runs on a listed host its slot is no longer on
        on = fleet.index(r)
        return on < fleet.listed and on != r.slot.index % fleet.listed
    kept = [b.claim(r.slot) for r in batch if not moves(r)]
    moved = [b.slot_on(fleet.index(r), fleet.listed, name=r.slot.host) for r in batch if moves(r)]
    return sorted((InstanceRef(revision, s) for s in (*kept, *moved)), key=ORDER)


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
    fleet = fleet_of(state, target.hosts) if target.hosts else None
    hostwise = strategy.batch_by == "host"
    for batch in host_batches(strategy, replace, fleet) if hostwise else batches(replace, size):
        b.take_out(batch)
        b.bring_in(on_same_host(b, batch, fleet, target.revision) if hostwise and fleet
                   else (InstanceRef(target.revision, b.claim(r.slot)) for r in batch))
    # Scaling down: what is left over goes once the new revision serves in full.
    b.take_out(old[len(replace):] + current[n:])
    return b.plan(f"in-place batch_size={strategy.batch_size}", target)
