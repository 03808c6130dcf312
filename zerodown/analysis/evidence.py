"""What a metric source reports about a revision, and the windows the judge builds from it.

Sources give *cumulative* Counts (since the proxy, or Prometheus's series,
began counting). The judge keeps a Window: the sum of the increases it saw
between readings, so a counter that restarted from zero (a restarted proxy)
costs the requests in between, never a negative count.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from zerodown.latency import BOUNDS, quantile


@dataclass(frozen=True)
class Counts:
    """Requests, failed requests (5xx) and a latency histogram of one revision.

    latency[i] counts requests with bounds[i-1] < seconds <= bounds[i]; the last
    entry is beyond the last bound. None: the source has no latency for it.
    """

    requests: float = 0
    failures: float = 0
    latency: tuple[float, ...] | None = None
    bounds: tuple[float, ...] = BOUNDS
    # Not cumulative: the requests waiting for a response byte now, by how long they have
    # waited (over `bounds`, as latency). None: the source cannot tell.
    unanswered: tuple[float, ...] | None = None

    def increase_since(self, earlier: Counts) -> Counts:
        """What was added since `earlier`; all of self if a counter went down (a restart)."""
        latency = None
        if self.latency is not None and earlier.latency is not None and self.bounds == earlier.bounds:
            latency = tuple(a - b for a, b in zip(self.latency, earlier.latency))
        elif earlier.latency is None and not earlier.requests:
            latency = self.latency  # since nothing: all of it
        if (self.requests < earlier.requests or self.failures < earlier.failures
                or any(x < 0 for x in latency or ())):
            return self
        return Counts(self.requests - earlier.requests, self.failures - earlier.failures,
                      latency, self.bounds)

    def plus(self, other: Counts) -> Counts:
        """Both together; a side without requests does not cost the other its histogram."""
        if not self.requests:
            latency, bounds = other.latency, other.bounds
        elif not other.requests:
            latency, bounds = self.latency, self.bounds
        elif self.latency is not None and other.latency is not None and self.bounds == other.bounds:
            latency, bounds = tuple(a + b for a, b in zip(self.latency, other.latency)), self.bounds
        else:
            latency, bounds = None, self.bounds
        return Counts(self.requests + other.requests, self.failures + other.failures, latency,
                      bounds)

    @property
    def error_rate(self) -> float | None:
        return self.failures / self.requests if self.requests else None

    def slower_than(self, seconds: float) -> float | None:
        """How many requests took longer than `seconds`, interpolated within its bucket
        (as if latencies spread evenly inside a bucket); None without a histogram."""
        if self.latency is None:
            return None
        out = 0.0
        for i, n in enumerate(self.latency):
            lo = self.bounds[i - 1] if i > 0 else 0.0
            hi = self.bounds[i] if i < len(self.bounds) else None  # None: beyond the last bound
            if lo >= seconds or hi is None:
                out += n  # all of it, or (past the last bound) as much as could be
            elif hi > seconds:
                out += n * (hi - seconds) / (hi - lo)
        return out

    def with_unanswered(self, ages: tuple[float, ...] | None, after: float) -> Counts:
        """These counts and the requests that have waited longer than `after` for an
        answer, counted as failed and as slower than any bound: a version that hangs
        answers nothing, and its requests must not go missing from the evidence."""
        n = Counts(sum(ages), 0, ages, self.bounds).slower_than(after) if ages else 0
        if not n:
            return self
        latency = None if self.latency is None else (*self.latency[:-1], self.latency[-1] + n)
        return Counts(self.requests + n, self.failures + n, latency, self.bounds)

    def quantile(self, q: float) -> float | None:
        """The q-quantile of latency in seconds, interpolated within a bucket; None if empty."""
        return None if self.latency is None else quantile(self.latency, q, self.bounds)


NOTHING = Counts()


@dataclass(frozen=True)
class Window:
    """A revision's counts since the analysis began, grown by each new reading."""

    total: Counts = NOTHING
    last: Counts | None = None  # the latest cumulative reading
    base: Counts | None = None  # the first: everything before the analysis began
    unseen: bool = False  # the source had no series for the revision when the window began

    def seen(self, unanswered_after: float) -> Counts:
        """The window's counts with the latest reading's long-unanswered requests as failed."""
        last = self.last
        return self.total.with_unanswered(last.unanswered if last else None, unanswered_after)

    def read(self, now: Counts | None) -> Window:
        if now is None:  # no data this time: keep what we have
            # A source that knew nothing of the revision at the start (Prometheus before
            # its first scrape of it) had not seen it serve: all it counts later is new.
            return self if self.last is not None or self.unseen else replace(self, unseen=True)
        if self.last is None:  # the first reading is the baseline, unless there was none
            return Window(now, now, NOTHING) if self.unseen else Window(self.total, now, now)
        return Window(self.total.plus(now.increase_since(self.last)), now, self.base, self.unseen)
