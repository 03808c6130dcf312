"""Every seam of zerodown in one short file.

Strategies are pure; the engine acts on the world only through these
protocols, so one glance shows everything that can touch a process, a load
balancer, a metric store or the clock. Each has a real implementation and a
fake that passes the same contract tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from zerodown.model import Instance, Revision, RoutingTable, Slot

if TYPE_CHECKING:
    from zerodown.analysis.evidence import Counts


@runtime_checkable
class Runtime(Protocol):
    """Where instances run: `local` processes, or hosts over `ssh`."""

    def start(self, revision: Revision, slot: Slot) -> Instance:
        """Start one instance of `revision` in `slot` and return at once (not yet healthy).
        Idempotent: if that instance already runs (e.g. after a controller restart), return it."""

    def stop(self, instance: Instance, grace: float) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds; returns when it is gone. Idempotent.
        A runtime whose stops take a while may set `stops_slowly = True`: the engine then
        stops in the background while the deployment goes on elsewhere (never in the
        same slot), so stop() must be thread-safe."""

    def alive(self, instance: Instance) -> bool:
        """Is the process still running?"""

    def healthy(self, instance: Instance, revision: Revision) -> tuple[bool, str]:
        """One probe by the revision's health check: (ok, what was seen, e.g. 'HTTP 503')."""

    def adopt(self, service: str) -> list[Instance]:
        """Instances of `service` left running by an earlier controller."""

    def logs(self, instance: Instance) -> str:
        """The path of the instance's log file (or its text, for remote runtimes)."""


@runtime_checkable
class Router(Protocol):
    """A load balancer made to match a routing table exactly."""

    def apply(self, table: RoutingTable) -> bool:
        """Make the load balancer serve `table`, whole; True if anything changed.
        Applying the same table twice changes nothing."""

    def drained(self, backend_id: str) -> bool:
        """True once a backend that left the table has no request in flight."""

    def stats(self) -> dict:
        """Per-revision and per-backend counters: requests, 2xx..5xx, latency, in-flight."""


@runtime_checkable
class MetricSource(Protocol):
    """Where analysis reads a revision's behaviour from (zerodown/analysis/sources.py)."""

    def counts(self, revision: str) -> Counts | None:
        """Cumulative requests, failed (5xx) requests and latency histogram of `revision`
        since the source began counting; None when it knows nothing of it yet. Sequential
        tests need counts, not rates: the judge takes the difference of two readings."""

    def query(self, revision: str, metric: str, window: float) -> float | None:
        """The metric's value over the last `window` seconds; None when there is no data."""


@runtime_checkable
class Clock(Protocol):
    """Time, injected: a test crosses a ten-minute pause in microseconds."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...
