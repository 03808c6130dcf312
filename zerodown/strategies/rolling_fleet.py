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

An old instance counts on the host it runs on (recorded: placement.Fleet), so after
runtime.hosts changed a batch still stops one host's instances and all of them. A host
the list no longer has is a batch of its own at the end, where nothing new starts: its
instances leave once the listed hosts run the new revision (their share is 0).
"""

from __future__ import annotations

from collections import Counter
from heapq import merge
from itertools import islice

from zerodown.model import InstanceRef
from zerodown.plan import ORDER, PlanError, Target
from zerodown.strategies.builder import PlanBuilder
from zerodown.strategies.options import RollingStrategy
from zerodown.strategies.placement import Fleet, desired, fleet_of, host_batches, hosts_at_once


def waves(b: PlanBuilder, strategy: RollingStrategy, target: Target,
          new: list[InstanceRef], old: list[InstanceRef], surge: int, unavailable: int,
          default_host: str) -> None:
    n, fleet = target.instances, fleet_of(b.state, target.hosts)
    listed, hosts = fleet.listed, len(fleet)
    want = desired(n, listed) + [0] * (hosts - listed)  # nothing new on an unlisted host
    # Per host, in slot order: counts kept as they change, so a wave costs what it moves.
    news = _by_host(new, fleet)
    keep = {r for h in range(hosts) for r in news[h][:want[h]]}
    # New instances beyond a host's share go like old ones (scaling down, an uneven spread).
    olds = _by_host(old + [r for r in new if r not in keep], fleet)
    fresh_on = [min(len(news[h]), want[h]) for h in range(hosts)]
    running = [fresh_on[h] + len(olds[h]) for h in range(hosts)]
    extra = strategy.max_surge_per_host or n + surge
    room = [max(want[h], running[h]) + extra for h in range(hosts)]
    batches = [list(range(hosts))]  # batch_by: count: the whole fleet moves as one
    if strategy.batch_by == "host":
        batches = host_batches(list(merge(*olds, key=ORDER)), fleet,
                               hosts_at_once(strategy.batch_size, listed))
    rank = {h: i for i, batch in enumerate(batches) for h in batch}
    # Scaling down: what is above `instances` leaves first, from the hosts above their share.
    excess = sum(running) - n
    if excess > 0:
        gone: list[InstanceRef] = []
        for h in range(hosts):
            cut = min(max(0, running[h] - want[h]), excess - len(gone))
            gone += olds[h][:cut]
            olds[h], running[h] = olds[h][cut:], running[h] - cut
        b.take_out(sorted(gone, key=ORDER))
    active: set[int] = set()
    while batches or active:
        if not active or all(fresh_on[h] == want[h] and not olds[h] for h in active):
            if not batches:
                break
            active = set(batches.pop(0))
            continue
        # Take out what the fleet's floor allows, from the active hosts of the earliest batch
        # that has old ones (oldest slots first: on each host a prefix of its old ones). A
        # batch joined by the next one (it could not move alone) lets that one start new
        # instances, but its own old ones leave first: no host's leaving is split by another's.
        floor_room = max(0, sum(running) - (n - unavailable))
        lead = min((rank[h] for h in active if olds[h]), default=None)
        out = list(islice(merge(*(olds[h] for h in active if rank[h] == lead), key=ORDER),
                          floor_room))
        b.take_out(out)
        for h, cut in Counter(fleet.index(r) for r in out).items():
            olds[h], running[h] = olds[h][cut:], running[h] - cut
        # Start what the fleet's ceiling and each host's room allow, spread over the hosts.
        picked = _turns(active, max(0, n + surge - sum(running)),
                        lambda h: (want[h] - running[h], want[h] - fresh_on[h]),
                        lambda h: room[h] - running[h])
        fresh = [InstanceRef(target.revision, b.slot_on(h, listed, surge == 0, default_host))
                 for h in picked]
        # Before the leaving ones' drain and stop (builder.py), unless a host's room is set
        # (it counts every process on the host, leaving ones too) or batches are hosts (the
        # next batch waits for the one before).
        b.bring_in(fresh, early=strategy.max_surge_per_host is None and strategy.batch_by != "host")
        for h in picked:
            fresh_on[h], running[h] = fresh_on[h] + 1, running[h] + 1
        if not out and not fresh:
            if not batches:
                raise PlanError(f"rolling plan stuck with surge={surge} "
                                f"unavailable={unavailable} on {hosts} hosts")
            active |= set(batches.pop(0))  # this batch cannot move alone: the next one helps


def _by_host(refs: list[InstanceRef], fleet: Fleet) -> list[list[InstanceRef]]:
    out: list[list[InstanceRef]] = [[] for _ in range(len(fleet))]
    for r in sorted(refs, key=ORDER):
        out[fleet.index(r)].append(r)
    return out


def _turns(active: set[int], count: int, need, room) -> list[int]:
    """Hosts for `count` new instances, one at a time: to the active host furthest below its
    share (a slot just freed there), then the one lacking most new ones, then the lowest
    index; only hosts that still lack new ones and have room."""
    picked: list[int] = []
    taken = dict.fromkeys(active, 0)
    for _ in range(count):
        def short(h: int) -> tuple[int, int]:
            below, lacking = need(h)
            return below - taken[h], lacking - taken[h]
        left = [h for h in sorted(active) if short(h)[1] > 0 and room(h) > taken[h]]
        if not left:
            break
        h = max(left, key=lambda h: (*short(h), -h))
        picked.append(h)
        taken[h] += 1
    return picked
