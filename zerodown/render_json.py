"""What `--json` prints for plan and history: pure functions over the same values the text
renderers take. The shapes are documented in docs/json.md and pinned by
tests/unit/test_render_json.py: a key is added, never renamed or removed, without a new
`schema` number."""

from __future__ import annotations

from typing import Mapping, Sequence

from zerodown.config_diff import change_dict
from zerodown.plan import Analyze, Hook, Pause, Plan, Route, Shadow
from zerodown.views import DeploymentView, EventView, deployment_dict

SCHEMA = 1


def step_dict(number: int, step, service: str) -> dict:
    """One plan step: its number, action, the text `plan` prints, and its facts."""
    action = {"WaitHealthy": "wait_healthy"}.get(type(step).__name__, type(step).__name__.lower())
    out: dict = {"step": number, "action": action, "text": step.describe(service)}
    if isinstance(step, Route):
        pct = step.percents()
        out["traffic"] = [{"revision": s.revision, "percent": round(pct.get(s.revision, 0), 4),
                           "instances": [i.name(service) for i in s.instances]}
                          for s in step.shares]
        out["preview"] = step.preview
    elif isinstance(step, Pause):
        out.update(reason=step.reason, duration_s=step.duration, timeout_s=step.timeout,
                   then=step.then if step.timeout is not None else None,
                   decision=step.decision)
    elif isinstance(step, Analyze):
        out.update(revision=step.revision, against=step.against, background=step.background)
    elif isinstance(step, Shadow):
        out.update(revision=step.revision, shadow=dict(step.spec))
    elif isinstance(step, Hook):
        out["moment"] = step.moment
    else:  # Start, WaitHealthy, Drain, Stop
        out["instances"] = [i.name(service) for i in step.instances]
    return out


def plan_dict(plan: Plan, version: str, active: DeploymentView | None, now: float) -> dict:
    """`zerodown plan --json`."""
    s = plan.state
    return {"schema": SCHEMA, "service": s.service, "version": version,
            "revision": plan.target.revision, "instances": plan.target.instances,
            "from": sorted({r.revision for r in (*s.routed, *s.unrouted)}
                           - {plan.target.revision}),
            "strategy": plan.strategy,
            "steps": [_on_hosts(step_dict(n, step, s.service), plan, step)
                      for n, step in enumerate(plan.steps, 1)],
            "active_deployment": None if active is None else deployment_dict(active, now)}


def _on_hosts(out: dict, plan: Plan, step) -> dict:
    """runtime: ssh — the hosts a start, wait, drain or stop acts on, also in its text, and
    those of them runtime.hosts no longer lists."""
    hosts = plan.hosts_of(step)
    if hosts:
        out.update(hosts=hosts, hosts_not_listed=plan.not_listed(step),
                   text=out["text"] + plan.where(step))
    return out


def history_dict(deployments: Sequence[DeploymentView], now: float,
                 events: Mapping[int, Sequence[EventView]] | None = None,
                 config: Mapping[int, Sequence[tuple]] | None = None) -> dict:
    """`zerodown history --json`: newest first; `events` only with -v; `config`: each
    deployment's (key, old, new) changes of zerodown.yaml since the revision before."""
    rows = []
    for d in deployments:
        row = deployment_dict(d, now)
        row["config_changes"] = [change_dict(*c) for c in (config or {}).get(d.id, ())]
        if events is not None:
            row["events"] = [{"time": e.time, "kind": e.kind, "message": e.message,
                              **({"hosts": list(e.hosts)} if e.hosts else {})}
                             for e in events.get(d.id, ())]
        rows.append(row)
    return {"schema": SCHEMA, "deployments": rows}


def missing_releases(have: Sequence[str], needed: Sequence[str]) -> list[str]:
    """The versions of `needed` (the stable and previous revisions') a host lacks."""
    return [v for v in needed if v not in have]


def hosts_dict(reports: Sequence, addresses: Mapping[str, str | None],
               releases: Mapping[str, list[str] | None] | None = None,
               needed: Sequence[str] = (), me: str | None = None) -> dict:
    """`zerodown hosts --json`: each host's pre-flight (hosts/preflight.py HostReport);
    with `releases` (app.release), each host's releases and those of `needed` it lacks;
    the service's owner where the pre-flight read it (hosts/owner.py), `me` being this
    controller's id."""
    def one(r) -> dict:
        out = {"host": r.host, "address": addresses.get(r.host), "ready": r.ready,
               "free_mb": r.free_mb, "problem": r.problem, "owner_read": r.owner_read,
               "owner": None if r.owner is None else {
                   "id": r.owner.get("id"), "where": r.owner.get("where"),
                   "since": r.owner.get("since"), "this_controller": r.owner.get("id") == me}}
        if releases is not None:
            have = releases.get(r.host)
            out["releases"] = have
            out["missing_releases"] = None if have is None else missing_releases(have, needed)
        return out
    return {"schema": SCHEMA, "hosts": [one(r) for r in reports]}
