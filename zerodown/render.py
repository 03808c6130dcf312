"""What the command line prints: pure functions over the views of views.py.

controller.py gathers the facts (store, runtime, router) into those views;
the functions here turn them into text and never touch the world, so every
line the CLI prints is unit-tested (tests/unit/test_render.py).
"""

from __future__ import annotations

import time
from typing import Any, Iterable, Mapping, Sequence

from zerodown.proof import Proof, line as _proof_line
from zerodown.shadow.report import shadow_lines
from zerodown.views import (DeploymentView, EventView, InstanceView, ProxyView, RevisionLabel,
                            StatusView, TrafficView)

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
    order = ("starting", "healthy", "routed", "unrouted", "draining", "stopping", "skipped",
             "failed", "stopped")
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
                                "PID"), [(i.name, i.revision, i.state, health_cell(i),
                                          host_cell(i), i.address, i.pid)
                                         for i in s.instances]))
        else:
            lines.append(table(("INSTANCE", "REVISION", "STATE", "HEALTH", "ADDRESS", "PID"), [
                (i.name, i.revision, i.state, health_cell(i), i.address, i.pid)
                for i in s.instances]))
        lines.extend(f"  {i.name} {health_text(i)}" for i in s.instances
                     if health_cell(i) != health_text(i))
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
                     f"traffic: unknown (the proxy's host {s.proxy.host} does not answer)"
                     if s.proxy.unreachable else
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


SILENT = "unreachable: "  # the health of an instance whose host did not answer (gather.py)
HEALTH_CELL = 40  # a longer reason (a host's, with its error) is said under the table


def health_cell(i: InstanceView) -> str:
    """The HEALTH column: the reason when it is short; a long one would push HOST, ADDRESS
    and PID off the screen, so it is named under the table instead."""
    text = health_text(i)
    return text if len(text) <= HEALTH_CELL else f"{text.split(':')[0]} (below)"


def host_cell(i: InstanceView) -> str | None:
    """The HOST column: where it runs, and if runtime.hosts no longer lists that host
    (it started there before the list changed, and runs there still)."""
    return f"{i.host} (not listed)" if i.host_listed is False else i.host


def health_text(i: InstanceView) -> str:
    if i.alive is False:  # how it ended ("exited with status 3"), when its host said
        return i.health or "not running"
    if i.healthy is None:
        return "-"
    if not i.healthy and (i.health or "").startswith(SILENT):  # gather.py: its host's silence
        return f"unknown: {i.health}"  # not "unhealthy": it may serve well, unseen
    return "healthy" if i.healthy else f"unhealthy: {i.health}"


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
