"""What serves, asked of the load balancer and the runtime rather than the store.

Two uses, one rule — losing the store must never stop serving:

- the stop guard: before any instance is stopped (a Stop step, an orphan the store
  does not own), the load balancer is asked which backends its table in force routes
  to; an instance it routes to is never stopped, whatever the store says;
- recovery: a store with no revision of the service (deleted, moved aside when
  damaged) while the load balancer routes to instances the runtime runs is rebuilt
  from them (their revisions, version labels, addresses, the table in force) before
  anything is planned, so the next deployment replaces them instead of starting over
  beside them and stopping them as orphans.
"""

from __future__ import annotations

from typing import Iterable

from zerodown.errors import HostFailure, RouterError
from zerodown.model import Instance, RoutingTable


def table_in_force(router) -> RoutingTable | None:
    """The table the load balancer serves, or None for a router that cannot say."""
    ask = getattr(router, "in_force", None)
    return None if ask is None else ask()


def still_routed(router, instances: Iterable[Instance],
                 in_force: RoutingTable | None = None) -> list[Instance]:
    """Those of `instances` the table in force sends traffic to (by id or address): as
    `in_force` if given (read of the load balancer just before), else asked of it.
    RouterError when the load balancer cannot be asked: the caller must not stop them."""
    instances = list(instances)
    if not instances:
        return []  # nothing to ask about: no call to the load balancer
    table = in_force if in_force is not None else table_in_force(router)
    if table is None:
        return []
    ids = {b.id for r in table.revisions for b in r.backends}
    addresses = {b.address for r in table.revisions for b in r.backends}
    return [i for i in instances if i.id in ids or i.address in addresses]


def recover(store, service: str, config: dict, runtime, router) -> str | None:
    """Rebuild a store that knows no revision of `service` from what serves; the message
    recorded, or None when there was nothing to recover (or the store is not empty)."""
    if store.latest_revision(service):
        return None
    try:
        table = table_in_force(router)
    except RouterError:
        return None  # no load balancer to ask: nothing serves through it
    except HostFailure:
        return None  # its host (router.host) does not answer: asked again next time
    if table is None or not table.backends():
        return None
    routed = {b.id: b.address for r in table.revisions for b in r.backends}
    adopted = runtime.adopt(service)
    if getattr(adopted, "unreachable", None):
        return None  # a partial picture would rebuild a partial store: wait for every host
    found = [i for i in adopted if routed.get(i.id) == i.address]
    if not found:
        return None
    versions = {i.revision: i.version or "unknown" for i in found}
    weights = {r.name: r.weight for r in table.revisions}
    stable = max(versions, key=lambda n: (weights.get(f"r{n}", 0), n))
    serving = ", ".join(f"r{n} ({v}): {sum(i.revision == n for i in found)} instances"
                        for n, v in sorted(versions.items()))
    message = (f"the state store had no record of {service} while the load balancer served "
               f"table v{table.version} to running instances; rebuilt from them: {serving}; "
               f"stable r{stable}. Earlier history is lost; revisions record the current "
               f"zerodown.yaml")
    return message if store.recover(service, config, versions, found, table, stable,
                                    message) else None
