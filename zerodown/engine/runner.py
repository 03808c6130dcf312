"""The engine: runs a deployment's plan step by step, durably.

    engine = Engine(store, runtime, router, clock, config, on_event=print)
    phase = engine.run(engine.deploy("v2"))  # succeeded | rolled_back | aborted | failed | paused

Every step is written to the store when it starts (with what it is about to
do: the instances it will start, the routing table it will apply) and when it
finishes (with what it did, and the cursor moved past it), and every step is
idempotent. So a controller killed at any moment resumes on restart
(`resume_interrupted`) by running the step in progress again, and never starts
a second copy of an instance or leaves one running that the store does not own.

Other processes (`zerodown pause 7` in another terminal) only send signals
through the store (Store.signal); the process running the deployment holds
the service's lock file and sees them at once (engine/doorbell.py), in the order
they were asked (engine/asked.py). When it is gone,
whoever calls run() next takes over.

This file is the run loop (what runs next); what a failure, abort or promote
turns the plan into is replanning.py, reconciling instances with the store
reconciling.py, the lock service_lock.py, the router made to serve a table applying.py,
and each kind of step is executed by steps.py.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import Executor
from contextlib import nullcontext
from functools import partial
from typing import Callable, Sequence

from zerodown.config import ServiceConfig, apply_overrides
from zerodown.engine import (applying, asked, collector, doorbell, reconciling,
                             replanning, stopping, unlisted)
from zerodown.engine.beside import Beside
from zerodown.engine.draining import Looked
from zerodown.engine.finishing import Finishing
from zerodown.engine.lifecycle import PLAN_OF, Phase, PhaseError
from zerodown.engine.monitor import BackgroundAnalysis, background_spec
from zerodown.engine.proof_recorder import ProofRecorder
from zerodown.engine.snapshots import Snapshots
from zerodown.engine.steps import (DRAIN_POLL, POLL, STEPS, AnalysisFailed, Inconclusive,
                                   RefusedStep)
from zerodown.engine.stopping import await_stops, end_beside
from zerodown.engine.store import Deployment, DeploymentConflict, PlanMoved, Store, StoreUnavailable
from zerodown.engine.recovery import recover
from zerodown.engine.service_lock import DeploymentBusy, held
from zerodown.engine.system_clock import SystemClock
from zerodown.errors import NotOwner, UsageError, ZerodownError
from zerodown.model import Instance, InstanceRef, Slot, fleet_hosts
from zerodown.plan import Analyze, Plan, ServiceState, Start, WaitHealthy
from zerodown.protocols import Clock, Router, Runtime
from zerodown.schema import Invalid, version_label
from zerodown.strategies import (plan_for, refuse_downtime, rollback_plan, rollback_strategy,
                                 target_for)

# Step executors and their errors live in steps.py; these names are imported from here too.
__all__ = ["DRAIN_POLL", "POLL", "STEPS", "AnalysisFailed", "DeploymentBusy", "Engine",
           "Inconclusive", "Judge", "RefusedStep", "SystemClock", "pass_judge"]


# the phases whose steps act, each of which may go to FAILED (a refusal fails it there)
ACTING = (Phase.RUNNING, Phase.PROMOTING, Phase.ROLLING_BACK, Phase.ABORTING)


class _Interrupted(Exception):
    """The deployment's phase changed (abort, promote) while a step was waiting."""


# judge(step, deployment, check) -> "pass" | "fail" | "inconclusive", or (verdict, why).
# It may take a while (a sequential test waits for evidence); it calls check() on
# every poll, which raises when another process aborted, paused or promoted meanwhile.
Judge = Callable[[Analyze, Deployment, Callable[[], object]], "str | tuple[str, str]"]


def pass_judge(step: Analyze, deployment: Deployment, check: Callable[[], object] = lambda: None
               ) -> str:
    """Without an analysis backend: every Analyze step passes."""
    return "pass"


class Engine:
    def __init__(self, store: Store, runtime: Runtime, router: Router, clock: Clock,
                 config: ServiceConfig, on_event: Callable | None = None,
                 judge: Judge = pass_judge,
                 planner: Callable[..., Plan] = partial(plan_for, allow_downtime=True),
                 workers: Executor | None = None, finishing: Finishing | None = None):
        self.store, self.runtime, self.router, self.clock = store, runtime, router, clock
        self.config, self.service = config, config.service
        self.judge, self.planner = judge, planner
        self.monitor: BackgroundAnalysis | None = None  # the deployment's, while run() runs it
        self.hung: set[int] = set()  # revisions whose backend answered nothing for a whole drain
        # (in the deployment run() runs: a later one may bring the revision back, healthy)
        store.now = clock.now  # step records and timed pauses share the engine's clock
        store.fleet = fleet_hosts(config.runtime)  # where a step's start says it acts
        if on_event is not None:
            store.listeners.append(on_event)
        # threads kept by whoever outlives this engine (Controller.workers) for a parallel
        # runtime's starts (steps.launch); without them, a batch's own, ended after it
        self.workers = workers
        # revisions as their snapshot recorded them (the steps plan and act by these)
        snapshots = Snapshots(store, config)
        self._config, self._revision, self._strategy = (snapshots.config, snapshots.revision,
                                                        snapshots.strategy)
        self._stopping: dict[InstanceRef, threading.Thread] = {}
        self._stopped: set[InstanceRef] = set()  # their stop returned (stopping.confirm)
        self.confirming_beside = False  # while run() goes on (stopping.confirm_beside)
        self._beside = threading.Lock()  # such a write and run()'s end, one at a time
        self._yielding: dict[InstanceRef, Instance] = {}  # stops giving way (yielding.py)
        self._hastening: list[Beside] = []
        self.finishing = finishing or Finishing()  # a process's stops finished beside its runs
        self._refused: NotOwner | None = None  # a stop a host refused (stopping.refused)
        self.looked: Looked | None = None  # the table in force a drain's last look read
        self._mark: doorbell.Mark | None = None  # the store as _run last read it

    # --- starting deployments ---------------------------------------------------

    def deploy(self, version: str, strategy: str | dict | None = None,
               overrides: Sequence[str] = (), wait: bool = False,
               allow_downtime: bool = False, ready: Callable[[], None] | None = None) -> int:
        """A pending deployment of a new revision labelled `version`; returns its id.

        `strategy`: a kind ("in-place") or a whole `strategy:` section, replacing
        the configured one; `overrides`: key=value settings as on the command line.
        A plan that would route nothing at some step is refused (DowntimePlan)
        unless `allow_downtime`. `ready`: called once the runtime's pre-flight passed,
        before the deployment is created (the controller's ensure_router: the load
        balancer checked and started only after the one refusal that names every host
        not ready, router.host among them).
        """
        try:
            version_label(version)
        except Invalid as e:
            raise UsageError(str(e)) from None
        extra = list(overrides)
        if strategy is not None:
            section = {"kind": strategy} if isinstance(strategy, str) else dict(strategy)
            extra.append(f"strategy={json.dumps(section)}")
        cfg = apply_overrides(self.config, extra) if extra else self.config
        self.recover()  # a lost store is rebuilt before anything is planned from it
        if not cfg.source:
            raise ZerodownError("the engine needs a config from load_config/parse_config "
                                "(its source is what a revision records)")
        @unlisted.Once  # made once, if acted_on made it
        def plan_of(state: ServiceState, rev: int) -> Plan:
            plan = self.planner(cfg.strategy, state, target_for(cfg, rev, self.config.runtime),
                                cfg.hooks.moments())
            return refuse_downtime(plan, cfg.strategy, allow_downtime)
        # before a revision number is taken
        self.runtime.check_release(cfg.app, version, keep=self.rollback_versions(),
                                   unlisted=unlisted.acted_on(self, plan_of))
        if ready is not None:
            ready()
            self.recover()  # a lost store, from a load balancer ready() has just started
        return self._create(wait, lambda: self.store.create_deployment(
            self.service, {"file": cfg.file, "source": cfg.source},
            cfg.source.get("strategy") or {}, cfg.on_failure, plan_of, version=version))

    def rollback_target(self, to_revision: int | None = None) -> int:
        """The revision a rollback would go to; UsageError when there is none to go to."""
        stable, previous = self.store.stable(self.service)
        to = previous if to_revision is None else to_revision
        if to is None:
            raise UsageError(f"service {self.service} has no previous revision to roll back to")
        if to == stable:
            raise UsageError(f"r{to} is already the stable revision of {self.service}")
        if to not in self.served(to):
            have = ", ".join(f"r{n}" for n in sorted(self.served())) or "none"
            raise UsageError(f"r{to} never served {self.service}: no deployment to it succeeded "
                             f"(revisions that served: {have})")
        return to

    def rollback_versions(self) -> frozenset[str]:
        """Versions whose release folders a prune must leave (Store.rollback_versions)."""
        return frozenset(self.store.rollback_versions(self.service))

    def served(self, revision: int | None = None) -> set[int]:
        """Revisions that were once the stable one: what a rollback may go back to (of
        them, just `revision`)."""
        stable = {n for n in self.store.stable(self.service) if n is not None}
        return self.store.served(self.service, revision) | (
            stable if revision is None else stable & {revision})

    def rollback(self, service: str | None = None, to_revision: int | None = None,
                 wait: bool = False, allow_downtime: bool = False,
                 ready: Callable[[], None] | None = None) -> int:
        """A deployment back to the previous revision (or `to_revision`); returns its id.
        `ready`: as deploy's."""
        if service not in (None, self.service):
            raise ZerodownError(f"this engine deploys {self.service}, not {service}")
        self.recover()
        to = self.rollback_target(to_revision)
        record, cfg = self.store.revision(self.service, to), self._config(to)
        last = self.store.deployments(self.service, limit=1)
        section = last[0].strategy if last else cfg.source.get("strategy") or {}
        strategy = self._strategy(to, section)

        @unlisted.Once
        def plan_of(state: ServiceState, rev: int) -> Plan:
            return rollback_plan(strategy, state, target_for(cfg, rev, self.config.runtime),
                                 cfg.hooks.moments(), allow_downtime=allow_downtime)

        def used(state: ServiceState, rev: int) -> dict:
            # the section of the strategy the plan goes by, not one it fell back from
            by = rollback_strategy(strategy, state, target_for(cfg, rev, self.config.runtime))
            return section if by is strategy else {"kind": by.kind}
        self.runtime.check_release(cfg.app, record.version, keep=self.rollback_versions(),
                                   unlisted=unlisted.acted_on(self, plan_of, to))
        if ready is not None:
            ready()
        return self._create(wait, lambda: self.store.create_deployment(
            self.service, record.config, used, self.config.on_failure, plan_of,
            revision=to, kind="rollback"))

    def _create(self, wait: bool, create: Callable[[], Deployment]) -> int:
        while True:
            try:
                return create().id
            except DeploymentConflict:
                if not wait:
                    raise
                self.clock.sleep(POLL)

    # --- signals (any process; they only write the store) ---------------------

    def pause(self, id: int) -> Phase:
        return self.store.signal(id, "pause").phase

    def resume(self, id: int) -> Phase:
        return self.store.signal(id, "resume").phase

    def promote(self, id: int, full: bool = False) -> Phase:
        return self.store.signal(id, "promote-full" if full else "promote").phase

    def abort(self, id: int) -> Phase:
        return self.store.signal(id, "abort").phase

    # --- running -------------------------------------------------------------------

    def run(self, id: int, stop_when_paused: bool = False, hold: bool = False) -> Phase:
        """Run deployment `id` from its cursor until it ends, or pauses on an error.

        At a manual pause (a Pause step, or `zerodown pause`) it waits for a
        resume or promote from another process, unless `stop_when_paused`.
        `hold` (the controller daemon): wait at a pause on an error too, so the
        deployment stays owned (and watched by its background analysis) until
        someone, or a deadline, moves it on; return only when it ends.
        """
        if self.store.deployment(id).service != self.service:
            raise ZerodownError(f"deployment {id} is not of {self.service}")
        # every host's instances asked for while a pending deployment starts (_start) and
        # the proof reads its baseline: the first thing once the lock is held
        theirs = self.finishing.owned()  # before the adopt, as the reconcile reads it
        with collector.held_off(), self._lock(), Beside(self.runtime.adopt, self.service,
                                  unlisted.recorded(self.store, self.service),
                                  name=f"adopt, deployment {id}") as adopting:
            self._start(id)
            self.confirming_beside = True
            try:
                with self._background(id), ProofRecorder(self, id) as proof:
                    return self._run(id, hold, stop_when_paused, proof,
                                     lambda: reconciling.left_out(adopting.result(), theirs))
            finally:
                end_beside(self)  # no stop's thread writes past this
                self.store.idle()  # its writes done: the WAL checkpointed whole, beside

    def _run(self, id: int, hold: bool, stop_when_paused: bool, proof: ProofRecorder,
             adopted: Callable[[], list]) -> Phase:
        self.hung = set()  # what a drain learnt of a revision holds for this deployment
        reconciling.reconcile(self, adopted)  # whoever ran it before may have died mid-step
        while True:
            if self.store.replaced():
                raise StoreUnavailable(
                    f"the state store {self.store.path} was deleted or replaced while "
                    f"deployment {id} ran; nothing more is acted on from this one (the "
                    f"load balancer keeps serving; a new store is rebuilt from it)")
            self._mark = doorbell.mark(self.store)  # before the read: a signal after it wakes
            d = self.store.deployment(id)
            if d.phase.terminal or (d.phase is Phase.PAUSED and not hold
                                    and (stop_when_paused or d.error)):
                if d.phase.terminal:
                    proof.ended()  # its last reading beside the last exits
                self._await_stops()
                return d.phase
            if not (d.phase is Phase.RUNNING and isinstance(d.step, (Start, WaitHealthy))):
                proof.await_baseline()  # (read beside the steps that only start and wait)
            try:
                self._advance(d)
            except (_Interrupted, PlanMoved, PhaseError):
                continue  # another process changed the phase under us: look again
            except StoreUnavailable:
                # Not the new revision's fault (a full disk): no rollback, which could
                # not be recorded either. The step in progress runs again on resume.
                raise
            except ZerodownError as e:
                try:
                    replanning.fail(self, self.store.deployment(id), e)
                except (PlanMoved, PhaseError):
                    continue  # aborted from elsewhere meanwhile: the abort decides

    def _start(self, id: int) -> None:
        """A pending deployment starts running (not synced: see _advance) while the hosts
        answer the adopt, when the router has no table to settle (the usual case); else the
        loop starts it after the reconcile, once the router serves the confirmed table."""
        try:
            if (self.store.deployment(id).phase is Phase.PENDING
                    and self.store.routing(self.service).staged is None):
                self.store.set_phase(id, Phase.RUNNING, "started", durable=False)
        except PhaseError:
            pass  # aborted from elsewhere meanwhile: the loop sees it

    def _background(self, id: int):
        """A background analysis through the deployment, if its strategy asks for one."""
        d = self.store.deployment(id)
        spec = None
        if d.kind == "deploy" and d.from_revision is not None and not d.phase.terminal:
            spec = background_spec(self._strategy(d.to_revision, d.strategy))
        if spec is None or d.from_revision is None:  # (None: no spec made)
            self.monitor = None
            return nullcontext()
        self.monitor = BackgroundAnalysis(self, id, spec, d.to_revision, d.from_revision)
        return self.monitor

    def _advance(self, d: Deployment) -> None:
        if d.phase in ACTING:
            stopping.refused(self)  # a stop a host refused since: nothing more is sent
        if d.phase is Phase.PAUSED:
            if not asked.act_on(self, d):  # an action a later one undid before it was seen
                doorbell.wait(self.store, self.clock, POLL, self._mark)  # until one comes
        elif d.phase is Phase.PENDING:  # (a table to settle: else _start started it)
            applying.settle(self)  # its plan was made from the store's view of the table
            # not synced by itself: the first step's act is preceded by a synced commit
            self.store.set_phase(d.id, Phase.RUNNING, "started", durable=False)
        elif d.phase in PLAN_OF and d.plan_kind != PLAN_OF[d.phase]:
            replanning.replan(self, d)
        elif d.step is None:
            # synced with the proof written next (ProofRecorder); without a proof it stays
            # unsynced, like any record no act follows (engine/store.py)
            self.store.finish(d.id, durable=False)
        else:
            STEPS[type(d.step)](self, d, d.cursor, d.step)

    def resume_interrupted(self, stop_when_paused: bool = True) -> dict[int, Phase]:
        """On controller start: reconcile instances, then finish what a crash left.

        Returns {deployment id: the phase it stopped in}. A deployment another
        process is running is left to it.
        """
        try:
            # by the partial index (one active a service): a phase list read them all
            active = [d for d in (self.store.active_deployment(self.service),) if d]
            if not active:
                self.reconcile()  # run() reconciles too, first thing
            return {d.id: self.run(d.id, stop_when_paused) for d in active}
        except DeploymentBusy:
            return {}

    def reconcile(self) -> None:
        """Adopt the instances the store owns; stop the ones it does not (orphans)."""
        with self._lock():
            reconciling.reconcile(self)
            self._await_stops()  # those it stopped again (stopping.restop)

    def recover(self) -> str | None:
        """If the store lost the service while it serves: rebuild it (engine/recovery.py);
        rows recorded on a host the list renamed: under its listed name (unlisted.renamed)."""
        unlisted.renamed(self.store, self.service, self.runtime,
                         fleet_hosts(self.config.runtime))
        return recover(self.store, self.service,
                       {"file": self.config.file, "source": self.config.source},
                       self.runtime, self.router)

    def _lock(self):
        return held(self.store.lock_path(self.service), self.service)

    def _await_stops(self, slots: Sequence[Slot] | None = None) -> None:
        if slots is not None:  # (a run's end leaves those finished beside to their owner)
            self.finishing.await_slots(slots)
        await_stops(self, slots)  # (engine/stopping.py)

    def _check(self, id: int, interrupting: set[Phase]) -> Deployment:
        d = self.store.deployment(id)
        if d.phase in interrupting:
            raise _Interrupted(d.phase)
        return d
