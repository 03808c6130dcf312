"""Where a plan's instances run on a fleet (runtime: ssh): slot i on host i mod N.

Pure arithmetic over slot indices and recorded hosts, shared by the planners: how many
instances each host should run (`desired`), which host an instance is on
(`Fleet.index`), and the batches of hosts a `batch_by: host` deployment replaces in turn
(`host_batches`). A NEW instance is placed by today's runtime.hosts (model.host_for); an
EXISTING one is on the host recorded when it started (ServiceState.runs_on, model.on_host),
wherever the list has moved since, so a batch stops instances of the hosts it names and
no other's. Hosts the list no longer has count after the listed ones: old instances run
there, nothing new goes there.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from zerodown.model import InstanceRef
from zerodown.plan import ORDER, ServiceState
from zerodown.schema import Amount
from zerodown.strategies.builder import batches


@dataclass(frozen=True)
class Fleet:
    """The hosts a plan counts: `names` is today's runtime.hosts (the first `listed`),
    then the hosts that old instances are recorded on and the list no longer has, in the
    order of their first instance. `on`: each recorded instance's index in `names`."""

    names: tuple[str, ...]
    listed: int
    on: Mapping[InstanceRef, int]

    def index(self, ref: InstanceRef) -> int:
        """The host `ref` runs on: recorded, else (one this plan starts, a row of an
        older store) its slot's in today's list."""
        at = self.on.get(ref)
        return ref.slot.index % self.listed if at is None else at

    def __len__(self) -> int:
        return len(self.names)


def fleet_of(state: ServiceState, hosts: tuple[str, ...]) -> Fleet:
    """The Fleet of `state`'s instances (their recorded hosts) over `hosts` (non-empty)."""
    mine = sorted((r for r in (*state.routed, *state.unrouted) if r in state.runs_on), key=ORDER)
    names = tuple(dict.fromkeys([*hosts, *(state.runs_on[r] for r in mine)]))
    at = {name: i for i, name in enumerate(names)}
    return Fleet(names, len(hosts), MappingProxyType({r: at[state.runs_on[r]] for r in mine}))


def desired(instances: int, hosts: int) -> list[int]:
    """Instances per host for an even spread: the first `instances mod hosts` hosts get one
    more (5 over 3 hosts: 2, 2, 1) — what slots 0..instances-1 give."""
    return [instances // hosts + (1 if h < instances % hosts else 0) for h in range(hosts)]


def hosts_at_once(size: Amount, hosts: int) -> int:
    """`batch_size` with batch_by: host: hosts replaced at once (a percentage rounds down,
    at least 1)."""
    return max(1, min(hosts, size.resolve(hosts, round_up=False)))


def host_batches(refs: list[InstanceRef], fleet: Fleet, size: int) -> list[list[int]]:
    """Host indices in batches of `size`: listed hosts in the order of their first instance
    among `refs` (the old ones, in slot order), then listed hosts without one in index
    order; last, in batches of their own, the hosts no longer listed that `refs` run on
    (their instances leave once the listed hosts run the new revision)."""
    first = dict.fromkeys(fleet.index(r) for r in refs)  # ordered, each once
    order = [*(h for h in first if h < fleet.listed),
             *(h for h in range(fleet.listed) if h not in first)]
    gone = [h for h in first if h >= fleet.listed]
    return [*batches(order, size), *batches(gone, size)]


def by_host(refs: list[InstanceRef], fleet: Fleet, size: int) -> list[list[InstanceRef]]:
    """`refs` grouped into batches of `size` hosts each (empty batches left out)."""
    groups = host_batches(refs, fleet, size)
    batch_of = {h: i for i, batch in enumerate(groups) for h in batch}
    out: list[list[InstanceRef]] = [[] for _ in groups]
    for r in refs:  # one pass: each group keeps the order of `refs`
        out[batch_of[fleet.index(r)]].append(r)
    return [group for group in out if group]

