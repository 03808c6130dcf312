"""Where a plan's instances run on a fleet (runtime: ssh): slot i on host i mod N.

Pure arithmetic over slot indices, shared by the planners: how many instances each
host should run (`desired`), which host an instance is on (`host_index`), and the
batches of hosts a `batch_by: host` deployment replaces in turn (`host_batches`).
The runtime places a new instance by the same rule (model.host_for); an existing one
is on the host recorded when it started (model.on_host), wherever the list has moved.
"""

from __future__ import annotations

from zerodown.model import InstanceRef
from zerodown.schema import Amount


def host_index(ref: InstanceRef, hosts: int) -> int:
    return ref.slot.index % hosts


def desired(instances: int, hosts: int) -> list[int]:
    """Instances per host for an even spread: the first `instances mod hosts` hosts get one
    more (5 over 3 hosts: 2, 2, 1) — what slots 0..instances-1 give."""
    return [instances // hosts + (1 if h < instances % hosts else 0) for h in range(hosts)]


def hosts_at_once(size: Amount, hosts: int) -> int:
    """`batch_size` with batch_by: host: hosts replaced at once (a percentage rounds down,
    at least 1)."""
    return max(1, min(hosts, size.resolve(hosts, round_up=False)))


def host_batches(refs: list[InstanceRef], hosts: int, size: int) -> list[list[int]]:
    """Host indices in batches of `size`: hosts in the order of their first instance among
    `refs` (the old ones, in slot order), then hosts without one in index order."""
    first = dict.fromkeys(host_index(r, hosts) for r in refs)  # ordered, each once
    order = [*first, *(h for h in range(hosts) if h not in first)]
    return [order[i:i + size] for i in range(0, len(order), size)]


def by_host(refs: list[InstanceRef], hosts: int, size: int) -> list[list[InstanceRef]]:
    """`refs` grouped into batches of `size` hosts each (empty batches left out)."""
    batches = host_batches(refs, hosts, size)
    batch_of = {h: i for i, batch in enumerate(batches) for h in batch}
    out: list[list[InstanceRef]] = [[] for _ in batches]
    for r in refs:  # one pass: each group keeps the order of `refs`
        out[batch_of[host_index(r, hosts)]].append(r)
    return [group for group in out if group]
