"""What zerodown shows of a service: small frozen dataclasses, and their JSON.

controller.py (and the daemon's observer) gather the facts of the store, the
runtime and the router into these views; render.py turns them into the lines the
command line prints. The API carries them as JSON: status_dict and
deployment_dict write it, status_from_dict and deployment_from_dict read it back,
so the CLI renders what the controller sent with the same functions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping

from zerodown.service_url import ServiceUrl
from zerodown.shadow.report import ShadowView


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
    # starting | healthy | routed | draining | stopping | failed | stopped | skipped;
    # unrouted: the table routes it, but the load balancer is not running
    # (gather.not_routed); stopping: its stop sent, its exit not yet confirmed
    state: str
    address: str | None = None
    pid: int | None = None
    alive: bool | None = None  # None: not looked at (progress lines)
    healthy: bool | None = None  # None: not probed
    health: str = ""  # what the probe saw
    host: str | None = None  # runtime ssh: the host it runs on (runtime.hosts' name)
    # runtime ssh: is `host` one of today's runtime.hosts (False: removed from the list since
    # the instance started there; it still runs there); None when not known or no fleet
    host_listed: bool | None = None


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
    # runtime ssh: the hosts the step in progress acts on, as recorded when it began (its
    # step_text ends with them: " (on app1, app2)"); () for other steps, runtimes, and a
    # step begun by an older zerodown
    step_hosts: tuple[str, ...] = ()
    # at an A/B test's hold (reached): the decision it waits for, in the words a resume is
    # refused with (engine/lifecycle.py holds_for); None elsewhere
    holds_for: str | None = None

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
    hosts: tuple[str, ...] = ()  # a step.started's on a fleet: the hosts the step acts on

# --- to JSON and back (`status --json`, the API) ----------------------------------

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
            "step_limit_s": d.step_limit, "step_hosts": list(d.step_hosts), "proof": d.proof,
            "by": d.by, "reason": d.reason, "holds_for": d.holds_for}



def label_from_dict(d: Mapping | None) -> RevisionLabel | None:
    return None if d is None else label_of(d)


def label_of(d: Mapping) -> RevisionLabel:
    return RevisionLabel(d["revision"], d.get("version"))


def deployment_from_dict(d: Mapping, now: float) -> DeploymentView:
    """deployment_dict's inverse (updated: created + duration for an ended one)."""
    return DeploymentView(
        id=d["id"], kind=d["kind"], phase=d["phase"], source=label_from_dict(d["from"]),
        target=label_of(d["to"]), strategy=d["strategy"], step=d["step"],
        steps=d["steps"], step_text=d["step_text"], plan_kind=d["plan"], created=d["created"],
        updated=d["created"] + d["duration_s"], error=d["error"],
        controller_pid=d["controller_pid"], step_started=d.get("step_started"),
        step_limit=d.get("step_limit_s"), proof=d.get("proof"), by=d.get("by"),
        reason=d.get("reason"), step_hosts=tuple(d.get("step_hosts") or ()),
        holds_for=d.get("holds_for"))


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
