"""One service's state in the proxy: the routing table in force, backend pools, stats.

A proxy serves one service (its `--service`, the default) or several on one
listener (services.py picks one per request by Host and path). Each service
has a DataPlane of its own; what belongs to the listener (the clients, the
descriptor budget, the error log, stopping) is shared: a second service's
plane is made with `front.sibling(name)` and takes those from the front, whose
sweeper serves them all. A client connection moves to the plane of each
request it carries, so the hot path reads one plane, as with one service.

`apply` swaps in a whole new table atomically (one assignment on the event
loop), reusing the pool of every backend that stays, and retiring the rest:
a retired backend gets no new request, its idle connections close at once,
its busy ones close as their responses end, and after `drain_timeout` the
stragglers are cut. The sweeper enforces every timeout, so the hot path
never arms a timer.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from time import perf_counter
from typing import TYPE_CHECKING, Any, Callable, Protocol

from zerodown.model import EMPTY_TABLE, RoutingTable
from zerodown.proxy import health, shedding
from zerodown.proxy.clientstate import BODY, CLOSED, DISCARD, HEAD, WAIT
from zerodown.proxy.errlog import ErrorLog
from zerodown.proxy.metrics import BOUNDS, Stats, prometheus_services
from zerodown.proxy.routing import Routes
from zerodown.proxy.retries import DRAIN_OVER
from zerodown.proxy.inactivity import sweep_exchange
from zerodown.proxy.server import ClientConn
from zerodown.proxy.settings import ProxySettings
from zerodown.proxy.tap import Tap
from zerodown.proxy.upstream import BackendPool, RevisionTarget
from zerodown.table_version import check_newer

if TYPE_CHECKING:
    from zerodown.proxy.plane import Plane

SWEEP_INTERVAL = 0.25
LINGER = 2.0  # a refused client's side stays open this long for it to read the answer


class Sites(Protocol):
    """What a plane asks of services.Services (which imports this module)."""

    def remark(self) -> None: ...


class DataPlane:
    def __init__(self, loop: asyncio.AbstractEventLoop, settings: ProxySettings,
                 persist: Callable[[RoutingTable], None] = lambda table: None,
                 service: str = "zerodown", front: DataPlane | None = None):
        self.loop, self.settings, self.persist, self.service = loop, settings, persist, service
        # a services.Services while several services share the listener
        self.sites: Sites | None = None
        # its site's path prefix, taken off each request's target (services.py); b"": none
        self.strip_prefix, self.prefix_line = b"", b""
        # every service's plane on this listener, the front first (the front's list, shared)
        self.planes: list[DataPlane] = front.planes if front is not None else []
        self.planes.append(self)
        self.removed = False  # its service left the proxy: dropped once its pools drained
        self.routes = Routes(EMPTY_TABLE, {})
        self.marks = self.routes.marks  # what a head scan flags (several services: remark)
        self.pools: dict[str, BackendPool] = {}
        self.retired: list[BackendPool] = []
        self.departed: dict[str, Stats] = {}  # per revision: counts of backends gone for good
        self.clients: set[ClientConn] = set()
        self.stopping = False  # set during shutdown/handover: responses close their connections
        self.rejected = 0
        self.forwarded_proto = b"\r\nX-Forwarded-Proto: http\r\n"  # https behind TLS (main.py)
        self.unrouted = 0  # 503s the proxy answered with no revision to route to
        self.unknown_host = 0  # the front's: 404s for a Host and path no service claims
        self.mirror: Tap | None = None  # a Tap (proxy/tap.py) while a shadow runs; its owner: shadow/mirror.py
        # with --http2-prior-knowledge: h2session.prior_knowledge
        self.h2c: Callable[[Plane, Any, bytes], None] | None = None
        self.refused_methods = settings.refused_methods()
        self.refused_initials = bytes(any(m[:1] == bytes([c]) for m in self.refused_methods)
                                      for c in range(256))
        self.errors = ErrorLog(settings.error_log_per_second)
        self.fd_budget = shedding.fd_budget(settings.fd_reserve)
        self.client_limit = self.fd_budget  # less what backend connections hold (the sweeper)
        self.shed = 0  # idle clients closed and newcomers refused to stay under the budget
        self.started = loop.time()
        if front is not None:  # the listener's, shared
            self.clients, self.errors, self.stopping = front.clients, front.errors, front.stopping
            self.forwarded_proto, self.fd_budget = front.forwarded_proto, front.fd_budget
            self.client_limit, self.refused_methods = front.client_limit, front.refused_methods
            self.refused_initials, self.started = front.refused_initials, front.started
        self._sweeper: asyncio.TimerHandle | None = None
        self._checker: asyncio.Task | None = None

    @property
    def table(self) -> RoutingTable:
        return self.routes.table

    def protocol(self) -> ClientConn:
        return ClientConn(self)

    def sibling(self, service: str, persist: Callable[[RoutingTable], None]) -> DataPlane:
        """A plane for another service on this (the front's) listener."""
        return DataPlane(self.loop, self.settings, persist, service, front=self)

    def remove(self) -> None:
        """Its service leaves the proxy: every backend drains as if taken out of the table;
        the front's sweeper forgets the plane once they are gone."""
        self.removed = True
        self._swap(EMPTY_TABLE)

    # -- the routing table ---------------------------------------------------
    def apply(self, table: RoutingTable, *, durable: bool = True) -> bool:
        """Make `table` the one in force. False if it already is; raises if it is older."""
        if table == self.routes.table:
            return False
        check_newer(table, self.routes.table)
        if durable:
            self.persist(table)  # durable before it is acted on
        self._swap(table)
        return True

    def _swap(self, table: RoutingTable) -> None:
        pools: dict[str, BackendPool] = {}
        targets: dict[str, RevisionTarget] = {}
        for rev in table.revisions:
            self.departed.setdefault(rev.name, Stats())
            members = []
            for b in rev.backends:
                pool = self.pools.get(b.id)
                if pool is None or pool.revision != rev.name or pool.address != b.address:
                    pool = BackendPool(b.id, rev.name, b.address, self.loop, self.settings)
                pools[b.id] = pool
                members.append((pool, b.weight))
            targets[rev.name] = RevisionTarget(rev.name, members)
        leaving = [p for bid, p in self.pools.items() if pools.get(bid) is not p]
        self.pools = pools
        self.routes = Routes(table, targets)  # the atomic switch
        if self.sites is not None:
            self.sites.remark()  # what every head on the listener is scanned for: its rules too
        else:
            self.marks = self.routes.marks
        for pool in leaving:
            self._retire(pool)
        self._restart_health_checks(table)

    def _restart_health_checks(self, table: RoutingTable) -> None:
        if self._checker is not None:
            self._checker.cancel()
            self._checker = None
        if table.health_check is None:
            for pool in self.pools.values():  # no checks: nothing stays out on their word
                if pool.down:
                    pool.down, pool.ejected_until = False, 0.0
            return
        self._checker = self.loop.create_task(
            health.run_checks(lambda: self.pools.values(), table.health_check))

    def _retire(self, pool: BackendPool) -> None:
        pool.draining = True
        pool.drain_deadline = self.loop.time() + self.settings.drain_timeout
        pool.close_idle()
        waiting, pool.waiters = list(pool.waiters), type(pool.waiters)()
        for client in waiting:
            if client.waiting_for is pool:
                client.reroute()
        self.retired.append(pool)

    def fallback_pool(self, target: RevisionTarget | None, now: float,
                      exclude: tuple) -> BackendPool | None:
        """Another revision's backend, heaviest revision first, for a retry."""
        revs = sorted(self.routes.table.revisions, key=lambda r: -r.weight)
        for rev in revs:
            other = self.routes.targets.get(rev.name)
            if other is not None and other is not target:
                pool = other.choose_excluding(now, exclude)
                if pool is not None:
                    return pool
        return None

    def begin_stop(self) -> None:
        """From now on every response closes its connection, announced in the response."""
        for plane in self.planes:
            plane.stopping = True
        for client in self.clients:
            if client.state in (BODY, WAIT):
                client.announce_close()

    # -- timeouts and drain ---------------------------------------------------
    def start(self) -> None:
        self._sweeper = self.loop.call_later(SWEEP_INTERVAL, self._sweep)

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for plane in self.planes:
            if plane._checker is not None:
                plane._checker.cancel()
            for pool in [*plane.pools.values(), *plane.retired]:
                pool.close_idle()

    def _sweep(self) -> None:
        now = self.loop.time()
        s = self.settings
        for client in list(self.clients):
            state = client.state
            if state == HEAD:
                if client.buf and not client.head_since:
                    client.head_since = now  # a partial head must finish in time too
                if client.buf and now - client.head_since > s.header_timeout:
                    client.timed_out("request head too slow")
                elif not client.buf:
                    limit = s.keepalive_timeout if client.served else s.header_timeout
                    if self.stopping:
                        limit = min(limit, s.shutdown_grace)
                    if now - client.last_active > limit:
                        client.state = CLOSED
                        client.transport.close()
            elif state in (BODY, WAIT):
                sweep_exchange(client, now, s)  # each side's inactivity (inactivity.py)
            elif state == DISCARD and now - client.last_active > s.header_timeout:
                client.state = CLOSED  # the rest of a body answered early never came
                client.transport.close()
            elif state == CLOSED and now - client.last_active > LINGER:
                client.transport.abort()  # a refused client that never closed its side
        idle_cutoff = now - s.upstream_idle_timeout
        held = []
        for plane in list(self.planes):  # this plane's and every other service's pools
            for pool in plane.pools.values():
                if pool.idle and pool.idle[0].idle_since < idle_cutoff:
                    pool.close_idle(older_than=idle_cutoff)
            plane._sweep_retired(now)
            if plane.removed and not plane.retired:
                self.planes.remove(plane)
            held += [*plane.pools.values(), *plane.retired]
        limit = self.fd_budget - shedding.upstream_fds(held)
        for plane in self.planes:
            plane.client_limit = limit
        self._sweeper = self.loop.call_later(SWEEP_INTERVAL, self._sweep)

    def make_room(self, new: ClientConn) -> None:
        """A client came past the budget: close idle ones for it, else refuse it (503)."""
        excess = len(self.clients) - self.client_limit
        idle = shedding.idle_first(self.clients, new, max(excess, 1 + self.client_limit // 64), HEAD)
        for client in idle:
            client.state = CLOSED
            client.transport.close()
            self.clients.discard(client)  # its fd is on the way out: count it gone now
        if not idle:
            new.state = CLOSED
            new.transport.write(shedding.BUSY)
            new.transport.close()
            self.clients.discard(new)
        self.shed += len(idle) or 1
        self.errors.line(f"{len(self.clients)} clients at the descriptor budget "
                         f"({self.client_limit}): " + (f"closed the {len(idle)} longest idle"
                                                       if idle else "refused a new one (503)"))

    def _sweep_retired(self, now: float) -> None:
        still = []
        for pool in self.retired:
            if now > pool.drain_deadline:
                for conn in pool.busy():  # past the deadline: cut
                    client = conn.client
                    if client is not None and not conn.got:  # elsewhere if safe, else 504
                        client.no_answer(DRAIN_OVER)
                    conn.transport.close()  # mid-response: the client sees a close
            if pool.conns or pool.opening or pool.stats.in_flight > 0:
                still.append(pool)
            else:
                self.departed[pool.revision].absorb(pool.stats)  # keep its history
        self.retired = still

    # -- observation ------------------------------------------------------------
    def revision_stats(self) -> dict[str, Stats]:
        """Per revision: the sum of its backends, live, draining and departed."""
        totals = {}
        for name, gone in self.departed.items():
            total = Stats()
            total.absorb(gone)
            totals[name] = total
        for pool in [*self.pools.values(), *self.retired]:
            totals[pool.revision].absorb(pool.stats)
        return totals

    def unanswered(self) -> tuple[dict[str, list[int]], dict[int, int]]:
        """Requests with no response byte yet: per revision by how long they have waited
        (counts over BOUNDS, as latency is), and per backend pool (by id()) how many. A
        version that hangs answers nothing: analysis counts what waits too long as failed,
        and a drain need not wait for what a hung backend will never answer."""
        now = perf_counter()  # the clock client.t0 was read from
        ages: dict[str, list[int]] = {}
        pools: dict[int, int] = {}
        for client in self.clients:
            pool, up = client.pool, client.up
            if pool is None or client.state not in (BODY, WAIT) or (up is not None and up.got) \
                    or client.plane is not self:
                continue
            waited = ages.setdefault(pool.revision, [0] * (len(BOUNDS) + 1))
            waited[bisect_left(BOUNDS, now - client.t0)] += 1
            pools[id(pool)] = pools.get(id(pool), 0) + 1
        return ages, pools

    def stats(self) -> dict:
        now = self.loop.time()
        waiting, per_pool = self.unanswered()
        backends = {}
        for pool in [*self.pools.values(), *self.retired]:
            entry = pool.stats.to_dict()
            entry.pop("buckets")
            entry.update(revision=pool.revision, address=pool.address, state=pool.status(now),
                         connections=len(pool.conns), idle_connections=len(pool.idle),
                         connecting=pool.opening, queued=len(pool.waiters),
                         unanswered=per_pool.get(id(pool), 0))
            backends[pool.id if not pool.draining or pool.id not in backends
                     else f"{pool.id}~{id(pool):x}"] = entry
        return {
            "service": self.service,
            "version": self.table.version,
            "uptime_s": round(now - self.started, 3),
            # the listener's, whichever service is asked: clients are not any one service's
            "clients": len(self.clients),
            "rejected": sum(p.rejected for p in self.planes),
            "unrouted": self.unrouted,
            "unknown_host": self.planes[0].unknown_host,
            "shed": sum(p.shed for p in self.planes),
            "revisions": {name: dict(st.to_dict(), weight=self.routes.share_of(name),
                                     unanswered=waiting.get(name) or [0] * (len(BOUNDS) + 1))
                          for name, st in self.revision_stats().items()},
            "backends": backends,
        }

    def metrics_text(self, every: bool = False) -> str:
        """This service's metrics; `every`: each service's on the listener (GET /metrics)."""
        return prometheus_services([plane._series() for plane in
                                    (self.planes if every else [self]) if not plane.removed])

    def _series(self) -> tuple[str, dict[str, Stats], dict[str, tuple[str, Stats]]]:
        backends = {p.id: (p.revision, p.stats) for p in [*self.retired, *self.pools.values()]}
        return self.service, self.revision_stats(), backends
