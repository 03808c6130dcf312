"""The views of a service, gathered: what its store, runtime and load balancer say now,
as views.py's dataclasses (status, history, the API, the progress lines).

    view = status_view(Controller("zerodown.yaml"))   # facts for render.status_text

Only reads: the store's rows, the load balancer's table and counters, and a probe of
each instance (PROBE_TIMEOUT at most each). controller.py builds the drivers asked.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Iterable, Mapping

from zerodown import render, views
from zerodown.config import ServiceConfig
from zerodown.controller import Controller, label, labels, maybe_label, snapshot_config
from zerodown.engine.health import look
from zerodown.engine.lifecycle import holds_for
from zerodown.engine.host_failure import paused_for_host, skipped_hosts
from zerodown.engine.records import Listed
from zerodown.engine.store import Deployment, Event, InstanceRow, Store
from zerodown.errors import HostFailure, ZerodownError
from zerodown.model import Revision, RoutingTable, fleet_hosts
from zerodown.plan import on_text, step_hosts
from zerodown.service_url import config_url

PROBE_TIMEOUT = 1.0  # `status` probes each instance at most this long
UP_REASON = "zerodown up"  # what `up` says of the first deployment: no person's words


def step_limit(step, cfg: ServiceConfig | None) -> float | None:
    """How long the step may take before it ends by itself or fails: a pause's duration, the
    health wait's start_timeout, drain_timeout, stop_grace, a moment's hooks' timeouts (run
    one after another) (None: no bound known here)."""
    from zerodown.plan import Drain, Hook, Pause, Shadow, Stop, WaitHealthy
    if isinstance(step, Pause):
        return step.duration if step.duration is not None else step.timeout
    if isinstance(step, Shadow):
        return step.spec.get("duration")
    if cfg is None:
        return None
    if isinstance(step, Hook):
        return sum(h.timeout for h in cfg.hooks.at(step.moment)) or None
    bounds = {WaitHealthy: cfg.health.start_timeout, Drain: cfg.drain_timeout,
              Stop: cfg.stop_grace}
    return bounds.get(type(step))


def deployment_view(d: Deployment | Listed, known: Mapping[int, views.RevisionLabel],
                    controller_pid: int | None = None, store: Store | None = None,
                    cfg: ServiceConfig | None = None, proof: dict | None = None,
                    asked: dict | None = None) -> views.DeploymentView:
    """With `store`, when the step in progress began and its bound (progress lines and the
    countdown of a timed pause); with `asked` (its Store.askers entry: history, the API,
    status), who asked for it and why. `d` Listed (history, the API's list): no plan read."""
    record = None if store is None or d.step is None else store.step_record(d.id, d.cursor)
    started = record.started_at if record is not None and record.in_progress else None
    on = (record.hosts or ()) if record is not None and started is not None else ()
    return views.DeploymentView(
        id=d.id, kind=d.kind, phase=d.phase.value, source=maybe_label(known, d.from_revision),
        target=label(known, d.to_revision), strategy=str(d.strategy.get("kind", "rolling")),
        step=d.cursor + 1, steps=d.length,
        step_text=d.step.describe(d.service) + on_text(list(on), listed(on, cfg))
        if d.step is not None else None, step_hosts=on,
        plan_kind=d.plan_kind, created=d.created, updated=d.updated,
        error=with_host_back(store, d) if store is not None and isinstance(d, Deployment)
        else d.error,
        controller_pid=None if d.phase.terminal else controller_pid,
        step_started=None if d.phase.terminal else started,
        step_limit=None if started is None else step_limit(d.step, cfg), proof=proof,
        by=(asked or {}).get("who"), reason=spoken((asked or {}).get("reason")),
        holds_for=holds_for(d.phase, d.step, str(d.strategy.get("kind", "rolling")),
                            d.plan_kind, started is not None, d.from_revision,
                            d.to_revision))


def spoken(reason: str | None) -> str | None:
    """A deployment's reason as a person gave it: `up`'s own words are none."""
    return None if reason == UP_REASON else reason


def listed(on: Iterable[str], cfg: ServiceConfig | None) -> tuple[str, ...]:
    """runtime.hosts, to mark a host of `on` it no longer lists; without the config, `on`
    itself (nothing is marked that is not known to be unlisted)."""
    return tuple(on) if cfg is None else fleet_hosts(cfg.runtime)


def plan_steps(store: Store, d: Deployment, cfg: ServiceConfig) -> list[dict]:
    """The dashboard's plan (API deployments/{id}): each step's text as `zerodown plan`
    prints it, with runtime ssh ending with the hosts it acts on, and whether it is done.
    A step that began names the hosts its start recorded (StepRecord.hosts): where it
    acted, whatever became of its instances' rows since (a slot used again on another
    host). Else (not begun, or begun by an older zerodown) what a planner would say
    (plan.step_hosts): a done step, start included, the hosts recorded where its
    instances ran; a pending one live rows' hosts, a start by today's runtime.hosts (a
    stopped row is an older life of an instance it starts again); the current step
    stopped rows too (a stop paused halfway has stopped some of its own)."""
    hosts = fleet_hosts(cfg.runtime)
    # the rows of the plan's instances by the primary key, stopped ones too: every row
    # of the service grew with each deployment it ever had
    every = store.recorded_hosts(d.service, refs={r for step in d.steps for r in getattr(
        step, "instances", ())}) if hosts else {}
    live = store.recorded_hosts(d.service, live=True) if hosts else {}
    began = {r.index: r.hosts for r in store.steps(d.id) if r.hosts is not None} if hosts \
        else {}

    def one(i: int, step) -> dict:
        on = list(began[i]) if i <= d.cursor and i in began else \
            step_hosts(step, hosts, live if i > d.cursor else every, ran=i < d.cursor)
        return {"index": i, "text": step.describe(d.service) + on_text(on, hosts), "hosts": on,
                "state": "done" if i < d.cursor else
                         "current" if i == d.cursor and not d.phase.terminal else "pending"}
    return [one(i, step) for i, step in enumerate(d.steps)]


def with_host_back(store: Store, d: Deployment) -> str | None:
    """The deployment's error, and whether the host it is paused for answers again (as
    the controller's host watch last found: daemon/host_watch.py)."""
    found = paused_for_host(store, d.service, d)
    if found is None:
        return d.error
    host, since = found
    back = store.events(d.service, d.id, after=since, kind="host.reachable")
    if not back:
        return d.error
    return (f"{d.error}; host {host} answers again since "
            f"{time.strftime('%H:%M:%S', time.localtime(back[0].time))}: `zerodown resume` "
            f"goes on" + (" (on_host_return: hold)" if back[0].data.get("policy") == "hold"
                          else ""))


def event_view(e: Event) -> views.EventView:
    return views.EventView(e.time, e.kind, e.message, tuple(e.data.get("hosts") or ()))


def store_instances(store: Store, service: str,
                    known: Mapping[int, views.RevisionLabel]) -> list[views.InstanceView]:
    rows = store.instances(service, live=True)
    return [instance_view(service, row, known) for _, row in sorted(rows.items())]


def instance_view(service: str, row: InstanceRow, known: Mapping[int, views.RevisionLabel],
                  hosts: tuple[str, ...] = ()) -> views.InstanceView:
    """`hosts`: runtime.hosts of an ssh runtime (fleet_hosts), to say whether each one's
    host (the one recorded where it was started: InstanceRow.host) is still listed."""
    host = row.host(hosts)
    return views.InstanceView(row.ref.name(service), label(known, row.ref.revision),
                              row.ref.slot.index, row.state, row.address, row.pid, host=host,
                              host_listed=host in hosts if host and hosts else None)


def table_traffic(table: RoutingTable, known: Mapping[int, views.RevisionLabel],
                  stats: dict | None = None, rates: dict[str, float] | None = None
                  ) -> list[views.TrafficView]:
    """Per revision of the table: weight and backends; with stats, its counters too.
    Revisions only the counters know (they served earlier) follow with weight 0."""
    counters = (stats or {}).get("revisions", {})
    rates = rates or {}
    names = [r.name for r in table.revisions] + [n for n in counters
                                                  if table.revision(n) is None]
    out = []
    for name in names:
        route, c = table.revision(name), counters.get(name)
        number = int(name[1:]) if name[1:].isdigit() else None
        version = known[number].version if number is not None and number in known else None
        out.append(views.TrafficView(
            name, version, route.weight if route else 0.0,
            tuple(b.id for b in route.backends) if route else (),
            None if c is None else c["requests"],
            None if c is None else failed(c),
            None if c is None else c["in_flight"], rates.get(name),
            None if c is None else c.get("latency_ms", {}).get("p50"),
            None if c is None else c.get("latency_ms", {}).get("p99")))
    return out


def failed(c: Mapping) -> int:
    """A revision's failed responses. The embedded proxy and nginx count a 502/503/504 they
    made themselves in the 5xx class too, so the sum said 2 for one (ERROR % 200.00);
    HAProxy's `errors` (econ, eresp) are attempts, maybe retried: the larger one, never
    both."""
    return max(c["responses"]["5xx"], c["errors"])


RATE_SAMPLE = 1.0  # seconds between the two looks at the counters that give req/s


def split_rates(router, table: RoutingTable, stats: dict | None,
                sample: float = RATE_SAMPLE) -> dict[str, float]:
    """Requests per second per revision, from a second look at the counters `sample`
    seconds later; only while traffic is split (a canary, an A/B test), else {}."""
    if stats is None or sum(1 for r in table.revisions if r.backends) < 2:
        return {}
    time.sleep(sample)
    try:
        later = router.stats()
    except ZerodownError:
        return {}
    before, after = stats.get("revisions", {}), later.get("revisions", {})
    return {name: max(0, c["requests"] - before.get(name, {}).get("requests", 0)) / sample
            for name, c in after.items()}


def progress(store: Store, service: str) -> str:
    """The line under each step: instances per revision and the traffic split, from the store."""
    known = labels(store, service)
    return render.progress_summary(store_instances(store, service, known),
                                   table_traffic(store.routing(service).table, known))


def status_view(ctl: Controller) -> views.StatusView:
    cfg = ctl.working_config()
    service = cfg.service
    if not ctl.has_state():
        return views.StatusView(service, cfg.listen, None,
                                views.ProxyView(False, host=cfg.router.host), None,
                                deployed=False, scheme=cfg.url.partition(":")[0],
                                address=config_url(cfg))
    store = ctl.store()
    known = labels(store, service)
    active = store.active_deployment(service)
    deployment = None if active is None else deployment_view(
        active, known, ctl.controller_pid(service), store, cfg,
        asked=store.askers([active.id]).get(active.id))
    proxy, table, stats = _proxy(ctl, cfg)
    if table is None:
        table = store.routing(service).table
    instances = not_routed(tuple(_probed(ctl, store, service, known)), may_route(proxy))
    from zerodown.daemon.process import down_marker  # lazily: process imports this module's
    down = down_marker(ctl.state_dir).exists()
    return views.StatusView(
        service, cfg.listen, maybe_label(known, store.stable(service)[0]), proxy, deployment,
        instances,
        tuple(table_traffic(table, known, stats, split_rates(ctl.router(cfg), table, stats)))
        if proxy.running else (),
        deployed=bool(known), scheme=cfg.url.partition(":")[0], address=config_url(cfg),
        shadow=shadow_view(store, service, ctl.router(cfg) if proxy.running else None),
        # after `zerodown down`, the rows still live are on hosts it could not reach, and a
        # load balancer on router.host still running (or silent) is one it could not stop
        left_by_down=tuple(sorted({i.host for i in instances if i.host} | (
            {proxy.host} if proxy.host and (proxy.running or proxy.unreachable) else set())))
        if down else ())


def may_route(proxy: views.ProxyView) -> bool:
    """False only when the load balancer is known not to run: one on a router host that
    does not answer says nothing of what is routed, so the store's word stands."""
    return proxy.running or bool(proxy.unreachable)


def not_routed(instances: tuple[views.InstanceView, ...],
               proxy_running: bool) -> tuple[views.InstanceView, ...]:
    """The stored state says `routed` from the table in force; with no load balancer
    running nothing reaches them: `unrouted`."""
    if proxy_running:
        return instances
    return tuple(dataclasses.replace(i, state="unrouted") if i.state == "routed" else i
                 for i in instances)


def shadow_view(store: Store, service: str, router=None) -> views.ShadowView | None:
    """The latest deployment's shadow: live from the load balancer while its step runs,
    else as it ended (its `shadow.ended` event); None if that deployment had none."""
    from zerodown.plan import Shadow
    latest = store.deployments(service, limit=1)
    if not latest:
        return None
    d = latest[0]
    ended = store.events(service, deployment=d.id, kind="shadow.ended")
    running = (not d.phase.terminal and isinstance(d.step, Shadow)
               and (record := store.step_record(d.id, d.cursor)) is not None
               and record.in_progress)
    stats, state, revision = None, "running", d.to_revision
    ask = getattr(router, "client", router)  # one look: no waiting for a restarting proxy
    if running and callable(getattr(ask, "shadow_stats", None)):
        try:
            stats = ask.shadow_stats()
        except ZerodownError:
            stats = None
    if stats is None and ended:
        stats, state = ended[-1].data, ended[-1].data.get("verdict", "ended")
        revision = stats.get("revision", revision)
    if stats is None:
        return None
    got = stats

    def count(key: str) -> int:
        return int(got.get(key) or 0)
    return views.ShadowView(d.id, revision, state, count("compared"), count("differing"),
                            count("dropped"), count("timed_out"), count("failed"),
                            tuple(stats.get("examples") or ()))


def _unreachable(on: str | None, e: HostFailure):
    return views.ProxyView(False, host=on, unreachable=str(e).splitlines()[0]), None, None


def _proxy(ctl: Controller, cfg: ServiceConfig):
    """(ProxyView, the table it serves or None, its stats) — asked of the load balancer itself.
    A router that cannot say which table it serves is shown with the store's."""
    on = cfg.router.host
    try:
        router = ctl.router(cfg)
        pid = getattr(router, "pid", None)
        answers = getattr(router, "answers", lambda: True)()
    except HostFailure as e:  # router.host does not answer: whether it runs is unknown
        return _unreachable(on, e)
    if not answers:
        return views.ProxyView(False, pid, host=on), None, None
    client = getattr(router, "client", None)
    read = client.table if client is not None else getattr(router, "table", None)
    try:
        table = read() if callable(read) else None
        stats = router.stats()
    except HostFailure as e:  # silent since it answered: unknown too, not "not running"
        return _unreachable(on, e)
    except ZerodownError:
        return views.ProxyView(False, pid, host=on), None, None
    return views.ProxyView(True, pid, table.version if table else None, on), table, stats


def _probed(ctl: Controller, store: Store, service: str,
            known: Mapping[int, views.RevisionLabel]) -> Iterable[views.InstanceView]:
    runtime, revisions, hosts = ctl.runtime(), {}, fleet_hosts(ctl.working_config().runtime)
    silent: dict[str | None, str] = {}  # host -> what it did not answer: once per status
    skipped = skipped_hosts(store, service) if hosts else {}
    for _, row in sorted(store.instances(service, live=True).items()):
        view, inst = instance_view(service, row, known, hosts), row.instance(service)
        host = view.host
        # not draining (routed): left as it was
        if host is not None and host in skipped and row.state != "routed":
            view = dataclasses.replace(view, state="skipped")
            if inst is None:  # meant to start there, and never was
                yield dataclasses.replace(view, health=f"never started: deployment "
                                          f"{skipped[host]} skipped host {host}")
                continue
        if inst is None:
            yield view
            continue
        number = row.ref.revision
        if view.host in silent:
            yield dataclasses.replace(view, healthy=False, health=silent[view.host])
            continue
        if number not in revisions:
            cfg = snapshot_config(store, service, number)
            health = dataclasses.replace(cfg.health,
                                         timeout=min(cfg.health.timeout, PROBE_TIMEOUT))
            revisions[number] = Revision(service, number, view.revision.version or "", cfg.app,
                                         health)
        try:
            alive, ok, seen = look(runtime, inst, revisions[number], waiting=False)
        except ZerodownError as e:
            alive, ok, seen = True, False, e
        if isinstance(seen, ZerodownError):  # its host did not answer: unknown, with the host
            why = str(seen).splitlines()[0]
            if isinstance(seen, HostFailure):  # what bounded the look: status's own budget
                budget = revisions[number].health.timeout + 1  # (runtimes/ssh.py's _look)
                silent[seen.host] = (f"{render.SILENT}{why} (status's look: {budget:g}s at most, "
                                     f"health.timeout up to {PROBE_TIMEOUT:g}s + 1s)")
                why = silent[seen.host]
            yield dataclasses.replace(view, healthy=False, health=why)
        elif not alive:  # how it ended, when the runtime said it (its glance)
            yield dataclasses.replace(view, alive=False, health=str(seen).split("\n")[0])
        else:
            yield dataclasses.replace(view, alive=True, healthy=ok, health=seen.splitlines()[0])
