"""What the command line prints: pure functions over small frozen dataclasses.

controller.py gathers the facts (store, runtime, router) into these views;
the functions here turn them into text or JSON and never touch the world,
so every line the CLI prints is unit-tested (tests/unit/test_render.py).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping, Sequence

from zerodown.proof import Proof, line as _proof_line
from zerodown.shadow.report import ShadowView, shadow_lines
from zerodown.service_url import ServiceUrl


@dataclass(frozen=True)
class RevisionLabel:
    number: int
    version: str | None = None

    def __str__(self) -> str:
        return f"r{self.number}" + (f" ({self.version})" if self.version else "")


@dataclass(frozen=True)
class InstanceView:
    name: str  # shop-r2-s0
    revision: RevisionLabel
    slot: int
    # starting | healthy | routed | draining | failed | stopped | skipped; unrouted: the
    # table routes it, but the load balancer is not running (controller.not_routed)
    state: str
    address: str | None = None
    pid: int | None = None
    alive: bool | None = None  # None: not looked at (progress lines)
    healthy: bool | None = None  # None: not probed
    health: str = ""  # what the probe saw
    host: str | None = None  # runtime ssh: the host it runs on (runtime.hosts' name)


@dataclass(frozen=True)
class TrafficView:
    revision: str  # the routing table's name, r2
    version: str | None
    weight: float  # percent of traffic
    backends: tuple[str, ...] = ()
    requests: int | None = None  # None: no counters (proxy down, or progress lines)
    errors: int | None = None  # 5xx answers plus the proxy's own 502/503/504
    in_flight: int | None = None
    rate: float | None = None  # requests per second just now (measured while traffic is split)
    p50_ms: float | None = None
    p99_ms: float | None = None

    @property
    def error_rate(self) -> float | None:
        return None if not self.requests else 100 * (self.errors or 0) / self.requests


@dataclass(frozen=True)
class DeploymentView:
    id: int
    kind: str  # deploy | rollback
    phase: str
    source: RevisionLabel | None  # what served before (None: first deployment)
    target: RevisionLabel
    strategy: str
    step: int  # 1-based index of the step in progress or next (steps + 1 when done)
    steps: int
    step_text: str | None
    plan_kind: str
    created: float
    updated: float
    error: str | None = None
    controller_pid: int | None = None  # the process running it now, if any
    step_started: float | None = None  # when the step in progress began
    step_limit: float | None = None  # its bound: a pause's duration, a health wait's timeout
    proof: dict | None = None  # its zero-downtime proof (zerodown/proof.py) once it ended
    by: str | None = None  # who asked: the local user or the API token's name (history)
    reason: str | None = None  # why, as they said (`-m`)

    def step_left(self, now: float) -> float | None:
        """Seconds until the step in progress ends by itself or reaches its bound."""
        if self.step_started is None or self.step_limit is None or self.terminal:
            return None
        return max(0.0, self.step_started + self.step_limit - now)

    @property
    def terminal(self) -> bool:
        return self.phase in ("succeeded", "failed", "rolled_back", "aborted")

    def duration(self, now: float) -> float:
        return (self.updated if self.terminal else now) - self.created


@dataclass(frozen=True)
class ProxyView:
    running: bool
    pid: int | None = None
    table_version: int | None = None
    host: str | None = None  # router.host: the fleet host it runs on; None: this machine
    unreachable: str | None = None  # router.host did not answer: why (running is unknown)


@dataclass(frozen=True)
class StatusView:
    service: str
    listen: str
    stable: RevisionLabel | None
    proxy: ProxyView
    deployment: DeploymentView | None
    instances: tuple[InstanceView, ...] = ()
    traffic: tuple[TrafficView, ...] = ()
    deployed: bool = True  # False: no state yet (never deployed)
    scheme: str = "http"  # https when zerodown.yaml has tls:
    shadow: ShadowView | None = None
    # where a person reaches it (service_url.py); None: scheme://listen
    address: ServiceUrl | None = None
    # after `zerodown down`: the hosts it could not reach, whose instances it left running
    left_by_down: tuple[str, ...] = ()

    @property
    def where(self) -> ServiceUrl:
        return self.address or ServiceUrl(f"{self.scheme}://{self.listen}")


@dataclass(frozen=True)
class EventView:
    time: float
    kind: str
    message: str


# --- small pieces -------------------------------------------------------------

def seconds(value: float) -> str:
    """A duration as people read it: 0.42s, 12.3s, 4m05s, 1h02m."""
    if value < 10:
        return f"{value:.2f}s" if value < 1 else f"{value:.1f}s"
    if value < 60:
        return f"{value:.0f}s"
    minutes, secs = divmod(int(round(value)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def percent(weight: float) -> str:
    return f"{weight:.4g}%"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Columns aligned on the widest cell; None shows as "-"."""
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


def change(d: DeploymentView) -> str:
    return f"{d.source} → {d.target}" if d.source else f"{d.target}"


def outcome(phase: str) -> str:
    return phase.replace("_", " ")


STRATEGY_NAMES = {"ab-test": "A/B test", "blue-green": "blue/green"}


def strategy_name(kind: str) -> str:
    return STRATEGY_NAMES.get(kind, kind)


def step_clock(d: DeploymentView, now: float) -> str:
    """` (4.2s of 30s)` for the step in progress: how long it has taken, and its bound."""
    if d.step_started is None or d.terminal:
        return ""
    spent = seconds(max(0.0, now - d.step_started))
    return f" ({spent} of {seconds(d.step_limit)})" if d.step_limit is not None \
        else f" ({spent})"


# --- deployments ---------------------------------------------------------------

def deployment_line(d: DeploymentView, now: float) -> str:
    """One line: `deployment 3 (deploy r1 (v1) → r2 (v2), rolling): running, step 2/6: ...`."""
    head = f"deployment {d.id} ({d.kind} {change(d)}, {strategy_name(d.strategy)})"
    if d.terminal:
        return f"{head}: {outcome(d.phase)} in {seconds(d.duration(now))}"
    where = (f"step {min(d.step, d.steps)}/{d.steps}: {d.step_text}{step_clock(d, now)}"
             if d.step_text else f"{d.steps}/{d.steps} steps done")
    plan = f" ({d.plan_kind} plan)" if d.plan_kind != "deploy" else ""
    return f"{head}: {outcome(d.phase)}{plan}, {where}"


def controller_note(d: DeploymentView) -> str:
    if d.terminal:
        return ""
    if d.controller_pid is not None:
        return f"run by controller pid {d.controller_pid}"
    return ("no controller is running it yet: the controller (re)starts with the next zerodown "
            "command and resumes it (`zerodown controller`)")


def result_line(d: DeploymentView, now: float) -> str:
    """What `deploy` prints last."""
    line = deployment_line(d, now)
    if d.phase == "succeeded":
        return f"{line}; {d.target} serves"
    if d.error and (d.terminal or d.phase == "paused"):
        return f"{line}\n  error: {d.error}"
    return line


# --- progress ------------------------------------------------------------------

def event_line(event: EventView, since: float) -> str:
    """`  +1.24s  step 2/6: wait until healthy: shop-r2-s2`."""
    return f"{'+' + seconds(max(0.0, event.time - since)):>8}  {event.message}"


def instance_counts(instances: Iterable[InstanceView]) -> str:
    """`r1 (v1): 2 routed · r2 (v2): 1 starting, 1 healthy`, by revision then state."""
    order = ("starting", "healthy", "routed", "unrouted", "draining", "skipped", "failed",
             "stopped")
    by_rev: dict[RevisionLabel, dict[str, int]] = {}
    for inst in instances:
        states = by_rev.setdefault(inst.revision, {})
        states[inst.state] = states.get(inst.state, 0) + 1
    parts = []
    for rev in sorted(by_rev, key=lambda r: r.number):
        counts = by_rev[rev]
        ordered = sorted(counts, key=lambda s: order.index(s) if s in order else len(order))
        parts.append(f"{rev}: " + ", ".join(f"{counts[s]} {s}" for s in ordered))
    return " · ".join(parts) or "no instances"


def traffic_split(traffic: Iterable[TrafficView]) -> str:
    """`r1 50% · r2 50%`; `nothing routed` when the table is empty."""
    shares = [f"{t.revision} {percent(t.weight)}" for t in traffic if t.backends or t.weight]
    return " · ".join(shares) or "nothing routed"


def progress_summary(instances: Iterable[InstanceView], traffic: Iterable[TrafficView]) -> str:
    return f"instances {instance_counts(instances)} | traffic {traffic_split(traffic)}"


# --- status --------------------------------------------------------------------

def status_text(s: StatusView, now: float) -> str:
    lines = [f"service {s.service} at {s.where.text()}  " + proxy_text(s.proxy)]
    if not s.deployed:
        lines.append("nothing deployed yet: `zerodown up` starts the first version")
        return "\n".join(lines)
    lines.append(f"stable: {s.stable}" if s.stable else "stable: none yet")
    if s.deployment is not None:
        lines.append(deployment_line(s.deployment, now))
        lines.append(f"  {controller_note(s.deployment)}")
        if s.deployment.error:
            lines.append(f"  error: {s.deployment.error}")
        lines.extend(f"  {note}" for note in strategy_notes(s, now))
    else:
        lines.append("no deployment in progress")
    if s.shadow is not None:
        lines.extend(shadow_lines(s.shadow))
    lines.append("")
    if s.instances:
        if any(i.host for i in s.instances):  # a fleet: which host runs which version
            lines.append(table(("INSTANCE", "REVISION", "STATE", "HEALTH", "HOST", "ADDRESS",
                                "PID"), [(i.name, i.revision, i.state, health_text(i), i.host,
                                          i.address, i.pid) for i in s.instances]))
        else:
            lines.append(table(("INSTANCE", "REVISION", "STATE", "HEALTH", "ADDRESS", "PID"), [
                (i.name, i.revision, i.state, health_text(i), i.address, i.pid)
                for i in s.instances]))
    else:
        lines.append("no instances running")
    if s.left_by_down:
        names, verb = ", ".join(s.left_by_down), "answers" if len(s.left_by_down) == 1 else "answer"
        lb = s.proxy.host in s.left_by_down and (s.proxy.running or s.proxy.unreachable)
        what = f"its load balancer on {s.proxy.host} was not stopped" if lb else \
            "its instances there were not stopped, and none is routed (the proxy is stopped)"
        lines.append(f"left by `zerodown down` on {names}, silent when it ran: {what}; "
                     f"`zerodown down` again once {names} {verb}")
    lines.append("")
    shown = serving(s)
    if shown:
        # Per variant, side by side: what an A/B test or a canary is judged by.
        lines.append(table(("TRAFFIC", "VERSION", "WEIGHT", "BACKENDS", "REQUESTS", "REQ/S",
                            "ERRORS", "ERROR %", "P50 MS", "P99 MS", "IN FLIGHT"), [
            (t.revision, t.version, percent(t.weight), len(t.backends), t.requests,
             _num(t.rate, 1), t.errors, _num(t.error_rate, 2), _num(t.p50_ms, 1),
             _num(t.p99_ms, 1), t.in_flight) for t in shown]))
    else:
        lines.append("traffic: nothing routed" if s.proxy.running else
                     "traffic: unknown (the proxy is not running: `zerodown up` starts it)")
    return "\n".join(lines)


def serving(s: StatusView) -> tuple[TrafficView, ...]:
    """The traffic rows worth a look: a revision at 0% with no instance running and nothing
    in flight served earlier and is gone (`zerodown history` keeps it)."""
    running = {f"r{i.revision.number}" for i in s.instances if i.alive is not False}
    return tuple(t for t in s.traffic
                 if t.weight or t.backends or t.in_flight or t.revision in running)


def strategy_notes(s: StatusView, now: float) -> list[str]:
    """What the deployment's strategy means right now, in words: an A/B test's split and how
    it ends; blue/green's old side kept after the switch, with its countdown."""
    d = s.deployment
    if d is None or d.terminal:
        return []
    if d.strategy == "ab-test":
        share = next((t.weight for t in s.traffic if t.revision == f"r{d.target.number}"), None)
        users = f"{percent(share)} of users" if share else "its users"
        return [f"A/B test: {d.target} gets {users} (each user stays on their side); "
                f"`zerodown promote` makes it everyone's, `zerodown abort` keeps {d.source}"]
    if d.strategy == "blue-green" and d.step_text and "blue kept" in d.step_text:
        left = d.step_left(now)
        when = f"stopped in {seconds(left)}" if left is not None else "stopped after the delay"
        return [f"blue/green: {d.target} (green) serves all traffic; {d.source} (blue) is "
                f"kept running for an instant rollback, {when} (`zerodown rollback` goes "
                "back now)"]
    return []


def _num(value: float | None, digits: int) -> str | None:
    return None if value is None else f"{value:.{digits}f}"


def proxy_text(p: ProxyView) -> str:
    on = f" on {p.host}" if p.host else ""
    if p.unreachable:
        return f"(proxy{on}: unknown, its host does not answer)"
    if not p.running:
        return f"(proxy not running{on})"
    table_v = f", table v{p.table_version}" if p.table_version is not None else ""
    return f"(proxy pid {p.pid}{on}{table_v})" if p.pid else f"(proxy up{on}{table_v})"


def health_text(i: InstanceView) -> str:
    if i.alive is False:
        return "not running"
    if i.healthy is None:
        return "-"
    return "healthy" if i.healthy else f"unhealthy: {i.health}"


def status_dict(s: StatusView, now: float) -> dict:
    """`zerodown status --json`: the same facts, for scripts."""
    d = s.deployment
    return {
        "service": s.service, "listen": s.listen, "url": s.where.url,
        "url_host": s.where.host_header,
        "deployed": s.deployed,
        "stable": revision_dict(s.stable),
        "proxy": asdict(s.proxy),
        "deployment": None if d is None else deployment_dict(d, now),
        "instances": [{**asdict(i), "revision": i.revision.number,
                       "version": i.revision.version} for i in s.instances],
        "traffic": [{**asdict(t), "backends": list(t.backends)} for t in s.traffic],
        "shadow": None if s.shadow is None else {**asdict(s.shadow),
                                                 "examples": list(s.shadow.examples)},
        "left_by_down": list(s.left_by_down),
    }


def revision_dict(r: RevisionLabel | None) -> dict | None:
    return None if r is None else {"revision": r.number, "version": r.version}


def deployment_dict(d: DeploymentView, now: float) -> dict:
    return {"id": d.id, "kind": d.kind, "phase": d.phase, "from": revision_dict(d.source),
            "to": revision_dict(d.target), "strategy": d.strategy, "plan": d.plan_kind,
            "step": d.step, "steps": d.steps, "step_text": d.step_text, "error": d.error,
            "controller_pid": d.controller_pid, "created": d.created,
            "duration_s": round(d.duration(now), 3), "step_started": d.step_started,
            "step_limit_s": d.step_limit, "proof": d.proof,
            "by": d.by, "reason": d.reason}


# --- history and plans ---------------------------------------------------------------

def proof_line(proof: Mapping) -> str:
    """A deployment's proof in one line, from its dict (history --json carries it whole)."""
    return _proof_line(Proof.from_dict(dict(proof)))


def clock_time(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def history_text(deployments: Sequence[DeploymentView], now: float,
                 events: Mapping[int, Sequence[EventView]] | None = None,
                 config: Mapping[int, Sequence[str]] | None = None) -> str:
    """Newest first, who asked and why; with `events` (-v), each deployment's event log under
    it; with `config` (-v), what changed in zerodown.yaml since the revision before."""
    if not deployments:
        return "no deployments yet"
    rows = table(("ID", "KIND", "CHANGE", "STRATEGY", "OUTCOME", "STARTED", "DURATION", "BY"), [
        (d.id, d.kind, change(d), strategy_name(d.strategy), outcome(d.phase),
         clock_time(d.created), seconds(d.duration(now)), d.by) for d in deployments]
    ).splitlines()
    lines = [rows[0]]
    for d, row in zip(deployments, rows[1:]):
        lines.append(row)
        if d.reason:
            lines.append(f"    why: {d.reason}")
        if d.error:
            lines.append(f"    error: {d.error}")
        if d.proof:
            lines.append(f"    proof: {proof_line(d.proof)}")
        lines.extend(f"    config: {line}" for line in (config or {}).get(d.id, ()))
        for e in (events or {}).get(d.id, ()):
            lines.extend("    " + part for part in event_line(e, d.created).splitlines())
    return "\n".join(lines)


def plan_text(description: str, version: str, revision: int, active: DeploymentView | None) -> str:
    """`zerodown plan`: Plan.describe() with the version it would deploy, and a warning if busy."""
    head, _, steps = description.partition("\n")
    lines = [f"{head} (deploying {version} as r{revision})"]
    if steps:
        lines.append(steps)
    if active is not None:
        lines.append(f"note: deployment {active.id} is {outcome(active.phase)}; "
                     f"`zerodown deploy` waits for it (--wait) or is refused")
    lines.append("nothing was changed (plan only)")
    return "\n".join(lines)


# --- from the API's JSON back to views (the CLI renders what the controller sends) -------

def label_from_dict(d: Mapping | None) -> RevisionLabel | None:
    return None if d is None else RevisionLabel(d["revision"], d.get("version"))


def deployment_from_dict(d: Mapping, now: float) -> DeploymentView:
    """deployment_dict's inverse (updated: created + duration for an ended one)."""
    return DeploymentView(
        id=d["id"], kind=d["kind"], phase=d["phase"], source=label_from_dict(d["from"]),
        target=label_from_dict(d["to"]), strategy=d["strategy"], step=d["step"],
        steps=d["steps"], step_text=d["step_text"], plan_kind=d["plan"], created=d["created"],
        updated=d["created"] + d["duration_s"], error=d["error"],
        controller_pid=d["controller_pid"], step_started=d.get("step_started"),
        step_limit=d.get("step_limit_s"), proof=d.get("proof"), by=d.get("by"),
        reason=d.get("reason"))


def status_from_dict(s: Mapping, now: float) -> StatusView:
    """status_dict's inverse: `zerodown status` renders what the controller sent."""
    fields = {f for f in InstanceView.__dataclass_fields__}
    instances = tuple(InstanceView(**{**{k: v for k, v in i.items() if k in fields},
                                      "revision": RevisionLabel(i["revision"], i.get("version"))})
                      for i in s["instances"])
    tfields = {f for f in TrafficView.__dataclass_fields__}
    traffic = tuple(TrafficView(**{**{k: v for k, v in t.items() if k in tfields},
                                   "backends": tuple(t["backends"])}) for t in s["traffic"])
    d = s["deployment"]
    sh = s.get("shadow")
    sfields = {f for f in ShadowView.__dataclass_fields__}
    shadow = None if not sh else ShadowView(**{**{k: v for k, v in sh.items() if k in sfields},
                                               "examples": tuple(sh.get("examples") or ())})
    return StatusView(s["service"], s["listen"], label_from_dict(s["stable"]),
                      ProxyView(**s["proxy"]), None if d is None else deployment_from_dict(d, now),
                      instances, traffic, deployed=s.get("deployed", True),
                      scheme="https" if str(s.get("url", "")).startswith("https:") else "http",
                      shadow=shadow, address=ServiceUrl(s["url"], s.get("url_host"))
                      if s.get("url") else None,
                      left_by_down=tuple(s.get("left_by_down") or ()))
