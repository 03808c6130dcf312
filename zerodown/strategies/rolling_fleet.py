"""Rolling across a fleet (runtime: ssh): the same waves as rolling.py, placed on hosts.

Capacity is counted across the fleet: `max_unavailable` below and `max_surge` above
`instances`, whatever host the instances are on. Each new instance goes on a host that
lacks instances of the new revision (placement.desired: an even spread), in a slot of
that host; `max_surge_per_host` caps how many more than it ran before (or is meant to
run) a host runs at once: the room a host has for extra instances.

`batch_by: host` replaces `batch_size` hosts at a time (Kamal's boot.limit): a batch's
new instances start, are healthy and routed before its old ones drain (with surge),
waves inside the batch as the budgets allow, and the next batch waits for it. Only
when a batch cannot move without breaking a budget (scaling down from an uneven
spread) does the next batch join it, so a plan always exists.
"""

from __future__ import annotations

from zerodown.model import InstanceRef
from zerodown.plan import PlanError, Target
from zerodown.strategies.builder import PlanBuilder
from zerodown.strategies.options import RollingStrategy
from zerodown.strategies.placement import desired, host_batches, host_index, hosts_at_once


def waves(b: PlanBuilder, strategy: RollingStrategy, target: Target,
          new: list[InstanceRef], old: list[InstanceRef], surge: int, unavailable: int,
          default_host: str) -> None:
    n, hosts = target.instances, len(target.hosts)
    want = desired(n, hosts)
    on = lambda refs, h: [r for r in refs if host_index(r, hosts) == h]  # noqa: E731
    # New instances beyond a host's share go like old ones (scaling down, an uneven spread).
    keep = [r for h in range(hosts) for r in on(new, h)[:want[h]]]
    old = sorted(old + [r for r in new if r not in set(keep)], key=lambda r: r.slot)
    new = keep
    room = [max(want[h], len(on(new + old, h))) + (strategy.max_surge_per_host or n + surge)
            for h in range(hosts)]
    size = hosts_at_once(strategy.batch_size, hosts) if strategy.batch_by == "host" else hosts
    batches = host_batches(old, hosts, size)
    active: set[int] = set()
    # Scaling down: what is above `instances` leaves first, from the hosts above their share.
    excess = len(new) + len(old) - n
    if excess > 0:
        surplus = [r for h in range(hosts) for r in on(old, h)[:max(0, len(on(new + old, h)) - want[h])]]
        gone = set(surplus[:excess])
        b.take_out(r for r in old if r in gone)
        old = [r for r in old if r not in gone]
    while batches or active:
        if not active or all(len(on(new, h)) == want[h] and not on(old, h) for h in active):
            if not batches:
                break
            active = set(batches.pop(0))
            continue
        # Take out what the fleet's floor allows, from the active hosts.
        mine = [r for r in old if host_index(r, hosts) in active]
        out = mine[:max(0, len(new) + len(old) - (n - unavailable))]
        b.take_out(out)
        old = [r for r in old if r not in set(out)]
        # Start what the fleet's ceiling and each host's room allow, spread over the hosts.
        start = max(0, n + surge - len(new) - len(old))
        running = [len(on(new + old, h)) for h in range(hosts)]
        picked = _turns(active, start, lambda h: (want[h] - running[h], want[h] - len(on(new, h))),
                        lambda h: room[h] - running[h])
        fresh = [InstanceRef(target.revision, b.slot_on(h, hosts, surge == 0, default_host))
                 for h in picked]
        b.bring_in(fresh)
        new += fresh
        if not out and not fresh:
            if not batches:
                raise PlanError(f"rolling plan stuck with surge={surge} "
                                f"unavailable={unavailable} on {hosts} hosts")
            active |= set(batches.pop(0))  # this batch cannot move alone: the next one helps


def _turns(active: set[int], count: int, need, room) -> list[int]:
    """Hosts for `count` new instances, one at a time: to the active host furthest below its
    share (a slot just freed there), then the one lacking most new ones, then the lowest
    index; only hosts that still lack new ones and have room."""
    picked: list[int] = []
    for _ in range(count):
        def short(h: int) -> tuple[int, int]:
            below, lacking = need(h)
            return below - picked.count(h), lacking - picked.count(h)
        left = [h for h in sorted(active) if short(h)[1] > 0 and room(h) > picked.count(h)]
        if not left:
            break
        picked.append(max(left, key=lambda h: (*short(h), -h)))
    return picked
