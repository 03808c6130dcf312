"""The step executors: one function per kind of step, each safe to run twice.

Each records its start and finish in the store (with what it is about to do,
before doing it) and acts through the engine's runtime and router. The run
loop that picks the next step, and what happens when one fails, is runner.py;
it calls STEPS[type(step)](engine, deployment, index, step).

What is synced to disk (engine/store.py's module docstring): the commit right
before each act outside the store -- the routing table staged before it is
applied, a stop's start (its instances `stopping`: engine/stopping.py), a hook's, a
shadow's; a start's intents are synced beside the starts (the runtime records each
instance durably before its spawn).
Records of what was done (every step's finish) and the starts of steps that only
wait (a health wait, a drain, a timed pause, an analysis) are committed without a
sync (LAZY) and reach the disk with the next sync; a route's start and its staged
table are one commit: a rolling batch costs three syncs, where it cost eleven. A
step that only waits starts in the commit of the step before it (store_steps.py's
finish_step and begin_waiting): a commit fewer per health wait and per drain.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Executor, ThreadPoolExecutor, wait
from contextlib import nullcontext
from typing import Any, Callable, Protocol, Sequence

from zerodown.analysis.duration import FLOOR
from zerodown.analysis.judge import config_of
from zerodown.config import ServiceConfig
from zerodown.engine import applying, doorbell, health, shadowing
from zerodown.engine.beside import Beside
from zerodown.engine.draining import DRAIN_POLL, Looked, drain
from zerodown.engine.health import HealthError
from zerodown.engine.lifecycle import Phase
from zerodown.engine.monitor import BackgroundAnalysis, verdict_of
from zerodown.engine.records import Change, Deployment
from zerodown.engine.recovery import still_routed
from zerodown.engine.stopping import stop_instance
from zerodown.engine.store import Store
from zerodown.engine.yielding import hasten, may_yield, starts_after
from zerodown.errors import NotOwner, RouterError, ZerodownError
from zerodown.hooks import HookContext, require, run_hooks
from zerodown.service_url import hook_address
from zerodown.model import Instance, InstanceRef, Revision, RoutingTable, Slot
from zerodown.plan import (Analyze, Drain, Hook, Pause, Route, Shadow, Start, Step, Stop,
                           WaitHealthy, balancer_check, route_table)
from zerodown.protocols import Clock, Router, Runtime

MAX_PARALLEL = 16  # a parallel runtime's starts (or probes) in flight at once
POLL = 1.0  # how often a waiting runner re-reads the store for another process's signal
ROUTER_WAIT = 15.0  # how long a stop waits for a load balancer that does not answer (restarting)
LAZY = False  # `durable=` of a record no act relies on before the next synced commit


class AnalysisFailed(ZerodownError):
    """An Analyze step's judge found the revision worse than its thresholds."""


class Inconclusive(AnalysisFailed):
    """Not enough data to judge: the deployment pauses, whatever on_failure says; with users
    on the new revision (a weight) it is aborted instead, so none stays on the unproven side."""


class RefusedStep(ZerodownError):
    """A step would break a zero-downtime rule in the state the store records."""


class Engine(Protocol):
    """What a step asks of the engine running it (runner.Engine, which passes itself in):
    named here, so this file does not import the one importing it."""

    store: Store
    runtime: Runtime
    router: Router
    clock: Clock
    service: str
    config: ServiceConfig
    monitor: BackgroundAnalysis | None
    workers: Executor | None  # kept threads a parallel runtime's starts run on, if given
    _stopping: dict[InstanceRef, threading.Thread]
    _stopped: set[InstanceRef]  # whose stop in the background returned (stopping.py)
    _yielding: dict[InstanceRef, Instance]
    _hastening: list[Beside]
    _refused: NotOwner | None  # a stop a host refused (stopping.py)
    confirming_beside: bool  # a stop's thread writes its row stopped (stopping.py)
    _beside: threading.Lock  # that write and the run's end, one at a time (stopping.py)
    looked: Looked | None  # the table a drain's last look read (draining.Looked)

    @property  # read-only here, so runner's narrower Judge matches it
    def judge(self) -> Callable[..., object]: ...

    def _config(self, revision: int) -> ServiceConfig: ...

    def _revision(self, number: int) -> Revision: ...

    def _check(self, id: int, interrupting: set[Phase]) -> Deployment: ...

    def _await_stops(self, slots: Sequence[Slot] | None = None) -> None: ...


def start(engine: Engine, d: Deployment, i: int, step: Start) -> None:
    engine._await_stops([r.slot for r in step.instances])  # one instance per slot at a time
    rows = engine.store.instances(engine.service, step.instances)
    todo = [r for r in step.instances if not runs(engine, rows.get(r))]
    # The intent comes first: whatever the runtime starts, the store owns. It is synced
    # beside the starts (the runtime keeps its own intent durably: engine/store.py).
    engine.store.begin_step(d.id, i, [Change(r, "starting", set_address=True) for r in todo],
                            durable=LAZY)
    with engine.store.synced_beside():
        started = launch(engine, todo)
    engine.store.finish_step(d.id, i, f"started {_names(todo, engine.service)}" if todo else
                             "already running", [Change(x.ref, "starting", x) for x in started],
                             durable=LAZY)


def launch(engine: Engine, refs: Sequence[InstanceRef]) -> list[Instance]:
    """Start `refs` (their intents already written): in turn, or all at once on a runtime
    whose starts are round trips to other machines (`parallel`)."""
    jobs = [(engine._revision(ref.revision), ref.slot) for ref in refs]
    started: list[Instance] = []
    if getattr(engine.runtime, "parallel", False) and len(jobs) > 1:
        # the kept workers (Controller.workers): a pool made per batch starts a thread per
        # start, each ~0.1-2 ms on a loaded machine before the first host call
        with _workers(engine, len(jobs)) as pool:
            futures = [pool.submit(engine.runtime.start, *job) for job in jobs]
            wait(futures)
        errors = []
        for future in futures:
            try:
                started.append(future.result())
            except Exception as e:  # the others' outcomes are kept all the same
                errors.append(e)
        if errors:
            _keep(engine, started)
            raise errors[0]
        return started
    try:
        for job in jobs:
            started.append(engine.runtime.start(*job))
    except ZerodownError:
        _keep(engine, started)
        raise
    return started


def _workers(engine: Engine, jobs: int):
    """The engine's kept workers, else a pool of this batch's own, shut down after it."""
    if engine.workers is not None:
        return nullcontext(engine.workers)
    return ThreadPoolExecutor(min(MAX_PARALLEL, jobs), "starts")


def _keep(engine: Engine, started: Sequence[Instance]) -> None:
    """A start failed: keep the addresses of those that did start, for their stop."""
    engine.store.set_instances(engine.service, [Change(x.ref, "starting", x) for x in started])


def runs(engine: Engine, row) -> bool:
    return (row is not None and row.state in ("starting", "healthy", "routed")
            and row.address is not None and engine.runtime.alive(row.instance(engine.service)))


def wait_healthy(engine: Engine, d: Deployment, i: int, step: WaitHealthy) -> None:
    record = engine.store.begin_waiting(d.id, i)  # (a relaunch writes its own)
    rows = engine.store.instances(engine.service, step.instances)
    dead = [r for r in step.instances if not runs(engine, rows.get(r))] \
        if record.attempts > 1 else []  # (a look per instance: only when it matters)
    if dead:  # resumed after it failed: start again what exited
        engine.store.set_instances(engine.service, [Change(r, "starting", set_address=True)
                                                    for r in dead])
        engine.store.set_instances(engine.service, [Change(x.ref, "starting", x)
                                                    for x in launch(engine, dead)])
        rows = engine.store.instances(engine.service, step.instances)
    targets = []
    for ref in step.instances:
        inst = rows[ref].instance(engine.service) if ref in rows else None
        if inst is None:
            raise HealthError(f"instance {ref.name(engine.service)} was never started", ref)
        targets.append((inst, engine._revision(ref.revision)))
    health.wait_healthy(engine.runtime, engine.clock, targets,
                        check=lambda: engine._check(d.id, {Phase.ABORTING}),
                        parallel=MAX_PARALLEL if getattr(engine.runtime, "parallel", False) else 1)
    engine.store.finish_step(d.id, i, f"healthy: {_names(step.instances, engine.service)}",
                             [Change(r, "healthy") for r in step.instances
                              if rows[r].state not in ("healthy", "routed")], durable=LAZY)
    if not starts_after(d, i):  # nothing more starts: the exits need not give way
        hasten(engine, beside=True)


def route(engine: Engine, d: Deployment, i: int, step: Route) -> None:
    refs = step.routed()
    rows = engine.store.instances(engine.service, refs)
    addresses: dict[InstanceRef, str] = {}
    for ref in sorted(refs):  # never traffic to an instance not (or no longer) healthy
        row = rows.get(ref)
        if row is None or row.state not in ("healthy", "routed") or row.address is None:
            raise RefusedStep(f"refusing to route {ref.name(engine.service)}: it is "
                              f"{row.state if row else 'unknown'}, not healthy")
        addresses[ref] = row.address
    check = balancer_check(engine._revision(max(r.revision for r in refs)).health) if refs \
        else None
    table = engine.store.stage_table(d.id, i, lambda version: route_table(
        step, addresses, engine.service, version, check), begin=True)
    table, changed = applying.apply(engine, table)
    engine.store.finish_step(d.id, i, f"table v{table.version} "
                             f"{'applied' if changed else 'already in force'}", routed=refs,
                             durable=LAZY)


def stop(engine: Engine, d: Deployment, i: int, step: Stop) -> None:
    rows = engine.store.instances(engine.service, step.instances)
    live = [r for r in step.instances if r in rows and rows[r].state != "stopped"]
    routing = engine.store.routing(engine.service)
    routed = {**routing.table.backends(), **(routing.staged or routing.table).backends()}
    for ref in live:
        if ref.name(engine.service) in routed:
            raise RefusedStep(f"refusing to stop {ref.name(engine.service)}: the routing table "
                              "in force still sends it traffic")
    looked, engine.looked = engine.looked, None  # (once: a Stop run again asks anew)
    guard_stops(engine, [rows[r].instance(engine.service) for r in live],
                looked.table_for(d, i, engine.clock.now()) if looked else None)
    # The intent, synced before any stop is sent, or beside them where the runtime marks a
    # stop under way before it signals (stops_once: one sent again because a power loss
    # took the intent awaits the first, never a second SIGTERM; the next reconcile reads
    # that mark as the intent, whatever is planned then): each row is stopped only
    # once its stop is confirmed, here or when a background one is awaited (stopping.py).
    beside = getattr(engine.runtime, "stops_once", False)
    # One the reconcile stops again already (in flight: its row `stopping`) is not written
    # again: its thread writes it stopped once it exits, and a `stopping` written after that
    # (it exited between the rows' read and here) was never written stopped again.
    engine.store.begin_step(d.id, i, [Change(r, "stopping") for r in live
                                      if r not in engine._stopping],
                            durable=LAZY if beside else True)
    grace = engine._config(d.to_revision).stop_grace
    yielding = may_yield(engine, d, i)
    done, behind = [], []
    with engine.store.synced_beside() if beside else nullcontext():
        for ref in live:
            # No address after run()'s reconcile: the runtime does not have it running.
            inst = rows[ref].instance(engine.service)
            if inst is None or stop_instance(engine, ref, inst, grace, yielding):
                done.append(ref)
            else:
                behind.append(ref)
    said = [f"stopped {_names(done, engine.service)}" if done else "",
            f"stopping {_names(behind, engine.service)} (exit awaited in the background)"
            if behind else ""]
    engine.store.finish_step(d.id, i, "; ".join(filter(None, said)) or "already stopped",
                             [Change(r, "stopped") for r in done], durable=LAZY)


def guard_stops(engine: Engine, instances: Sequence[Instance | None],
                in_force: RoutingTable | None = None) -> None:
    """Never stop an instance the load balancer routes to, whatever the store says (it
    may have been lost): asked of the load balancer, not of the store. `in_force`: its
    table as the drain just before read it (draining.Looked), else it is asked now."""
    known = [i for i in instances if i is not None]
    deadline = engine.clock.now() + ROUTER_WAIT
    while True:
        try:
            routed = still_routed(engine.router, known, in_force)
            break
        except RouterError as e:  # restarting (supervised): wait for it a while
            if engine.clock.now() >= deadline:
                raise RefusedStep(
                    f"refusing to stop {_names([i.ref for i in known], engine.service)}: the "
                    f"load balancer did not say within {ROUTER_WAIT:g}s whether it still "
                    f"routes to them ({e})") from None
            engine.clock.sleep(DRAIN_POLL)
    if routed:
        raise RefusedStep(f"refusing to stop {', '.join(i.id for i in routed)}: the load "
                          f"balancer's table in force still routes to "
                          f"{', '.join(i.address for i in routed)}")


def pause(engine: Engine, d: Deployment, i: int, step: Pause) -> None:
    record = engine.store.step_record(d.id, i)
    started = record is not None and record.in_progress
    if step.duration is None:
        if not started:  # paused in the same transaction as the step's start
            engine.store.begin_step(d.id, i, pause=f"pause: {step.reason}")
        else:  # reached before, and no longer paused: someone resumed or promoted
            engine.store.finish_step(d.id, i, "promoted" if d.request == "promote" else "resumed")
        return
    if record is None or not started:
        record = engine.store.begin_step(d.id, i, durable=LAZY)
    deadline, outcome = record.started_at + step.duration, "pause over"
    while engine.clock.now() < deadline:  # from the first start: a restart does not extend it
        mark = doorbell.mark(engine.store)
        # the request, or a promote a pause cleared and a resume hid before this look
        if engine._check(d.id, {Phase.PAUSED, Phase.ABORTING, Phase.PROMOTING}).request \
                or engine.store.pause_ended_by(d.id, i, timed=True):
            outcome = "promoted"
            break
        doorbell.wait(engine.store, engine.clock, min(POLL, deadline - engine.clock.now()),
                      mark)
    engine.store.finish_step(d.id, i, outcome, durable=LAZY)


def analyze(engine: Engine, d: Deployment, i: int, step: Analyze) -> None:
    engine.store.begin_step(d.id, i, durable=LAZY)
    check = lambda: engine._check(d.id, {Phase.PAUSED, Phase.ABORTING, Phase.PROMOTING})  # noqa: E731
    monitor = engine.monitor if step.background else None
    if monitor is not None:
        verdict, why = await_background(engine, d, monitor, step, check)
    else:  # a step of its own (or the gate with no monitor to ask: judged here)
        verdict, why = verdict_of(engine.judge(step, d, check))
    if verdict == "inconclusive":
        raise Inconclusive(f"analysis of r{step.revision} is inconclusive: {why or 'no data'}")
    if verdict != "pass":
        raise AnalysisFailed(f"analysis of r{step.revision} failed: {why or verdict}")
    engine.store.finish_step(d.id, i, f"analysis passed{': ' + why if why else ''}",
                             durable=LAZY)


def await_background(engine: Engine, d: Deployment, monitor: BackgroundAnalysis,
                     step: Analyze, check: Callable[[], object]) -> tuple[str, str]:
    """The gate before a canary's promotion: the background analysis's pass, awaited up to
    its max_duration from here -- set, or the one its judge chose from the traffic (a fail
    aborts from the monitor's thread: check sees it)."""
    cfg = config_of(step.spec)
    limit = cfg.max_duration or getattr(engine.judge, "durations", {}).get(d.id) or FLOOR
    deadline = engine.clock.now() + limit
    while not monitor.passed.is_set():
        check()
        if engine.clock.now() >= deadline:
            return "inconclusive", (f"the background analysis has not passed {limit:g}s after "
                                    f"the canary's last step: {monitor.why or 'no verdict'}")
        engine.clock.sleep(min(POLL, max(0.0, deadline - engine.clock.now())) or POLL)
    return "pass", monitor.why


def hook(engine: Engine, d: Deployment, i: int, step: Hook) -> None:
    engine.store.begin_step(d.id, i)
    cfg = engine._config(d.to_revision)
    # a first deployment has nothing to preview beside: users get it as soon as it routes
    preview = getattr(cfg.strategy, "preview_header", None) if d.from_revision else None
    url, host = hook_address(cfg.listen, cfg.url.partition(":")[0], cfg.router.kind,
                             cfg.router.options)
    ctx = HookContext(engine.service, d.id, step.moment, d.to_revision,
                      engine._revision(d.to_revision).version,
                      d.from_revision, i + 1, step.describe(engine.service),
                      url, preview,
                      {"kind": d.kind, "plan": d.plan_kind}, addresses(engine, d.to_revision),
                      host)
    on_hosts = getattr(engine.runtime, "run_on_hosts", None)  # runtime: ssh
    results = run_hooks(cfg.hooks, step.moment, ctx, base_dir=_folder(cfg.file),
                        on_hosts=on_hosts,
                        on_result=lambda r: engine.store.event(
                            engine.service, "hook.ok" if r.ok else "hook.failed", r.summary, d.id))
    require(results, step.moment)  # HookFailed before promotion: _fail aborts
    passed = sum(r.ok for r in results)
    engine.store.finish_step(d.id, i, f"{step.moment}: {passed} of {len(results)} hooks passed",
                             durable=LAZY)


def addresses(engine: Engine, revision: int) -> tuple[str, ...]:
    """Where `revision`'s started instances listen, by slot: hooks test them directly."""
    rows = engine.store.instances(engine.service, live=True).values()
    return tuple(r.address for r in sorted(rows, key=lambda r: r.ref.slot.index)
                 if r.ref.revision == revision and r.address
                 and r.state not in ("failed", "stopping"))


def _folder(file: str | None) -> str | None:
    return os.path.dirname(os.path.abspath(file)) if file else None


def _names(refs: Sequence[InstanceRef], service: str) -> str:
    return ", ".join(r.name(service) for r in refs[:5]) + (f" and {len(refs) - 5} more"
                                                          if len(refs) > 5 else "")


def shadow(engine: Engine, d: Deployment, i: int, step: Shadow) -> None:
    """Users' requests copied to the new revision, its answers compared with stable's
    (the load balancer's mirror), the share that differ judged (engine/shadowing.py)."""
    engine.store.begin_step(d.id, i)
    check = lambda: engine._check(d.id, {Phase.PAUSED, Phase.ABORTING, Phase.PROMOTING})  # noqa: E731
    verdict, why = shadowing.run(engine, d, step, addresses(engine, step.revision), check)
    if verdict == "inconclusive":
        raise Inconclusive(f"shadow of r{step.revision} is inconclusive: {why}")
    if verdict != "pass":
        raise AnalysisFailed(f"shadow of r{step.revision} failed: {why}")
    engine.store.finish_step(d.id, i, f"shadow passed: {why}", durable=LAZY)


STEPS: dict[type[Step], Callable[[Engine, Deployment, int, Any], None]] = {
    Start: start, WaitHealthy: wait_healthy, Route: route, Drain: drain, Stop: stop,
    Pause: pause, Analyze: analyze, Shadow: shadow, Hook: hook}
