"""The concepts of DESIGN.md as frozen dataclasses.

Pure data: no I/O, no clock. The routing table is the whole desired traffic
state of one service; routers make a load balancer match it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol, Sequence


@dataclass(frozen=True)
class Backend:
    """One address traffic can go to: an instance as the load balancer sees it."""

    id: str
    address: str  # "host:port"
    weight: int = 1


@dataclass(frozen=True)
class RevisionRoute:
    """A revision's place in the routing table: its backends and its share."""

    name: str
    weight: float  # percent of the weighted traffic, 0..100
    backends: tuple[Backend, ...] = ()


@dataclass(frozen=True)
class Rule:
    """Sends a matching request to `revision`, whatever the weights say.

    Exactly one of header/cookie is set, and exactly one of equals/regex.
    """

    revision: str
    header: str | None = None
    cookie: str | None = None
    equals: str | None = None
    regex: str | None = None


@dataclass(frozen=True)
class Sticky:
    """How a user keeps to one side of a weighted split.

    mode "cookie": the proxy sets cookie `name` holding the user's point on
    the 0..100 line. mode "header" / "cookie-hash": the point is a hash of
    the named header or cookie (a user id). Revisions lie on the line in
    table order, so a user moves only when a boundary crosses their point.
    """

    mode: str  # "cookie" | "header" | "cookie-hash"
    name: str
    max_age: int = 86400


@dataclass(frozen=True)
class HealthCheck:
    """Active health checks by the load balancer: GET `path` on every backend each
    `interval`; `fall` failures in a row take a backend out, `rise` successes bring it back."""

    path: str = "/healthz"
    interval: float = 2.0
    timeout: float = 1.0
    fall: int = 2
    rise: int = 1


@dataclass(frozen=True)
class RoutingTable:
    version: int
    revisions: tuple[RevisionRoute, ...] = ()
    rules: tuple[Rule, ...] = ()
    sticky: Sticky | None = None
    health_check: HealthCheck | None = None
    epoch: int = 0  # the authority that wrote it: ordered before the version (table_version.py)

    def revision(self, name: str) -> RevisionRoute | None:
        return next((r for r in self.revisions if r.name == name), None)

    def backends(self) -> dict[str, tuple[str, Backend]]:
        """Every backend by id, with the revision it serves."""
        return {b.id: (r.name, b) for r in self.revisions for b in r.backends}


EMPTY_TABLE = RoutingTable(version=0)


# --- Revisions, slots and instances -------------------------------------
# Plans name instances by (revision, slot) only: an InstanceRef is known
# before the instance exists, so a plan can be computed, printed and
# persisted without touching a runtime. The runtime turns a ref into an
# Instance (with an address) when it starts it.


@dataclass(frozen=True, order=True)
class Slot:
    """A stable place an instance lives in. Index is unique within a service."""

    index: int
    host: str = "local"


def fleet_hosts(runtime: Any) -> tuple[str, ...]:
    """runtime.hosts as written for runtime: ssh (a config.RuntimeConfig); () otherwise."""
    if runtime.kind != "ssh":
        return ()
    return tuple(str(h) for h in runtime.options.get("hosts") or ())


def host_for(hosts: tuple[str, ...] | list[str], slot: int) -> str:
    """The host slot `slot` runs on with runtime: ssh: slots spread over the hosts in turn."""
    return hosts[slot % len(hosts)]


@dataclass(frozen=True, order=True)
class InstanceRef:
    """The identity of an instance: which revision, in which slot."""

    revision: int
    slot: Slot

    def name(self, service: str) -> str:
        """The instance id used everywhere (backend id, logs): "shop-r7-s2"."""
        return f"{service}-r{self.revision}-s{self.slot.index}"


@dataclass(frozen=True)
class Instance:
    """One running copy of a revision in a slot, as a runtime reports it."""

    service: str
    revision: int
    slot: Slot
    address: str  # "host:port" the load balancer sends traffic to
    pid: int | None = None
    # The label it was started with, if the runtime keeps it: a lost store is rebuilt from it.
    version: str | None = field(default=None, compare=False)
    # runtime: ssh: the host it was started on (or that reported it), as the runtime said;
    # recorded with its row, so runtime.hosts changing later does not move it (on_host).
    runs_on: str | None = field(default=None, compare=False)
    # Its host has a stop of it under way (hosts/stop_once.py: the first stop's mark), as
    # an adopt found it: a row not `stopping` lost its intent (engine/reconciling.py).
    stopping: bool = field(default=False, compare=False)

    @property
    def ref(self) -> InstanceRef:
        return InstanceRef(self.revision, self.slot)

    @property
    def id(self) -> str:
        return self.ref.name(self.service)


class Adopted(list):
    """What Runtime.adopt() found, with the hosts it could not ask (host -> why): their
    instances are unknown, neither running nor gone (never started again on that word)."""

    def __init__(self, found=(), unreachable: dict[str, str] | None = None):
        super().__init__(found)
        self.unreachable: dict[str, str] = dict(unreachable or {})


def on_host(runs_on: str | None, hosts: Sequence[str], slot: int) -> str | None:
    """The host an existing instance runs on: the one recorded when it was started or
    adopted (`runs_on`); for a row recorded before hosts were (an older store), its slot's
    host in today's runtime.hosts (host_for). None without a fleet. A new instance's host
    is always today's (host_for): a placement, not a record."""
    if runs_on:
        return runs_on
    return host_for(tuple(hosts), slot) if hosts else None


def hosts_to_ask(listed: Sequence[str], recorded: Iterable[str]) -> list[str]:
    """The hosts an adopt asks: runtime.hosts (`listed`, in order), then each host recorded
    with a live row (`recorded`) that the list no longer has, by name. Such a host may
    still run an instance (one kept for a rollback): not asked, it was taken for gone and
    kept running there unknown. Only the store's record adds a host, never a lookup."""
    return [*listed, *sorted(set(recorded) - set(listed))]


def silent_host(found: list, host: str | None) -> str | None:
    """`host` (an instance's: on_host) if `found` (what Runtime.adopt() returned) says it
    did not answer, else None. The one rule for an instance there: neither adopted, nor
    taken for gone, nor forgotten — its row stays as it is until the host answers."""
    silent = getattr(found, "unreachable", None)
    return host if silent and host in silent else None


class HealthSettings(Protocol):
    """What waiting for and probing a revision's instances reads of its `health:`
    (config.HealthConfig, frozen: read-only here)."""

    @property
    def path(self) -> str: ...
    @property
    def tcp(self) -> bool: ...
    @property
    def interval(self) -> float: ...
    @property
    def timeout(self) -> float: ...
    @property
    def healthy_threshold(self) -> int: ...
    @property
    def start_timeout(self) -> float: ...


@dataclass(frozen=True)
class Revision:
    """An immutable, numbered version of a service: what to run and how to probe it.

    `app` and `health` are zerodown.config.AppConfig / HealthConfig; typed loosely here
    (health: what its probes read) so the model does not depend on the config module.
    """

    service: str
    number: int
    version: str  # the user's label, e.g. "v2"
    app: object
    health: HealthSettings

    @property
    def name(self) -> str:
        """The revision's name in routing tables: "r7"."""
        return f"r{self.number}"
