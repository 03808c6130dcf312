"""Plans: the ordered steps a strategy yields for (current state, target revision).

A plan is a value. Strategies compute it without I/O, `zerodown plan`
prints it, the engine runs it step by step and persists its cursor. Each
step is one idempotent action the engine can repeat after a crash:

    Start → WaitHealthy → Route → Drain → Stop   (+ Pause, Analyze, Shadow, Hook)

Route carries the *whole* desired set of routed instances, never a delta,
so applying it twice changes nothing. Instances are named by InstanceRef
(revision, slot), known before they exist. The engine stores a plan as JSON
(plan_data.py: there a Route is kept as its change from the one before).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Iterable, Mapping, Sequence, Union, cast

from zerodown.errors import ZerodownError
from zerodown.model import (Backend, HealthCheck, InstanceRef, RevisionRoute, RoutingTable, Rule,
                            Sticky, on_host)


class PlanError(ZerodownError):
    """No plan can take the service from its current state to the target."""


class DowntimePlan(PlanError):
    """The plan would leave nothing routed while the service serves: refused unless the
    user allows the downtime (`--allow-downtime`)."""


@dataclass(frozen=True)
class ServiceState:
    """What the planner starts from: which instances serve, which are stranded."""

    service: str
    stable: int | None  # the revision serving before this deployment (None: first deploy)
    routed: tuple[InstanceRef, ...] = ()  # in the routing table, healthy
    unrouted: tuple[InstanceRef, ...] = ()  # running outside the table (an interrupted deploy's)
    # runtime ssh: the host each existing instance runs on, as recorded with its row
    # (Store.service_state, from InstanceRow.runs_on). Only a plan's text names it: once
    # runtime.hosts changed, an old instance is not on slot i's host of today's list.
    runs_on: Mapping[InstanceRef, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Target:
    revision: int
    instances: int
    hosts: tuple[str, ...] = ()  # runtime: ssh's hosts; slot i runs on hosts[i % len(hosts)]


def _names(instances: Iterable[InstanceRef], service: str) -> str:
    return ", ".join(i.name(service) if service else f"r{i.revision}-s{i.slot.index}"
                     for i in instances) or "nothing"


@dataclass(frozen=True)
class Start:
    instances: tuple[InstanceRef, ...]

    def describe(self, service: str = "") -> str:
        return f"start {_names(self.instances, service)}"


@dataclass(frozen=True)
class WaitHealthy:
    instances: tuple[InstanceRef, ...]

    def describe(self, service: str = "") -> str:
        return f"wait until healthy: {_names(self.instances, service)}"


@dataclass(frozen=True)
class Share:
    """One revision's part of a Route: its instances and its percent of traffic."""

    revision: int
    instances: Sequence[InstanceRef]  # in slot order: a tuple, or SharedRefs (shared_refs.py)
    weight: float | None = None  # percent; None: in proportion to the instance count


@dataclass(frozen=True)
class Route:
    """The desired routing after this step, whole: every routed instance, per revision,
    and the match rules and stickiness of the split (canary, A/B, blue/green preview)."""

    shares: tuple[Share, ...]
    rules: tuple[Rule, ...] = ()  # a matching request goes to rule.revision ("r7"), whatever weights say
    sticky: Sticky | None = None
    preview: bool = False  # the rules only open a preview (blue/green): no user gets the revision

    def traffic(self, revision: int) -> bool:
        """Do users reach `revision` through this route (by weight, or by a non-preview rule)?"""
        name = f"r{revision}"
        return self.percents().get(revision, 0) > 0 or (
            not self.preview and any(r.revision == name for r in self.rules))

    def routed(self) -> frozenset[InstanceRef]:
        return frozenset(i for s in self.shares for i in s.instances)

    def routes_any(self) -> bool:
        return any(s.instances for s in self.shares)

    def percents(self) -> dict[int, float]:
        """Percent of traffic per revision, adding up to 100 (empty: nothing routed)."""
        fixed = sum(s.weight for s in self.shares if s.weight is not None)
        counted = [s for s in self.shares if s.weight is None and s.instances]
        total = sum(len(s.instances) for s in counted)
        out = {s.revision: s.weight for s in self.shares if s.weight is not None}
        out.update({s.revision: (100 - fixed) * len(s.instances) / total for s in counted})
        return out

    def describe(self, service: str = "") -> str:
        if not self.routes_any():
            return "route nothing (requests get 503)"
        pct = self.percents()
        text = "route " + "; ".join(
            f"r{s.revision} {pct.get(s.revision, 0):.4g}% to " + _slots(s.instances)
            for s in self.shares)
        for rule in self.rules:
            what = f"header {rule.header}" if rule.header else f"cookie {rule.cookie}"
            test = f"= {rule.equals}" if rule.equals is not None else f"~ /{rule.regex}/"
            text += f"; {'preview' if self.preview else 'rule'}: {what} {test} → {rule.revision}"
        if self.sticky:
            text += f"; sticky by {self.sticky.mode} {self.sticky.name}"
        return text


def _slots(instances: Sequence[InstanceRef]) -> str:
    if len(instances) > 8:
        return f"{len(instances)} instances"
    return " ".join(f"s{i.slot.index}" for i in instances) or "no instance"


@dataclass(frozen=True)
class Drain:
    """Wait (bounded by drain_timeout) until the instances have no request in flight."""

    instances: tuple[InstanceRef, ...]

    def describe(self, service: str = "") -> str:
        return f"drain {_names(self.instances, service)}"


@dataclass(frozen=True)
class Stop:
    instances: tuple[InstanceRef, ...]

    def describe(self, service: str = "") -> str:
        return f"stop {_names(self.instances, service)}"


@dataclass(frozen=True)
class Pause:
    reason: str
    duration: float | None = None  # None: until resumed or promoted by hand
    timeout: float | None = None  # a manual pause held this long ends by itself: ...
    then: str = "abort"  # ... abort | promote (engine/deadlines.py)
    # An A/B test's hold: it waits for a person's decision, promote or abort; a resume is no
    # decision and is refused there (engine/lifecycle.py), where it used to make B win.
    decision: bool = False

    def describe(self, service: str = "") -> str:
        how = (f"{self.duration:g}s" if self.duration is not None else
               "until promoted or aborted" if self.decision else "until resumed")
        if self.duration is None and self.timeout is not None:
            how += f" (or {self.then} after {self.timeout:g}s)"
        return f"pause {how}: {self.reason}"


@dataclass(frozen=True)
class Analyze:
    revision: int
    spec: Mapping[str, Any] = field(default_factory=dict)  # AnalysisConfig fields
    against: int | None = None  # the stable revision to compare with

    @property
    def background(self) -> bool:
        """The gate before a canary's promotion: the background analysis's verdict."""
        return bool(self.spec.get("background"))

    def describe(self, service: str = "") -> str:
        vs = f" against r{self.against}" if self.against is not None else ""
        if self.background:
            return f"wait for the background analysis of r{self.revision}{vs} to pass"
        return f"analyze r{self.revision}{vs}"


@dataclass(frozen=True)
class Shadow:
    """Copy users' requests to `revision` (started, healthy, given no user) and compare its
    answers with the stable revision's, for up to the spec's duration; with max_diff_rate,
    judged as an analysis is (engine/steps.py shadow). Spec: ShadowConfig's fields."""

    revision: int
    spec: Mapping[str, Any] = field(default_factory=dict)

    def describe(self, service: str = "") -> str:
        s = self.spec
        what = f"{s.get('percent', 100):g}% of {'/'.join(s.get('methods', ('GET', 'HEAD')))}"
        check = (f", at most {100 * s['max_diff_rate']:g}% may differ"
                 if s.get("max_diff_rate") is not None else "")
        return (f"shadow: copy {what} requests to r{self.revision} for up to "
                f"{s.get('duration', 60):g}s and compare with stable's answers{check}")


@dataclass(frozen=True)
class Hook:
    """Run the service's hooks for a moment of the deployment (zerodown.hooks).

    strategies/moments.py puts one at every moment; plan_for keeps those the config has
    hooks for, so a plan without hooks shows none.
    """

    moment: str  # before_start | after_healthy | before_traffic | after_traffic | ...

    def describe(self, service: str = "") -> str:
        return f"run {self.moment} hooks"


Step = Union[Start, WaitHealthy, Route, Drain, Stop, Pause, Analyze, Shadow, Hook]
STEP_TYPES: dict[str, type] = {t.__name__: t for t in (Start, WaitHealthy, Route, Drain, Stop,
                                                       Pause, Analyze, Shadow, Hook)}


@dataclass(frozen=True)
class Plan:
    strategy: str  # e.g. "rolling max_surge=1 max_unavailable=0"
    state: ServiceState
    target: Target
    steps: tuple[Step, ...]

    def outage(self) -> int | None:
        """The number of the first step after which no instance is routed although some
        were when the plan began (users get 503s from there); None if there is none."""
        if not self.state.routed:
            return None  # a first deployment: nothing served before it either
        for number, step in enumerate(self.steps, 1):
            if isinstance(step, Route) and not step.routes_any():
                return number
        return None

    def describe(self) -> str:
        """The text `zerodown plan` prints: a header, then one numbered line per step."""
        s, t = self.state, self.target
        # Name what runs now, not s.stable: a rollback starts from the new revision.
        froms = sorted({r.revision for r in (*s.routed, *s.unrouted)} - {t.revision})
        head = (f"{', '.join(f'r{r}' for r in froms)} → r{t.revision}" if froms
                else f"r{t.revision}" + (" (first deploy)" if s.stable is None else ""))
        count = f"{t.instances} instance{'s' if t.instances != 1 else ''}"
        lines = [f"{s.service}: {head}, {count}, {self.strategy}, {len(self.steps)} steps"]
        width = len(str(len(self.steps)))
        lines += [f"{n:>{width}}. {step.describe(s.service)}{self.where(step)}"
                  for n, step in enumerate(self.steps, 1)]
        return "\n".join(lines)

    def where(self, step: Step) -> str:
        """" (on app1, app2)": the fleet's hosts a step acts on (runtime: ssh), else ""."""
        return on_text(self.hosts_of(step), self.target.hosts)

    def hosts_of(self, step: Step) -> list[str]:
        """The fleet's hosts a step acts on (step_hosts), by the state's recorded hosts."""
        return step_hosts(step, self.target.hosts, self.state.runs_on)

    def not_listed(self, step: Step) -> list[str]:
        """The hosts of hosts_of(step) that runtime.hosts no longer lists: the instances
        there started before the list changed; the runtime still acts on them there
        (SshRuntime.host_running), reaching the host by its name."""
        return [h for h in self.hosts_of(step) if h not in self.target.hosts]


def step_hosts(step: Step, hosts: tuple[str, ...],
               recorded: Mapping[InstanceRef, str], ran: bool = False) -> list[str]:
    """The fleet's hosts (runtime.hosts: `hosts`) a start, wait, drain or stop acts on, in
    slot order; [] for other steps and other runtimes. A start still to run places by
    today's list (host_for); the others, and a start that `ran`, name where each instance
    runs: the host `recorded` for it (InstanceRow.runs_on), else today's rule (an instance
    still to start, an older store)."""
    return list(dict.fromkeys(h for _, h in instance_hosts(step, hosts, recorded, ran)))


def instance_hosts(step: Step, hosts: tuple[str, ...], recorded: Mapping[InstanceRef, str],
                   ran: bool = False) -> list[tuple[InstanceRef, str]]:
    """step_hosts per instance: (instance, the host it acts on there), in the step's order;
    what a step's start records (store_steps.py) so its log names where it acted."""
    if not hosts or not isinstance(step, (Start, WaitHealthy, Drain, Stop)):
        return []
    recorded = {} if isinstance(step, Start) and not ran else recorded
    return [(r, cast(str, on_host(recorded.get(r), hosts, r.slot.index))) for r in step.instances]


def hosts_acted_on(steps: Iterable[Step], recorded: Mapping[InstanceRef, str]) -> set[str]:
    """The hosts `recorded` (ServiceState.runs_on) for the existing instances that `steps`
    wait on, drain or stop (a start's host is today's list's: host_for)."""
    return {recorded[r] for step in steps if isinstance(step, (WaitHealthy, Drain, Stop))
            for r in step.instances if r in recorded}


def on_text(on: list[str], hosts: tuple[str, ...]) -> str:
    """" (on app1, app2)" after a step's text, else ""; a host `hosts` no longer lists is
    marked as `status` marks it."""
    named = [h if h in hosts else f"{h} (not listed)" for h in on]
    return f" (on {', '.join(named)})" if named else ""


def route_of(routed: Iterable[InstanceRef]) -> Route:
    """A Route sending traffic to these instances, each revision by its instance count."""
    return Route(shares_of(routed))


# InstanceRef's own order (revision, slot index, slot host) as a key of plain values:
# sorting and set lookups by it run in C, not through the dataclass's methods, which a
# plan of a thousand instances and as many Routes calls millions of times.
ORDER = attrgetter("revision", "slot.index", "slot.host")


def shares_of(routed: Iterable[InstanceRef]) -> tuple[Share, ...]:
    """One Share per revision, in revision order, each weighted by its instance count."""
    by_rev: dict[int, list[InstanceRef]] = {}
    for ref in sorted(routed, key=ORDER):
        by_rev.setdefault(ref.revision, []).append(ref)
    return tuple(Share(rev, tuple(refs)) for rev, refs in sorted(by_rev.items()))


def route_table(route: Route, addresses: Mapping[InstanceRef, str], service: str,
                version: int, health_check: HealthCheck | None = None) -> RoutingTable:
    """The routing table a Route asks for, given where each instance listens; with
    `health_check`, the load balancer checks every routed instance itself."""
    pct = route.percents()
    revisions = tuple(
        RevisionRoute(f"r{s.revision}", pct.get(s.revision, 0),
                      tuple(Backend(i.name(service), addresses[i]) for i in s.instances))
        for s in route.shares if s.instances or s.weight)
    named = {r.name for r in revisions if r.backends}
    # A rule to a revision with no instance (scaled down to nothing) would only give 503s.
    return RoutingTable(version, revisions, tuple(r for r in route.rules if r.revision in named),
                        route.sticky, health_check)


def balancer_check(health: Any) -> HealthCheck | None:
    """The load balancer's own checks of routed instances, from a revision's `health:`
    (config.HealthConfig): the same path, interval and timeout, `unhealthy_threshold`
    failures in a row take an instance out, `healthy_threshold` passes bring it back.
    Whatever the engine is doing (a deployment running, paused, none), an instance
    that stops answering (its host cut off) leaves the traffic within about
    (interval + timeout) x unhealthy_threshold. None for `tcp: true`: a table's check
    is an HTTP GET."""
    if getattr(health, "tcp", False):
        return None
    return HealthCheck(path=health.path, interval=max(0.05, health.interval),
                       timeout=health.timeout, fall=health.unhealthy_threshold,
                       rise=health.healthy_threshold)
